"""Contacts, tags, lists and property definitions: list, detail, create, edit, delete."""

from __future__ import annotations

import json
from functools import cached_property

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from contacts import services
from contacts.filtersets import ContactPageFilterSet, TagFilterSet, newest_window
from contacts.forms import (
    ActivityForm,
    AddToListForm,
    BulkActionForm,
    ContactCreateForm,
    ContactForm,
    ContactListForm,
    PropertyDefinitionForm,
    TagForm,
    TagNameForm,
    dress_filter_form,
)
from contacts.imports.timeline import ensure_import_activity
from contacts.models import (
    Activity,
    Contact,
    ContactList,
    PropertyDefinition,
    Tag,
)
from contacts.views.base import (
    MAIN_FILTERS,
    PAGE_SIZE,
    TIMELINE_SIZE,
    error_text,
    narrows,
    page_cursor,
)
from mailcrm.dashboard.access import WorkspaceMixin, may_edit
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView
from mailcrm.dashboard.insights import contact_engagement
from mailcrm.exceptions import DomainError
from mailcrm.keyset import keyset_page

# --- contacts ----------------------------------------------------------------------------------


class ContactsView(WorkspaceMixin, TemplateView):
    """Search, filter (the API's ContactFilterSet) and keyset pages: no OFFSET, no COUNT."""

    template_name = "contacts/contact_list.html"

    def get_context_data(self, **kwargs):
        contacts = self.scoped(Contact).prefetch_related("tags")
        filterset = ContactPageFilterSet(self.request.GET, queryset=contacts, request=self.request)
        page, filter_error = None, ""
        if filterset.is_valid():
            try:
                page = keyset_page(
                    filterset.qs,
                    cursor=page_cursor(self.request),
                    size=PAGE_SIZE,
                    window=newest_window(self.request.GET, self.workspace),
                )
            except Http404 as exc:  # a tag, list or segment that is not in this workspace
                filter_error = str(exc)
        form = dress_filter_form(filterset.form)
        lists = list(self.scoped(ContactList).values_list("pk", "name")[:500])
        more = [form[name] for name in form.fields if name not in MAIN_FILTERS]
        main = [form[name] for name in MAIN_FILTERS]
        return super().get_context_data(
            filter_form=form,
            main_filters=main,
            more_filters=more,
            more_open=any(map(narrows, more)),
            filtered=any(map(narrows, main + more)),
            page=page,
            filter_error=filter_error,
            tag_names=self.scoped(Tag).values_list("name", flat=True)[:500],
            list_choices=lists,
            list_names=[name for _, name in lists],
            bulk_form=self.bulk_form(),
            **kwargs,
        )

    def bulk_form(self) -> BulkActionForm | None:
        if not may_edit(self.membership):
            return None
        filters = self.request.GET.copy()
        filters.pop("cursor", None)
        return BulkActionForm(
            initial={"filters": filters.urlencode()}, lists=self.scoped(ContactList)
        )


class ContactFormMixin:
    """The property definitions a contact form shows, and where service errors go."""

    template_name = "contacts/contact_form.html"
    conflict_field = "email"

    def definitions(self) -> list[PropertyDefinition]:
        if not hasattr(self, "_definitions"):
            self._definitions = list(self.scoped(PropertyDefinition))
        return self._definitions


class ContactCreateView(ContactFormMixin, ServiceFormView):
    form_class = ContactCreateForm
    success_message = "Created {object}."

    def get_form_kwargs(self):
        lists = self.scoped(ContactList)
        return super().get_form_kwargs() | {"definitions": self.definitions(), "lists": lists}

    def perform(self, form):
        return services.contact_create(
            workspace=self.workspace,
            actor=self.request.user,
            properties=form.property_values(),
            tags=form.tag_names(),
            list_ids=form.list_ids(),
            **form.standard_values(),
        )

    def get_success_url(self):
        return reverse("dashboard:contacts:contact", args=[self.object.pk])


