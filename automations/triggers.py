"""Triggers: the outbox consumer that turns a batch of events into enrolments, and the periodic
scan of date triggers. Set-based: one query for the batch's active automations, one lookup of
the contacts behind email events, then one ``engine.enroll`` per automation for all its
contacts of the batch."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from automations import engine
from automations.models import Automation, AutomationStatus, TriggerType
from mailcrm import events as types
from mailcrm.models import Event

# Event type -> the triggers it can fire.
EVENT_TRIGGERS: dict[str, tuple[str, ...]] = {
    types.CONTACT_CREATED: (TriggerType.CONTACT_CREATED, TriggerType.TAG_ADDED),
    types.CONTACT_UPDATED: (TriggerType.TAG_ADDED, TriggerType.PROPERTY_CHANGED),
    types.CONTACTS_IMPORTED: (TriggerType.CONTACT_CREATED,),
    types.SEGMENT_JOINED: (TriggerType.SEGMENT_JOINED,),
    types.SEGMENT_LEFT: (TriggerType.SEGMENT_LEFT,),
    types.CONTACT_LIST_ADDED: (TriggerType.LIST_ADDED,),
    types.EMAIL_OPENED: (TriggerType.EMAIL_OPENED,),
    types.EMAIL_CLICKED: (TriggerType.EMAIL_CLICKED,),
    "form.submitted": (TriggerType.FORM_SUBMITTED,),
    types.EVENT_TRACKED: (TriggerType.EVENT_TRACKED,),
    types.CONTACT_SUNSET: (TriggerType.CONTACT_SUNSET,),
}


def on_events(events: list[Event], now: datetime) -> None:
    """Outbox consumer: enrol the contacts the batch's events qualify, in its transaction."""
    relevant = [e for e in events if e.type in EVENT_TRIGGERS]
    if not relevant:
        return
    workspaces = {e.workspace_id for e in relevant}
    kinds = {t for e in relevant for t in EVENT_TRIGGERS[e.type]}
    automations = list(
        Automation.objects.filter(
            workspace_id__in=workspaces, status=AutomationStatus.ACTIVE, trigger_type__in=kinds
        )
    )
    if not automations:
        return
    message_contacts = _message_contacts(relevant)
    for automation in automations:
        contact_ids = [
            contact_id
            for event in relevant
            if event.workspace_id == automation.workspace_id
            and automation.trigger_type in EVENT_TRIGGERS[event.type]
            for contact_id in matches(automation, event, message_contacts)
        ]
        if contact_ids:
            engine.enroll(
                automation=automation,
                contact_ids=contact_ids,
                now=now,
                source=automation.trigger_type,
            )


def _message_contacts(events: Iterable[Event]) -> dict[Any, Any]:
    """Message id -> contact id for the batch's email events (one query)."""
    from campaigns.models import Message

    ids = [e.subject_id for e in events if e.type.startswith("email.") and e.subject_id]
    if not ids:
        return {}
    return dict(
        Message.objects.filter(pk__in=ids, contact__isnull=False).values_list("pk", "contact_id")
    )


def _same(a: Any, b: Any) -> bool:
    return a is not None and b is not None and str(a).lower() == str(b).lower()


