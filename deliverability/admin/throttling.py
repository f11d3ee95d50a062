"""The adaptive throttle states (campaigns.throttling): which recipient domains each way out is
backed off from, at what rate, and until when. Written by the sending pipeline; an operator may
delete one to give the domain its full rate back at once."""

from django.contrib import admin

from deliverability.models import ThrottleState


@admin.register(ThrottleState)
class ThrottleStateAdmin(admin.ModelAdmin):
    list_display = [
        "domain",
        "backend",
        "workspace",
        "rate_per_minute",
        "ceiling",
        "held_until",
        "backoffs",
        "successes",
        "last_reply",
        "updated_at",
    ]
    list_filter = ["workspace"]
    list_select_related = ["workspace"]
    search_fields = ["domain", "backend", "last_reply"]
    ordering = ["domain", "backend"]
    readonly_fields = [f.name for f in ThrottleState._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