class ContactObjectMixin(WorkspaceMixin):
    def get_contact(self) -> Contact:
        if not hasattr(self, "_contact"):
            self._contact = self.get_scoped(Contact, pk=self.kwargs["pk"])
        return self._contact

    def back(self):
        return redirect("dashboard:contacts:contact", self.get_contact().pk)


class ContactEditView(ContactFormMixin, ContactObjectMixin, ServiceFormView):
    form_class = ContactForm
    success_message = "Saved {object}."

    def get_initial(self):
        return ContactForm.initial_for(self.get_contact(), self.definitions())

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"definitions": self.definitions()}

    def get_context_data(self, **kwargs):
        return super().get_context_data(contact=self.get_contact(), **kwargs)

    def perform(self, form):
        return services.contact_update(
            contact=self.get_contact(),
            actor=self.request.user,
            properties=form.property_values(),
            **form.standard_values(),
        )

    def get_success_url(self):
        return reverse("dashboard:contacts:contact", args=[self.object.pk])


class ContactDetailView(ContactObjectMixin, TemplateView):
    """Profile, properties, tags, lists, companies, engagement and the timeline.

    The tags and timeline sections are also rendered alone, as htmx partials, by the views
    that change them."""

    template_name = "contacts/contact_detail.html"

    def get_contact(self) -> Contact:
        if not hasattr(self, "_contact"):
            contacts = self.scoped(Contact).prefetch_related(
                "tags", "lists", "company_roles__company"
            )
            self._contact = self.get_scoped(contacts, pk=self.kwargs["pk"])
        return self._contact

    def get_context_data(self, **kwargs):
        contact = self.get_contact()
        context = {
            "contact": contact,
            "properties": self.property_rows(contact),
            "timeline": self.timeline(contact),
            "can_edit": may_edit(self.membership),
            "engagement": contact_engagement(contact),
        }
        if context["can_edit"]:
            other_lists = self.scoped(ContactList).exclude(
                pk__in=[cl.pk for cl in contact.lists.all()]
            )
            context |= {
                "tag_form": TagNameForm(),
                "activity_form": ActivityForm(),
                "list_form": AddToListForm(lists=other_lists),
                "tag_names": self.scoped(Tag).values_list("name", flat=True)[:500],
            }
        return super().get_context_data(**context | kwargs)

    def property_rows(self, contact: Contact) -> list[dict]:
        """Each stored property with its definition's label; values without one come last."""
        definitions = {d.key: d for d in self.scoped(PropertyDefinition)}
        values = contact.properties
        rows = [
            {
                "key": k,
                "label": d.label or k,
                "type": d.get_type_display(),
                "value": _show(values[k]),
            }
            for k, d in definitions.items()
            if values.get(k) is not None
        ]
        rows += [
            {"key": k, "label": k, "type": "undefined", "value": _show(value)}
            for k, value in sorted(values.items())
            if k not in definitions
        ]
        return rows

    def timeline(self, contact: Contact):
        ensure_import_activity(contact)
        activities = self.scoped(Activity).filter(contact=contact).select_related("created_by")
        cursor = page_cursor(self.request, "before")
        return keyset_page(activities, field="occurred_at", cursor=cursor, size=TIMELINE_SIZE)


