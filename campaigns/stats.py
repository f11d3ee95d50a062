"""Campaign statistics with SQL aggregates: delivery outcomes from message statuses, engagement
from message events (human engagement counted apart from privacy proxies and scanners)."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.db.models import Count, Max, Min, Q
from django.db.models.functions import TruncDay, TruncHour

from campaigns.ab import ab_stats
from campaigns.models import Campaign, EventType, Message, MessageEvent, MessageStatus


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def campaign_stats(campaign: Campaign) -> dict:
    by_status = dict(
        Message.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    events = MessageEvent.objects.filter(message__campaign=campaign)
    human = Q(is_machine=False)
    counts = events.aggregate(
        opened_total=Count("id", filter=Q(type=EventType.OPENED)),
        opened_unique=Count("message", filter=Q(type=EventType.OPENED), distinct=True),
        opened_human=Count("message", filter=Q(type=EventType.OPENED) & human, distinct=True),
        clicked_total=Count("id", filter=Q(type=EventType.CLICKED)),
        clicked_unique=Count("message", filter=Q(type=EventType.CLICKED), distinct=True),
        clicked_human=Count("message", filter=Q(type=EventType.CLICKED) & human, distinct=True),
        delivered=Count("message", filter=Q(type=EventType.DELIVERED), distinct=True),
        complained=Count("message", filter=Q(type=EventType.COMPLAINED), distinct=True),
        unsubscribed=Count("message", filter=Q(type=EventType.UNSUBSCRIBED), distinct=True),
    )
    sent = by_status.get(MessageStatus.SENT, 0)
    bounced = by_status.get(MessageStatus.BOUNCED, 0)
    # Without delivery reports (plain SMTP), a message the server accepted counts as delivered.
    delivered = counts["delivered"] or sent
    top_links = _top_links(campaign)
    return {
        "recipients": campaign.recipients,
        "queued": by_status.get(MessageStatus.QUEUED, 0),
        "sent": sent,
        "delivered": delivered,
        "deferred": by_status.get(MessageStatus.DEFERRED, 0),
        "waiting": by_status.get(MessageStatus.WAITING, 0),
        "bounced": bounced,
        "failed": by_status.get(MessageStatus.FAILED, 0),
        "suppressed": by_status.get(MessageStatus.SUPPRESSED, 0),
        "interrupted": by_status.get(MessageStatus.INTERRUPTED, 0),
        "opened": {
            "unique": counts["opened_unique"],
            "total": counts["opened_total"],
            "human": counts["opened_human"],
        },
        "clicked": {
            "unique": counts["clicked_unique"],
            "total": counts["clicked_total"],
            "human": counts["clicked_human"],
        },
        "complained": counts["complained"],
        "unsubscribed": counts["unsubscribed"],
        "rates": {
            "delivery": _rate(delivered, sent + bounced),
            "bounce": _rate(bounced, sent + bounced),
            "open": _rate(counts["opened_human"], delivered),
            "click": _rate(counts["clicked_human"], delivered),
            "complaint": _rate(counts["complained"], delivered),
            "unsubscribe": _rate(counts["unsubscribed"], delivered),
        },
        "top_links": top_links,
        **ab_stats(campaign),  # "variants" and "ab": an A/B test's figures (campaigns.ab)
    }


def _top_links(campaign: Campaign) -> list[dict]:
    rows = (
        MessageEvent.objects.filter(message__campaign=campaign, type=EventType.CLICKED)
        .values("url")
        .annotate(clicks=Count("id"), unique=Count("message", distinct=True))
        .order_by("-clicks")[:10]
    )
    return [{"url": row["url"], "clicks": row["clicks"], "unique": row["unique"]} for row in rows]


def campaign_progress(campaign: Campaign) -> dict:
    """Where a send stands, from one grouped count: sent, failed (incl. bounced and
    interrupted), suppressed at send time, and still to go (queued, deferred, in flight)."""
    by_status = dict(
        Message.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    failed = sum(
        by_status.get(s, 0)
        for s in (MessageStatus.FAILED, MessageStatus.BOUNCED, MessageStatus.INTERRUPTED)
    )
    remaining = sum(
        by_status.get(s, 0)
        for s in (
            MessageStatus.QUEUED,
            MessageStatus.DEFERRED,
            MessageStatus.SENDING,
            MessageStatus.HELD,
            MessageStatus.WAITING,
        )
    )
    total = sum(by_status.values())
    done = total - remaining
    return {
        "recipients": total,
        "sent": by_status.get(MessageStatus.SENT, 0),
        "failed": failed,
        "suppressed": by_status.get(MessageStatus.SUPPRESSED, 0),
        "remaining": remaining,
        # Of the remaining: waiting for the recipient's local send time or the send window.
        "waiting": by_status.get(MessageStatus.WAITING, 0),
        "percent": round(100 * done / total) if total else 0,
    }


TIMELINE_BUCKETS = {"hour": (TruncHour, timedelta(hours=1)), "day": (TruncDay, timedelta(days=1))}


def engagement_timeline(campaign: Campaign, bucket: str = "hour") -> list[dict]:
    """Opens and clicks per hour or day (UTC), one SQL GROUP BY over the campaign's events;
    buckets without engagement between the first and the last are filled with zeros."""
    trunc, step = TIMELINE_BUCKETS[bucket]
    rows = (
        MessageEvent.objects.filter(
            message__campaign=campaign, type__in=(EventType.OPENED, EventType.CLICKED)
        )
        .annotate(at=trunc("occurred_at", tzinfo=UTC))
        .values("at")
        .annotate(
            opened=Count("id", filter=Q(type=EventType.OPENED)),
            clicked=Count("id", filter=Q(type=EventType.CLICKED)),
        )
        .order_by("at")
    )
    found = {row["at"]: row for row in rows}
    if not found:
        return []
    at, last, series = min(found), max(found), []
    while at <= last:
        row = found.get(at, {})
        series.append({"at": at, "opened": row.get("opened", 0), "clicked": row.get("clicked", 0)})
        at += step
    return series


def timeline_bucket(campaign: Campaign) -> str:
    """Hours for the first two days of a campaign, days after that."""
    first = MessageEvent.objects.filter(
        message__campaign=campaign, type__in=(EventType.OPENED, EventType.CLICKED)
    ).aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    if first["first"] is None or first["last"] - first["first"] <= timedelta(hours=48):
        return "hour"
    return "day"
