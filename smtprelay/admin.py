from django.contrib import admin
from django.utils.html import format_html

from smtprelay.models import BounceMail, SmtpCredential


@admin.register(SmtpCredential)
class SmtpCredentialAdmin(admin.ModelAdmin):
    """Read-only: passwords are made and rotated from the API or the dashboard (shown once)."""

    list_display = ["username", "workspace", "prefix", "rotated_at", "last_used_at"]
    list_select_related = ["workspace"]
    search_fields = ["username", "workspace__name"]
    fields = ["workspace", "username", "prefix", "created_at", "rotated_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(BounceMail)
class BounceMailAdmin(admin.ModelAdmin):
    """What the bounce mailbox received; unparsed mail keeps its bytes to be read here."""

    list_display = ["received_at", "status", "kind", "mail_from", "subject", "events", "workspace"]
    list_filter = ["status", "kind"]
    list_select_related = ["workspace"]
    search_fields = ["mail_from", "subject", "reason"]
    date_hierarchy = "received_at"
    fields = [
        "received_at",
        "status",
        "kind",
        "workspace",
        "mail_from",
        "rcpt_tos",
        "subject",
        "size",
        "events",
        "reason",
        "raw_message",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Message")
    def raw_message(self, obj: BounceMail) -> str:
        data = bytes(obj.data or b"")
        text = data[:200_000].decode("utf-8", "replace")
        if not text:
            return "(not kept: parsed reports keep their summary only)"
        cut = "\n… (cut)" if len(data) > 200_000 else ""
        return format_html('<pre style="white-space: pre-wrap">{}{}</pre>', text, cut)
