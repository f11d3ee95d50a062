"""Sending and tracking domains."""

from django.contrib import admin

from deliverability.dkim import dkim_key_generate, dkim_txt_record
from deliverability.models import SendingDomain


@admin.register(SendingDomain)
class SendingDomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "is_verified", "verified_at", "workspace", "created_at"]
    list_filter = ["is_verified", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["domain"]
    autocomplete_fields = ["workspace"]
    exclude = ["dkim_private_key"]
    readonly_fields = ["dkim_selector", "dkim_record"]
    actions = ["generate_dkim_key"]

    @admin.display(description="DKIM TXT record to publish")
    def dkim_record(self, obj: SendingDomain) -> str:
        if not obj.dkim_public_key:
            return 'No key yet: use the action "Generate a DKIM key".'
        host, value = dkim_txt_record(obj)
        return f"{host}  TXT  {value}"

    @admin.action(description="Generate a DKIM key (replaces the current one)")
    def generate_dkim_key(self, request, queryset):
        for domain in queryset:
            dkim_key_generate(domain)
        self.message_user(request, f"New DKIM keys for {queryset.count()} domain(s).")
