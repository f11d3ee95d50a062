"""Dashboard pages of the contact database: contacts, tags, lists, property definitions,
segments (with the row builder and live count), imports, bulk actions, merging and scoring.

Views parse, authorise (``WorkspaceMixin``), call a service from ``contacts.services`` and
render; every query starts from ``for_workspace``."""

from __future__ import annotations

import json
import secrets
from functools import cached_property

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, TemplateView

from contacts import bulk, imports, merge, scoring, segmentation, services
from contacts.exports import export_response
from contacts.filtersets import ContactFilterSet, TagFilterSet
from contacts.forms import (
    ActivityForm,
    AddToListForm,
    BulkActionForm,
    ContactCreateForm,
    ContactForm,
    ContactListForm,
    ImportMappingForm,
    ImportUploadForm,
    MergeForm,
    PropertyDefinitionForm,
    ScoringForm,
    SegmentForm,
    TagForm,
    TagNameForm,
    dress_filter_form,
    filters_as_query,
    query_builder_fields,
    query_builder_rows,
)
from contacts.models import (
    Activity,
    BulkAction,
    BulkJob,
    Contact,
    ContactList,
    ImportJob,
    JobStatus,
    PropertyDefinition,
    ScoreTier,
    Segment,
    SegmentKind,
    Tag,
)
from mailcrm.dashboard.access import WorkspaceMixin, may_edit
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView, apply_errors
from mailcrm.exceptions import DomainError
from mailcrm.keyset import InvalidCursor, decode_cursor, keyset_page

PAGE_SIZE = 50
TIMELINE_SIZE = 25
# The filters shown at once; the rest of the FilterSet's form folds under "More filters".
MAIN_FILTERS = ("q", "status", "lifecycle_stage", "tag", "list")


def _cursor(request, name: str = "cursor") -> str | None:
    """A cursor from the query string; a damaged one means the first page."""
    value = request.GET.get(name) or None
    if value:
        try:
            decode_cursor(value)
        except InvalidCursor:
            return None
    return value


def _is_set(field) -> bool:
    """Whether a filter narrows the list ("unknown" is the unset archived choice)."""
    return field.value() not in (None, "", "unknown", [])


# --- contacts ----------------------------------------------------------------------------------


class ContactsView(WorkspaceMixin, TemplateView):
    """Search, filter (the API's ContactFilterSet) and keyset pages: no OFFSET, no COUNT."""

    template_name = "contacts/contact_list.html"

    def get_context_data(self, **kwargs):
        contacts = self.scoped(Contact).prefetch_related("tags")
        filterset = ContactFilterSet(self.request.GET, queryset=contacts, request=self.request)
        page, filter_error = None, ""
        if filterset.is_valid():
            try:
                page = keyset_page(filterset.qs, cursor=_cursor(self.request), size=PAGE_SIZE)
            except Http404 as exc:  # a tag, list or segment that is not in this workspace
                filter_error = str(exc)
        form = dress_filter_form(filterset.form)
        lists = list(self.scoped(ContactList).values_list("pk", "name")[:500])
        more = [form[name] for name in form.fields if name not in MAIN_FILTERS]
        main = [form[name] for name in MAIN_FILTERS]
        return super().get_context_data(
            filter_form=form,
            main_filters=main,
            more_filters=more,
            more_open=any(map(_is_set, more)),
            filtered=any(map(_is_set, main + more)),
            page=page,
            filter_error=filter_error,
            tag_names=self.scoped(Tag).values_list("name", flat=True)[:500],
            list_choices=lists,
            list_names=[name for _, name in lists],
            bulk_form=self.bulk_form(),
            **kwargs,
        )

    def bulk_form(self) -> BulkActionForm | None:
        if not may_edit(self.membership):
            return None
        filters = self.request.GET.copy()
        filters.pop("cursor", None)
        return BulkActionForm(
            initial={"filters": filters.urlencode()}, lists=self.scoped(ContactList)
        )


