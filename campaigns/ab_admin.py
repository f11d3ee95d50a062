"""A/B tests in the admin: shown on their campaign and listed on their own, read-only — they
are set up and decided through campaigns.ab (dashboard, API, housekeeping)."""

from django.contrib import admin

from campaigns.ab import LABELS
from campaigns.models import AbTest, AbVariant


class _ReadOnly:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AbTestInline(_ReadOnly, admin.StackedInline):
    model = AbTest
    fields = ["share", "criterion", "wait_minutes", "decide_at", "winner_label", "decided_by"]
    readonly_fields = fields

    @admin.display(description="Winner")
    def winner_label(self, test: AbTest) -> str:
        return LABELS[test.winner] if test.winner is not None else "—"


class AbVariantInline(_ReadOnly, admin.TabularInline):
    model = AbVariant
    fields = ["label", "subject", "from_name", "template_id", "send_at"]
    readonly_fields = fields
    ordering = ["position"]
    extra = 0


@admin.register(AbTest)
class AbTestAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["campaign", "share", "criterion", "decide_at", "winner_label", "decided_by"]
    list_filter = ["criterion"]
    list_select_related = ["campaign"]
    search_fields = ["campaign__name"]

    @admin.display(description="Winner")
    def winner_label(self, test: AbTest) -> str:
        return LABELS[test.winner] if test.winner is not None else "—"
