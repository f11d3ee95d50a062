"""Companies, tags, lists, property definitions and the activity timeline."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from contacts import scoring, services
from contacts.admin.common import (
    WorkspaceRowForm,
    WorkspaceScopedInline,
    copy_saved,
    inline_changes,
)
from contacts.models import (
    MANUAL_ACTIVITY_KINDS,
    Activity,
    Company,
    CompanyRole,
    ContactList,
    PropertyDefinition,
    PropertyType,
    ScoringSettings,
    Tag,
)
from mailcrm.admin_audit import AuditedAdminMixin

SELECT_TYPES = (PropertyType.SELECT, PropertyType.MULTI_SELECT)


# --- companies ---------------------------------------------------------------------------------


class CompanyForm(WorkspaceRowForm):
    # Company properties are free-form JSON: the contact property definitions do not apply.
    class Meta:
        model = Company
        fields = ["workspace", *services.COMPANY_FIELDS]


class CompanyRoleInline(WorkspaceScopedInline):
    model = CompanyRole
    fk_name = "company"
    fields = ["contact", "role"]
    autocomplete_fields = ["contact"]
    scoped_fields = ("contact",)
    verbose_name_plural = "people"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("contact")


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    form = CompanyForm
    list_display = ["name", "domain", "industry", "size", "plan", "spend", "people", "workspace"]
    list_filter = ["size", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "domain", "industry"]
    autocomplete_fields = ["workspace"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [CompanyRoleInline]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).with_counts().order_by("name", "pk")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "workspace"] if obj is not None else fields

    def get_inlines(self, request: HttpRequest, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Company, form, change: bool) -> None:
        data = form.cleaned_data
        fields = {name: data[name] for name in services.COMPANY_FIELDS if name in data}
        fields["properties"] = fields.get("properties") or {}
        if change:
            company = services.company_update(company=Company.objects.get(pk=obj.pk), **fields)
        else:
            company = services.company_create(workspace=data["workspace"], **fields)
        copy_saved(obj, company)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        removed, added = inline_changes(formset, "contact", "role")
        if not removed and not added:
            return
        company = form.instance
        # The service sets the whole membership; rows the formset did not touch stay.
        members = {
            link.contact_id: link.role
            for link in CompanyRole.objects.filter(company=company).exclude(
                pk__in=[f.instance.pk for f in removed]
            )
        }
        for f in added:
            members[f.cleaned_data["contact"].pk] = f.cleaned_data["role"]
        services.company_update(
            company=company,
            contacts=[{"id": pk, "role": role} for pk, role in members.items()],
        )

    def delete_model(self, request: HttpRequest, obj: Company) -> None:
        services.company_delete(company=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for company in queryset:
                services.company_delete(company=company)

    @admin.display(description="people", ordering="contact_count")
    def people(self, obj: Company) -> int:
        return obj.contact_count


# --- tags and lists ----------------------------------------------------------------------------


class TagForm(WorkspaceRowForm):
    class Meta:
        model = Tag
        fields = ["workspace", "name", "description"]

    def clean(self):
        cleaned = super().clean()
        name, workspace = (cleaned.get("name") or "").strip(), self.workspace
        if name and workspace is not None:
            clash = Tag.objects.for_workspace(workspace).filter(name__iexact=name)
            if clash.exclude(pk=self.instance.pk).exists():
                self.add_error("name", "A tag with this name exists in the workspace.")
        return cleaned


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    form = TagForm
    list_display = ["name", "description", "contacts", "workspace", "created_at"]
    list_filter = ["workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["workspace"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).with_counts().order_by("name", "pk")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "workspace"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: Tag, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            tag = services.tag_update(
                tag=Tag.objects.get(pk=obj.pk), name=data["name"], description=data["description"]
            )
        else:
            tag = services.tag_create(
                workspace=data["workspace"], name=data["name"], description=data["description"]
            )
        copy_saved(obj, tag)

    def delete_model(self, request: HttpRequest, obj: Tag) -> None:
        services.tag_delete(tag=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for tag in queryset:
                services.tag_delete(tag=tag)

    @admin.display(description="contacts (not archived)", ordering="contact_count")
    def contacts(self, obj: Tag) -> int:
        return obj.contact_count


class ContactListForm(WorkspaceRowForm):
    class Meta:
        model = ContactList
        fields = ["workspace", "name", "description", "double_opt_in"]

    def clean(self):
        cleaned = super().clean()
        name, workspace = (cleaned.get("name") or "").strip(), self.workspace
        if name and workspace is not None:
            clash = ContactList.objects.for_workspace(workspace).filter(name=name)
            if clash.exclude(pk=self.instance.pk).exists():
                self.add_error("name", "A list with this name exists in the workspace.")
        return cleaned


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    form = ContactListForm
    list_display = ["name", "contacts", "double_opt_in", "workspace", "created_at"]
    list_filter = ["double_opt_in", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["workspace"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).with_counts().order_by("name", "pk")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "workspace"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: ContactList, form, change: bool) -> None:
        data = form.cleaned_data
        fields = {k: data[k] for k in ("name", "description", "double_opt_in")}
        if change:
            contact_list = services.contact_list_update(
                contact_list=ContactList.objects.get(pk=obj.pk), **fields
            )
        else:
            contact_list = services.contact_list_create(workspace=data["workspace"], **fields)
        copy_saved(obj, contact_list)

    def delete_model(self, request: HttpRequest, obj: ContactList) -> None:
        services.contact_list_delete(contact_list=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for contact_list in queryset:
                services.contact_list_delete(contact_list=contact_list)

    @admin.display(description="contacts (not archived)", ordering="contact_count")
    def contacts(self, obj: ContactList) -> int:
        return obj.contact_count


# --- property definitions ----------------------------------------------------------------------


class PropertyDefinitionForm(WorkspaceRowForm):
    class Meta:
        model = PropertyDefinition
        fields = ["workspace", "key", "label", "type", "options", "description"]

    def clean(self):
        cleaned = super().clean()
        key, workspace = cleaned.get("key"), self.workspace
        if self.instance._state.adding and key and workspace is not None:
            if PropertyDefinition.objects.for_workspace(workspace).filter(key=key).exists():
                self.add_error("key", "This workspace already has a property with this key.")
        options = cleaned.get("options") or []
        if cleaned.get("type") in SELECT_TYPES:
            if not isinstance(options, list) or not all(isinstance(o, str) and o for o in options):
                self.add_error("options", "A select property needs a list of text options.")
            elif not options:
                self.add_error("options", 'A select property needs options, e.g. ["a", "b"].')
        elif options:
            self.add_error("options", "Only select and multi_select properties take options.")
        cleaned["options"] = options
        return cleaned


@admin.register(PropertyDefinition)
class PropertyDefinitionAdmin(admin.ModelAdmin):
    form = PropertyDefinitionForm
    list_display = ["key", "label", "type", "option_list", "workspace", "created_at"]
    list_filter = ["type", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["key", "label", "description"]
    autocomplete_fields = ["workspace"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        # The key is what stored values and queries refer to: it never changes.
        return [*fields, "workspace", "key"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: PropertyDefinition, form, change) -> None:
        data = form.cleaned_data
        fields = {k: data[k] for k in ("label", "type", "options", "description")}
        if change:
            definition = services.property_definition_update(
                definition=PropertyDefinition.objects.get(pk=obj.pk), **fields
            )
        else:
            definition = services.property_definition_create(
                workspace=data["workspace"], key=data["key"], **fields
            )
        copy_saved(obj, definition)

    def delete_model(self, request: HttpRequest, obj: PropertyDefinition) -> None:
        services.property_definition_delete(definition=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for definition in queryset:
                services.property_definition_delete(definition=definition)

    @admin.display(description="options")
    def option_list(self, obj: PropertyDefinition) -> str:
        return ", ".join(map(str, obj.options or []))


# --- activities --------------------------------------------------------------------------------


class ActivityForm(forms.ModelForm):
    kind = forms.ChoiceField(
        choices=[(k.value, k.label) for k in MANUAL_ACTIVITY_KINDS],
        help_text="Only manual entries are logged here; the rest come from what happens.",
    )

    class Meta:
        model = Activity
        fields = ["contact", "kind", "subject", "body", "occurred_at"]

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("subject") or "").strip() and not (cleaned.get("body") or "").strip():
            self.add_error("body", "Write a subject or a body.")
        return cleaned


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    """The timeline is history: manual entries are logged through `activity_log`, nothing
    is edited."""

    form = ActivityForm
    list_display = ["occurred_at", "kind", "subject", "contact", "created_by", "workspace"]
    list_filter = ["kind", "workspace"]
    list_select_related = ["contact", "workspace", "created_by"]
    search_fields = ["subject", "contact__email"]
    autocomplete_fields = ["contact"]
    show_full_result_count = False  # a second COUNT(*) over the whole timeline on every page

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ["contact", "kind", "subject", "body", "occurred_at"]
        return [
            "contact",
            "workspace",
            "kind",
            "subject",
            "body",
            "data",
            "occurred_at",
            "created_by",
            "created_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"occurred_at": timezone.now(), **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Activity, form, change: bool) -> None:
        data = form.cleaned_data
        activity = services.activity_log(
            contact=data["contact"],
            kind=data["kind"],
            subject=data.get("subject") or "",
            body=data.get("body") or "",
            occurred_at=data.get("occurred_at"),
            actor=request.user,
        )
        copy_saved(obj, activity)


# --- scoring, decay and sunsetting ---------------------------------------------------------------


class ScoringSettingsForm(forms.ModelForm):
    class Meta:
        model = ScoringSettings
        fields = ["hot_threshold", "warm_threshold", *scoring.HYGIENE_FIELDS, "sunset_exclude"]

    def clean(self):
        data = super().clean()
        hygiene = {name: data.get(name) for name in [*scoring.HYGIENE_FIELDS, "sunset_exclude"]}
        try:
            scoring._clean_thresholds(data.get("hot_threshold"), data.get("warm_threshold"))
            scoring._clean_hygiene(hygiene)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return data


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Thresholds, decay and sunsetting per workspace; the points per event are edited on the
    dashboard's scoring page or with PUT /scoring (they are checked there)."""

    form = ScoringSettingsForm
    audit_name = "scoring_settings"
    list_display = [
        "workspace",
        "hot_threshold",
        "warm_threshold",
        "decay_half_life_days",
        "sunset_after_days",
        "sunset_min_sends",
        "sunset_exclude",
        "sunset_suppress_after_days",
        "updated_at",
    ]
    list_select_related = ["workspace"]
    readonly_fields = ["workspace", "rules", "decayed_until", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made with the defaults on a workspace's first use
