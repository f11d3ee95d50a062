"""Email validations and risk assessments: read-only records of what the checks found."""

from django.contrib import admin

from deliverability.models import EmailValidation, RiskAssessment


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written only by the validation and risk services; the admin looks."""

    list_select_related = ["workspace"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EmailValidation)
class EmailValidationAdmin(ReadOnlyAdmin):
    list_display = ["email", "result", "suggestion", "workspace", "checked_at"]
    list_filter = ["result", "workspace"]
    search_fields = ["email"]
    date_hierarchy = "checked_at"
    fields = ["workspace", "email", "result", "reasons", "checks", "suggestion", "checked_at"]


@admin.register(RiskAssessment)
class RiskAssessmentAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "risk_score",
        "level",
        "policy",
        "campaign_id",
        "overridden_by",
        "workspace",
    ]
    list_filter = ["policy", "level", "workspace"]
    list_select_related = ["workspace", "overridden_by"]
    date_hierarchy = "created_at"
    fields = [
        "workspace",
        "campaign_id",
        "risk_score",
        "level",
        "policy",
        "factors",
        "recommendations",
        "overridden_by",
        "created_at",
    ]
