"""Bounces (read-only), each workspace's deliverability settings (the soft-bounce threshold
and window, the domain and risk policies) and the daily health snapshots (read-only)."""

from django.contrib import admin

from deliverability.models import Bounce, DeliverabilitySettings, HealthSnapshot
from mailcrm.admin_audit import AuditedAdminMixin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by the pipeline and the schedule only: nothing to add or change by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Bounce)
class BounceAdmin(ReadOnlyAdmin):
    list_display = ["email", "kind", "domain", "workspace", "occurred_at"]
    list_filter = ["kind", "workspace"]
    list_select_related = ["workspace", "domain"]
    search_fields = ["email", "diagnostic"]
    date_hierarchy = "occurred_at"


@admin.register(DeliverabilitySettings)
class DeliverabilitySettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_name = "deliverability_settings"
    list_display = [
        "workspace",
        "soft_bounce_threshold",
        "soft_bounce_window_days",
        "require_verified_domain",
        "risk_warn_at",
        "risk_block_at",
        "bounce_rate_threshold",
        "complaint_rate_threshold",
    ]
    list_select_related = ["workspace"]
    search_fields = ["workspace__name"]
    autocomplete_fields = ["workspace"]
    fieldsets = [
        (None, {"fields": ["workspace"]}),
        (
            "Soft bounces",
            {
                "fields": [
                    "soft_bounce_threshold",
                    "soft_bounce_window_days",
                    "soft_bounce_suppression_days",
                ]
            },
        ),
        (
            "Sending policy",
            {"fields": ["require_verified_domain", "risk_warn_at", "risk_block_at"]},
        ),
        (
            "Circuit breakers (over a campaign's last 1,000 sends; 0 turns one off)",
            {"fields": ["bounce_rate_threshold", "complaint_rate_threshold"]},
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # A workspace's settings row is its own: it is not moved to another workspace.
        return ["workspace"] if obj is not None else []


@admin.register(HealthSnapshot)
class HealthSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["day", "workspace", "score", "grade"]
    list_filter = ["grade", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["workspace__name"]
    date_hierarchy = "day"
    readonly_fields = ["workspace", "day", "score", "grade", "metrics", "created_at"]
