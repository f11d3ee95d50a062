"""From the outbox to the receivers.

``fan_out`` (an outbox consumer, mailcrm.outbox) turns events into one delivery per matching
endpoint (domain-scoped endpoints first), in the outbox batch's transaction; ``deliver``
makes one signed attempt and decides what next: done, retry later (growing delays with jitter,
``Retry-After`` honoured), or give up. Both may run twice or concurrently and stay correct."""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mailcrm import audit
from mailcrm.models import Event
from webhooks import signing, targets
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import TEST_EVENT

logger = logging.getLogger("mailcrm.webhooks")

# Waits after the 1st … 7th failed attempt; the 8th failure gives up.
RETRY_DELAYS = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600]
MAX_RETRY_AFTER = timedelta(hours=24)
# An endpoint that has failed every attempt for this long is switched off.
DISABLE_AFTER = timedelta(days=5)
# A claimed delivery is someone's for this long (a worker that dies frees it after).
CLAIM_SECONDS = 60
QUEUE = "webhooks"
BATCH = 1000


# --- fan-out -----------------------------------------------------------------------------------


def fan_out(events: list[Event], now: datetime) -> None:
    """The outbox consumer: one delivery per matching endpoint of each event (domain-scoped
    endpoints first), queued once the batch commits."""
    deliveries = _deliveries_for(events, now)
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    enqueue_deliveries([delivery.pk for delivery in deliveries])


def dispatch_pending(*, batch: int = BATCH) -> int:
    """Dispatch the outbox now (the worker does this; tests and tools call it directly)."""
    from mailcrm import outbox

    return outbox.dispatch_pending(batch=batch)


