"""What the campaigns app holds about one contact, for privacy requests (``privacy.services``):
the messages sent to them with their events, and how to forget them.

Forgetting keeps the message and event rows (a campaign's sent/opened/clicked counts must not
change after the fact) and drops everything personal on them: the address, the link to the
contact, the rendered payload and metadata, and what tracking hits recorded about the device."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Q

from campaigns.models import Campaign, Message, MessageEvent, MessageKind, to_contacts

ERASED_EMAIL = "erased"


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def messages_export_for_contact(*, workspace_id: Any, contact_id: Any) -> list[dict[str, Any]]:
    """The messages sent to a contact, each with its events, as JSON-ready data (two queries)."""
    messages = list(
        Message.objects.filter(to_contacts([contact_id]), workspace_id=workspace_id)
        .select_related("campaign")
        .order_by("id")
    )
    events_by_message: dict[Any, list[dict]] = {}
    for event in MessageEvent.objects.filter(message__in=messages).order_by("occurred_at"):
        events_by_message.setdefault(event.message_id, []).append(
            {
                "type": event.type,
                "occurred_at": _iso(event.occurred_at),
                "url": event.url,
                "device_type": event.device_type,
                "client": event.client,
                "os": event.os,
            }
        )
    return [
        {
            "id": str(m.id),
            "kind": m.kind,
            "campaign": m.campaign.name if m.campaign else None,
            "email": m.email,
            "status": m.status,
            "sent_at": _iso(m.sent_at),
            "events": events_by_message.get(m.id, []),
        }
        for m in messages
    ]


def _of_workspace(workspace_id: Any) -> Q:
    """A workspace's messages through indexes: a campaign's through its campaign (no index
    leads with the workspace for them: a snapshot would write it once per recipient), the
    others through ``message_ws_direct``."""
    campaigns = list(
        Campaign.objects.filter(workspace_id=workspace_id).values_list("pk", flat=True)
    )
    return Q(workspace_id=workspace_id) & (
        Q(campaign_id__in=campaigns) | Q(campaign_id__isnull=True) | ~Q(kind=MessageKind.CAMPAIGN)
    )


@transaction.atomic
def messages_forget_contact(*, workspace_id: Any, contact_id: Any, email: str) -> list[uuid.UUID]:
    """Anonymise every message of the workspace to the contact or to ``email`` (any case) and
    their events; returns the ids of the messages changed (set-based: two UPDATEs)."""
    # Q(contact_id=None) would match every message without a contact: only name a real one.
    to_them = Q(email__iexact=email.strip())
    if contact_id is not None:
        to_them |= Q(contact_id=contact_id)
    messages = Message.objects.filter(to_them, _of_workspace(workspace_id))
    message_ids = list(messages.values_list("id", flat=True))
    if not message_ids:
        return []
    MessageEvent.objects.filter(message_id__in=message_ids).update(data={})
    Message.objects.filter(id__in=message_ids).update(
        email=ERASED_EMAIL, contact=None, payload={}, metadata={}
    )
    return message_ids
