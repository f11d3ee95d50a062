"""Workspace statistics over time (API.md ``GET /statistics``): sends, deliveries, bounces,
opens, clicks, complaints and unsubscribes per day, week or month, from one grouped SQL
aggregate over the message events, and opens and clicks broken down by device type and mail
client, human apart from machine (privacy proxies, scanners).

Every figure counts events by when they happened (``occurred_at``): a campaign sent on Monday
and opened on Tuesday shows its send on Monday and its open on Tuesday. Opens and clicks are
unique per message within a period; ``total`` counts every hit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from campaigns.models import EventType, MessageEvent, MessageKind
from mailcrm.models import Workspace

GROUPINGS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
DEFAULT_DAYS = 30
# A day's buckets for ten years, a month's for longer: bounded so one request stays cheap.
MAX_PERIODS = 3660


@dataclass(frozen=True)
class StatisticsQuery:
    """What to count: a half-open window [start, end) and optional narrowing."""

    start: datetime
    end: datetime
    group_by: str = "day"
    tag: str = ""
    domain: str = ""  # a sending domain's name
    campaign_id: str | None = None


def _events(workspace: Workspace, query: StatisticsQuery) -> QuerySet:
    events = MessageEvent.objects.filter(
        workspace=workspace, occurred_at__gte=query.start, occurred_at__lt=query.end
    )
    if query.campaign_id:
        events = events.filter(message__campaign_id=query.campaign_id)
    if query.tag:
        events = events.filter(Q(message__tag=query.tag) | Q(message__campaign__tag=query.tag))
    if query.domain:
        # A campaign names its sending domain; a transactional email only its From address
        # ("a@brand.example" or "Name <a@brand.example>").
        events = events.filter(
            Q(message__campaign__sending_domain__domain__iexact=query.domain)
            | Q(
                Q(message__payload__from_email__iendswith=f"@{query.domain}")
                | Q(message__payload__from_email__iendswith=f"@{query.domain}>"),
                message__kind=MessageKind.TRANSACTIONAL,
            )
        )
    return events


def _unique(kind: str, human: bool | None = None) -> Count:
    condition = Q(type=kind)
    if human is not None:
        condition &= Q(is_machine=not human)
    return Count("message", filter=condition, distinct=True)


def _periods(query: StatisticsQuery) -> list[datetime]:
    """Every bucket start between start and end, so a quiet period shows as zeros."""
    trunc = {"day": _day, "week": _week, "month": _month}[query.group_by]
    at, periods = trunc(query.start), []
    while at < query.end and len(periods) < MAX_PERIODS:
        periods.append(at)
        at = _next(at, query.group_by)
    return periods


def _day(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _week(at: datetime) -> datetime:
    day = _day(at)
    return day - timedelta(days=day.weekday())


def _month(at: datetime) -> datetime:
    return _day(at).replace(day=1)


def _next(at: datetime, group_by: str) -> datetime:
    if group_by == "day":
        return at + timedelta(days=1)
    if group_by == "week":
        return at + timedelta(weeks=1)
    return (at + timedelta(days=32)).replace(day=1)


def _as_utc(value) -> datetime:
    # SQLite's truncation answers a naive or a date-only value for some groupings.
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def workspace_statistics(workspace: Workspace, query: StatisticsQuery) -> dict:
    events = _events(workspace, query)
    trunc = GROUPINGS[query.group_by]
    rows = (
        events.annotate(period=trunc("occurred_at", tzinfo=UTC))
        .values("period")
        .annotate(
            sends=_unique(EventType.SENT),
            delivered=_unique(EventType.DELIVERED),
            bounces=_unique(EventType.BOUNCED),
            opens=_unique(EventType.OPENED),
            opens_human=_unique(EventType.OPENED, human=True),
            opens_total=Count("id", filter=Q(type=EventType.OPENED)),
            clicks=_unique(EventType.CLICKED),
            clicks_human=_unique(EventType.CLICKED, human=True),
            clicks_total=Count("id", filter=Q(type=EventType.CLICKED)),
            complaints=_unique(EventType.COMPLAINED),
            unsubscribes=_unique(EventType.UNSUBSCRIBED),
        )
        .order_by("period")
    )
    found = {_as_utc(row.pop("period")): row for row in rows}
    # Without delivery reports (plain SMTP), a message the server accepted counts as delivered,
    # as in a campaign's own statistics.
    reports = any(row["delivered"] for row in found.values())
    series = []
    for period in _periods(query):
        row = found.get(period) or dict.fromkeys(_FIGURES, 0)
        delivered = row["delivered"] if reports else max(row["sends"] - row["bounces"], 0)
        series.append(
            {
                "period": period,
                "sends": row["sends"],
                "delivered": delivered,
                "bounces": row["bounces"],
                "opens": _engagement(row, "opens"),
                "clicks": _engagement(row, "clicks"),
                "complaints": row["complaints"],
                "unsubscribes": row["unsubscribes"],
            }
        )
    return {
        "from": query.start,
        "to": query.end,
        "group_by": query.group_by,
        "periods": series,
        "totals": _totals(series),
        "devices": _breakdown(events, "device_type"),
        "clients": _breakdown(events, "client"),
    }


_FIGURES = (
    "sends delivered bounces opens opens_human opens_total clicks clicks_human clicks_total "
    "complaints unsubscribes"
).split()


def _engagement(row: dict, kind: str) -> dict:
    return {"unique": row[kind], "human": row[f"{kind}_human"], "total": row[f"{kind}_total"]}


def _totals(series: list[dict]) -> dict:
    """Sums over the periods (unique counts are per period, so a message opened on two days
    counts twice here)."""
    totals: dict = {}
    for name in ("sends", "delivered", "bounces", "complaints", "unsubscribes"):
        totals[name] = sum(period[name] for period in series)
    for name in ("opens", "clicks"):
        totals[name] = {
            part: sum(period[name][part] for period in series)
            for part in ("unique", "human", "total")
        }
    return totals


def _breakdown(events: QuerySet, field: str) -> list[dict]:
    """Opens and clicks per device type or mail client, human and machine apart, most first."""
    rows = (
        events.filter(type__in=(EventType.OPENED, EventType.CLICKED))
        .values(field)
        .annotate(
            opens_human=Count("id", filter=Q(type=EventType.OPENED, is_machine=False)),
            opens_machine=Count("id", filter=Q(type=EventType.OPENED, is_machine=True)),
            clicks_human=Count("id", filter=Q(type=EventType.CLICKED, is_machine=False)),
            clicks_machine=Count("id", filter=Q(type=EventType.CLICKED, is_machine=True)),
            hits=Count("id"),
        )
        .order_by("-hits", field)[:20]
    )
    return [
        {
            "name": row[field] or "unknown",
            "opens": {"human": row["opens_human"], "machine": row["opens_machine"]},
            "clicks": {"human": row["clicks_human"], "machine": row["clicks_machine"]},
        }
        for row in rows
    ]


def default_window(now: datetime) -> tuple[datetime, datetime]:
    """The last 30 days up to the end of today (UTC)."""
    end = _day(now) + timedelta(days=1)
    return end - timedelta(days=DEFAULT_DAYS), end
