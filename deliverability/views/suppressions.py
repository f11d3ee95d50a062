"""Dashboard pages of suppressions, the whitelist and unsubscribes.

Lists render the shared FilterSets (``deliverability.filtersets``), so a filtered page's query
string is also a valid API query; every change goes through ``deliverability.services``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from deliverability import exports, services
from deliverability.filtersets import (
    SuppressionFilterSet,
    UnsubscribeFilterSet,
    WhitelistFilterSet,
)
from deliverability.models import (
    SendingDomain,
    Suppression,
    SuppressionSource,
    SuppressionType,
    SuppressionWhitelist,
    Unsubscribe,
)
from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView, apply_errors
from mailcrm.exceptions import DomainError
from mailcrm.keyset import InvalidCursor, decode_cursor, keyset_page
from mailcrm.models import Workspace

PAGE_SIZE = 50


# --- forms ---------------------------------------------------------------------------------------


class DomainChoiceField(forms.ModelChoiceField):
    def __init__(self, workspace: Workspace, **kwargs: Any):
        kwargs.setdefault("required", False)
        kwargs.setdefault("empty_label", "Every domain")
        super().__init__(queryset=SendingDomain.objects.for_workspace(workspace), **kwargs)


class SuppressionForm(forms.Form):
    email = forms.EmailField(max_length=254)
    type = forms.ChoiceField(choices=SuppressionType.choices, initial=SuppressionType.MANUAL)
    domain = forms.Field(required=False)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["domain"] = DomainChoiceField(
            workspace, help_text="Suppress from this sending domain only."
        )


class SuppressionImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns email, type, reason (type and reason optional; a header row is "
        "optional). At most 5 MB.",
    )
    type = forms.ChoiceField(
        choices=SuppressionType.choices,
        initial=SuppressionType.MANUAL,
        label="Type when a row has none",
    )
    domain = forms.Field(required=False)

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["domain"] = DomainChoiceField(workspace)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > services.MAX_IMPORT_BYTES:
            limit = services.MAX_IMPORT_BYTES // (1024 * 1024)
            raise ValidationError(f"The file is over {limit} MB: split it into smaller ones.")
        return upload


class WhitelistForm(forms.Form):
    email = forms.EmailField(max_length=254)
    reason = forms.CharField(required=False)


# --- lists ---------------------------------------------------------------------------------------


def _cursor(request) -> str | None:
    value = request.GET.get("cursor") or None
    if value:
        try:
            decode_cursor(value)
        except InvalidCursor:
            return None
    return value


def dress_filters(form: forms.Form, workspace: Workspace) -> forms.Form:
    """Dashboard touches on a shared FilterSet's form: "Any" for no choice, a search box for
    text, and the workspace's domains by name instead of an id box."""
    for name, field in form.fields.items():
        if field.widget.is_hidden:
            continue
        if isinstance(field, forms.ChoiceField):
            field.widget.choices = [("", "Any"), *[c for c in field.choices if c[0] != ""]]
        elif name == "domain_id":
            domains = SendingDomain.objects.for_workspace(workspace).values_list("id", "domain")
            field.widget = forms.Select(choices=[("", "Any"), *domains])
        elif isinstance(field, forms.CharField):
            field.widget.input_type = "search"
    return form


class FilteredListView(WorkspaceMixin, TemplateView):
    """A keyset-paginated list narrowed by the model's shared FilterSet."""

    model: Any = None
    filterset_class: Any = None
    hidden_filters = ("email",)

    def get_queryset(self) -> QuerySet:
        return self.scoped(self.model)

    def get_context_data(self, **kwargs):
        filterset = self.filterset_class(self.request.GET, queryset=self.get_queryset())
        for name in self.hidden_filters:
            filterset.form.fields[name].widget = forms.HiddenInput()
        page = None
        if filterset.is_valid():
            page = keyset_page(filterset.qs, cursor=_cursor(self.request), size=PAGE_SIZE)
        return super().get_context_data(
            filter_form=dress_filters(filterset.form, self.workspace),
            filtered=any(self.request.GET.get(name) for name in filterset.filters),
            page=page,
            **kwargs,
        )


class SuppressionsView(FilteredListView):
    template_name = "deliverability/suppression_list.html"
    model = Suppression
    filterset_class = SuppressionFilterSet

    def get_queryset(self) -> QuerySet:
        return super().get_queryset().select_related("domain")


