"""The warm-up of a sending domain in the API: shown on every domain (``warmup``), changed by
``PATCH /customer/domains/{id}`` with the ``warmup_*`` fields (added to that body)."""

from __future__ import annotations

from rest_framework import serializers

from deliverability.models import SendingDomain
from deliverability.warmup import MAX_DAILY

WARMUP_FIELDS = ("warmup_target", "warmup_daily_start", "warmup_growth", "warmup_started_on")


class WarmupSerializer(serializers.Serializer):
    target = serializers.IntegerField(help_text="Daily sends at which the warm-up ends.")
    daily_start = serializers.IntegerField(help_text="The cap on the first day.")
    growth = serializers.FloatField(help_text="The cap grows this many times a day.")
    started_on = serializers.DateField(allow_null=True, help_text="The first day (UTC).")
    day = serializers.IntegerField(allow_null=True, help_text="Today is the warm-up's nth day.")
    cap_today = serializers.IntegerField(
        allow_null=True, help_text="Campaign messages allowed today (null: no cap any more)."
    )
    done = serializers.BooleanField(help_text="The cap has reached the target: no cap applies.")


class WarmupUpdateSerializer(serializers.Serializer):
    """The ``warmup_*`` fields of a sending domain's PATCH body."""

    warmup_target = serializers.IntegerField(
        min_value=1,
        max_value=MAX_DAILY,
        allow_null=True,
        required=False,
        help_text="Start (or change) a warm-up ending at this many sends a day; null stops it.",
    )
    warmup_daily_start = serializers.IntegerField(
        min_value=1,
        max_value=MAX_DAILY,
        required=False,
        help_text="The cap on the first day (default 50).",
    )
    warmup_growth = serializers.DecimalField(
        max_digits=4,
        decimal_places=2,
        min_value=1,
        max_value=10,
        required=False,
        coerce_to_string=False,
        help_text="The cap grows this many times a day (default 1.5).",
    )
    warmup_started_on = serializers.DateField(
        required=False, allow_null=True, help_text="The first day (UTC; default: today)."
    )


def warmup_arguments(domain: SendingDomain, data: dict) -> dict | None:
    """The arguments of ``domain_set_warmup`` for a PATCH body (None: no warm-up field in it);
    fields left out keep their current values."""
    if not any(name in data for name in WARMUP_FIELDS):
        return None
    return {
        "target": data.get("warmup_target", domain.warmup_target),
        "daily_start": data.get("warmup_daily_start"),
        "growth": data.get("warmup_growth"),
        "started_on": data.get("warmup_started_on"),
    }
