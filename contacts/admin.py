"""The Django admin of the contact database, made for operators.

Every write with consequences goes through `contacts.services`, so an edit in the admin
records the same activities and events as one through the API or the dashboard. Forms check
what the services would refuse (duplicates, property types) up front, so the operator sees a
form error instead of a crash; changelists select and annotate their relations up front."""

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
from django.utils import timezone
from django.utils.html import format_html_join

from contacts import services
from contacts.models import (
    MANUAL_ACTIVITY_KINDS,
    Activity,
    Company,
    CompanyRole,
    Contact,
    ContactList,
    ContactTag,
    ListMembership,
    PropertyDefinition,
    PropertyType,
    Tag,
)
from contacts.properties import validate_properties
from mailcrm.models import Workspace

ACTIVITY_INLINE_LIMIT = 50
ACTION_TEMPLATE = "admin/mailcrm/action_form.html"
SELECT_TYPES = (PropertyType.SELECT, PropertyType.MULTI_SELECT)


# --- shared form plumbing ----------------------------------------------------------------------


class WorkspaceRowForm(forms.ModelForm):
    """A form for a row that belongs to a workspace: the workspace is chosen when the row is
    added and read-only afterwards."""

    def _get_validation_exclusions(self):
        # Uniqueness inside a workspace is checked in clean() with a readable message. Django
        # could not check it on change anyway: the workspace is read-only there.
        return super()._get_validation_exclusions() | {"workspace"}

    @property
    def workspace(self) -> Workspace | None:
        if self.instance.workspace_id:
            return self.instance.workspace
        return self.cleaned_data.get("workspace")

    def clean_against_definitions(self) -> None:
        """Check `properties` against the workspace's PropertyDefinitions and keep the
        coerced values, so the operator sees each bad property on the form."""
        if "properties" not in self.cleaned_data:
            return  # not JSON: the field already has its error
        values = self.cleaned_data["properties"] or {}
        workspace = self.workspace
        if workspace is None:
            return
        try:
            coerced = validate_properties(workspace, values)
        except ValidationError as exc:
            for messages_ in exc.message_dict.values():
                self.add_error("properties", messages_)
            return
        self.cleaned_data["properties"] = {k: v for k, v in coerced.items() if v is not None}


def _copy_saved(obj, saved) -> None:
    """Make the admin's instance the row a service created, for the rest of the request."""
    for field in type(saved)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


def _inline_changes(formset, *fields: str) -> tuple[list, list]:
    """What an inline formset changes, as (removed, added): the initial forms whose row is
    deleted or whose `fields[0]` changed, and the forms to write (new or changed).

    Also fills in what `formset.save()` would have recorded, for the admin's change log."""
    deleted = list(formset.deleted_forms)
    removed = [
        form for form in formset.initial_forms if form in deleted or fields[0] in form.changed_data
    ]
    added = [
        form
        for form in formset.forms
        if form not in deleted
        and form.cleaned_data.get(fields[0]) is not None
        and (form.instance._state.adding or any(f in form.changed_data for f in fields))
    ]
    formset.deleted_objects = [form.instance for form in deleted if form.instance.pk]
    formset.new_objects = [form.instance for form in added if form.instance._state.adding]
    formset.changed_objects = [
        (form.instance, form.changed_data) for form in added if not form.instance._state.adding
    ]
    return removed, added


class WorkspaceScopedInline(admin.TabularInline):
    """An inline whose foreign keys only offer rows of the parent's workspace."""

    extra = 0
    scoped_fields: tuple[str, ...] = ()

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        # Inline instances are made per request, so keeping the parent here is safe.
        self.parent = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        parent = getattr(self, "parent", None)
        if db_field.name in self.scoped_fields and parent is not None:
            model = db_field.related_model
            kwargs["queryset"] = model.objects.for_workspace(parent.workspace_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
        if workspace is not None and cleaned.get("email"):
            other = services.find_contact_by_email(workspace, cleaned["email"])
            if other is not None and other.pk != self.instance.pk:
                self.add_error("email", "A contact with this email already exists here.")
        if workspace is not None and self.instance._state.adding:
            limit = workspace.limit_contacts
            if limit is not None and Contact.objects.for_workspace(workspace).count() >= limit:
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
    contact_list = forms.ModelChoiceField(queryset=ContactList.objects.none(), required=False)
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
        ArchivedFilter,
        "workspace",
    ]
    list_select_related = ["workspace"]
    search_fields = ["email", "first_name", "last_name", "company", "companies__name"]
    autocomplete_fields = ["workspace"]
    actions = ["tag_contacts", "add_to_list", "archive", "restore"]
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
        _copy_saved(obj, contact)

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
        removed, added = _inline_changes(formset, "tag")
        old = Tag.objects.filter(id__in=[f.initial["tag"] for f in removed])
        for tag in old:
            services.contact_untag(contact=contact, name=tag.name, actor=request.user)
        names = [f.cleaned_data["tag"].name for f in added]
        if names:
            services.contact_tag(contact=contact, names=names, actor=request.user)

    def _save_lists(self, request: HttpRequest, contact: Contact, formset) -> None:
        removed, added = _inline_changes(formset, "contact_list")
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
        removed, added = _inline_changes(formset, "company", "role")
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


# --- companies ---------------------------------------------------------------------------------


class CompanyForm(WorkspaceRowForm):
    class Meta:
        model = Company
        fields = ["workspace", *services.COMPANY_FIELDS]

    def clean(self):
        cleaned = super().clean()
        self.clean_against_definitions()
        return cleaned


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
        return super().get_queryset(request).with_counts()

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
        _copy_saved(obj, company)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        removed, added = _inline_changes(formset, "contact", "role")
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
        return super().get_queryset(request).with_counts()

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
        _copy_saved(obj, tag)

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
        return super().get_queryset(request).with_counts()

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
        _copy_saved(obj, contact_list)

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
        _copy_saved(obj, definition)

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
    date_hierarchy = "occurred_at"

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
        _copy_saved(obj, activity)
