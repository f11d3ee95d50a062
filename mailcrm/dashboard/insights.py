"""Read-only figures for the dashboard: the home page's series, lists and live feed, and a
contact's engagement summary. Every figure is an SQL aggregate or a LIMITed query, so a page
costs the same number of queries whatever the size of the workspace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignStatus,
    EventType,
    Message,
    MessageEvent,
    to_contacts,
)
from contacts.models import Contact
from mailcrm.models import Workspace

HOME_DAYS = 30
FEED_SIZE = 15
FEED_TYPES = (
    EventType.OPENED,
    EventType.CLICKED,
    EventType.BOUNCED,
    EventType.COMPLAINED,
    EventType.UNSUBSCRIBED,
)
RUNNING = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)


def _zone(workspace: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(workspace.time_zone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _days(today: date, count: int) -> list[date]:
    return [today - timedelta(days=count - 1 - n) for n in range(count)]


def daily_series(workspace: Workspace, *, days: int = HOME_DAYS) -> dict[str, Any]:
    """Per day of the workspace's time zone over the last ``days`` days: new contacts, sends,
    human open and click rates (per delivered message), bounces and complaints. Two grouped
    queries."""
    zone = _zone(workspace)
    today = timezone.now().astimezone(zone).date()
    since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=zone)
    growth = dict(
        Contact.objects.for_workspace(workspace)
        .filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    human = Q(is_machine=False)
    rows = (
        MessageEvent.objects.filter(
            workspace=workspace,
            occurred_at__gte=since,
            type__in=(
                EventType.SENT,
                EventType.BOUNCED,
                EventType.OPENED,
                EventType.CLICKED,
                EventType.COMPLAINED,
            ),
        )
        .annotate(day=TruncDate("occurred_at", tzinfo=zone))
        .values("day")
        .annotate(
            sent=Count("id", filter=Q(type=EventType.SENT)),
            bounced=Count("id", filter=Q(type=EventType.BOUNCED)),
            complained=Count("id", filter=Q(type=EventType.COMPLAINED)),
            opened=Count("message", filter=Q(type=EventType.OPENED) & human, distinct=True),
            clicked=Count("message", filter=Q(type=EventType.CLICKED) & human, distinct=True),
        )
    )
    by_day = {row["day"]: row for row in rows}
    series = []
    for day in _days(today, days):
        row = by_day.get(day, {})
        sent, bounced = row.get("sent", 0), row.get("bounced", 0)
        delivered = max(sent - bounced, 0)
        series.append(
            {
                "day": day,
                "contacts": growth.get(day, 0),
                "sent": sent,
                "bounced": bounced,
                "complained": row.get("complained", 0),
                "open_rate": round(row.get("opened", 0) / delivered, 4) if delivered else 0.0,
                "click_rate": round(row.get("clicked", 0) / delivered, 4) if delivered else 0.0,
            }
        )
    totals = {
        key: sum(day[key] for day in series)
        for key in ("contacts", "sent", "bounced", "complained")
    }
    return {"days": series, "totals": totals}


# --- inline SVG charts ----------------------------------------------------------------------


@dataclass
class Chart:
    """Geometry for an inline SVG chart: bars and/or polylines in a fixed viewBox, with a
    text alternative (``summary``) for screen readers."""

    width: int
    height: int
    bars: list[dict]
    lines: list[dict]
    maximum: float
    summary: str


def bar_chart(values: list[float], labels: list[str], *, summary: str, height: int = 80) -> Chart:
    width = 300
    step = width / max(len(values), 1)
    top = max(values, default=0) or 1
    bars = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        h = round(height * value / top, 1)
        bars.append(
            {
                "x": round(index * step + 1, 1),
                "y": round(height - h, 1),
                "w": round(max(step - 2, 1), 1),
                "h": h,
                "title": f"{label}: {value:g}",
            }
        )
    return Chart(width, height, bars, [], top, summary)


def line_chart(
    series: dict[str, list[float]], *, summary: str, height: int = 80, top: float | None = None
) -> Chart:
    width = 300
    top = top or max((v for values in series.values() for v in values), default=0) or 1
    lines = []
    for index, (name, values) in enumerate(series.items()):
        step = width / max(len(values) - 1, 1)
        points = " ".join(
            f"{round(i * step, 1)},{round(height - height * v / top, 1)}"
            for i, v in enumerate(values)
        )
        lines.append({"name": name, "points": points, "class": f"series-{index}"})
    return Chart(width, height, [], lines, top, summary)


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def home_charts(series: dict[str, Any], health: list) -> dict[str, Chart]:
    days = series["days"]
    labels = [d["day"].isoformat() for d in days]
    totals = series["totals"]
    opens = [d["open_rate"] for d in days]
    clicks = [d["click_rate"] for d in days]
    return {
        "growth": bar_chart(
            [d["contacts"] for d in days],
            labels,
            summary=f"{totals['contacts']} new contacts in {len(days)} days",
        ),
        "sends": bar_chart(
            [d["sent"] for d in days],
            labels,
            summary=f"{totals['sent']} messages sent in {len(days)} days",
        ),
        "rates": line_chart(
            {"Open rate": opens, "Click rate": clicks},
            summary=f"Human open rate up to {_pct(max(opens, default=0))}, "
            f"click rate up to {_pct(max(clicks, default=0))} a day",
        ),
        "problems": line_chart(
            {
                "Bounces": [d["bounced"] for d in days],
                "Complaints": [d["complained"] for d in days],
            },
            summary=f"{totals['bounced']} bounces and {totals['complained']} complaints",
        ),
        "health": line_chart(
            {"Health score": [s.score for s in health]},
            summary=f"Health score over {len(health)} days",
            top=100,
        ),
    }


# --- lists ----------------------------------------------------------------------------------


def campaign_lists(workspace: Workspace, *, size: int = 5) -> dict[str, list]:
    """Recently finished or created campaigns, and those running now with their progress
    (one grouped count for all running ones). Campaigns that carry an automation's send step
    stay "sending" forever: they are the automation's, not listed here."""
    campaigns = Campaign.objects.for_workspace(workspace).exclude(_automation_campaigns())
    running = list(campaigns.filter(status__in=RUNNING).order_by("-created_at")[:size])
    recent = list(
        campaigns.exclude(status__in=RUNNING).order_by("-finished_at", "-created_at")[:size]
    )
    counts: dict[Any, dict[str, int]] = {}
    for campaign_id, status, n in (
        Message.objects.filter(campaign__in=[c.pk for c in running])
        .values_list("campaign", "status")
        .annotate(n=Count("id"))
    ):
        counts.setdefault(campaign_id, {})[status] = n
    for campaign in running:
        by_status = counts.get(campaign.pk, {})
        total = sum(by_status.values())
        waiting = sum(by_status.get(s, 0) for s in ("queued", "deferred", "sending"))
        campaign.progress = round(100 * (total - waiting) / total) if total else 0
    return {"running": running, "recent": recent}


