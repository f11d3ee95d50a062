"""The one way our apps announce a change (ARCHITECTURE.md, "Events")."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from mailcrm.models import Event, Workspace

CONTACT_CREATED = "contact.created"
CONTACT_UPDATED = "contact.updated"
CONTACT_DELETED = "contact.deleted"
CONTACT_MERGED = "contact.merged"
CONTACT_UNSUBSCRIBED = "contact.unsubscribed"
EMAIL_SENT = "email.sent"
EMAIL_DELIVERED = "email.delivered"
EMAIL_DEFERRED = "email.deferred"
EMAIL_BOUNCED = "email.bounced"
EMAIL_OPENED = "email.opened"
EMAIL_CLICKED = "email.clicked"
EMAIL_COMPLAINED = "email.complained"
EMAIL_UNSUBSCRIBED = "email.unsubscribed"


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    # Round-trip through Django's encoder so dates, decimals and UUIDs are stored as JSON.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def emit(
    workspace: Workspace | uuid.UUID,
    event_type: str,
    *,
    subject_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Record a domain event in the outbox, inside the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("emit() must run inside the transaction of the change it announces")
    return Event.objects.create(
        workspace_id=getattr(workspace, "pk", workspace),
        type=event_type,
        subject_id=subject_id,
        data=_plain(data or {}),
    )


def emit_many(workspace: Workspace, event_type: str, items: list[tuple[uuid.UUID, dict]]) -> int:
    """Record one event per (subject_id, data) in one INSERT, for bulk changes."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("emit_many() must run inside the transaction of the change")
    events = [
        Event(workspace=workspace, type=event_type, subject_id=sid, data=_plain(data))
        for sid, data in items
    ]
    Event.objects.bulk_create(events, batch_size=1000)
    return len(events)
