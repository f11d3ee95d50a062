"""Webhook endpoints: create (the secret is returned once), change, rotate the secret with an
overlap, delete; test events and manual retries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from deliverability.models import SendingDomain
from mailcrm import audit, crypto, events
from mailcrm.exceptions import LimitExceeded
from mailcrm.models import Workspace
from webhooks import signing
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.targets import UnsafeTarget, check_url

EVENT_TYPES = [
    events.EMAIL_SENT,
    events.EMAIL_DELIVERED,
    events.EMAIL_DEFERRED,
    events.EMAIL_BOUNCED,
    events.EMAIL_OPENED,
    events.EMAIL_CLICKED,
    events.EMAIL_COMPLAINED,
    events.EMAIL_UNSUBSCRIBED,
    events.CONTACT_CREATED,
    events.CONTACT_UPDATED,
    events.CONTACT_DELETED,
    events.CONTACT_MERGED,
    events.CONTACT_UNSUBSCRIBED,
    # Beyond API.md's list: a CSV import announces each chunk (ids created and updated) and
    # its end, rather than one contact.* per row; audience changes automations also hear.
    events.CONTACTS_IMPORTED,
    events.IMPORT_FINISHED,
    events.CONTACT_LIST_ADDED,
    events.SEGMENT_JOINED,
    events.SEGMENT_LEFT,
    events.EVENT_TRACKED,
    events.CONTACT_SUNSET,
    events.CAMPAIGN_AB_WINNER_SELECTED,
    events.CAMPAIGN_PAUSED,
]
TEST_EVENT = "webhook.test"
# How long the old secret keeps signing (beside the new one) after a rotation.
ROTATION_OVERLAP = timedelta(hours=24)


def _validate(workspace: Workspace, url: str | None, event_types: Iterable[str] | None, domains):
    problems: dict[str, list[str]] = {}
    if url is not None:
        try:
            check_url(url)
        except UnsafeTarget as exc:
            problems["url"] = [str(exc)]
    if event_types is not None:
        unknown = sorted(set(event_types) - set(EVENT_TYPES))
        if unknown:
            problems["events"] = [f"Unknown event types: {', '.join(unknown)}."]
    if domains is not None:
        if any(domain.workspace_id != workspace.pk for domain in domains):
            problems["domain_ids"] = ["No such sending domain in this workspace."]
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def endpoint_create(
    *,
    workspace: Workspace,
    url: str,
    events: list[str] | None = None,
    name: str = "",
    domains: list[SendingDomain] | None = None,
    is_active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (in plain text here only: stored encrypted)."""
    _validate(workspace, url, events, domains)
    allowed = workspace.limit_webhook_endpoints
    if allowed is not None:
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        if WebhookEndpoint.objects.for_workspace(workspace).count() >= allowed:
            raise LimitExceeded("webhook_endpoints", allowed)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        url=url,
        events=sorted(set(events or [])),
        name=name,
        is_active=is_active,
        secret=crypto.encrypt(secret),
    )
    endpoint.domains.set(domains or [])
    audit.record(workspace, "webhook_endpoint.created", endpoint, audit.values(endpoint))
    return endpoint, secret


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    domains = fields.pop("domains", None)
    _validate(endpoint.workspace, fields.get("url"), fields.get("events"), domains)
    if "events" in fields:
        fields["events"] = sorted(set(fields["events"] or []))
    if fields.get("is_active") and not endpoint.is_active:
        # Turned back on by a person: start counting failures afresh.
        endpoint.failing_since, endpoint.disabled_reason = None, ""
    for name, value in fields.items():
        setattr(endpoint, name, value)
    changes = audit.pending_changes(endpoint)
    endpoint.save()
    if domains is not None:
        endpoint.domains.set(domains)
    audit.record(endpoint.workspace_id, "webhook_endpoint.updated", endpoint, changes)
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> str:
    """A new secret; the old one keeps signing beside it for ROTATION_OVERLAP, so receivers
    can switch without losing an event."""
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = crypto.encrypt(secret)
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    audit.record(endpoint.workspace_id, "webhook_endpoint.secret_rotated", endpoint, {"secret": 1})
    return secret


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    audit.record(endpoint.workspace_id, "webhook_endpoint.deleted", endpoint)
    endpoint.delete()


def send_test_event(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``webhook.test`` delivery to the endpoint (whatever events it listens to)."""
    from webhooks.dispatch import enqueue_deliveries

    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            workspace_id=endpoint.workspace_id,
            endpoint=endpoint,
            event_type=TEST_EVENT,
            payload={
                "event": TEST_EVENT,
                "timestamp": now.isoformat().replace("+00:00", "Z"),
                "data": {"endpoint_id": str(endpoint.pk), "message": "A test from mailcrm."},
            },
            next_attempt_at=now,
        )
        enqueue_deliveries([delivery.pk])
    delivery.refresh_from_db()
    return delivery


def delivery_retry(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, whatever its state (its ``webhook-id`` stays the same)."""
    from webhooks.dispatch import enqueue_deliveries

    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now()
        )
        enqueue_deliveries([delivery.pk])
    delivery.refresh_from_db()
    return delivery
