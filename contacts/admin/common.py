"""What the contacts admin pages share: workspace-scoped forms and inlines, and the glue that
lets a service's row stand in for the admin's own."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from contacts.properties import validate_properties
from mailcrm.models import Workspace


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


def copy_saved(obj, saved) -> None:
    """Make the admin's instance the row a service created, for the rest of the request."""
    for field in type(saved)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


def inline_changes(formset, *fields: str) -> tuple[list, list]:
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
