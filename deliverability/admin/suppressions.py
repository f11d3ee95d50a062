"""Suppressions, the whitelist and unsubscribes: added and removed through the services."""

from django.contrib import admin
from django.db import transaction

from deliverability import services
from deliverability.models import (
    Suppression,
    SuppressionSource,
    SuppressionWhitelist,
    Unsubscribe,
)


class AddThroughServiceAdmin(admin.ModelAdmin):
    """Rows are added and removed through the services, so contacts follow."""

    list_select_related = ["workspace"]
    autocomplete_fields = ["workspace"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Suppression)
class SuppressionAdmin(AddThroughServiceAdmin):
    list_display = ["email", "type", "source", "domain", "workspace", "created_at", "expires_at"]
    list_filter = ["type", "source", "workspace"]
    list_select_related = ["workspace", "domain"]
    search_fields = ["email", "reason"]
    fields = ["workspace", "email", "type", "domain", "reason"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = services.suppression_add(
            workspace=data["workspace"],
            email=data["email"],
            type=data["type"],
            domain=data.get("domain"),
            reason=data.get("reason", ""),
            source=SuppressionSource.MANUAL,
        )
        obj.pk = saved.pk

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for suppression in queryset:
                services.suppression_remove(suppression=suppression)


@admin.register(SuppressionWhitelist)
class WhitelistAdmin(AddThroughServiceAdmin):
    list_display = ["email", "workspace", "created_at"]
    search_fields = ["email"]
    fields = ["workspace", "email", "reason"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        obj.pk = services.whitelist_add(
            workspace=data["workspace"], email=data["email"], reason=data.get("reason", "")
        ).pk


@admin.register(Unsubscribe)
class UnsubscribeAdmin(AddThroughServiceAdmin):
    list_display = [
        "email",
        "layer",
        "reason",
        "source",
        "domain",
        "contact_list",
        "workspace",
        "created_at",
    ]
    list_filter = ["reason", "source", "workspace"]
    list_select_related = ["workspace", "domain", "contact_list"]
    search_fields = ["email", "reason_text"]
    fields = ["workspace", "email", "domain", "contact_list", "reason", "reason_text", "source"]
    raw_id_fields = ["contact_list"]

    @admin.display(description="layer")
    def layer(self, obj: Unsubscribe) -> str:
        return obj.scope

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        obj.pk = services.unsubscribe_record(
            workspace=data["workspace"],
            email=data["email"],
            source=data["source"],
            domain=data.get("domain"),
            contact_list=data.get("contact_list"),
            reason=data.get("reason", ""),
            reason_text=data.get("reason_text", ""),
        ).pk

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for unsubscribe in queryset:
                services.unsubscribe_remove(unsubscribe=unsubscribe)
