"""``GET /campaigns/{id}/progress``: where a send stands, and what holds its mail back — the
backed-off recipient domains with their current rates, and the messages waiting for them or for
the sending domain's warm-up (campaigns.throttling)."""

from __future__ import annotations

from rest_framework import serializers

from campaigns import stats, throttling
from campaigns.models import Campaign, CampaignStatus
from deliverability.api.warmup_serializers import WarmupSerializer


class ThrottledDomainSerializer(serializers.Serializer):
    domain = serializers.CharField(help_text="A recipient domain (or its provider's family).")
    rate_per_minute = serializers.IntegerField(help_text="What it may be sent a minute now.")
    ceiling = serializers.IntegerField(help_text="The rate at which it counts as recovered.")
    held_until = serializers.DateTimeField(
        allow_null=True, help_text="Nothing goes to it before then (null: not held)."
    )
    last_reply = serializers.CharField(help_text="The throttling reply that backed it off.")


class WaitingSerializer(serializers.Serializer):
    throttled = serializers.IntegerField(help_text="Deferred until a backed-off domain allows.")
    warmup = serializers.IntegerField(help_text="Deferred to a later day by the warm-up cap.")


class DeliveryStateSerializer(serializers.Serializer):
    throttled_domains = ThrottledDomainSerializer(many=True)
    waiting = WaitingSerializer()
    warmup = WarmupSerializer(allow_null=True, help_text="The sending domain's warm-up.")


class ProgressSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CampaignStatus.choices)
    status_reason = serializers.CharField(help_text="Why it paused itself, for instance.")
    recipients = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Failed, bounced or interrupted.")
    suppressed = serializers.IntegerField(help_text="Skipped at send time.")
    remaining = serializers.IntegerField(help_text="Queued, deferred or in flight.")
    percent = serializers.IntegerField()
    delivery = DeliveryStateSerializer()


def progress_body(campaign: Campaign) -> dict:
    return {
        **stats.campaign_progress(campaign),
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        "delivery": throttling.delivery_state(campaign),
    }
