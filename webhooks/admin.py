from django.contrib import admin

from mailcrm.admin_audit import AuditedAdminMixin
from webhooks import services
from webhooks.models import InboundEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Secrets never show here: they are encrypted, and rotated from the API or dashboard. The
    URL, events and domains are changed there too, where they are validated (SSRF guard, the
    workspace's own domains); here an operator can rename or switch an endpoint off."""

    list_display = ["__str__", "url", "is_active", "failing_since", "workspace", "created_at"]
    list_filter = ["is_active", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "url"]
    autocomplete_fields = ["workspace"]
    fields = ["workspace", "name", "url", "events", "domains", "is_active", "disabled_reason"]
    readonly_fields = ["workspace", "url", "events", "domains", "disabled_reason"]
    actions = ["send_test_event"]
    audit_name = "webhook_endpoint"

    def has_add_permission(self, request) -> bool:
        return False  # created through the service, which makes and shows the secret once

    @admin.action(description="Send a test event")
    def send_test_event(self, request, queryset):
        for endpoint in queryset:
            services.send_test_event(endpoint=endpoint)
        self.message_user(request, f"Test events queued for {queryset.count()} endpoint(s).")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "attempted_at", "status_code", "duration_ms", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_type", "endpoint", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "event_type"]
    list_select_related = ["endpoint"]
    search_fields = ["endpoint__url", "event_type"]
    readonly_fields = [
        "workspace",
        "endpoint",
        "event",
        "event_type",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
    ]
    inlines = [WebhookAttemptInline]
    actions = ["retry"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Send again now")
    def retry(self, request, queryset):
        for delivery in queryset:
            services.delivery_retry(delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliver(y/ies) queued again.")


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    """What ESPs told us, as received; applied by a worker (read-only)."""

    list_display = ["esp", "event_type", "recipient", "status", "workspace", "received_at"]
    list_filter = ["esp", "event_type", "status"]
    list_select_related = ["workspace"]
    search_fields = ["recipient", "provider_message_id", "event_id"]
    readonly_fields = [field.name for field in InboundEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
