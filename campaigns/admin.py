from django.contrib import admin, messages

from campaigns import services
from campaigns.models import Campaign, CapturedEmail, Message, MessageEvent


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "recipients", "started_at", "finished_at", "workspace"]
    list_filter = ["status", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "subject"]
    readonly_fields = ["status", "status_reason", "recipients", "started_at", "finished_at"]
    autocomplete_fields = ["workspace"]
    actions = ["pause", "resume", "cancel"]

    def _run(self, request, queryset, verb):
        for campaign in queryset:
            try:
                verb(campaign=campaign)
            except services.CampaignStateError as exc:
                self.message_user(request, f"{campaign}: {exc}", messages.WARNING)

    @admin.action(description="Pause sending")
    def pause(self, request, queryset):
        self._run(request, queryset, services.campaign_pause)

    @admin.action(description="Resume sending")
    def resume(self, request, queryset):
        self._run(request, queryset, services.campaign_resume)

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        self._run(request, queryset, services.campaign_cancel)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["email", "kind", "status", "attempts", "campaign", "sent_at", "workspace"]
    list_filter = ["kind", "status"]
    list_select_related = ["workspace", "campaign"]
    search_fields = ["email", "provider_message_id", "message_id"]
    show_full_result_count = False


@admin.register(MessageEvent)
class MessageEventAdmin(ReadOnlyAdmin):
    list_display = ["type", "message", "is_machine", "device_type", "client", "occurred_at"]
    list_filter = ["type", "is_machine"]
    list_select_related = ["message"]
    show_full_result_count = False


@admin.register(CapturedEmail)
class CapturedEmailAdmin(ReadOnlyAdmin):
    list_display = ["subject", "from_email", "to", "created_at"]
    search_fields = ["subject", "from_email"]