def matches(automation: Automation, event: Event, message_contacts: dict) -> list[Any]:
    """The contacts ``event`` qualifies for ``automation``'s trigger (usually 0 or 1)."""
    config, data, kind = automation.trigger_config or {}, event.data or {}, automation.trigger_type
    subject = event.subject_id
    if kind == TriggerType.CONTACT_CREATED:
        if event.type == "contacts.imported":
            return list(data.get("created") or [])
        return [subject] if event.type == "contact.created" else []
    if kind in (TriggerType.SEGMENT_JOINED, TriggerType.SEGMENT_LEFT):
        return [subject] if _same(data.get("segment_id"), config.get("segment_id")) else []
    if kind == TriggerType.LIST_ADDED:
        return [subject] if _same(data.get("list_id"), config.get("list_id")) else []
    if kind == TriggerType.TAG_ADDED:
        return [subject] if _tag_added(event, config.get("tag")) else []
    if kind == TriggerType.PROPERTY_CHANGED:
        return [subject] if _property_changed(data, config) else []
    if kind in (TriggerType.EMAIL_OPENED, TriggerType.EMAIL_CLICKED):
        wanted = config.get("campaign_id")
        if wanted and not _same(data.get("campaign_id"), wanted):
            return []
        contact = message_contacts.get(subject)
        return [contact] if contact else []
    if kind == TriggerType.FORM_SUBMITTED:
        wanted = config.get("form_id")
        if wanted and not _same(data.get("form_id"), wanted):
            return []
        contact = data.get("contact_id") or subject
        return [contact] if contact else []
    if kind == TriggerType.EVENT_TRACKED:
        return [subject] if _same(data.get("event"), config.get("event")) else []
    if kind == TriggerType.CONTACT_SUNSET:
        return [subject]
    return []


def _tag_added(event: Event, tag: Any) -> bool:
    if not tag:
        return False
    wanted = str(tag).lower()
    data = event.data or {}
    if event.type == "contact.created":
        return wanted in {str(t).lower() for t in data.get("tags") or []}
    change = (data.get("changed") or {}).get("tags")
    if isinstance(change, dict):
        return wanted in {str(t).lower() for t in change.get("added") or []}
    if isinstance(change, list) and len(change) == 2:
        before = {str(t).lower() for t in change[0] or []}
        after = {str(t).lower() for t in change[1] or []}
        return wanted in after - before
    return False


_MISSING = object()


def _property_changed(data: dict, config: dict) -> bool:
    """A standard field (``lifecycle_stage``) or a custom property (``plan`` or
    ``properties.plan``) changed — to ``value`` when the trigger names one."""
    changed = data.get("changed") or {}
    key = str(config.get("property") or "")
    name = key.removeprefix("properties.")
    if not key.startswith("properties.") and isinstance(changed.get(key), list):
        before, after = changed[key][0], changed[key][1]
    elif isinstance(changed.get("properties"), list) and len(changed["properties"]) == 2:
        old, new = changed["properties"]
        before = (old or {}).get(name, _MISSING)
        after = (new or {}).get(name, _MISSING)
        if after is _MISSING and before is _MISSING:
            return False
    else:
        return False
    if before == after:
        return False
    if "value" in config and config["value"] not in (None, ""):
        return str(after).lower() == str(config["value"]).lower()
    return True


# --- date triggers -----------------------------------------------------------------------------


def scan_date_triggers(now: datetime | None = None) -> int:
    """Enrol contacts whose date property, shifted by the trigger's offset, passed since the
    last scan: one query per automation through the segment language (which casts the
    property by its definition). ``offset_days: -3`` on ``trial_ends_at`` enrols three days
    before the trial ends."""
    from contacts.models import Contact
    from contacts.query import QueryError, compile_query

    now = now or timezone.now()
    enrolled = 0
    automations = Automation.objects.filter(
        status=AutomationStatus.ACTIVE, trigger_type=TriggerType.DATE_REACHED
    )
    for automation in automations:
        with transaction.atomic():
            locked = Automation.objects.select_for_update().filter(pk=automation.pk).first()
            if locked is None:
                continue
            since = locked.scanned_until or now
            offset = timedelta(days=int(locked.trigger_config.get("offset_days") or 0))
            key = locked.trigger_config["property"]
            low, high = _iso(since - offset), _iso(now - offset)
            try:
                condition = compile_query(
                    f'properties.{key} > "{low}" AND properties.{key} <= "{high}"',
                    locked.workspace_id,
                    now=now,
                )
            except QueryError:
                continue
            ids = list(
                Contact.objects.filter(workspace_id=locked.workspace_id)
                .filter(condition)
                .values_list("pk", flat=True)
            )
            enrolled += engine.enroll(
                automation=locked, contact_ids=ids, now=now, source="date_reached"
            )
            Automation.objects.filter(pk=locked.pk).update(scanned_until=now)
    return enrolled


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
