"""The contact pages: search, filters, inlines and bulk actions, all writing through
`contacts.services`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from contacts import services
from contacts.admin.common import (
    WorkspaceRowForm,
    WorkspaceScopedInline,
    copy_saved,
    inline_changes,
)
from contacts.models import (
    Activity,
    CompanyRole,
    Contact,
    ContactList,
    ContactTag,
    ListMembership,
    PropertyDefinition,
    Tag,
)
from mailcrm.models import Workspace

ACTIVITY_INLINE_LIMIT = 50
ACTION_TEMPLATE = "admin/mailcrm/action_form.html"


# --- contacts ----------------------------------------------------------------------------------


class ContactForm(WorkspaceRowForm):
    class Meta:
        model = Contact
        fields = ["workspace", *services.STANDARD_FIELDS, "properties"]

    def clean(self):
        cleaned = super().clean()
        workspace = self.workspace
        if cleaned.get("email"):
            try:
                cleaned["email"] = services.normalize_email(cleaned["email"])
            except ValidationError:
                self.add_error("email", "Enter a valid email address.")
        if workspace is not None and cleaned.get("email") and "email" not in self.errors:
            other = services.find_contact_by_email(workspace, cleaned["email"])
            if other is not None and other.pk != self.instance.pk:
                self.add_error("email", "A contact with this email already exists here.")
        if workspace is not None and self.instance._state.adding:
            limit, contacts = workspace.limit_contacts, Contact.objects.for_workspace(workspace)
            # Counting at most `limit` ids keeps this cheap on a large table.
            if limit is not None and contacts.values("id")[:limit].count() >= limit:
                self.add_error(None, f"The workspace's plan allows {limit} contacts.")
        self.clean_against_definitions()
        return cleaned


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("no", "Not archived"), ("yes", "Archived")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.visible()
        if self.value() == "yes":
            return queryset.archived()
        return queryset


class SunsetFilter(admin.SimpleListFilter):
    title = "sunset"
    parameter_name = "sunset"

    def lookups(self, request, model_admin):
        return [("yes", "Stopped engaging"), ("no", "Engaging")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(sunset_at__isnull=self.value() == "no")
        return queryset


class ContactTagInline(WorkspaceScopedInline):
    model = ContactTag
    fields = ["tag", "created_at"]
    readonly_fields = ["created_at"]
    scoped_fields = ("tag",)
    verbose_name_plural = "tags"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tag")


class ListMembershipInline(WorkspaceScopedInline):
    model = ListMembership
    fields = ["contact_list", "added_at"]
    readonly_fields = ["added_at"]
    scoped_fields = ("contact_list",)
    verbose_name_plural = "lists"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("contact_list")


class ContactCompanyRoleInline(WorkspaceScopedInline):
    model = CompanyRole
    fk_name = "contact"
    fields = ["company", "role"]
    autocomplete_fields = ["company"]
    scoped_fields = ("company",)
    verbose_name_plural = "company roles"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("company")


class RecentActivityFormSet(BaseInlineFormSet):
    def get_queryset(self):
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset()[:ACTIVITY_INLINE_LIMIT]
        return self._recent


class ActivityInline(admin.TabularInline):
    """The newest timeline entries, read-only; the Activity pages hold the whole timeline."""

    model = Activity
    formset = RecentActivityFormSet
    fields = ["occurred_at", "kind", "subject", "body", "created_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = f"recent activity (newest {ACTIVITY_INLINE_LIMIT})"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class TagContactsForm(forms.Form):
    names = forms.CharField(
        label="Tags", help_text="Comma-separated; unknown tags are created in each workspace."
    )

    def clean_names(self) -> list[str]:
        names = [part.strip() for part in self.cleaned_data["names"].split(",") if part.strip()]
        if not names:
            raise ValidationError("Give at least one tag.")
        if any(len(name) > 100 for name in names):
            raise ValidationError("A tag name is at most 100 characters.")
        return names


class AddToListForm(forms.Form):
    contact_list = forms.ModelChoiceField(
        label="List", queryset=ContactList.objects.none(), required=False
    )
    new_list = forms.CharField(
        label="Or a new list named", max_length=200, required=False, strip=True
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["contact_list"].queryset = ContactList.objects.for_workspace(workspace)

    def clean(self):
        cleaned = super().clean()
        chosen, new = cleaned.get("contact_list"), cleaned.get("new_list")
        if bool(chosen) == bool(new):
            raise ValidationError("Choose a list or name a new one (not both).")
        if new and ContactList.objects.for_workspace(self.workspace).filter(name=new).exists():
            self.add_error("new_list", "A list with this name exists: choose it above.")
        return cleaned


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    form = ContactForm
    list_display = [
        "email",
        "name",
        "company",
        "job_title",
        "status",
        "lifecycle_stage",
        "score",
        "engagement",
        "tag_names",
        "workspace",
        "created_at",
        "is_archived",
    ]
    list_filter = [
        "status",
        "lifecycle_stage",
        "source",
        "score_tier",
        SunsetFilter,
        ArchivedFilter,
        "workspace",
    ]
    list_select_related = ["workspace"]
    show_full_result_count = False  # a second COUNT(*) over every contact on every page
    search_fields = ["email", "first_name", "last_name", "company", "companies__name"]
    autocomplete_fields = ["workspace"]
    actions = ["tag_contacts", "add_to_list", "archive", "restore", "link_companies"]
    inlines = [ContactTagInline, ListMembershipInline, ContactCompanyRoleInline, ActivityInline]
    engagement_fields = (
        "score",
        "score_tier",
        "sends",
        "opens",
        "clicks",
        "open_rate",
        "click_rate",
        "last_sent_at",
        "last_opened_at",
        "last_clicked_at",
        "last_engaged_at",
        "sunset_at",
        "timeline",
    )
    readonly_fields = [
        *engagement_fields,
        "defined_properties",
        "archived_at",
        "id",
        "created_at",
        "updated_at",
    ]
    fieldsets = (
        (
            None,
            {"fields": ("workspace", "email", "first_name", "last_name", "phone")},
        ),
        ("Work", {"fields": ("company", "job_title")}),
        (
            "Status",
            {"fields": ("status", "lifecycle_stage", "source", "tracking_opt_out", "archived_at")},
        ),
        ("Custom properties", {"fields": ("properties", "defined_properties")}),
        ("Engagement", {"fields": engagement_fields}),
        ("Record", {"classes": ("collapse",), "fields": ("id", "created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("tags")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "workspace"] if obj is not None else fields

    def get_inlines(self, request: HttpRequest, obj):
        # Tags and lists are chosen from the contact's workspace, known once it exists.
        return self.inlines if obj is not None else []

    # --- writes through the services ---

    def save_model(self, request: HttpRequest, obj: Contact, form, change: bool) -> None:
        data = form.cleaned_data
        fields = {name: data[name] for name in services.STANDARD_FIELDS if name in data}
        if not change:
            contact = services.contact_create(
                workspace=data["workspace"],
                actor=request.user,
                properties=data.get("properties") or {},
                **fields,
            )
        else:
            contact = services.contact_update(
                contact=Contact.objects.select_related("workspace").get(pk=obj.pk),
                actor=request.user,
                properties=data.get("properties") or {},
                replace_properties=True,
                **fields,
            )
        copy_saved(obj, contact)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        contact = form.instance
        if formset.model is ContactTag:
            self._save_tags(request, contact, formset)
        elif formset.model is ListMembership:
            self._save_lists(request, contact, formset)
        elif formset.model is CompanyRole:
            self._save_company_roles(contact, formset)
        else:  # activities are read-only here
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def _save_tags(self, request: HttpRequest, contact: Contact, formset) -> None:
        removed, added = inline_changes(formset, "tag")
        old = Tag.objects.filter(id__in=[f.initial["tag"] for f in removed])
        for tag in old:
            services.contact_untag(contact=contact, name=tag.name, actor=request.user)
        names = [f.cleaned_data["tag"].name for f in added]
        if names:
            services.contact_tag(contact=contact, names=names, actor=request.user)

    def _save_lists(self, request: HttpRequest, contact: Contact, formset) -> None:
        removed, added = inline_changes(formset, "contact_list")
        old = ContactList.objects.filter(id__in=[f.initial["contact_list"] for f in removed])
        for contact_list in old:
            services.list_remove_contacts(
                contact_list=contact_list, contact_ids=[contact.id], actor=request.user
            )
        for f in added:
            services.list_add_contacts(
                contact_list=f.cleaned_data["contact_list"],
                contact_ids=[contact.id],
                actor=request.user,
            )

    def _save_company_roles(self, contact: Contact, formset) -> None:
        removed, added = inline_changes(formset, "company", "role")
        # A link row without consequences (no event, no activity), so there is no service
        # for dropping one from the contact's side.
        CompanyRole.objects.filter(pk__in=[f.instance.pk for f in removed]).delete()
        for f in added:
            services.company_set_role(
                company=f.cleaned_data["company"], contact=contact, role=f.cleaned_data["role"]
            )

    def delete_model(self, request: HttpRequest, obj: Contact) -> None:
        services.contact_delete(contact=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        with transaction.atomic():
            for contact in queryset.select_related("workspace"):
                services.contact_delete(contact=contact, actor=request.user)

    # --- columns and read-only fields ---

    @admin.display(description="name")
    def name(self, obj: Contact) -> str:
        return obj.name

    @admin.display(description="sends / opens / clicks")
    def engagement(self, obj: Contact) -> str:
        return f"{obj.sends} / {obj.opens} / {obj.clicks}"

    @admin.display(description="tags")
    def tag_names(self, obj: Contact) -> str:
        return ", ".join(sorted(tag.name for tag in obj.tags.all()))

    @admin.display(boolean=True, description="archived", ordering="archived_at")
    def is_archived(self, obj: Contact) -> bool:
        return obj.is_archived

    @admin.display(description="open rate")
    def open_rate(self, obj: Contact) -> str:
        return f"{obj.opens / obj.sends:.0%}" if obj.sends else "–"

    @admin.display(description="click rate")
    def click_rate(self, obj: Contact) -> str:
        return f"{obj.clicks / obj.sends:.0%}" if obj.sends else "–"

    @admin.display(description="timeline")
    def timeline(self, obj: Contact) -> str:
        if obj is None or obj.pk is None:
            return "–"
        url = reverse("admin:contacts_activity_changelist")
        return format_html('<a href="{}?contact__id__exact={}">All activity →</a>', url, obj.pk)

    @admin.display(description="defined properties")
    def defined_properties(self, obj: Contact) -> str:
        if obj is None or not obj.workspace_id:
            return "Properties are checked against the workspace's definitions."
        rows = [
            (d.key, d.type, ", ".join(map(str, d.options or [])))
            for d in PropertyDefinition.objects.for_workspace(obj.workspace_id)
        ]
        if not rows:
            return "This workspace defines no properties yet."
        return format_html_join("", "<div><code>{}</code> {} {}</div>", rows)

    # --- bulk actions ---

    def _render_action(
        self, request: HttpRequest, queryset, form, *, title: str, action: str, submit: str
    ) -> TemplateResponse:
        count = queryset.count()
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
            "action": action,
            "submit_label": submit,
            "count": count,
            "preview": list(queryset[:10]),
            "more": max(count - 10, 0),
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across") == "1",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    @admin.action(description="Tag…", permissions=["change"])
    def tag_contacts(self, request: HttpRequest, queryset) -> TemplateResponse | None:
        form = TagContactsForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._render_action(
                request, queryset, form, title="Tag contacts", action="tag_contacts", submit="Tag"
            )
        ids_by_workspace: dict[Any, list] = defaultdict(list)
        for workspace_id, pk in queryset.order_by().values_list("workspace_id", "id"):
            ids_by_workspace[workspace_id].append(pk)
        workspaces = Workspace.objects.in_bulk(list(ids_by_workspace))
        added = 0
        with transaction.atomic():
            for workspace_id, ids in ids_by_workspace.items():
                added += services.contacts_tag_bulk(
                    workspace=workspaces[workspace_id],
                    contact_ids=ids,
                    names=form.cleaned_data["names"],
                    actor=request.user,
                )
        names = ", ".join(form.cleaned_data["names"])
        self.message_user(request, f"Added {added} tag link(s) ({names}).", messages.SUCCESS)
        return None

    @admin.action(description="Add to list…", permissions=["change"])
    def add_to_list(self, request: HttpRequest, queryset) -> TemplateResponse | None:
        workspace_ids = list(
            queryset.order_by().values_list("workspace_id", flat=True).distinct()[:2]
        )
        if len(workspace_ids) != 1:
            self.message_user(
                request, "Select contacts of one workspace to add them to a list.", messages.ERROR
            )
            return None
        workspace = Workspace.objects.get(pk=workspace_ids[0])
        data = request.POST if "apply" in request.POST else None
        form = AddToListForm(data, workspace=workspace)
        if not form.is_valid():
            return self._render_action(
                request,
                queryset,
                form,
                title=f"Add contacts to a list of {workspace}",
                action="add_to_list",
                submit="Add to list",
            )
        with transaction.atomic():
            contact_list = form.cleaned_data["contact_list"] or services.contact_list_create(
                workspace=workspace, name=form.cleaned_data["new_list"]
            )
            added = services.list_add_contacts(
                contact_list=contact_list,
                contact_ids=list(queryset.values_list("id", flat=True)),
                actor=request.user,
            )
        self.message_user(
            request, f"Added {added} contact(s) to “{contact_list}”.", messages.SUCCESS
        )
        return None

    @admin.action(description="Link to companies by email domain", permissions=["change"])
    def link_companies(self, request: HttpRequest, queryset) -> None:
        from contacts.enrichment import enrich_contacts

        ids_by_workspace: dict[Any, list] = defaultdict(list)
        for workspace_id, pk in queryset.order_by().values_list("workspace_id", "id"):
            ids_by_workspace[workspace_id].append(pk)
        workspaces = Workspace.objects.in_bulk(list(ids_by_workspace))
        with transaction.atomic():
            linked = sum(
                enrich_contacts(workspaces[workspace_id], ids)
                for workspace_id, ids in ids_by_workspace.items()
            )
        self.message_user(request, f"Linked {linked} contact(s) to companies.", messages.SUCCESS)

    @admin.action(description="Archive selected contacts", permissions=["change"])
    def archive(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            contacts = list(queryset.visible().select_related("workspace"))
            for contact in contacts:
                services.contact_archive(contact=contact, actor=request.user)
        self.message_user(request, f"Archived {len(contacts)} contact(s).", messages.SUCCESS)

    @admin.action(description="Restore selected contacts", permissions=["change"])
    def restore(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            contacts = list(queryset.archived().select_related("workspace"))
            for contact in contacts:
                services.contact_restore(contact=contact, actor=request.user)
        self.message_user(request, f"Restored {len(contacts)} contact(s).", messages.SUCCESS)
