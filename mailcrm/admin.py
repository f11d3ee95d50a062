"""The Django admin of the core: users, workspaces and their plan limits, memberships, API keys
and a read-only browser of the event outbox.

The admin is a power tool, not a back door (STYLE.md): writes with consequences go through
`mailcrm.services`, changelists select their relations up front."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from contacts.models import Contact
from mailcrm import audit, services, usage, workspace_deletion
from mailcrm.admin_audit import AuditedAdminMixin, MembershipInlinesAuditMixin
from mailcrm.models import (
    ApiKey,
    ApiKeyScope,
    AuditEntry,
    Event,
    Membership,
    User,
    Workspace,
)

LIMIT_FIELDS = tuple(usage.LIMIT_FIELDS.values())


def _clean_user_email(form: forms.ModelForm) -> str:
    """Trim, lower-case the domain, and refuse an address another user has in any case."""
    email = User.objects.normalize_email((form.cleaned_data.get("email") or "").strip())
    validate_email(email)
    clash = User.objects.filter(email__iexact=email)
    if form.instance.pk:
        clash = clash.exclude(pk=form.instance.pk)
    if clash.exists():
        raise ValidationError("A user with this email address already exists.")
    return email


# --- users -------------------------------------------------------------------------------------


class UserAddForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")
        field_classes: dict = {}

    def clean_email(self) -> str:
        return _clean_user_email(self)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes: dict = {}

    def clean_email(self) -> str:
        return _clean_user_email(self)


class UserMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    autocomplete_fields = ["workspace"]
    fields = ["workspace", "role", "created_at"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("workspace")


@admin.register(User)
class UserAdmin(MembershipInlinesAuditMixin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("full_name",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ["email", "full_name", "is_staff", "is_superuser", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "full_name"]
    ordering = ["email"]
    readonly_fields = ["last_login", "date_joined"]
    inlines = [UserMembershipInline]


# --- workspaces --------------------------------------------------------------------------------


class WorkspaceAddForm(forms.ModelForm):
    owner_email = forms.EmailField(
        help_text="The owner signs in with this address; an existing user is reused."
    )

    class Meta:
        model = Workspace
        fields = ["name", *LIMIT_FIELDS]

    def clean_name(self) -> str:
        name = (self.cleaned_data.get("name") or "").strip()
        if not name:
            raise ValidationError("Give the workspace a name.")
        return name


class WorkspaceMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "workspace"
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("user")


class WorkspaceApiKeyInline(admin.TabularInline):
    """The workspace's keys at a glance; keys are made and revoked on the API key pages."""

    model = ApiKey
    extra = 0
    fields = ["name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Workspace)
class WorkspaceAdmin(MembershipInlinesAuditMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "contact_count",
        "member_count",
        "limit_contacts",
        "limit_monthly_sends",
        "limit_api_requests_per_minute",
        "created_at",
    ]
    search_fields = ["name", "=id"]
    readonly_fields = ["id", "created_at", "usage_summary"]
    inlines = [WorkspaceMembershipInline, WorkspaceApiKeyInline]
    fieldsets = (
        (None, {"fields": ("name", "physical_address", "id", "created_at")}),
        ("Plan limits (empty means unlimited)", {"fields": LIMIT_FIELDS}),
        ("Usage", {"fields": ("usage_summary",)}),
    )

    def get_queryset(self, request: HttpRequest):
        contacts = (
            Contact.objects.filter(workspace=OuterRef("pk"))
            .order_by()
            .values("workspace")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                contact_count=Coalesce(Subquery(contacts, output_field=IntegerField()), 0),
                member_count=Count("memberships", distinct=True),
            )
            # GROUP BY drops Meta.ordering; autocomplete pages need a stable order.
            .order_by("name", "pk")
        )

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is None:
            return (
                (None, {"fields": ("name", "owner_email")}),
                ("Plan limits", {"fields": LIMIT_FIELDS}),
            )
        return super().get_fieldsets(request, obj)

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = WorkspaceAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Plan limits are the operator's business, not a staff member's.
            fields += LIMIT_FIELDS
        return fields

    def get_inlines(self, request: HttpRequest, obj):
        # A new workspace gets its owner from the add form, through workspace_create.
        return self.inlines if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Workspace, form, change: bool) -> None:
        if change:
            changes = audit.pending_changes(obj)
            super().save_model(request, obj, form, change)
            audit.record(obj, "workspace.updated", obj, changes)
            return
        workspace, _ = services.workspace_create(
            name=obj.name, owner_email=form.cleaned_data["owner_email"]
        )
        limits = {field: getattr(obj, field) for field in LIMIT_FIELDS}
        Workspace.objects.filter(pk=workspace.pk).update(**limits)
        obj.pk, obj.created_at = workspace.pk, workspace.created_at
        obj._state.adding, obj._state.db = False, workspace._state.db

    # Deleting: the ORM's cascade would load every contact, message and event of the
    # workspace (for the confirmation page, then to delete them in one transaction: minutes at
    # 100,000 contacts). The page lists the workspaces; workspace_deletion does the rest.
    def get_deleted_objects(self, objs, request: HttpRequest):
        names = [str(obj) for obj in objs]
        return names, {"workspaces (and everything in them)": len(names)}, set(), []

    def delete_model(self, request: HttpRequest, obj: Workspace) -> None:
        workspace_deletion.workspace_delete_later(obj.pk)
        self.message_user(request, f"“{obj}” is being deleted in the background.")

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for workspace in queryset:
            self.delete_model(request, workspace)

    @admin.display(description="contacts", ordering="contact_count")
    def contact_count(self, obj: Workspace) -> int:
        return obj.contact_count

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Workspace) -> int:
        return obj.member_count

    @admin.display(description="usage against plan limits")
    def usage_summary(self, obj: Workspace) -> str:
        used, limits = usage.usage(obj), usage.limits(obj)
        rows = [
            (name.replace("_", " "), used[name], "unlimited" if limit is None else limit)
            for name, limit in limits.items()
        ]
        return format_html(
            "<table><tr><th>resource</th><th>used</th><th>limit</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_name = "membership"
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    list_select_related = ["user", "workspace"]
    search_fields = ["user__email", "user__full_name", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]
    readonly_fields = ["created_at"]


# --- API keys ----------------------------------------------------------------------------------


class ApiKeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.active()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class ApiKeyAdminForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["workspace", "name", "scope", "sending_domains"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "scope" in self.fields:
            self.fields["scope"].required = False  # left out: full access, as before scopes

    def clean_scope(self) -> str:
        return self.cleaned_data.get("scope") or ApiKeyScope.FULL_ACCESS

    def clean(self):
        cleaned = super().clean()
        workspace = cleaned.get("workspace")
        domains = cleaned.get("sending_domains") or []
        if workspace is not None and any(d.workspace_id != workspace.pk for d in domains):
            self.add_error("sending_domains", "Choose sending domains of the key's workspace.")
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made through `api_key_create` (the secret is shown once, in a message) and
    are never edited; the digest is never shown."""

    list_display = [
        "name",
        "prefix",
        "scope",
        "workspace",
        "created_by",
        "created_at",
        "last_used_at",
        "is_active",
    ]
    list_filter = [ApiKeyStateFilter, "scope", "workspace"]
    form = ApiKeyAdminForm
    list_select_related = ["workspace", "created_by"]
    search_fields = ["name", "prefix", "workspace__name"]
    autocomplete_fields = ["workspace"]
    actions = ["revoke"]
    shown_fields = [
        "workspace",
        "name",
        "prefix",
        "scope",
        "sending_domains",
        "created_by",
        "created_at",
        "last_used_at",
        "rotated_at",
        "revoked_at",
    ]

    def get_fields(self, request: HttpRequest, obj=None):
        return (
            ["workspace", "name", "scope", "sending_domains"] if obj is None else self.shown_fields
        )

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else self.shown_fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Allowed on the changelist (for the revoke action); a key itself is never edited.
        return obj is None and super().has_change_permission(request)

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        key, secret = services.api_key_create(
            workspace=obj.workspace,
            name=obj.name,
            created_by=request.user,
            scope=obj.scope,
            sending_domains=form.cleaned_data.get("sending_domains") or [],
        )
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding, obj._state.db = False, key._state.db
        messages.warning(
            request,
            format_html(
                "The new API key is <code>{}</code>. Copy it now: it is stored only as a "
                "digest and cannot be shown again.",
                secret,
            ),
        )

    @admin.display(boolean=True, description="active")
    def is_active(self, obj: ApiKey) -> bool:
        return obj.is_active

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        keys = list(queryset.active())
        for key in keys:
            services.api_key_revoke(key=key)
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)


# --- the event outbox --------------------------------------------------------------------------


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """A read-only browser of the outbox."""

    list_display = ["type", "workspace", "subject_id", "created_at"]
    list_filter = ["type", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["type"]
    # No date_hierarchy: its MIN/MAX and the full COUNT(*) would scan the whole outbox.
    show_full_result_count = False
    fields = ["id", "workspace", "type", "subject_id", "created_at", "pretty_data"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="data")
    def pretty_data(self, obj: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))


# --- the audit log -----------------------------------------------------------------------------


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """A read-only browser of the audit log: entries are written by the services only."""

    list_display = ["occurred_at", "workspace", "actor_label", "via", "action", "target_label"]
    list_filter = ["via", "action", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["action", "actor_label", "target_label", "=target_id"]
    show_full_result_count = False
    fields = [
        "id",
        "workspace",
        "occurred_at",
        "actor_label",
        "actor_user",
        "actor_api_key",
        "via",
        "ip_address",
        "action",
        "target_type",
        "target_id",
        "target_label",
        "pretty_changes",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a log that can be edited by the people it records is no log

    @admin.display(description="changes")
    def pretty_changes(self, obj: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.changes, indent=2, sort_keys=True))
