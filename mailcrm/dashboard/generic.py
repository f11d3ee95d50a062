"""Small declarative building blocks for dashboard pages: a form whose valid data goes to a
service, and a delete confirmation. Domain errors (``ValidationError``, ``Conflict``,
``LimitExceeded``) become form errors here, once, so no view turns them into a 500."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.exceptions import Conflict, DomainError


def apply_errors(
    form: forms.Form,
    exc: ValidationError | DomainError,
    *,
    conflict_field: str | None = None,
    aliases: Mapping[str, str] | None = None,
) -> None:
    """Put a service's error on the form: on the field it names when the form has that field
    (``aliases`` maps service names to form names), else above the form."""
    if isinstance(exc, DomainError):
        field = conflict_field if isinstance(exc, Conflict) else None
        form.add_error(field if field in form.fields else None, exc.message)
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    aliases = aliases or {}
    for name, errors in exc.message_dict.items():
        field = aliases.get(name, name)
        if field in form.fields:
            form.add_error(field, errors)
        else:
            label = name.removeprefix("properties.").replace("_", " ")
            form.add_error(None, [f"{label}: {error}" for error in errors])


class ServiceFormView(WorkspaceMixin, FormView):
    """A form page whose valid data is handed to a service by ``perform``.

    Subclasses set ``form_class``, ``template_name`` and ``success_message`` (formatted with
    ``object``), and implement ``perform(form)`` (returns the object) and
    ``get_success_url()``."""

    editing = True
    success_message = ""
    conflict_field: str | None = "name"
    error_aliases: Mapping[str, str] = {}
    object: Any = None

    def perform(self, form: forms.Form) -> Any:
        raise NotImplementedError

    def form_valid(self, form):
        try:
            self.object = self.perform(form)
        except (ValidationError, DomainError) as exc:
            apply_errors(form, exc, conflict_field=self.conflict_field, aliases=self.error_aliases)
            return self.form_invalid(form)
        if self.success_message:
            messages.success(self.request, self.success_message.format(object=self.object))
        return redirect(self.get_success_url())


class ConfirmDeleteView(WorkspaceMixin, TemplateView):
    """GET asks "are you sure?"; POST deletes through ``delete(obj)`` and says so."""

    editing = True
    model: Any = None
    template_name = "dashboard/confirm_delete.html"
    warning = "This cannot be undone."
    success_message = "Deleted {object}."
    success_url_name = ""

    def get_object(self):
        if not hasattr(self, "_object"):
            self._object = self.get_scoped(self.model, pk=self.kwargs["pk"])
        return self._object

    def delete(self, obj) -> None:
        raise NotImplementedError

    def get_cancel_url(self) -> str:
        return reverse(self.success_url_name)

    def get_context_data(self, **kwargs):
        obj = self.get_object()
        return super().get_context_data(
            object=obj,
            object_kind=self.model._meta.verbose_name,
            warning=self.warning,
            cancel_url=self.get_cancel_url(),
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        obj = self.get_object()
        label = str(obj)
        self.delete(obj)
        messages.success(request, self.success_message.format(object=label))
        return redirect(self.success_url_name)