class ContactFormMixin:
    """The property definitions a contact form shows, and where service errors go."""

    template_name = "contacts/contact_form.html"
    conflict_field = "email"

    def definitions(self) -> list[PropertyDefinition]:
        if not hasattr(self, "_definitions"):
            self._definitions = list(self.scoped(PropertyDefinition))
        return self._definitions


class ContactCreateView(ContactFormMixin, ServiceFormView):
    form_class = ContactCreateForm
    success_message = "Created {object}."

    def get_form_kwargs(self):
        lists = self.scoped(ContactList)
        return super().get_form_kwargs() | {"definitions": self.definitions(), "lists": lists}

    def perform(self, form):
        return services.contact_create(
            workspace=self.workspace,
            actor=self.request.user,
            properties=form.property_values(),
            tags=form.tag_names(),
            list_ids=form.list_ids(),
            **form.standard_values(),
        )

    def get_success_url(self):
        return reverse("dashboard:contacts:contact", args=[self.object.pk])


class ContactObjectMixin(WorkspaceMixin):
    def get_contact(self) -> Contact:
        if not hasattr(self, "_contact"):
            self._contact = self.get_scoped(Contact, pk=self.kwargs["pk"])
        return self._contact

    def back(self):
        return redirect("dashboard:contacts:contact", self.get_contact().pk)


class ContactEditView(ContactFormMixin, ContactObjectMixin, ServiceFormView):
    form_class = ContactForm
    success_message = "Saved {object}."

    def get_initial(self):
        return ContactForm.initial_for(self.get_contact(), self.definitions())

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"definitions": self.definitions()}

    def get_context_data(self, **kwargs):
        return super().get_context_data(contact=self.get_contact(), **kwargs)

    def perform(self, form):
        return services.contact_update(
            contact=self.get_contact(),
            actor=self.request.user,
            properties=form.property_values(),
            **form.standard_values(),
        )

    def get_success_url(self):
        return reverse("dashboard:contacts:contact", args=[self.object.pk])


class ContactDetailView(ContactObjectMixin, TemplateView):
    """Profile, properties, tags, lists, companies, engagement and the timeline.

    The tags and timeline sections are also rendered alone, as htmx partials, by the views
    that change them."""

    template_name = "contacts/contact_detail.html"

    def get_contact(self) -> Contact:
        if not hasattr(self, "_contact"):
            contacts = self.scoped(Contact).prefetch_related(
                "tags", "lists", "company_roles__company"
            )
            self._contact = self.get_scoped(contacts, pk=self.kwargs["pk"])
        return self._contact

    def get_context_data(self, **kwargs):
        contact = self.get_contact()
        context = {
            "contact": contact,
            "properties": self.property_rows(contact),
            "timeline": self.timeline(contact),
            "can_edit": may_edit(self.membership),
        }
        if context["can_edit"]:
            other_lists = self.scoped(ContactList).exclude(
                pk__in=[cl.pk for cl in contact.lists.all()]
            )
            context |= {
                "tag_form": TagNameForm(),
                "activity_form": ActivityForm(),
                "list_form": AddToListForm(lists=other_lists),
                "tag_names": self.scoped(Tag).values_list("name", flat=True)[:500],
            }
        return super().get_context_data(**context | kwargs)

    def property_rows(self, contact: Contact) -> list[dict]:
        """Each stored property with its definition's label; values without one come last."""
        definitions = {d.key: d for d in self.scoped(PropertyDefinition)}
        values = contact.properties
        rows = [
            {
                "key": k,
                "label": d.label or k,
                "type": d.get_type_display(),
                "value": _show(values[k]),
            }
            for k, d in definitions.items()
            if values.get(k) is not None
        ]
        rows += [
            {"key": k, "label": k, "type": "undefined", "value": _show(value)}
            for k, value in sorted(values.items())
            if k not in definitions
        ]
        return rows

    def timeline(self, contact: Contact):
        activities = self.scoped(Activity).filter(contact=contact).select_related("created_by")
        cursor = _cursor(self.request, "before")
        return keyset_page(activities, field="occurred_at", cursor=cursor, size=TIMELINE_SIZE)