class UnsubscribesView(FilteredListView):
    template_name = "deliverability/unsubscribe_list.html"
    model = Unsubscribe
    filterset_class = UnsubscribeFilterSet

    def get_queryset(self) -> QuerySet:
        return super().get_queryset().select_related("domain", "contact_list")


class WhitelistView(FilteredListView):
    """The whitelist with its search, and a form to add an address (POST)."""

    template_name = "deliverability/whitelist_list.html"
    model = SuppressionWhitelist
    filterset_class = WhitelistFilterSet

    def get_context_data(self, **kwargs):
        kwargs.setdefault("form", WhitelistForm())
        return super().get_context_data(**kwargs)

    def post(self, request, *args, **kwargs):
        form = WhitelistForm(request.POST)
        if form.is_valid():
            try:
                entry = services.whitelist_add(workspace=self.workspace, **form.cleaned_data)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"{entry.email} is whitelisted.")
                return redirect("dashboard:deliverability:whitelist")
        return self.render_to_response(self.get_context_data(form=form), status=400)


# --- changes -------------------------------------------------------------------------------------


class SuppressionCreateView(ServiceFormView):
    template_name = "deliverability/suppression_form.html"
    form_class = SuppressionForm
    success_message = "Suppressed {object.email}."
    conflict_field = "email"

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"workspace": self.workspace}

    def perform(self, form: forms.Form) -> Suppression:
        return services.suppression_add(
            workspace=self.workspace, source=SuppressionSource.MANUAL, **form.cleaned_data
        )

    def get_success_url(self) -> str:
        return reverse("dashboard:deliverability:suppressions")


class SuppressionDeleteView(ConfirmDeleteView):
    model = Suppression
    warning = "The address may be mailed again (from the domain it was suppressed for)."
    success_message = "Removed the suppression of {object}."
    success_url_name = "dashboard:deliverability:suppressions"

    def delete(self, obj: Suppression) -> None:
        services.suppression_remove(suppression=obj)


class SuppressionImportView(WorkspaceMixin, TemplateView):
    """Upload a CSV; the result (counts and rejected rows) is shown on the same page."""

    editing = True
    template_name = "deliverability/suppression_import.html"

    def get_context_data(self, **kwargs):
        kwargs.setdefault("form", SuppressionImportForm(workspace=self.workspace))
        return super().get_context_data(max_mb=services.MAX_IMPORT_BYTES // 2**20, **kwargs)

    def post(self, request, *args, **kwargs):
        form = SuppressionImportForm(request.POST, request.FILES, workspace=self.workspace)
        result = None
        if form.is_valid():
            try:
                result = services.suppressions_import_csv(
                    workspace=self.workspace,
                    data=form.cleaned_data["file"].read(),
                    domain=form.cleaned_data["domain"],
                    default_type=form.cleaned_data["type"],
                )
            except (ValidationError, DomainError) as exc:
                apply_errors(form, exc)
        context = self.get_context_data(form=form, result=result)
        return self.render_to_response(context, status=200 if result else 400)


class SuppressionExportView(WorkspaceMixin, View):
    """The filtered suppressions as a CSV download (the same filters as the list)."""

    def get(self, request, *args, **kwargs):
        filterset = SuppressionFilterSet(request.GET, queryset=self.scoped(Suppression))
        if not filterset.is_valid():
            messages.error(request, "Fix the filters before exporting.")
            return redirect("dashboard:deliverability:suppressions")
        return exports.export_response(self.workspace, filterset.qs)


class WhitelistDeleteView(ConfirmDeleteView):
    model = SuppressionWhitelist
    warning = "Its suppressions apply again."
    success_message = "Removed {object} from the whitelist."
    success_url_name = "dashboard:deliverability:whitelist"

    def delete(self, obj: SuppressionWhitelist) -> None:
        services.whitelist_remove(entry=obj)


class ResubscribeView(ConfirmDeleteView):
    """Lift one unsubscribe: the address may receive marketing mail again."""

    model = Unsubscribe
    template_name = "deliverability/unsubscribe_confirm.html"
    success_url_name = "dashboard:deliverability:unsubscribes"

    def delete(self, obj: Unsubscribe) -> None:
        services.unsubscribe_remove(unsubscribe=obj)

    def post(self, request, *args, **kwargs):
        unsubscribe = self.get_object()
        self.delete(unsubscribe)
        messages.success(request, f"Re-subscribed {unsubscribe.email}.")
        return redirect(self.success_url_name)
