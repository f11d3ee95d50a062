"""Dashboard: a sending domain's warm-up (a POST from its page) and the workspace's
circuit-breaker thresholds (a settings page). Views parse, authorise and call
``deliverability.warmup`` / ``deliverability.breaker_settings``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.views import View

from campaigns import breakers
from deliverability import warmup
from deliverability.breaker_settings import breaker_thresholds_update
from deliverability.models import DeliverabilitySettings
from deliverability.views.domains import DomainObjectMixin
from deliverability.warmup_forms import BreakerSettingsForm, WarmupForm
from mailcrm.dashboard.generic import ServiceFormView
from mailcrm.dashboard.settings_views import SettingsMixin


def _errors(errors) -> str:
    return " ".join(
        f"{name.removeprefix('warmup_').replace('_', ' ')}: {' '.join(texts)}"
        for name, texts in errors.items()
    )


class DomainWarmupView(DomainObjectMixin, View):
    http_method_names = ["post"]
    editing = True

    def post(self, request, pk):
        form = WarmupForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"The warm-up was not saved. {_errors(form.errors)}")
            return self.back()
        data = form.cleaned_data
        try:
            domain = warmup.domain_set_warmup(
                domain=self.domain,
                target=data["warmup_target"],
                daily_start=data["warmup_daily_start"],
                growth=data["warmup_growth"],
                started_on=data["warmup_started_on"],
            )
        except ValidationError as exc:
            messages.error(request, f"The warm-up was not saved. {_errors(exc.message_dict)}")
        else:
            messages.success(
                request,
                f"{domain} warms up towards {domain.warmup_target} messages a day."
                if domain.warmup_target
                else f"{domain} has no warm-up cap.",
            )
        return self.back()


class BreakerSettingsView(SettingsMixin, ServiceFormView):
    template_name = "deliverability/circuit_breakers.html"
    form_class = BreakerSettingsForm
    section = "circuit_breakers"
    success_message = "Saved the circuit-breaker thresholds."
    conflict_field = None

    def get_initial(self):
        return BreakerSettingsForm.initial_for(DeliverabilitySettings.for_workspace(self.workspace))

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            window=breakers.WINDOW, min_sample=breakers.MIN_SAMPLE, **kwargs
        )

    def perform(self, form):
        return breaker_thresholds_update(workspace=self.workspace, **form.cleaned_data)

    def get_success_url(self):
        return reverse("dashboard:deliverability:circuit_breakers")