def _show(value) -> str:
    """A stored property value as text."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class ContactActionView(ContactObjectMixin, View):
    """A POST that changes one contact, then goes back to its page. With htmx, ``section``
    names the partial that is re-rendered in place instead."""

    http_method_names = ["post"]
    section = ""

    def act(self, contact: Contact) -> str:
        """Do it; return the message for the user."""
        raise NotImplementedError

    def post(self, request, *args, **kwargs):
        try:
            message, level = self.act(self.get_contact()), messages.SUCCESS
        except (ValidationError, DomainError) as exc:
            message, level = _error_text(exc), messages.ERROR
        if request.htmx and self.section:
            return self.render_section(message, level)
        messages.add_message(request, level, message)
        return self.back()

    def render_section(self, message: str, level: int):
        detail = ContactDetailView(request=self.request, kwargs=self.kwargs)
        detail.workspace, detail.membership = self.workspace, self.membership
        context = detail.get_context_data(
            section_message=message, section_error=level == messages.ERROR
        )
        return TemplateResponse(self.request, f"contacts/_{self.section}.html", context)


def _error_text(exc: ValidationError | DomainError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return " ".join(exc.messages)


class ContactTagView(ContactActionView):
    section = "tags"

    def act(self, contact):
        form = TagNameForm(self.request.POST)
        if not form.is_valid():
            raise ValidationError(form.errors["name"])
        added = services.contact_tag(
            contact=contact, names=[form.cleaned_data["name"]], actor=self.request.user
        )
        return f"Tagged {added[0].name}." if added else "The contact already has that tag."


class ContactUntagView(ContactActionView):
    section = "tags"

    def act(self, contact):
        tag = self.get_scoped(Tag, pk=self.kwargs["tag_pk"])
        services.contact_untag(contact=contact, name=tag.name, actor=self.request.user)
        return f"Removed tag {tag.name}."


class ContactActivityView(ContactActionView):
    section = "timeline"

    def act(self, contact):
        form = ActivityForm(self.request.POST)
        if not form.is_valid():
            raise ValidationError(form.errors)
        data = {k: v for k, v in form.cleaned_data.items() if v is not None}
        activity = services.activity_log(contact=contact, actor=self.request.user, **data)
        return f"Logged a {activity.get_kind_display().lower()}."


class ContactListAddView(ContactActionView):
    def act(self, contact):
        form = AddToListForm(self.request.POST, lists=self.scoped(ContactList))
        if not form.is_valid():
            raise ValidationError(form.errors["contact_list"])
        contact_list = form.cleaned_data["contact_list"]
        services.list_add_contacts(
            contact_list=contact_list, contact_ids=[contact.pk], actor=self.request.user
        )
        return f"Added to {contact_list.name}."


class ContactListRemoveView(ContactActionView):
    def act(self, contact):
        contact_list = self.get_scoped(ContactList, pk=self.kwargs["list_pk"])
        services.list_remove_contacts(
            contact_list=contact_list, contact_ids=[contact.pk], actor=self.request.user
        )
        return f"Removed from {contact_list.name}."


class ContactArchiveView(ContactActionView):
    def act(self, contact):
        services.contact_archive(contact=contact, actor=self.request.user)
        return f"Archived {contact}. It is hidden from lists and never mailed."


class ContactRestoreView(ContactActionView):
    def act(self, contact):
        services.contact_restore(contact=contact, actor=self.request.user)
        return f"Restored {contact}."


class ContactDeleteView(ConfirmDeleteView):
    model = Contact
    warning = (
        "Its properties, tags, list memberships and timeline are deleted with it. "
        "This cannot be undone; archive it instead to keep its history."
    )
    success_url_name = "dashboard:contacts:contacts"

    def get_cancel_url(self):
        return reverse("dashboard:contacts:contact", args=[self.get_object().pk])

    def delete(self, obj):
        services.contact_delete(contact=obj, actor=self.request.user)


# --- tags --------------------------------------------------------------------------------------


class TagsView(WorkspaceMixin, TemplateView):
    template_name = "contacts/tag_list.html"

    def get_context_data(self, **kwargs):
        tags = self.scoped(Tag).with_counts()
        filterset = TagFilterSet(self.request.GET, queryset=tags, request=self.request)
        return super().get_context_data(filter=filterset, tags=filterset.qs, **kwargs)


class TagCreateView(ServiceFormView):
    form_class = TagForm
    template_name = "contacts/tag_form.html"
    success_message = "Created tag {object}."
    error_aliases = {"tags": "name"}

    def perform(self, form):
        return services.tag_create(workspace=self.workspace, **form.cleaned_data)

    def get_success_url(self):
        return reverse("dashboard:contacts:tags")


class TagEditView(TagCreateView):
    success_message = "Saved tag {object}."

    @cached_property
    def tag(self) -> Tag:
        return self.get_scoped(Tag, pk=self.kwargs["pk"])

    def get_initial(self):
        return {"name": self.tag.name, "description": self.tag.description}

    def get_context_data(self, **kwargs):
        return super().get_context_data(tag=self.tag, **kwargs)

    def perform(self, form):
        return services.tag_update(tag=self.tag, **form.cleaned_data)


class TagDeleteView(ConfirmDeleteView):
    model = Tag
    warning = "The tag is removed from every contact; the contacts themselves stay."
    success_url_name = "dashboard:contacts:tags"

    def delete(self, obj):
        services.tag_delete(tag=obj)


# --- lists -------------------------------------------------------------------------------------


class ListsView(WorkspaceMixin, TemplateView):
    template_name = "contacts/list_list.html"

    def get_context_data(self, **kwargs):
        lists = self.scoped(ContactList).with_counts()
        return super().get_context_data(lists=lists, **kwargs)


class ListDetailView(WorkspaceMixin, TemplateView):
    """A list and its members, a keyset page at a time."""

    template_name = "contacts/list_detail.html"

    def get_context_data(self, **kwargs):
        contact_list = self.get_scoped(ContactList, pk=self.kwargs["pk"])
        members = (
            self.scoped(Contact)
            .visible()
            .filter(listmembership__contact_list=contact_list)
            .prefetch_related("tags")
        )
        page = keyset_page(members, cursor=_cursor(self.request), size=PAGE_SIZE)
        return super().get_context_data(
            contact_list=contact_list, page=page, can_edit=may_edit(self.membership), **kwargs
        )


class ListCreateView(ServiceFormView):
    form_class = ContactListForm
    template_name = "contacts/list_form.html"
    success_message = "Created list {object}."

    def perform(self, form):
        return services.contact_list_create(workspace=self.workspace, **form.cleaned_data)

    def get_success_url(self):
        return reverse("dashboard:contacts:list", args=[self.object.pk])


class ListEditView(ListCreateView):
    success_message = "Saved list {object}."

    @cached_property
    def contact_list(self) -> ContactList:
        return self.get_scoped(ContactList, pk=self.kwargs["pk"])

    def get_initial(self):
        return {name: getattr(self.contact_list, name) for name in ContactListForm.base_fields}

    def get_context_data(self, **kwargs):
        return super().get_context_data(contact_list=self.contact_list, **kwargs)

    def perform(self, form):
        return services.contact_list_update(contact_list=self.contact_list, **form.cleaned_data)


class ListDeleteView(ConfirmDeleteView):
    model = ContactList
    warning = "The list and its memberships are deleted; the contacts themselves stay."
    success_url_name = "dashboard:contacts:lists"

    def delete(self, obj):
        services.contact_list_delete(contact_list=obj)


# --- property definitions ----------------------------------------------------------------------


class PropertiesView(WorkspaceMixin, TemplateView):
    template_name = "contacts/property_list.html"

    def get_context_data(self, **kwargs):
        definitions = self.scoped(PropertyDefinition)
        return super().get_context_data(definitions=definitions, **kwargs)


class PropertyCreateView(ServiceFormView):
    form_class = PropertyDefinitionForm
    template_name = "contacts/property_form.html"
    success_message = "Saved property {object}."
    conflict_field = "key"

    def perform(self, form):
        return services.property_definition_create(workspace=self.workspace, **form.values())

    def get_success_url(self):
        return reverse("dashboard:contacts:properties")


class PropertyEditView(PropertyCreateView):
    @cached_property
    def definition(self) -> PropertyDefinition:
        return self.get_scoped(PropertyDefinition, pk=self.kwargs["pk"])

    def get_initial(self):
        return PropertyDefinitionForm.initial_for(self.definition)

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"editing": True}

    def get_context_data(self, **kwargs):
        return super().get_context_data(definition=self.definition, **kwargs)

    def perform(self, form):
        values = form.values()
        values.pop("key")
        return services.property_definition_update(definition=self.definition, **values)


class PropertyDeleteView(ConfirmDeleteView):
    model = PropertyDefinition
    warning = "Its values are removed from every contact of the workspace. This cannot be undone."
    success_url_name = "dashboard:contacts:properties"

    def delete(self, obj):
        services.property_definition_delete(definition=obj)


# --- segments ----------------------------------------------------------------------------------


class SegmentsView(WorkspaceMixin, TemplateView):
    template_name = "contacts/segment_list.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(segments=self.scoped(Segment), **kwargs)


class SegmentFormMixin:
    """The segment form with the row builder's vocabulary beside it."""

    template_name = "contacts/segment_form.html"
    segment: Segment | None = None

    def get_context_data(self, **kwargs):
        definitions = {d.key: d for d in self.scoped(PropertyDefinition)}
        names = {
            "tag": list(self.scoped(Tag).values_list("name", flat=True)[:500]),
            "list": list(self.scoped(ContactList).values_list("name", flat=True)[:500]),
            "segment": list(
                self.scoped(Segment)
                .exclude(pk=getattr(self.segment, "pk", None))
                .values_list("name", flat=True)[:500]
            ),
        }
        form = kwargs.setdefault("form", self.get_form())
        query = (form["query"].value() or "") if "query" in form.fields else ""
        builder = {
            "fields": query_builder_fields(definitions, names),
            "initial": query_builder_rows(query) if query.strip() else {"join": "AND", "rows": []},
        }
        return super().get_context_data(segment=self.segment, builder=builder, **kwargs)


