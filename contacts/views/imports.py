"""The CSV import wizard (upload, map, run), its live progress and the import history."""

from __future__ import annotations

import secrets
from functools import cached_property

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.generic import FormView, TemplateView

from contacts import imports
from contacts.forms import (
    ImportMappingForm,
    ImportUploadForm,
)
from contacts.models import (
    ContactList,
    ImportJob,
    JobStatus,
    PropertyDefinition,
)
from contacts.views.base import (
    PAGE_SIZE,
    page_cursor,
)
from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.dashboard.generic import apply_errors
from mailcrm.exceptions import DomainError
from mailcrm.keyset import keyset_page

# --- imports -----------------------------------------------------------------------------------

# Between the upload and the run, the file waits in the shared cache (Redis, or files on disk
# in the embedded mode: every process sees it) under a random token; nothing is created in
# the database until the run starts.
UPLOAD_TTL = 60 * 60
ERRORS_SHOWN = 200


def _upload_key(workspace, token: str) -> str:
    return f"import-upload:{workspace.pk}:{token}"


class ImportsView(WorkspaceMixin, TemplateView):
    """Import history, newest first."""

    template_name = "contacts/import_list.html"

    def get_context_data(self, **kwargs):
        jobs = self.scoped(ImportJob).select_related("created_by", "contact_list")
        cursor = page_cursor(self.request)
        page = keyset_page(jobs, field="created_at", cursor=cursor, size=PAGE_SIZE)
        return super().get_context_data(page=page, **kwargs)


class ImportUploadView(WorkspaceMixin, FormView):
    """Step 1: upload a file; it is read once to show its columns in step 2."""

    editing = True
    form_class = ImportUploadForm
    template_name = "contacts/import_upload.html"

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        if upload.size > imports.MAX_IMPORT_BYTES:
            form.add_error("file", imports.ImportTooLarge(upload.size).message)
            return self.form_invalid(form)
        data = upload.read()
        try:
            preview = imports.read_preview(data, self.workspace)
        except imports.ImportFileError as exc:
            form.add_error("file", exc.reason)
            return self.form_invalid(form)
        if not preview.rows:
            form.add_error("file", "The file has a header but no rows.")
            return self.form_invalid(form)
        token = secrets.token_urlsafe(16)
        stored = {"filename": upload.name, "data": data, "user": self.request.user.pk}
        cache.set(_upload_key(self.workspace, token), stored, UPLOAD_TTL)
        return redirect("dashboard:contacts:import_map", token)


class ImportMappingView(WorkspaceMixin, FormView):
    """Step 2: map the columns, choose the options, run."""

    editing = True
    form_class = ImportMappingForm
    template_name = "contacts/import_map.html"

    def get(self, request, *args, **kwargs):
        return self.expired() or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self.expired() or super().post(request, *args, **kwargs)

    def expired(self):
        """Back to step 1 when the upload is gone (or was someone else's)."""
        self.stored = cache.get(_upload_key(self.workspace, self.kwargs["token"]))
        if self.stored is None or self.stored.get("user") != self.request.user.pk:
            messages.error(self.request, "That upload has expired; please upload it again.")
            return redirect("dashboard:contacts:import_new")
        return None

    @cached_property
    def preview(self):
        return imports.read_preview(self.stored["data"], self.workspace)

    @cached_property
    def definitions(self) -> dict[str, PropertyDefinition]:
        return {d.key: d for d in self.scoped(PropertyDefinition)}

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {
            "columns": self.preview.columns,
            "definitions": self.definitions,
            "lists": self.scoped(ContactList),
        }

    def get_initial(self):
        suggested = self.preview.suggested_mapping
        columns = self.preview.columns
        return {f"map_{i}": suggested.get(column, "") for i, column in enumerate(columns)}

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            preview=self.preview, filename=self.stored["filename"], **kwargs
        )

    def form_valid(self, form):
        try:
            job = imports.import_start(
                workspace=self.workspace,
                data=self.stored["data"],
                filename=self.stored["filename"],
                mapping=form.mapping(),
                update_existing=form.cleaned_data["update_existing"],
                validate_emails=form.cleaned_data["validate_emails"],
                tags=form.tag_names(),
                contact_list=form.cleaned_data["contact_list"],
                created_by=self.request.user,
                create_properties=form.new_properties(),
            )
        except (ValidationError, DomainError) as exc:
            apply_errors(form, exc, aliases={"list_id": "contact_list"})
            return self.form_invalid(form)
        cache.delete(_upload_key(self.workspace, self.kwargs["token"]))
        messages.success(self.request, f"Importing {job.filename}.")
        return redirect("dashboard:contacts:import", job.pk)


class ImportDetailView(WorkspaceMixin, TemplateView):
    """One import: a progress bar that polls itself (htmx) until the job is done or failed,
    then the counts and the rows that were refused."""

    template_name = "contacts/import_detail.html"

    def get_context_data(self, **kwargs):
        job = self.get_scoped(
            self.scoped(ImportJob).select_related("contact_list", "created_by"),
            pk=self.kwargs["pk"],
        )
        running = job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        percent = round(100 * job.processed / job.total_rows) if job.total_rows else 0
        return super().get_context_data(
            job=job,
            running=running,
            percent=percent,
            errors=job.errors[:ERRORS_SHOWN],
            **kwargs,
        )
