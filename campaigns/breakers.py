"""Circuit breakers: a sending campaign pauses itself when its bounce rate or complaint rate
over its last WINDOW sends passes the workspace's threshold (DeliverabilitySettings; defaults
5 % and 0.3 %), says why in ``status_reason`` and announces ``campaign.paused``.

Bounces are checked after each chunk that had one (campaigns.sending) and when an ESP reports
a hard bounce later; complaints when a feedback loop or an ESP reports one
(webhooks.inbound). Below MIN_SAMPLE sends the rate is taken over MIN_SAMPLE, so the first
bounce of a campaign does not stop it on its own. Resuming sends only to those not yet sent;
the rate still counts the sends before the pause, so a resumed campaign that bounces again
pauses again."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q

from campaigns.models import Campaign, CampaignStatus, EventType, Message, MessageEvent
from campaigns.models import MessageStatus as S
from deliverability.models import DeliverabilitySettings
from mailcrm import events

logger = logging.getLogger("mailcrm.sending")

WINDOW = 1000
MIN_SAMPLE = 100
CAMPAIGN_PAUSED = events.CAMPAIGN_PAUSED
BOUNCE_RATE = "bounce_rate"
COMPLAINT_RATE = "complaint_rate"


@dataclass(frozen=True)
class Trip:
    reason: str  # BOUNCE_RATE or COMPLAINT_RATE
    rate: float  # percent
    threshold: Decimal
    sends: int
    count: int

    @property
    def text(self) -> str:
        what = "bounce" if self.reason == BOUNCE_RATE else "complaint"
        return (
            f"Paused by the {what}-rate breaker: {self.count} {what}s in the last "
            f"{self.sends} sends ({self.rate:.2f} %) passed this workspace's threshold of "
            f"{self.threshold} %."
        )


def _recent(campaign_id: uuid.UUID):
    # Sends are the messages handed off: sent, or bounced (at once or reported later).
    # Ids grow with the order the pipeline claims messages in, so the highest are the latest.
    return (
        Message.objects.filter(campaign_id=campaign_id, status__in=(S.SENT, S.BOUNCED))
        .order_by("-id")
        .values("id")[:WINDOW]
    )


def _tripped(count: int, sends: int, threshold: Decimal) -> bool:
    return threshold > 0 and count * 100 > threshold * max(sends, MIN_SAMPLE)


def check_bounces(campaign: Campaign) -> Trip | None:
    """Pause ``campaign`` if its bounce rate passed the threshold; returns the trip."""
    if campaign.status != CampaignStatus.SENDING:
        return None
    threshold = DeliverabilitySettings.for_workspace(campaign.workspace).bounce_rate_threshold
    if not threshold:
        return None
    counts = Message.objects.filter(id__in=_recent(campaign.pk)).aggregate(
        sends=Count("id"), bounces=Count("id", filter=Q(status=S.BOUNCED))
    )
    return _maybe_trip(campaign, BOUNCE_RATE, counts["bounces"], counts["sends"], threshold)


def check_complaints(campaign: Campaign) -> Trip | None:
    """Pause ``campaign`` if its complaint rate passed the threshold; returns the trip."""
    if campaign.status != CampaignStatus.SENDING:
        return None
    threshold = DeliverabilitySettings.for_workspace(campaign.workspace).complaint_rate_threshold
    if not threshold:
        return None
    recent = _recent(campaign.pk)
    sends = Message.objects.filter(id__in=recent).count()
    complaints = (
        MessageEvent.objects.filter(message_id__in=recent, type=EventType.COMPLAINED)
        .values("message_id")
        .distinct()
        .count()
    )
    return _maybe_trip(campaign, COMPLAINT_RATE, complaints, sends, threshold)


def _maybe_trip(
    campaign: Campaign, reason: str, count: int, sends: int, threshold: Decimal
) -> Trip | None:
    if not _tripped(count, sends, threshold):
        return None
    trip = Trip(reason, 100 * count / max(sends, 1), threshold, sends, count)
    return trip if pause(campaign, trip) else None


def pause(campaign: Campaign, trip: Trip) -> bool:
    """Pause a sending campaign for ``trip`` and announce it (once: False if it was no longer
    sending)."""
    with transaction.atomic():
        changed = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).update(
            status=CampaignStatus.PAUSED, status_reason=trip.text
        )
        if not changed:
            return False
        events.emit(
            campaign.workspace_id,
            CAMPAIGN_PAUSED,
            subject_id=campaign.pk,
            data={
                "campaign_id": campaign.pk,
                "reason": trip.reason,
                "rate": round(trip.rate, 2),
                "threshold": float(trip.threshold),
                "sends": trip.sends,
                "count": trip.count,
                "message": trip.text,
            },
        )
    campaign.status, campaign.status_reason = CampaignStatus.PAUSED, trip.text
    logger.warning("campaign %s paused: %s", campaign.pk, trip.text)
    return True
