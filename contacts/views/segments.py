"""Segments: the list, the row builder with its live count (htmx), members, refresh,
export and delete."""

from __future__ import annotations

from functools import cached_property

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from contacts import segmentation
from contacts.exports import export_response
from contacts.forms import (
    SegmentForm,
    query_builder_fields,
    query_builder_rows,
)
from contacts.models import (
    ContactList,
    PropertyDefinition,
    Segment,
    SegmentKind,
    Tag,
)
from contacts.views.base import (
    PAGE_SIZE,
    page_cursor,
)
from mailcrm.dashboard.access import WorkspaceMixin, may_edit
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView
from mailcrm.exceptions import DomainError
from mailcrm.keyset import keyset_page

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
        page = keyset_page(members, cursor=page_cursor(self.request), size=PAGE_SIZE)
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
