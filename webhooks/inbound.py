"""Inbound ESP events through django-anymail.

anymail's tracking views verify each ESP's request (the shared basic-auth secret, and the
ESP's own signature where it has one) and send its ``tracking`` signal; our receiver only
stores the event (once per ESP event id) and asks a worker to apply it. Applying maps the
event onto our ``Message`` by the provider's message id, records a ``MessageEvent`` (which
announces ``email.*`` to outbound webhooks), and calls the services: bounces and complaints
suppress, unsubscribes unsubscribe, opens and clicks count on the contact. An event that names
no message we know still applies to its address in the workspace whose URL it came to; with
neither, it is kept as an orphan."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC

from django.core import signing
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from mailcrm.models import Workspace
from mailcrm.tasks import request_soon
from webhooks.models import InboundEvent, InboundStatus

logger = logging.getLogger("mailcrm.webhooks")

_SALT = "mailcrm.inbound-esp-url"
_APPLY_REQUESTED = "webhooks:inbound-apply"
APPLY_DEBOUNCE_SECONDS = 1
BATCH = 200

# The workspace named by the URL an event was posted to (set around anymail's view).
url_workspace: contextvars.ContextVar[uuid.UUID | None] = contextvars.ContextVar(
    "url_workspace", default=None
)


# --- per-workspace URLs ------------------------------------------------------------------------


def workspace_token(workspace: Workspace) -> str:
    """The path segment that attributes events posted under it to ``workspace``."""
    return signing.Signer(salt=_SALT).sign(workspace.pk.hex).replace(":", ".")


def workspace_from_token(token: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(signing.Signer(salt=_SALT).unsign(token.replace(".", ":")))
    except (signing.BadSignature, ValueError):
        return None


@contextlib.contextmanager
def posted_for(workspace_id: uuid.UUID | None) -> Iterator[None]:
    token = url_workspace.set(workspace_id)
    try:
        yield
    finally:
        url_workspace.reset(token)


# --- storing -----------------------------------------------------------------------------------


def _plain(value) -> dict:
    try:
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))
    except (TypeError, ValueError):
        return {"unparsed": str(value)}


def _event_key(event, raw: dict) -> str:
    if event.event_id:
        # One ESP event may name several recipients (an SES bounce): one row each.
        return f"{event.event_id}/{(event.recipient or '').lower()}"[:255]
    # Opens and clicks of some ESPs carry no id: the same payload twice is the same event.
    digest = hashlib.sha256(
        json.dumps([event.event_type, event.recipient, raw], sort_keys=True).encode()
    ).hexdigest()
    return f"sha256:{digest}"


def store(event, esp_name: str) -> bool:
    """Keep one anymail tracking event; False when the ESP sent it before. Runs inside the
    webhook request: nothing but one INSERT."""
    raw = _plain(event.esp_event)
    occurred_at = event.timestamp or timezone.now()
    if timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at, UTC)
    row = InboundEvent(
        workspace_id=url_workspace.get(),
        esp=esp_name.lower().replace(" ", "_")[:32],
        event_id=_event_key(event, raw),
        event_type=str(event.event_type or "unknown")[:20],
        provider_message_id=str(event.message_id or "")[:255],
        recipient=(event.recipient or "").strip().lower()[:254],
        occurred_at=occurred_at,
        description=event.description or "",
        reject_reason=str(event.reject_reason or "")[:20],
        mta_response=event.mta_response or "",
        click_url=event.click_url or "",
        user_agent=event.user_agent or "",
        raw=raw,
    )
    return _insert(row)


def store_parsed(
    *,
    source: str,
    event_id: str,
    event_type: str,
    workspace_id: uuid.UUID | None,
    recipient: str,
    provider_message_id: str = "",
    occurred_at=None,
    description: str = "",
    mta_response: str = "",
    raw: dict | None = None,
) -> bool:
    """Keep one event we parsed ourselves (a DSN or ARF report from the bounce mailbox) to be
    applied like an ESP's; False when the same ``source`` and ``event_id`` came before."""
    row = InboundEvent(
        workspace_id=workspace_id,
        esp=source[:32],
        event_id=event_id[:255],
        event_type=event_type[:20],
        provider_message_id=provider_message_id[:255],
        recipient=recipient.strip().lower()[:254],
        occurred_at=occurred_at or timezone.now(),
        description=description,
        mta_response=mta_response,
        raw=_plain(raw or {}),
    )
    return _insert(row)