def _automation_campaigns() -> Q:
    try:
        from automations.models import Step
    except ImportError:  # pragma: no cover - the app is optional in this checkout's history
        return Q(pk__in=[])
    return Q(pk__in=Step.objects.filter(campaign__isnull=False).values("campaign"))


def running_automations(workspace: Workspace, *, size: int = 5) -> list | None:
    """Active automations with their open enrolments; None when the app is not installed."""
    from django.apps import apps

    if not apps.is_installed("automations"):
        return None
    from automations.models import OPEN_STATUSES, Automation, AutomationStatus

    return list(
        Automation.objects.for_workspace(workspace)
        .filter(status=AutomationStatus.ACTIVE)
        .annotate(open_count=Count("enrollments", filter=Q(enrollments__status__in=OPEN_STATUSES)))
        .order_by("name")[:size]
    )


def activity_feed(workspace: Workspace, *, size: int = FEED_SIZE) -> list[dict]:
    """The latest things people did across the workspace: opens, clicks, bounces, complaints,
    unsubscribes (each read from the (workspace, type, occurred_at) index, newest first) and
    new contacts, merged. One query per kind, each LIMITed."""
    items = []
    for kind in FEED_TYPES:
        for event in (
            MessageEvent.objects.filter(workspace=workspace, type=kind)
            .exclude(type__in=(EventType.OPENED, EventType.CLICKED), is_machine=True)
            .select_related("message")
            .only("type", "occurred_at", "url", "message__email", "message__contact_id")
            .order_by("-occurred_at")[:size]
        ):
            items.append(
                {
                    "at": event.occurred_at,
                    "kind": event.type,
                    "email": event.message.email,
                    "contact_id": event.message.contact_id,
                    "detail": event.url,
                }
            )
    for contact in (
        Contact.objects.for_workspace(workspace)
        .only("id", "email", "created_at", "source")
        .order_by("-created_at")[:size]
    ):
        items.append(
            {
                "at": contact.created_at,
                "kind": "subscribed" if contact.source == "form" else "created",
                "email": contact.email,
                "contact_id": contact.id,
                "detail": contact.get_source_display(),
            }
        )
    items.sort(key=lambda item: item["at"], reverse=True)
    return items[:size]


def contact_engagement(contact: Contact, *, size: int = 5) -> dict[str, list]:
    """Beside a contact's timeline: recent human clicks, the campaigns they engage with most,
    and the devices and mail clients they use. Three LIMITed aggregates."""
    events = MessageEvent.objects.filter(
        to_contacts([contact.pk], prefix="message__"),
        workspace_id=contact.workspace_id,
        type__in=(EventType.OPENED, EventType.CLICKED),
        is_machine=False,
    )
    clicks = list(
        events.filter(type=EventType.CLICKED)
        .values("url", "occurred_at", "message__campaign__name")
        .order_by("-occurred_at")[:size]
    )
    campaigns = list(
        events.filter(message__campaign__isnull=False)
        .values("message__campaign_id", "message__campaign__name")
        .annotate(
            opens=Count("id", filter=Q(type=EventType.OPENED)),
            clicks=Count("id", filter=Q(type=EventType.CLICKED)),
            last=Max("occurred_at"),
        )
        .order_by("-clicks", "-opens", "-last")[:size]
    )
    devices = list(
        events.exclude(client="", device_type="")
        .values("device_type", "client", "os")
        .annotate(n=Count("id"), last=Max("occurred_at"))
        .order_by("-n")[:3]
    )
    return {"clicks": clicks, "campaigns": campaigns, "devices": devices}
