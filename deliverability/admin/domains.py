"""Sending and tracking domains, and the record of their status changes. Adding and checking go
through the services, so the admin verifies and announces exactly as the dashboard does."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from deliverability import domains, tracking_domains, warmup
from deliverability.dkim import dkim_key_generate, dkim_txt_record
from deliverability.models import DomainStatusChange, SendingDomain, TrackingDomain
from mailcrm import audit
from mailcrm.exceptions import DomainError


class NewDomainForm(forms.ModelForm):
    """Refuses on the form what the service would refuse, so a bad name is a form error."""

    def check(self, cleaned: dict) -> str:
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if self.instance._state.adding and cleaned.get("domain") and cleaned.get("workspace"):
            try:
                cleaned["domain"] = self.check(cleaned)
            except ValidationError as exc:
                raise ValidationError(exc.message_dict.get("domain", exc.messages)) from None
            except DomainError as exc:
                raise ValidationError(exc.message) from None
        return cleaned


class SendingDomainForm(NewDomainForm):
    def check(self, cleaned: dict) -> str:
        return domains.domain_check_new(workspace=cleaned["workspace"], domain=cleaned["domain"])

    def clean(self):
        cleaned = super().clean()
        workspace = cleaned.get("workspace") or getattr(self.instance, "workspace", None)
        tracking = cleaned.get("tracking_domain")
        if tracking is not None and workspace is not None and tracking.workspace_id != workspace.pk:
            self.add_error("tracking_domain", "Choose a tracking domain of the same workspace.")
        target, start = cleaned.get("warmup_target"), cleaned.get("warmup_daily_start")
        if target and start and start > target:
            self.add_error("warmup_daily_start", "The first day's cap cannot pass the target.")
        return cleaned


class TrackingDomainForm(NewDomainForm):
    def check(self, cleaned: dict) -> str:
        return tracking_domains.tracking_domain_check_new(domain=cleaned["domain"])


@admin.register(SendingDomain)
class SendingDomainAdmin(admin.ModelAdmin):
    form = SendingDomainForm
    list_display = ["domain", "is_verified", "verified_at", "last_checked_at", "workspace"]
    list_filter = ["is_verified", "workspace"]
    list_select_related = ["workspace", "tracking_domain"]
    search_fields = ["domain"]
    autocomplete_fields = ["workspace"]
    fields = [
        "workspace",
        "domain",
        "tracking_domain",
        "dkim_selector",
        "dkim_record",
        "last_check",
        "warmup_target",
        "warmup_daily_start",
        "warmup_growth",
        "warmup_started_on",
    ]
    readonly_fields = ["dkim_selector", "dkim_record", "last_check"]
    actions = ["verify_now", "generate_dkim_key"]

    def get_fields(self, request, obj=None):
        # A warm-up is set on an added domain (its defaults are not asked for when adding).
        fields = super().get_fields(request, obj)
        return fields if obj else [f for f in fields if not f.startswith("warmup_")]

    def get_readonly_fields(self, request, obj=None):
        # The name is chosen once: a new name is a new domain with its own key and records.
        return [*self.readonly_fields, "workspace", "domain"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            domains.domain_set_tracking_domain(domain=obj, tracking_domain=obj.tracking_domain)
        else:
            obj.pk = domains.domain_add(
                workspace=form.cleaned_data["workspace"], domain=form.cleaned_data["domain"]
            ).pk
        if change or obj.warmup_target:
            warmup.domain_set_warmup(
                domain=SendingDomain.objects.get(pk=obj.pk),
                target=obj.warmup_target,
                daily_start=obj.warmup_daily_start,
                growth=obj.warmup_growth,
                started_on=obj.warmup_started_on,
            )

    def delete_model(self, request, obj):
        domains.domain_delete(domain=obj)

    @admin.display(description="DKIM TXT record to publish")
    def dkim_record(self, obj: SendingDomain) -> str:
        if not obj.dkim_public_key:
            return 'No key yet: use the action "Generate a DKIM key".'
        host, value = dkim_txt_record(obj)
        return f"{host}  TXT  {value}"

    @admin.display(description="Last DNS check")
    def last_check(self, obj: SendingDomain) -> str:
        if not obj.pk:
            return "—"
        return "\n".join(
            f"{r['purpose']}: {r['status']} — {r['explanation']}" for r in domains.dns_records(obj)
        )

    @admin.action(description="Verify DNS now")
    def verify_now(self, request, queryset):
        verified = sum(domains.domain_verify(domain).is_verified for domain in queryset)
        self.message_user(request, f"Checked {queryset.count()} domain(s); {verified} verified.")

    @admin.action(description="Generate a DKIM key (replaces the current one)")
    def generate_dkim_key(self, request, queryset):
        for domain in queryset:
            dkim_key_generate(domain)
            audit.record(domain.workspace_id, "sending_domain.dkim_key_generated", domain)
        self.message_user(request, f"New DKIM keys for {queryset.count()} domain(s).")


@admin.register(TrackingDomain)
class TrackingDomainAdmin(admin.ModelAdmin):
    form = TrackingDomainForm
    list_display = ["domain", "is_verified", "ssl_enabled", "last_checked_at", "workspace"]
    list_filter = ["is_verified", "ssl_enabled", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["domain"]
    autocomplete_fields = ["workspace"]
    fields = ["workspace", "domain", "cname_target", "is_verified", "ssl_enabled", "check_result"]
    readonly_fields = ["cname_target", "is_verified", "ssl_enabled", "check_result"]
    actions = ["verify_now"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # added, checked and deleted through the services only

    def save_model(self, request, obj, form, change):
        obj.pk = tracking_domains.tracking_domain_add(
            workspace=form.cleaned_data["workspace"], domain=form.cleaned_data["domain"]
        ).pk

    def delete_model(self, request, obj):
        tracking_domains.tracking_domain_delete(tracking_domain=obj)

    @admin.action(description="Verify the CNAME (and HTTPS) now")
    def verify_now(self, request, queryset):
        verified = sum(tracking_domains.tracking_domain_verify(d).is_verified for d in queryset)
        self.message_user(request, f"Checked {queryset.count()} domain(s); {verified} verified.")


@admin.register(DomainStatusChange)
class DomainStatusChangeAdmin(admin.ModelAdmin):
    """A read-only record of what changed and why."""

    list_display = [
        "changed_at",
        "sending_domain",
        "tracking_domain",
        "purpose",
        "old_status",
        "new_status",
        "workspace",
    ]
    list_filter = ["purpose", "new_status", "workspace"]
    list_select_related = ["workspace", "sending_domain", "tracking_domain"]
    search_fields = ["sending_domain__domain", "tracking_domain__domain", "explanation"]
    date_hierarchy = "changed_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