class SegmentCreateView(SegmentFormMixin, ServiceFormView):
    form_class = SegmentForm
    success_message = "Created segment {object}. Its members are being counted."

    def perform(self, form):
        data = form.cleaned_data
        query = data["query"] if data["kind"] == SegmentKind.DYNAMIC else ""
        return segmentation.segment_create(workspace=self.workspace, **data | {"query": query})

    def get_success_url(self):
        return reverse("dashboard:contacts:segment", args=[self.object.pk])


class SegmentObjectMixin(WorkspaceMixin):
    @cached_property
    def segment(self) -> Segment:
        return self.get_scoped(Segment, pk=self.kwargs["pk"])


class SegmentEditView(SegmentObjectMixin, SegmentCreateView):
    success_message = "Saved segment {object}."

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"editing": True}

    def get_initial(self):
        return {name: getattr(self.segment, name) for name in ("name", "description", "query")}

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if self.segment.kind == SegmentKind.STATIC:
            del form.fields["query"]
        return form

    def perform(self, form):
        return segmentation.segment_update(segment=self.segment, **form.cleaned_data)


class SegmentPreviewView(WorkspaceMixin, TemplateView):
    """The live count under the query box: how many contacts match now, and a few of them.
    A bad query shows its reason and position instead."""

    template_name = "contacts/_segment_preview.html"

    def get_context_data(self, **kwargs):
        query = self.request.GET.get("query", "")
        context = {"query": query}
        if query.strip():
            try:
                context["count"], context["sample"] = segmentation.segment_preview(
                    workspace=self.workspace, query=query
                )
            except segmentation.InvalidQuery as exc:
                context |= {"reason": exc.reason, "position": exc.position}
                context["before"], context["after"] = query[: exc.position], query[exc.position :]
        return super().get_context_data(**context | kwargs)