def _insert(row: InboundEvent) -> bool:
    with transaction.atomic():
        InboundEvent.objects.bulk_create([row], ignore_conflicts=True)
        # With ignore_conflicts the row comes back either way: only a read tells.
        is_new = InboundEvent.objects.filter(pk=row.pk).exists()
        if is_new:
            transaction.on_commit(request_apply)
    return is_new


def request_apply() -> None:
    """Ask a worker to apply stored events; a burst of posts asks once a second."""
    request_soon(
        "webhooks.tasks.apply_inbound",
        key=_APPLY_REQUESTED,
        seconds=APPLY_DEBOUNCE_SECONDS,
        run_now=apply_pending,
        group="inbound",
    )


# --- applying ----------------------------------------------------------------------------------


def apply_pending(*, batch: int = BATCH, batches: int = 50) -> int:
    """Apply stored events, oldest first; safe to run twice or concurrently."""
    cache.delete(_APPLY_REQUESTED)
    applied = 0
    for _ in range(batches):
        with transaction.atomic():
            pending = InboundEvent.objects.filter(status=InboundStatus.PENDING).order_by(
                "received_at"
            )
            if connection.features.has_select_for_update_skip_locked:
                pending = pending.select_for_update(skip_locked=True)
            rows = list(pending[:batch])
            for row in rows:
                try:
                    with transaction.atomic():
                        apply(row)
                except Exception:  # one bad event must not hold up the others
                    logger.exception("inbound ESP event %s could not be applied", row.pk)
            applied += len(rows)
        if len(rows) < batch:
            break
    return applied


def _find_message(row: InboundEvent):
    from campaigns.models import Message

    if not row.provider_message_id:
        return None
    ids = {row.provider_message_id, row.provider_message_id.strip("<>")}
    ids |= {f"<{value}>" for value in list(ids)}
    messages = Message.objects.filter(
        Q(provider_message_id__in=ids) | Q(message_id__in=ids)
    ).select_related("workspace", "campaign")
    if row.workspace_id:
        messages = messages.filter(workspace_id=row.workspace_id)
    if row.recipient:
        messages = messages.filter(email__iexact=row.recipient)
    return messages.order_by("-id").first()


def is_soft_bounce(row: InboundEvent) -> bool:
    """anymail reports some temporary failures as ``bounced``; the ESP's own words tell."""
    raw = row.raw if isinstance(row.raw, dict) else {}
    bounce = raw.get("bounce") if isinstance(raw.get("bounce"), dict) else {}
    markers = [
        raw.get("Type") == "SoftBounce",  # Postmark
        bounce.get("bounceType") == "Transient",  # Amazon SES
        raw.get("event") in ("soft_bounce", "soft_bounced"),  # Brevo
        raw.get("severity") == "temporary",  # Mailgun
        raw.get("type") == "blocked",  # SendGrid: a temporary block
        (row.mta_response or "").lstrip()[:1] == "4",  # a 4xx SMTP reply
    ]
    return any(markers)


def apply(row: InboundEvent) -> None:
    message = _find_message(row)
    workspace_id = message.workspace_id if message else row.workspace_id
    handler = _HANDLERS.get(row.event_type)
    if handler is None:
        _finish(row, InboundStatus.IGNORED, message, workspace_id)
        return
    if message is None and (workspace_id is None or not row.recipient):
        _finish(row, InboundStatus.ORPHAN, None, workspace_id)
        return
    workspace = message.workspace if message else Workspace.objects.get(pk=workspace_id)
    email = message.email if message else row.recipient
    handler(row, workspace, email, message)
    _finish(row, InboundStatus.APPLIED, message, workspace_id)


def _finish(row: InboundEvent, status: str, message, workspace_id) -> None:
    row.status, row.message, row.workspace_id = status, message, workspace_id
    row.applied_at = timezone.now()
    row.save(update_fields=["status", "message", "workspace", "applied_at"])


