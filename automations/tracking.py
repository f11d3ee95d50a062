"""Behavioural events in: ``POST /api/v1/track`` (one or a batch of up to 1,000) and the site
snippet's page views. Each lands on its contact's timeline, earns the points its name is worth
(``contacts.scoring``) and is announced as ``event.tracked`` for automation triggers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from contacts.models import Contact
from contacts.scoring import TrackedEvent, record_tracked_events
from mailcrm import events
from mailcrm.exceptions import Conflict
from mailcrm.models import Workspace

EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_BATCH = 1000


@dataclass
class TrackResult:
    index: int
    status: str  # "recorded" | "error"
    contact_id: Any = None
    error: str = ""


def _resolve(workspace: Workspace, items: Sequence[Mapping[str, Any]]) -> dict[int, Any]:
    """Index -> contact id, creating contacts where asked (``create``)."""
    from contacts.services import contact_create, contact_ids_for

    ids = [str(i["contact_id"]) for i in items if i.get("contact_id")]
    found_ids, _ = contact_ids_for(workspace, ids=ids)
    by_id = {str(pk): pk for pk in found_ids}
    emails = [str(i["email"]).strip().lower() for i in items if i.get("email")]
    by_email: dict[str, Any] = {}
    if emails:
        from django.db.models.functions import Lower

        by_email = dict(
            Contact.objects.for_workspace(workspace)
            .annotate(e=Lower("email"))
            .filter(e__in=emails)
            .values_list("e", "pk")
        )
    resolved: dict[int, Any] = {}
    for index, item in enumerate(items):
        if item.get("contact_id"):
            resolved[index] = by_id.get(str(item["contact_id"]))
            continue
        email = str(item.get("email") or "").strip().lower()
        if email and email not in by_email and item.get("create"):
            try:
                by_email[email] = contact_create(workspace=workspace, email=email).pk
            except (Conflict, ValidationError):
                pass  # a bad address (or created meanwhile): reported as no such contact
        resolved[index] = by_email.get(email)
    return resolved


def clean_item(item: Any) -> dict:
    """Raise ValidationError naming the field unless ``item`` is a valid event."""
    if not isinstance(item, Mapping):
        raise ValidationError({"event": ["Each event is an object."]})
    if not item.get("email") and not item.get("contact_id"):
        raise ValidationError({"email": ["Give the contact's email or contact_id."]})
    name = item.get("event")
    if not isinstance(name, str) or not EVENT_NAME.match(name):
        raise ValidationError({"event": ["A name of 1–64 letters, digits or _.:-"]})
    properties = item.get("properties") or {}
    if not isinstance(properties, Mapping):
        raise ValidationError({"properties": ["Must be an object."]})
    at = item.get("timestamp")
    if at is not None and not isinstance(at, datetime):
        raise ValidationError({"timestamp": ["An ISO 8601 date and time."]})
    return {**item, "properties": dict(properties), "timestamp": at or timezone.now()}


@transaction.atomic
def track_events(*, workspace: Workspace, items: Sequence[Mapping[str, Any]]) -> list[TrackResult]:
    """Record events (already cleaned) for their contacts; an unknown contact (without
    ``create``) is an error for that item only."""
    if len(items) > MAX_BATCH:
        raise ValidationError({"events": [f"At most {MAX_BATCH} events per request."]})
    contacts = _resolve(workspace, items)
    results, tracked = [], []
    for index, item in enumerate(items):
        contact_id = contacts.get(index)
        if contact_id is None:
            results.append(TrackResult(index, "error", error="No such contact."))
            continue
        tracked.append(
            TrackedEvent(contact_id, item["event"], item["timestamp"], item["properties"])
        )
        results.append(TrackResult(index, "recorded", contact_id=contact_id))
    record_tracked_events(workspace_id=workspace.pk, items=tracked)
    events.emit_many(
        workspace,
        events.EVENT_TRACKED,
        [
            (t.contact_id, {"event": t.name, "properties": dict(t.properties), "at": t.at})
            for t in tracked
        ],
    )
    if tracked:
        transaction.on_commit(_request_dispatch)
    return results


def _request_dispatch() -> None:
    from mailcrm.outbox import request_dispatch

    request_dispatch()


def record_page_view(*, token: str, url: str, title: str = "", referrer: str = "") -> bool:
    """A page view from the site snippet: recorded on the contact its signed visitor id
    names, unless it is forged, the contact is gone or opted out of tracking."""
    from campaigns.tracking import read_visitor_token

    contact_id = read_visitor_token(token)
    if contact_id is None:
        return False
    contact = (
        Contact.objects.filter(pk=contact_id, archived_at__isnull=True)
        .only("pk", "workspace", "tracking_opt_out")
        .first()
    )
    if contact is None or contact.tracking_opt_out:
        return False
    item = {
        "contact_id": str(contact.pk),
        "event": "page_view",
        "properties": {"url": url[:2000], "title": title[:300], "referrer": referrer[:2000]},
        "timestamp": timezone.now(),
    }
    track_events(workspace=contact.workspace, items=[item])
    return True