class SegmentDetailView(SegmentObjectMixin, TemplateView):
    """A segment and its members (the materialized membership), a keyset page at a time."""

    template_name = "contacts/segment_detail.html"

    def get_context_data(self, **kwargs):
        members = segmentation.segment_members(self.segment).prefetch_related("tags")
        page = keyset_page(members, cursor=_cursor(self.request), size=PAGE_SIZE)
        return super().get_context_data(
            segment=self.segment, page=page, can_edit=may_edit(self.membership), **kwargs
        )


class SegmentRefreshView(SegmentObjectMixin, View):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        segmentation.schedule_refresh(self.segment)
        messages.success(request, f"Refreshing {self.segment}; the count updates in a moment.")
        return redirect("dashboard:contacts:segment", self.segment.pk)


class SegmentExportView(SegmentObjectMixin, View):
    """The segment's members as CSV."""

    def get(self, request, *args, **kwargs):
        members = segmentation.segment_members(self.segment)
        return export_response(self.workspace, members, f"segment-{self.segment.name}.csv")


class SegmentDeleteView(ConfirmDeleteView):
    model = Segment
    warning = "Its members stay in the workspace; only the segment goes."
    success_url_name = "dashboard:contacts:segments"

    def get_cancel_url(self):
        return reverse("dashboard:contacts:segment", args=[self.get_object().pk])

    def delete(self, obj):
        segmentation.segment_delete(segment=obj)

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except DomainError as exc:  # other segments use it
            messages.error(request, exc.message)
            return redirect("dashboard:contacts:segment", self.get_object().pk)


