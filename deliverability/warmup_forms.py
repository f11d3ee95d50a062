"""Dashboard forms of the warm-up schedule (on a sending domain's page) and of the workspace's
circuit-breaker thresholds (a settings page)."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from deliverability.models import DeliverabilitySettings, SendingDomain
from deliverability.warmup import MAX_DAILY


class WarmupForm(forms.Form):
    warmup_target = forms.IntegerField(
        min_value=1,
        max_value=MAX_DAILY,
        required=False,
        label="Target (messages a day)",
        help_text="The warm-up ends when the daily cap reaches it. Empty: no warm-up.",
    )
    warmup_daily_start = forms.IntegerField(
        min_value=1, max_value=MAX_DAILY, initial=50, label="Cap on the first day"
    )
    warmup_growth = forms.DecimalField(
        min_value=1,
        max_value=10,
        decimal_places=2,
        initial=Decimal("1.5"),
        label="Growth a day",
        help_text="1.5: each day allows half as much again as the day before.",
    )
    warmup_started_on = forms.DateField(
        required=False,
        label="First day (UTC)",
        help_text="Empty: today.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )


def warmup_form_for(domain: SendingDomain) -> WarmupForm:
    return WarmupForm(
        initial={
            "warmup_target": domain.warmup_target,
            "warmup_daily_start": domain.warmup_daily_start,
            "warmup_growth": domain.warmup_growth,
            "warmup_started_on": domain.warmup_started_on,
        }
    )


def _threshold(label: str, help_text: str) -> forms.DecimalField:
    return forms.DecimalField(
        min_value=0,
        max_value=100,
        decimal_places=2,
        label=label,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
    )


class BreakerSettingsForm(forms.Form):
    bounce_rate_threshold = _threshold(
        "Bounce rate (%)", "Pause a campaign whose bounces pass this share (default 5; 0: never)."
    )
    complaint_rate_threshold = _threshold(
        "Complaint rate (%)",
        "Pause a campaign whose spam complaints pass this share (default 0.3; 0: never).",
    )

    @classmethod
    def initial_for(cls, settings: DeliverabilitySettings) -> dict:
        return {
            "bounce_rate_threshold": settings.bounce_rate_threshold,
            "complaint_rate_threshold": settings.complaint_rate_threshold,
        }
