"""The one way our apps announce a change (ARCHITECTURE.md, "Events")."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from mailcrm.ids import uuid7
from mailcrm.models import Event, Workspace

CONTACT_CREATED = "contact.created"
CONTACT_UPDATED = "contact.updated"
CONTACT_DELETED = "contact.deleted"
CONTACT_MERGED = "contact.merged"
CONTACT_UNSUBSCRIBED = "contact.unsubscribed"
# No human open or click for a long time (contacts.hygiene); re-engagement automations start on it.
CONTACT_SUNSET = "contact.sunset"
EMAIL_SENT = "email.sent"
EMAIL_DELIVERED = "email.delivered"
EMAIL_DEFERRED = "email.deferred"
EMAIL_BOUNCED = "email.bounced"
EMAIL_OPENED = "email.opened"
EMAIL_CLICKED = "email.clicked"
EMAIL_COMPLAINED = "email.complained"
EMAIL_UNSUBSCRIBED = "email.unsubscribed"
# A CSV import announces each committed chunk once (the ids it created and updated) and its
# end once, instead of one contact.created/updated per row: see contacts.imports.writing.
CONTACTS_IMPORTED = "contacts.imported"
IMPORT_FINISHED = "import.finished"
# Audience changes and behaviour that automations trigger on (set-based for bulk changes).
CONTACT_LIST_ADDED = "contact.list_added"
SEGMENT_JOINED = "segment.joined"
SEGMENT_LEFT = "segment.left"
EVENT_TRACKED = "event.tracked"
# An A/B test's winner was chosen (by its criterion or a person) and sent to the rest.
CAMPAIGN_AB_WINNER_SELECTED = "campaign.ab_winner_selected"
# A sending campaign paused itself: its bounce or complaint rate passed the workspace's
# threshold (campaigns.breakers; data: reason bounce_rate or complaint_rate, rate, threshold),
# or a scheduled one was found long past its send time and waits to be resumed
# (campaigns.services.start_due_campaigns; data: reason missed_schedule, message).
CAMPAIGN_PAUSED = "campaign.paused"


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    # Round-trip through Django's encoder so dates, decimals and UUIDs are stored as JSON.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _wake_consumers_after_commit() -> None:
    """Once the transaction commits, ask the outbox dispatcher to hand the new events to
    webhooks and automations (once per transaction; a scheduled run catches anything else)."""
    from mailcrm import outbox

    connection = transaction.get_connection()
    if not any(entry[1] is outbox.request_dispatch for entry in connection.run_on_commit):
        transaction.on_commit(outbox.request_dispatch)


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
    _wake_consumers_after_commit()
    return Event.objects.create(
        workspace_id=getattr(workspace, "pk", workspace),
        type=event_type,
        subject_id=subject_id,
        data=_plain(data or {}),
    )


def emit_many(
    workspace: Workspace | uuid.UUID, event_type: str, items: list[tuple[uuid.UUID, dict]]
) -> int:
    """Record one event per (subject_id, data), for bulk changes: one COPY on PostgreSQL (the
    ORM's bulk_create costs more per row than the change being announced), one INSERT per
    1,000 rows elsewhere."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("emit_many() must run inside the transaction of the change")
    workspace_id = getattr(workspace, "pk", workspace)
    if not items:
        return 0
    _wake_consumers_after_commit()
    if connection.vendor != "postgresql":
        Event.objects.bulk_create(
            [
                Event(workspace_id=workspace_id, type=event_type, subject_id=sid, data=_plain(data))
                for sid, data in items
            ],
            batch_size=1000,
        )
        return len(items)
    now = timezone.now()
    encoder = DjangoJSONEncoder()
    columns = "id, workspace_id, type, subject_id, data, created_at"
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {Event._meta.db_table} ({columns}) FROM STDIN") as copy:
            for sid, data in items:
                copy.write_row((uuid7(), workspace_id, event_type, sid, encoder.encode(data), now))
    return len(items)