# --- lead scoring ------------------------------------------------------------------------------


class ScoringView(ServiceFormView):
    """Points per event and tier thresholds. Viewers see them; only editors may save."""

    editing = False
    form_class = ScoringForm
    template_name = "contacts/scoring.html"
    success_message = "Saved the scoring rules."
    conflict_field = None

    @cached_property
    def settings(self):
        return scoring.scoring_settings(self.workspace)

    @property
    def error_aliases(self):
        return {f"rules.{event}": f"points_{event}" for event in scoring.SCORED_EVENTS}

    def get_initial(self):
        return ScoringForm.initial_for(self.settings) | {"recompute": True}

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"events": scoring.SCORED_EVENTS}

    def get_context_data(self, **kwargs):
        tiers = dict(
            self.scoped(Contact).visible().values_list("score_tier").annotate(n=Count("pk"))
        )
        return super().get_context_data(
            settings=self.settings,
            tiers=[(tier, tiers.get(tier.value, 0)) for tier in ScoreTier],
            can_edit=may_edit(self.membership),
            **kwargs,
        )

    def perform(self, form):
        values = form.values()
        if values["recompute"]:
            self.success_message += " Scores and tiers are being recomputed."
        return scoring.scoring_update(workspace=self.workspace, **values)

    def get_success_url(self):
        return reverse("dashboard:contacts:scoring")


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
        page = keyset_page(jobs, field="created_at", cursor=_cursor(self.request), size=PAGE_SIZE)
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


# --- bulk actions ------------------------------------------------------------------------------


class BulkActionView(WorkspaceMixin, View):
    """Run a bulk action from the contacts list on the ticked contacts or on everyone matching
    the list's filters. Unsubscribe and delete ask for confirmation first."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        form = BulkActionForm(request.POST, lists=self.scoped(ContactList))
        back = reverse("dashboard:contacts:contacts") + "?" + request.POST.get("filters", "")
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
            text = str(exc) if isinstance(exc, Http404) else _error_text(exc)
            messages.error(request, text)
            return redirect(back)
        if result.job is not None:
            return redirect("dashboard:contacts:bulk_job", result.job.pk)
        action = dict(BulkAction.choices)[form.cleaned_data["action"]]
        messages.success(request, f"{action}: {result.count} contact{_s(result.count)} changed.")
        return redirect(back)

    def targets(self, form: BulkActionForm) -> tuple[list | None, str | None, int]:
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


def _s(count: int | None) -> str:
    return "" if count == 1 else "s"


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
            messages.error(request, _error_text(exc))
            return redirect("dashboard:contacts:merge")
        emails = ", ".join(d.email for d in duplicates)
        messages.success(request, f"Merged {emails} into {merged.email}.")
        return redirect("dashboard:contacts:merge")