def _show(value) -> str:
    """A stored property value as text."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class ContactActionView(ContactObjectMixin, View):
    """A POST that changes one contact, then goes back to its page. With htmx, ``section``
    names the partial that is re-rendered in place instead."""

    http_method_names = ["post"]
    section = ""

    def act(self, contact: Contact) -> str:
        """Do it; return the message for the user."""
        raise NotImplementedError

    def post(self, request, *args, **kwargs):
        try:
            message, level = self.act(self.get_contact()), messages.SUCCESS
        except (ValidationError, DomainError) as exc:
            message, level = error_text(exc), messages.ERROR
        if request.htmx and self.section:
            return self.render_section(message, level)
        messages.add_message(request, level, message)
        return self.back()

    def render_section(self, message: str, level: int):
        detail = ContactDetailView(request=self.request, kwargs=self.kwargs)
        detail.workspace, detail.membership = self.workspace, self.membership
        context = detail.get_context_data(
            section_message=message, section_error=level == messages.ERROR
        )
        return TemplateResponse(self.request, f"contacts/_{self.section}.html", context)


class ContactTagView(ContactActionView):
    section = "tags"

    def act(self, contact):
        form = TagNameForm(self.request.POST)
        if not form.is_valid():
            raise ValidationError(form.errors["name"])
        added = services.contact_tag(
            contact=contact, names=[form.cleaned_data["name"]], actor=self.request.user
        )
        return f"Tagged {added[0].name}." if added else "The contact already has that tag."


class ContactUntagView(ContactActionView):
    section = "tags"

    def act(self, contact):
        tag = self.get_scoped(Tag, pk=self.kwargs["tag_pk"])
        services.contact_untag(contact=contact, name=tag.name, actor=self.request.user)
        return f"Removed tag {tag.name}."


class ContactActivityView(ContactActionView):
    section = "timeline"

    def act(self, contact):
        form = ActivityForm(self.request.POST)
        if not form.is_valid():
            raise ValidationError(form.errors)
        data = {k: v for k, v in form.cleaned_data.items() if v is not None}
        activity = services.activity_log(contact=contact, actor=self.request.user, **data)
        return f"Logged a {activity.get_kind_display().lower()}."


class ContactListAddView(ContactActionView):
    def act(self, contact):
        form = AddToListForm(self.request.POST, lists=self.scoped(ContactList))
        if not form.is_valid():
            raise ValidationError(form.errors["contact_list"])
        contact_list = form.cleaned_data["contact_list"]
        services.list_add_contacts(
            contact_list=contact_list, contact_ids=[contact.pk], actor=self.request.user
        )
        return f"Added to {contact_list.name}."


class ContactListRemoveView(ContactActionView):
    def act(self, contact):
        contact_list = self.get_scoped(ContactList, pk=self.kwargs["list_pk"])
        services.list_remove_contacts(
            contact_list=contact_list, contact_ids=[contact.pk], actor=self.request.user
        )
        return f"Removed from {contact_list.name}."


class ContactArchiveView(ContactActionView):
    def act(self, contact):
        services.contact_archive(contact=contact, actor=self.request.user)
        return f"Archived {contact}. It is hidden from lists and never mailed."


class ContactRestoreView(ContactActionView):
    def act(self, contact):
        services.contact_restore(contact=contact, actor=self.request.user)
        return f"Restored {contact}."


class ContactDeleteView(ConfirmDeleteView):
    model = Contact
    warning = (
        "Its properties, tags, list memberships and timeline are deleted with it. "
        "This cannot be undone; archive it instead to keep its history."
    )
    success_url_name = "dashboard:contacts:contacts"

    def get_cancel_url(self):
        return reverse("dashboard:contacts:contact", args=[self.get_object().pk])

    def delete(self, obj):
        services.contact_delete(contact=obj, actor=self.request.user)


# --- tags --------------------------------------------------------------------------------------


class TagsView(WorkspaceMixin, TemplateView):
    template_name = "contacts/tag_list.html"

    def get_context_data(self, **kwargs):
        tags = self.scoped(Tag).with_counts()
        filterset = TagFilterSet(self.request.GET, queryset=tags, request=self.request)
        return super().get_context_data(filter=filterset, tags=filterset.qs, **kwargs)


class TagCreateView(ServiceFormView):
    form_class = TagForm
    template_name = "contacts/tag_form.html"
    success_message = "Created tag {object}."
    error_aliases = {"tags": "name"}

    def perform(self, form):
        return services.tag_create(workspace=self.workspace, **form.cleaned_data)

    def get_success_url(self):
        return reverse("dashboard:contacts:tags")


class TagEditView(TagCreateView):
    success_message = "Saved tag {object}."

    @cached_property
    def tag(self) -> Tag:
        return self.get_scoped(Tag, pk=self.kwargs["pk"])

    def get_initial(self):
        return {"name": self.tag.name, "description": self.tag.description}

    def get_context_data(self, **kwargs):
        return super().get_context_data(tag=self.tag, **kwargs)

    def perform(self, form):
        return services.tag_update(tag=self.tag, **form.cleaned_data)


class TagDeleteView(ConfirmDeleteView):
    model = Tag
    warning = "The tag is removed from every contact; the contacts themselves stay."
    success_url_name = "dashboard:contacts:tags"

    def delete(self, obj):
        services.tag_delete(tag=obj)


# --- lists -------------------------------------------------------------------------------------


class ListsView(WorkspaceMixin, TemplateView):
    template_name = "contacts/list_list.html"

    def get_context_data(self, **kwargs):
        lists = self.scoped(ContactList).with_counts()
        return super().get_context_data(lists=lists, **kwargs)


class ListDetailView(WorkspaceMixin, TemplateView):
    """A list and its members, a keyset page at a time."""

    template_name = "contacts/list_detail.html"

    def get_context_data(self, **kwargs):
        contact_list = self.get_scoped(ContactList, pk=self.kwargs["pk"])
        members = (
            self.scoped(Contact)
            .visible()
            .filter(listmembership__contact_list=contact_list)
            .prefetch_related("tags")
        )
        page = keyset_page(members, cursor=page_cursor(self.request), size=PAGE_SIZE)
        return super().get_context_data(
            contact_list=contact_list, page=page, can_edit=may_edit(self.membership), **kwargs
        )


class ListCreateView(ServiceFormView):
    form_class = ContactListForm
    template_name = "contacts/list_form.html"
    success_message = "Created list {object}."

    def perform(self, form):
        return services.contact_list_create(workspace=self.workspace, **form.cleaned_data)

    def get_success_url(self):
        return reverse("dashboard:contacts:list", args=[self.object.pk])


class ListEditView(ListCreateView):
    success_message = "Saved list {object}."

    @cached_property
    def contact_list(self) -> ContactList:
        return self.get_scoped(ContactList, pk=self.kwargs["pk"])

    def get_initial(self):
        return {name: getattr(self.contact_list, name) for name in ContactListForm.base_fields}

    def get_context_data(self, **kwargs):
        return super().get_context_data(contact_list=self.contact_list, **kwargs)

    def perform(self, form):
        return services.contact_list_update(contact_list=self.contact_list, **form.cleaned_data)


class ListDeleteView(ConfirmDeleteView):
    model = ContactList
    warning = "The list and its memberships are deleted; the contacts themselves stay."
    success_url_name = "dashboard:contacts:lists"

    def delete(self, obj):
        services.contact_list_delete(contact_list=obj)


# --- property definitions ----------------------------------------------------------------------


class PropertiesView(WorkspaceMixin, TemplateView):
    template_name = "contacts/property_list.html"

    def get_context_data(self, **kwargs):
        definitions = self.scoped(PropertyDefinition)
        return super().get_context_data(definitions=definitions, **kwargs)


class PropertyCreateView(ServiceFormView):
    form_class = PropertyDefinitionForm
    template_name = "contacts/property_form.html"
    success_message = "Saved property {object}."
    conflict_field = "key"

    def perform(self, form):
        return services.property_definition_create(workspace=self.workspace, **form.values())

    def get_success_url(self):
        return reverse("dashboard:contacts:properties")


class PropertyEditView(PropertyCreateView):
    @cached_property
    def definition(self) -> PropertyDefinition:
        return self.get_scoped(PropertyDefinition, pk=self.kwargs["pk"])

    def get_initial(self):
        return PropertyDefinitionForm.initial_for(self.definition)

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"editing": True}

    def get_context_data(self, **kwargs):
        return super().get_context_data(definition=self.definition, **kwargs)

    def perform(self, form):
        values = form.values()
        values.pop("key")
        return services.property_definition_update(definition=self.definition, **values)


class PropertyDeleteView(ConfirmDeleteView):
    model = PropertyDefinition
    warning = "Its values are removed from every contact of the workspace. This cannot be undone."
    success_url_name = "dashboard:contacts:properties"

    def delete(self, obj):
        services.property_definition_delete(definition=obj)
