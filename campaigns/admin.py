from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from campaigns import senders, services
from campaigns.ab_admin import AbTestInline, AbVariantInline
from campaigns.models import Campaign, CapturedEmail, Message, MessageEvent, SendingBackend
from mailcrm.admin_audit import AuditedAdminMixin


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "recipients", "started_at", "finished_at", "workspace"]
    list_filter = ["status", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "subject"]
    readonly_fields = ["status", "status_reason", "recipients", "started_at", "finished_at"]
    autocomplete_fields = ["workspace"]
    actions = ["pause", "resume", "cancel"]
    inlines = [AbTestInline, AbVariantInline]

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


class SendingBackendForm(forms.ModelForm):
    """Secrets are write-only: a blank field keeps what is stored."""

    new_password = forms.CharField(
        required=False, widget=forms.PasswordInput, help_text="Blank keeps the stored password."
    )
    new_esp_settings = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text='anymail settings as JSON, e.g. {"server_token": "…"}. Blank keeps them.',
    )

    class Meta:
        model = SendingBackend
        fields = [
            "workspace",
            "name",
            "kind",
            "sending_domain",
            "is_default",
            "is_active",
            "host",
            "port",
            "security",
            "username",
            "esp",
            "rate_per_minute",
        ]

    def clean_new_esp_settings(self):
        value = self.cleaned_data.get("new_esp_settings")
        if value in (None, ""):
            return None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ValidationError("A JSON object of setting names to values.")
        return value

    def _post_clean(self):
        super()._post_clean()
        backend = self.instance
        if backend.kind == "smtp" and not backend.host:
            self.add_error("host", "An SMTP backend needs a host.")
        if backend.kind == "esp" and not backend.esp:
            self.add_error("esp", "Choose the email service provider.")
        domain = backend.sending_domain
        if domain is not None and domain.workspace_id != backend.workspace_id:
            self.add_error("sending_domain", "That domain belongs to another workspace.")


@admin.register(SendingBackend)
class SendingBackendAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_name = "sending_backend"  # saved by sending_backend_save, which records
    form = SendingBackendForm
    list_display = ["name", "kind", "esp", "host", "sending_domain", "is_default", "is_active"]
    list_filter = ["kind", "is_active", "workspace"]
    list_select_related = ["workspace", "sending_domain"]
    search_fields = ["name", "host"]
    autocomplete_fields = ["workspace"]

    def save_model(self, request, obj, form, change):
        password = form.cleaned_data.get("new_password") or None
        esp_settings = form.cleaned_data.get("new_esp_settings")
        senders.sending_backend_save(obj, password=password, esp_settings=esp_settings)
