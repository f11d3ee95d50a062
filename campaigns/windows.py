"""Send windows and local-time delivery.

A *send window* (days of the week and hours, e.g. Monday–Friday 09:00–17:00) is read in each
recipient's own time zone (``contacts.time_zones``: the contact's zone, else its country's,
else the workspace's). A campaign uses its own window, else the workspace's; none means any
time. *Local-time delivery* (``Campaign.local_time``) sends each message at that time of day in
the recipient's zone, on the day the campaign starts (its ``send_at`` date in the workspace's
zone, or today); where that moment has already passed, the message goes at once.

Messages that must wait get the status ``waiting`` and ``next_attempt_at``; the minutely
housekeeping puts them back in the queue when that time comes (``release_due``). The snapshot
sorts recipients into waiting groups with one UPDATE per time zone (``schedule``), and each
batch checks again before sending (``hold_outside``), so a window that closes during a long
send holds the rest back."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus
from contacts.models import Contact
from contacts.time_zones import COUNTRY_PROPERTY, effective_zone_name, zone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class SendWindow:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time  # exclusive; "24:00" is kept as time.max

    def contains(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_opening(self, local: datetime) -> datetime:
        """The first moment at or after ``local`` (aware, in the recipient's zone) inside the
        window."""
        if self.contains(local):
            return local
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() not in self.days:
                continue
            opening = _at(day, self.start, local.tzinfo)
            if opening >= local:
                return opening
        raise AssertionError("a window with at least one day always opens within a week")

    def as_json(self) -> dict[str, Any]:
        return {
            "days": [DAYS[d] for d in sorted(self.days)],
            "start": self.start.strftime("%H:%M"),
            "end": "24:00" if self.end == time.max else self.end.strftime("%H:%M"),
        }


def _at(day: date, moment: time, tzinfo) -> datetime:
    # fold=0 and a normalising round trip through UTC: a time in a DST gap moves forward.
    naive = datetime.combine(day, moment)
    return naive.replace(tzinfo=tzinfo).astimezone(UTC).astimezone(tzinfo)


def _clock(value: Any, field: str, *, end: bool = False) -> time:
    if end and value == "24:00":
        return time.max
    match = _CLOCK.match(str(value or ""))
    if not match:
        raise ValidationError({field: ["Use a time as HH:MM (24-hour clock)."]})
    return time(int(match.group(1)), int(match.group(2)))


def parse_window(value: Any, field: str = "send_window") -> SendWindow | None:
    """A window from its JSON (``{"days": ["mon", …], "start": "09:00", "end": "17:00"}``);
    ``{}`` or None: no window. Raises ValidationError naming ``<field>.<key>``."""
    if value in (None, {}, ""):
        return None
    if not isinstance(value, Mapping):
        raise ValidationError({field: ['An object: {"days": [...], "start", "end"}, or {}.']})
    unknown = set(value) - {"days", "start", "end"}
    if unknown:
        raise ValidationError({f"{field}.{key}": ["Unknown key."] for key in sorted(unknown)})
    days = value.get("days")
    if not isinstance(days, list) or not days:
        raise ValidationError({f"{field}.days": [f"A non-empty list of: {', '.join(DAYS)}."]})
    bad = [str(d) for d in days if str(d).lower()[:3] not in DAYS]
    if bad:
        raise ValidationError(
            {f"{field}.days": [f"Unknown day(s) {', '.join(bad)}; use {', '.join(DAYS)}."]}
        )
    start = _clock(value.get("start"), f"{field}.start")
    end = _clock(value.get("end"), f"{field}.end", end=True)
    if end <= start:
        raise ValidationError({f"{field}.end": ["Must be later than the start."]})
    return SendWindow(frozenset(DAYS.index(str(d).lower()[:3]) for d in days), start, end)


def clean_window(value: Any, field: str = "send_window") -> dict[str, Any] | None:
    """The stored form of a window (normalised JSON), {} for none, None left as None."""
    if value is None:
        return None
    window = parse_window(value, field)
    return window.as_json() if window else {}


def campaign_window(campaign: Campaign) -> SendWindow | None:
    """The campaign's own window, else its workspace's (None: any time)."""
    if campaign.send_window is not None:
        return parse_window(campaign.send_window)
    return parse_window(campaign.workspace.send_window)


def local_day(campaign: Campaign, now: datetime) -> date:
    start = campaign.send_at if campaign.send_at and campaign.send_at > now else now
    return start.astimezone(zone(campaign.workspace.time_zone or "UTC")).date()


def due_in_zone(campaign: Campaign, zone_name: str, now: datetime) -> datetime:
    """When a recipient in ``zone_name`` should get the campaign (``now`` if at once)."""
    tz = zone(zone_name)
    due = now
    if campaign.local_time is not None:
        due = max(due, _at(local_day(campaign, now), campaign.local_time, tz))
    window = campaign_window(campaign)
    if window is not None:
        due = window.next_opening(due.astimezone(tz))
    return due.astimezone(UTC)


def _zone_groups(campaign: Campaign) -> dict[str, Q]:
    """The campaign's queued recipients grouped by effective time zone: zone -> a Q over
    contacts (explicit zone, or no zone and a country of that zone, or neither). The country
    property is ``COUNTRY_PROPERTY``; JSON lookups keep the comparison right on SQLite."""
    default = campaign.workspace.time_zone or "UTC"
    contacts = Contact.objects.filter(
        pk__in=Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).values(
            "contact_id"
        )
    ).annotate(country=KeyTextTransform(COUNTRY_PROPERTY, "properties"))
    pairs = contacts.order_by().values_list("time_zone", "country").distinct()
    groups: dict[str, Q] = defaultdict(Q)
    for time_zone, country in pairs:
        if time_zone:
            condition = Q(time_zone=time_zone)
        elif country is None:
            no_country = Q(properties__country__isnull=True) | Q(properties__country=None)
            condition = Q(time_zone="") & no_country
        else:
            condition = Q(time_zone="", properties__country=country)
        groups[effective_zone_name(time_zone, country, default)] |= condition
    return groups


def schedule(campaign: Campaign, now: datetime | None = None) -> int:
    """At the snapshot: queued messages of recipients whose local time or window is not yet
    there wait for it; one UPDATE per time zone. Returns how many wait."""
    if campaign.local_time is None and campaign_window(campaign) is None:
        return 0
    now = now or timezone.now()
    waiting = 0
    for zone_name, condition in _zone_groups(campaign).items():
        due = due_in_zone(campaign, zone_name, now)
        if due <= now:
            continue
        contacts = Contact.objects.filter(condition, workspace_id=campaign.workspace_id)
        waiting += Message.objects.filter(
            campaign=campaign, status=MessageStatus.QUEUED, contact_id__in=contacts.values("pk")
        ).update(status=MessageStatus.WAITING, next_attempt_at=due, claimed_until=None)
    return waiting


def hold_outside(campaign: Campaign, sendable: list, now: datetime | None = None) -> list:
    """In a batch, before sending: (message, contact) pairs whose recipient is outside the
    window right now wait for its next opening; returns the pairs that may go now."""
    window = campaign_window(campaign)
    if window is None or not sendable:
        return sendable
    now = now or timezone.now()
    default = campaign.workspace.time_zone or "UTC"
    go, held = [], defaultdict(list)
    for message, contact in sendable:
        country = (contact.properties or {}).get(COUNTRY_PROPERTY) if contact else None
        tz = zone(effective_zone_name(contact.time_zone if contact else "", country, default))
        local = now.astimezone(tz)
        if window.contains(local):
            go.append((message, contact))
        else:
            held[window.next_opening(local).astimezone(UTC)].append(message.id)
    for due, ids in held.items():
        Message.objects.filter(id__in=ids, status=MessageStatus.QUEUED).update(
            status=MessageStatus.WAITING, next_attempt_at=due, claimed_until=None
        )
    return go


def release_due(now: datetime | None = None) -> list:
    """Waiting messages whose time has come go back to the queue; returns their campaigns'
    ids (for the housekeeping to restart their chains)."""
    now = now or timezone.now()
    due = Message.objects.filter(status=MessageStatus.WAITING, next_attempt_at__lte=now)
    campaigns = list(due.order_by().values_list("campaign_id", flat=True).distinct())
    if campaigns:
        due.update(status=MessageStatus.QUEUED, next_attempt_at=None)
    return campaigns


def waiting_count(campaign: Campaign) -> int:
    return Message.objects.filter(campaign=campaign, status=MessageStatus.WAITING).count()