def _record(row: InboundEvent, message, kind: str, **data) -> None:
    if message is None:
        return
    from campaigns.pipeline import message_event

    message_event(message, kind, occurred_at=row.occurred_at, esp=row.esp, **data)


def _on_delivered(row, workspace, email, message) -> None:
    _record(row, message, "delivered")


def _on_deferred(row, workspace, email, message) -> None:
    _record(row, message, "deferred", reason=row.description or row.mta_response)


def _on_bounced(row, workspace, email, message) -> None:
    from campaigns.models import MessageStatus
    from deliverability.services import bounce_record

    kind = "soft" if is_soft_bounce(row) else "hard"
    reason = row.mta_response or row.description
    _record(row, message, "bounced", bounce=kind, reason=reason)
    if message is not None and kind == "hard":
        type(message).objects.filter(pk=message.pk).update(status=MessageStatus.BOUNCED)
        _check_breaker(message, "bounces")
    bounce_record(
        workspace,
        email,
        kind,
        domain=_sending_domain(message),
        message_id=message.pk if message else None,
        diagnostic=f"{row.esp}: {reason}".strip(": "),
        at=row.occurred_at,
    )


def _on_rejected(row, workspace, email, message) -> None:
    """The ESP refused to send: to an invalid or known-bouncing address, a hard bounce."""
    if row.reject_reason in ("invalid", "bounced"):
        _on_bounced(row, workspace, email, message)
    else:
        _record(row, message, "failed", reason=row.description or "rejected by the ESP")


def _on_failed(row, workspace, email, message) -> None:
    _record(row, message, "failed", reason=row.description or row.mta_response)


def _on_complained(row, workspace, email, message) -> None:
    from deliverability.services import suppression_add

    _record(row, message, "complained")
    suppression_add(
        workspace=workspace,
        email=email,
        type="complaint",
        source="complaint",
        reason=f"Spam complaint reported by {row.esp}",
    )
    _check_breaker(message, "complaints")


def _check_breaker(message, what: str) -> None:
    """A bounce or complaint reported late may carry a campaign still sending past its
    workspace's threshold: it pauses (campaigns.breakers)."""
    campaign = getattr(message, "campaign", None) if message is not None else None
    if campaign is None or campaign.status != "sending":
        return
    from campaigns import breakers

    if what == "bounces":
        breakers.check_bounces(campaign)
    else:
        breakers.check_complaints(campaign)


def _on_unsubscribed(row, workspace, email, message) -> None:
    from deliverability.services import unsubscribe_record

    _record(row, message, "unsubscribed")
    unsubscribe_record(
        workspace=workspace,
        email=email,
        source="link",
        campaign_id=message.campaign_id if message else None,
    )


def _on_engaged(row, workspace, email, message) -> None:
    if message is None:
        return
    from campaigns import engagement
    from campaigns.tracking import describe_agent

    kind = "clicked" if row.event_type == "clicked" else "opened"
    device = describe_agent(row.user_agent) if row.user_agent else {}
    _record(row, message, kind, url=row.click_url, **device)
    if message.contact_id:
        engagement.engagement_pending(
            workspace_id=message.workspace_id,
            contact_id=message.contact_id,
            event=kind,
            campaign_id=message.campaign_id,
            occurred_at=row.occurred_at,
        )
        transaction.on_commit(engagement.request_drain)


def _sending_domain(message):
    campaign = getattr(message, "campaign", None)
    return getattr(campaign, "sending_domain", None) if campaign else None


_HANDLERS = {
    "delivered": _on_delivered,
    "deferred": _on_deferred,
    "bounced": _on_bounced,
    "rejected": _on_rejected,
    "failed": _on_failed,
    "complained": _on_complained,
    "unsubscribed": _on_unsubscribed,
    "opened": _on_engaged,
    "clicked": _on_engaged,
}


def on_tracking(sender, event, esp_name, **kwargs) -> None:
    """anymail's ``tracking`` signal: a verified event from an ESP's webhook."""
    store(event, esp_name)
