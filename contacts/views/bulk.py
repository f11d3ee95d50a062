"""Bulk actions on the contacts list, their background jobs, the CSV export of the list,
and merging likely duplicates."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from automations.forms import ENROLL_ACTION, EnrollContactsForm
from automations.services import enroll_contacts
from contacts import bulk, merge
from contacts.exports import export_response
from contacts.filtersets import ContactFilterSet
from contacts.forms import (
    BulkActionForm,
    MergeForm,
    filters_as_query,
)
from contacts.models import (
    BulkAction,
    BulkJob,
    Contact,
    ContactList,
    JobStatus,
)
from contacts.views.base import error_text, plural_s
from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.exceptions import DomainError

# --- bulk actions ------------------------------------------------------------------------------


class BulkActionView(WorkspaceMixin, View):
    """Run a bulk action from the contacts list on the ticked contacts or on everyone matching
    the list's filters. Unsubscribe and delete ask for confirmation first."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        back = reverse("dashboard:contacts:contacts") + "?" + request.POST.get("filters", "")
        if request.POST.get("action") == ENROLL_ACTION:
            return self.enroll(back)
        form = BulkActionForm(request.POST, lists=self.scoped(ContactList))
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return redirect(back)
        try:
            ids, query, count = self.targets(form)
            if form.destructive and not form.cleaned_data["confirmed"]:
                return self.confirm(form, count)
            result = bulk.bulk_start(
                workspace=self.workspace,
                action=form.cleaned_data["action"],
                ids=ids,
                query=query,
                value=form.value(),
                created_by=request.user,
            )
        except (ValidationError, DomainError, Http404) as exc:
            text = str(exc) if isinstance(exc, Http404) else error_text(exc)
            messages.error(request, text)
            return redirect(back)
        if result.job is not None:
            return redirect("dashboard:contacts:bulk_job", result.job.pk)
        action = dict(BulkAction.choices)[form.cleaned_data["action"]]
        count = result.count
        messages.success(request, f"{action}: {count} contact{plural_s(count)} changed.")
        return redirect(back)

    def enroll(self, back: str):
        """ "Enrol in automation…": the ticked contacts, or all matching, through the service
        the API's ``POST /automations/{id}/enroll`` uses."""
        form = EnrollContactsForm(self.request.POST, workspace=self.workspace)
        if not form.is_valid():
            errors = form.errors.values()
            messages.error(self.request, " ".join(e for field in errors for e in field))
            return redirect(back)
        automation = form.cleaned_data["automation"]
        try:
            ids, query, _ = self.targets(form)
            count = enroll_contacts(automation=automation, contact_ids=ids, query=query)
        except (ValidationError, DomainError, Http404) as exc:
            messages.error(self.request, str(exc) if isinstance(exc, Http404) else error_text(exc))
            return redirect(back)
        messages.success(
            self.request, f"{count} contact{plural_s(count)} enrolled in {automation.name}."
        )
        return redirect(back)

    def targets(self, form: Form) -> tuple[list | None, str | None, int]:
        """(ids, query, how many): the ticked ids, or the filters as a query (ids when the
        filters have no query equivalent)."""
        if not form.cleaned_data["all_matching"]:
            ids = form.cleaned_data["ids"]
            return ids, None, self.scoped(Contact).filter(pk__in=ids).count()
        filterset = ContactFilterSet(
            QueryDict(form.cleaned_data["filters"]),
            queryset=self.scoped(Contact),
            request=self.request,
        )
        if not filterset.is_valid():
            raise ValidationError("Fix the filters first.")
        query = filters_as_query(filterset.form.cleaned_data, self.workspace)
        count = filterset.qs.count()
        if query is not None:
            return None, query, count
        if count > bulk.MAX_IDS:
            raise ValidationError(f"Narrow the search to at most {bulk.MAX_IDS:,} contacts.")
        return list(filterset.qs.values_list("pk", flat=True)), None, count

    def confirm(self, form: BulkActionForm, count: int):
        form.data = form.data.copy()
        form.data["confirmed"] = "true"
        action = form.cleaned_data["action"]
        context = {
            "form": form,
            "count": count,
            "action": action,
            "action_label": dict(BulkAction.choices)[action],
            "back": reverse("dashboard:contacts:contacts") + "?" + form.cleaned_data["filters"],
        }
        return TemplateResponse(self.request, "contacts/bulk_confirm.html", context)


class BulkJobView(WorkspaceMixin, TemplateView):
    """A bulk action running in the background: its progress, polled with htmx."""

    template_name = "contacts/bulk_job.html"

    def get_context_data(self, **kwargs):
        job = self.get_scoped(BulkJob, pk=self.kwargs["pk"])
        running = job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        return super().get_context_data(job=job, running=running, **kwargs)


class ContactsExportView(WorkspaceMixin, View):
    """The contacts list as CSV, with the list's own filters."""

    def get(self, request, *args, **kwargs):
        filterset = ContactFilterSet(request.GET, queryset=self.scoped(Contact), request=request)
        if not filterset.is_valid():
            messages.error(request, "Fix the filters before exporting.")
            return redirect(reverse("dashboard:contacts:contacts") + "?" + request.GET.urlencode())
        return export_response(self.workspace, filterset.qs, "contacts.csv")


# --- merging -----------------------------------------------------------------------------------


class MergeView(WorkspaceMixin, TemplateView):
    """Likely duplicates, a group at a time: pick the contact to keep and merge the others
    into it (``contacts.merge``)."""

    editing = True
    template_name = "contacts/merge.html"

    def get_context_data(self, **kwargs):
        groups = merge.duplicate_suggestions(self.workspace)
        return super().get_context_data(groups=groups, **kwargs)

    def post(self, request, *args, **kwargs):
        form = MergeForm(request.POST)
        if not form.is_valid():
            errors = [e for field_errors in form.errors.values() for e in field_errors]
            messages.error(request, " ".join(errors))
            return redirect("dashboard:contacts:merge")
        contacts = self.scoped(Contact)
        primary = self.get_scoped(contacts, pk=form.cleaned_data["primary"])
        duplicates = list(contacts.filter(pk__in=form.cleaned_data["duplicates"]))
        if len(duplicates) != len(form.cleaned_data["duplicates"]):
            raise Http404("No such contact.")
        try:
            merged = merge.contacts_merge(
                workspace=self.workspace,
                primary=primary,
                duplicates=duplicates,
                actor=request.user,
            )
        except (ValidationError, DomainError) as exc:
            messages.error(request, error_text(exc))
            return redirect("dashboard:contacts:merge")
        emails = ", ".join(d.email for d in duplicates)
        messages.success(request, f"Merged {emails} into {merged.email}.")
        return redirect("dashboard:contacts:merge")