def _deliveries_for(batch_events: list[Event], now: datetime) -> list[WebhookDelivery]:
    workspace_ids = {event.workspace_id for event in batch_events}
    endpoints_by_workspace: dict[uuid.UUID, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in WebhookEndpoint.objects.filter(
        workspace_id__in=workspace_ids, is_active=True
    ).prefetch_related("domains"):
        endpoint.domain_ids = {domain.pk for domain in endpoint.domains.all()}
        endpoints_by_workspace[endpoint.workspace_id].append(endpoint)
    if not endpoints_by_workspace:
        return []
    scoped_workspaces = {
        workspace_id
        for workspace_id, endpoints in endpoints_by_workspace.items()
        if any(endpoint.domain_ids for endpoint in endpoints)
    }
    domain_of = _message_domains(
        [
            event
            for event in batch_events
            if event.workspace_id in scoped_workspaces and event.type.startswith("email.")
        ]
    )
    deliveries = []
    for event in batch_events:
        endpoints = [
            endpoint
            for endpoint in endpoints_by_workspace.get(event.workspace_id, [])
            if endpoint.created_at <= event.created_at
            and (not endpoint.events or event.type in endpoint.events)
            and (not endpoint.domain_ids or domain_of.get(event.subject_id) in endpoint.domain_ids)
        ]
        # Domain-scoped endpoints first: they are queued (and so delivered) ahead.
        endpoints.sort(key=lambda endpoint: not endpoint.domain_ids)
        payload = build_payload(event)
        deliveries += [
            WebhookDelivery(
                workspace_id=event.workspace_id,
                endpoint=endpoint,
                event=event,
                event_type=event.type,
                payload=payload,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        ]
    return deliveries


def _message_domains(email_events: list[Event]) -> dict[uuid.UUID, uuid.UUID | None]:
    """The sending domain of each email event's message: the campaign's domain, else the
    workspace's domain matching the from address."""
    if not email_events:
        return {}
    from campaigns.models import Message
    from deliverability.models import SendingDomain

    messages = Message.objects.filter(
        pk__in={event.subject_id for event in email_events}
    ).select_related("campaign")
    by_name = {
        (domain.workspace_id, domain.domain.lower()): domain.pk
        for domain in SendingDomain.objects.filter(
            workspace_id__in={event.workspace_id for event in email_events}
        )
    }
    found = {}
    for message in messages:
        campaign = message.campaign
        if campaign is not None and campaign.sending_domain_id:
            found[message.pk] = campaign.sending_domain_id
            continue
        from_email = campaign.from_email if campaign else (message.payload or {}).get("from_email")
        domain = (from_email or "").rpartition("@")[2].strip("> ").lower()
        found[message.pk] = by_name.get((message.workspace_id, domain))
    return found


def build_payload(event: Event) -> dict:
    """The JSON body of API.md: event, timestamp, data; email events also carry email_id,
    tag and metadata at the top."""
    data = dict(event.data)
    body = {
        "event": event.type,
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
    }
    if event.type.startswith("email."):
        body["email_id"] = data.pop("email_id", str(event.subject_id))
        body["tag"] = data.pop("tag", "") or None
        body["metadata"] = data.pop("metadata", None) or {}
    body["data"] = data
    return json.loads(json.dumps(body, cls=DjangoJSONEncoder))


def enqueue_deliveries(delivery_ids: list) -> None:
    """Queue the deliveries on the webhooks queue once the current transaction commits."""
    if not delivery_ids:
        return
    from django_q.tasks import async_task

    def enqueue():
        for delivery_id in delivery_ids:
            async_task("webhooks.tasks.deliver", str(delivery_id), cluster=QUEUE)

    transaction.on_commit(enqueue)


# --- one attempt -------------------------------------------------------------------------------


def _claim(delivery_id, now: datetime) -> bool:
    """Take the delivery for one attempt: only a pending, due one, and only one worker."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return bool(
        WebhookDelivery.objects.filter(due, pk=delivery_id, status=DeliveryStatus.PENDING).update(
            next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)
        )
    )


def deliver(delivery_id, *, now: datetime | None = None) -> str | None:
    """Make one attempt at a delivery if it is due; its status afterwards (None: not ours)."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active and delivery.event_type != TEST_EVENT:
        _finish(delivery, DeliveryStatus.FAILED, error="The endpoint is disabled.")
        return delivery.status
    body = json.dumps(delivery.payload, separators=(",", ":"))
    headers = signing.signed_headers(
        webhook_id=delivery.webhook_id,
        timestamp=now,
        body=body,
        secrets_=endpoint.signing_secrets(now),
    )
    number = delivery.attempts + 1
    response, error = None, ""
    try:
        target = targets.check_url(endpoint.url)  # at every attempt: DNS may have changed
        response = targets.post(target, body.encode(), headers)
    except targets.UnsafeTarget as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 — any network failure is a failed attempt
        error = f"{type(exc).__name__}: {exc}"[:500]
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        status_code=response.status_code if response else None,
        response_excerpt=response.body if response else "",
        error=error,
        duration_ms=response.duration_ms if response else 0,
        attempted_at=now,
    )
    delivery.attempts = number
    delivery.last_status_code = response.status_code if response else None
    delivery.last_error = error
    if response is not None and 200 <= response.status_code < 300:
        _finish(delivery, DeliveryStatus.SUCCEEDED)
        if endpoint.failing_since:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        return delivery.status
    if response is not None and response.status_code == 410:
        _disable(endpoint, "The receiver answered 410 Gone.")
        _finish(delivery, DeliveryStatus.FAILED, error=error or "410 Gone: endpoint disabled.")
        return delivery.status
    if response is not None and 300 <= response.status_code < 400:
        delivery.last_error = "Redirects are not followed; point the endpoint at the final URL."
    _note_failure(endpoint, now)
    if number > len(RETRY_DELAYS):
        _finish(delivery, DeliveryStatus.FAILED, error=delivery.last_error)
        return delivery.status
    delay = _jittered(RETRY_DELAYS[number - 1])
    retry_after = _retry_after(response, now)
    if retry_after is not None:
        delay = max(delay, retry_after)
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    delivery.save(update_fields=["attempts", "last_status_code", "last_error", "next_attempt_at"])
    return delivery.status


def _finish(delivery: WebhookDelivery, status: str, *, error: str = "") -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    if error:
        delivery.last_error = error
    delivery.save(
        update_fields=["status", "attempts", "last_status_code", "last_error", "next_attempt_at"]
    )


def _jittered(seconds: float) -> float:
    return seconds * random.uniform(0.9, 1.1)


def _retry_after(response, now: datetime) -> float | None:
    value = (response.retry_after if response is not None else "") or ""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0), MAX_RETRY_AFTER.total_seconds())


def _note_failure(endpoint: WebhookEndpoint, now: datetime) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
        failing_since=now
    )
    endpoint.refresh_from_db(fields=["failing_since"])
    if endpoint.failing_since and now - endpoint.failing_since >= DISABLE_AFTER:
        days = DISABLE_AFTER.days
        _disable(
            endpoint, f"Every attempt failed for {days} days; fix the receiver, then turn it on."
        )


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, disabled_reason=reason)
    changes = {"is_active": [True, False], "disabled_reason": reason}
    audit.record(endpoint.workspace_id, "webhook_endpoint.disabled", endpoint, changes)
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)


def retry_due(*, now: datetime | None = None) -> int:
    """Queue every pending delivery whose time has come (run every minute)."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:5000]
    )
    with transaction.atomic():
        enqueue_deliveries(due)
    return len(due)
