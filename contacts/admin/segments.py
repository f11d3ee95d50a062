"""Segments, imports and bulk jobs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from contacts import segmentation
from contacts.admin.common import WorkspaceRowForm, copy_saved
from contacts.models import BulkJob, ImportJob, Segment, SegmentKind


class SegmentForm(WorkspaceRowForm):
    class Meta:
        model = Segment
        fields = ["workspace", "name", "kind", "query", "description"]

    def clean(self):
        cleaned = super().clean()
        workspace, name = self.workspace, (cleaned.get("name") or "").strip()
        if workspace is None:
            return cleaned
        clash = Segment.objects.for_workspace(workspace).filter(name=name)
        if name and clash.exclude(pk=self.instance.pk).exists():
            self.add_error("name", "A segment with this name exists in the workspace.")
        kind = cleaned.get("kind") or self.instance.kind
        if kind == SegmentKind.DYNAMIC:
            try:
                segmentation.check_query(
                    cleaned.get("query") or "", workspace, segment=self.instance
                )
            except ValidationError as exc:
                self.add_error("query", exc.message_dict["query"])
        return cleaned


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "kind", "count", "refreshed_at", "workspace"]
    list_filter = ["kind", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "query"]
    autocomplete_fields = ["workspace"]
    readonly_fields = ["count", "refreshed_at", "created_at", "updated_at"]
    actions = ["refresh_now"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "workspace", "kind"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: Segment, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            segment = segmentation.segment_update(
                segment=Segment.objects.get(pk=obj.pk),
                name=data["name"],
                query=data.get("query") or "",
                description=data["description"],
            )
        else:
            segment = segmentation.segment_create(
                workspace=data["workspace"],
                name=data["name"],
                kind=data["kind"],
                query=data.get("query") or "",
                description=data["description"],
            )
        copy_saved(obj, segment)

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        segmentation.segment_delete(segment=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for segment in queryset:
                segmentation.segment_delete(segment=segment)

    @admin.action(description="Refresh members now")
    def refresh_now(self, request: HttpRequest, queryset) -> None:
        for segment in queryset:
            try:
                segmentation.segment_refresh(segment=segment)
            except ValidationError as exc:
                self.message_user(request, f"{segment}: {exc.messages[0]}", messages.ERROR)
        self.message_user(request, "Segments refreshed.", messages.SUCCESS)


class ReadOnlyJobAdmin(admin.ModelAdmin):
    """Jobs are made by the API and the dashboard; here they are only looked at."""

    list_select_related = ["workspace", "created_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyJobAdmin):
    list_display = [
        "filename",
        "status",
        "processed",
        "total_rows",
        "created",
        "updated",
        "skipped",
        "error_count",
        "workspace",
        "created_at",
    ]
    list_filter = ["status", "workspace"]
    search_fields = ["filename"]
    exclude = ["errors"]
    readonly_fields = ["first_errors"]

    @admin.display(description="first rejected rows")
    def first_errors(self, obj: ImportJob) -> str:
        return "\n".join(f"row {e['row']}: {e['reason']}" for e in obj.errors[:50]) or "none"


@admin.register(BulkJob)
class BulkJobAdmin(ReadOnlyJobAdmin):
    list_display = ["action", "status", "processed", "total", "changed", "workspace", "created_at"]
    list_filter = ["action", "status", "workspace"]
