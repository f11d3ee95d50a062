"""Dashboard pages of sending and tracking domains: add a domain, read the records to publish
(with copy buttons), verify it now and see each record's status and explanation, choose its
tracking domain; add, verify and delete tracking domains. Views parse, authorise, call
``deliverability.domains`` / ``deliverability.tracking_domains`` and render."""

from __future__ import annotations

from functools import cached_property

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from deliverability import domains, tracking_domains, warmup
from deliverability.models import DomainStatusChange, SendingDomain, TrackingDomain
from deliverability.warmup_forms import warmup_form_for
from mailcrm.dashboard.access import WorkspaceMixin, may_edit
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView
from mailcrm.exceptions import DomainError


class DomainForm(forms.Form):
    domain = forms.CharField(
        max_length=253,
        label="Domain",
        help_text="The domain of your from addresses, e.g. example.com.",
        widget=forms.TextInput(attrs={"placeholder": "example.com", "autocomplete": "off"}),
    )


class TrackingDomainForm(forms.Form):
    domain = forms.CharField(
        max_length=253,
        label="Hostname",
        help_text="A hostname of yours for links, e.g. links.example.com.",
        widget=forms.TextInput(attrs={"placeholder": "links.example.com", "autocomplete": "off"}),
    )


class TrackingChoiceForm(forms.Form):
    tracking_domain = forms.ModelChoiceField(
        queryset=TrackingDomain.objects.none(),
        required=False,
        empty_label="Our tracking host",
        label="Tracking domain",
    )

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tracking_domain"].queryset = TrackingDomain.objects.for_workspace(workspace)


def _error_text(exc: ValidationError | DomainError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return " ".join(exc.messages)


# --- sending domains ----------------------------------------------------------------------------


class DomainsView(ServiceFormView):
    """The workspace's sending domains, with the form to add one (viewers see the list only)."""

    editing = False
    form_class = DomainForm
    template_name = "deliverability/domain_list.html"
    success_message = "Added {object}: publish its DNS records, then verify it."
    conflict_field = "domain"

    def get_context_data(self, **kwargs):
        rows = self.scoped(SendingDomain).select_related("tracking_domain").order_by("domain")
        return super().get_context_data(domains=rows, can_edit=may_edit(self.membership), **kwargs)

    def perform(self, form):
        return domains.domain_add(workspace=self.workspace, domain=form.cleaned_data["domain"])

    def get_success_url(self):
        return reverse("dashboard:deliverability:domain", args=[self.object.pk])


class DomainObjectMixin(WorkspaceMixin):
    @cached_property
    def domain(self) -> SendingDomain:
        return self.get_scoped(
            SendingDomain.objects.select_related("tracking_domain"), pk=self.kwargs["pk"]
        )

    def back(self):
        return redirect("dashboard:deliverability:domain", self.domain.pk)


class DomainDetailView(DomainObjectMixin, TemplateView):
    template_name = "deliverability/domain_detail.html"

    def get_context_data(self, **kwargs):
        domain = self.domain
        changes = DomainStatusChange.objects.for_workspace(self.workspace).filter(
            sending_domain=domain
        )[:10]
        return super().get_context_data(
            domain=domain,
            records=domains.dns_records(domain),
            report_rows=[
                (label, domain.alignment[key])
                for label, key in (("DKIM d=", "dkim"), ("Return-Path", "return_path"))
                if domain.alignment
            ],
            changes=changes,
            can_edit=may_edit(self.membership),
            warmup=warmup.warmup_status(domain),
            warmup_form=warmup_form_for(domain),
            tracking_form=TrackingChoiceForm(
                workspace=self.workspace, initial={"tracking_domain": domain.tracking_domain}
            ),
            **kwargs,
        )


class DomainVerifyView(DomainObjectMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        domain = domains.domain_verify(self.domain)
        if domain.is_verified:
            messages.success(request, f"{domain} is verified: campaigns can be sent from it.")
        else:
            messages.warning(request, f"{domain} is not verified yet: see each record below.")
        return self.back()


class DomainTrackingView(DomainObjectMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        form = TrackingChoiceForm(request.POST, workspace=self.workspace)
        if not form.is_valid():
            messages.error(request, "Choose one of your tracking domains.")
            return self.back()
        choice = form.cleaned_data["tracking_domain"]
        try:
            domains.domain_set_tracking_domain(domain=self.domain, tracking_domain=choice)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, f"Links of mail from {self.domain} use {choice or 'ours'}.")
        return self.back()


class DomainDeleteView(ConfirmDeleteView):
    model = SendingDomain
    success_url_name = "dashboard:deliverability:domains"
    warning = "Campaigns can no longer be sent from it until it is added and verified again."

    def get_cancel_url(self) -> str:
        return reverse("dashboard:deliverability:domain", args=[self.kwargs["pk"]])

    def delete(self, obj) -> None:
        domains.domain_delete(domain=obj)


# --- tracking domains ---------------------------------------------------------------------------


class TrackingDomainsView(ServiceFormView):
    editing = False
    form_class = TrackingDomainForm
    template_name = "deliverability/tracking_domain_list.html"
    success_message = "Added {object}: add its CNAME record, then verify it."
    conflict_field = "domain"

    def get_context_data(self, **kwargs):
        rows = [
            (row, tracking_domains.dns_setup(row))
            for row in self.scoped(TrackingDomain).order_by("domain")
        ]
        return super().get_context_data(
            rows=rows,
            cname_target=tracking_domains.cname_target(),
            can_edit=may_edit(self.membership),
            **kwargs,
        )

    def perform(self, form):
        return tracking_domains.tracking_domain_add(
            workspace=self.workspace, domain=form.cleaned_data["domain"]
        )

    def get_success_url(self):
        return reverse("dashboard:deliverability:tracking_domains") + f"#td-{self.object.pk}"


class TrackingDomainVerifyView(WorkspaceMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        tracking_domain = tracking_domains.tracking_domain_verify(
            self.get_scoped(TrackingDomain, pk=pk)
        )
        check = tracking_domain.check_result
        if tracking_domain.is_verified:
            messages.success(request, f"{tracking_domain} is verified. {check.get('https', '')}")
        else:
            messages.warning(request, check.get("explanation", "Not verified."))
        return redirect(
            reverse("dashboard:deliverability:tracking_domains") + f"#td-{tracking_domain.pk}"
        )


class TrackingDomainDeleteView(ConfirmDeleteView):
    model = TrackingDomain
    success_url_name = "dashboard:deliverability:tracking_domains"
    warning = "Mail from the sending domains that use it goes back to our tracking host."

    def delete(self, obj) -> None:
        tracking_domains.tracking_domain_delete(tracking_domain=obj)
