"""Outbound deliveries to a real HTTP server on loopback: signatures checked with the
standardwebhooks library and with our own reading of the scheme, retries, timeouts, 410,
redirects, Retry-After, giving up and switching an endpoint off."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from contacts.tests.factories import ContactFactory
from mailcrm import events
from mailcrm.models import AuditEntry
from tests.http_receiver import Reply
from webhooks import dispatch, services, targets
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.tests.factories import WebhookEndpointFactory


def emit(workspace, event_type=events.CONTACT_CREATED, **data):
    with transaction.atomic():
        return events.emit(workspace, event_type, subject_id=None, data=data)


@pytest.fixture
def endpoint(workspace, receiver):
    return WebhookEndpointFactory(workspace=workspace, url=receiver.url)


def fan_out(django_capture_on_commit_callbacks):
    """Dispatch the outbox and run the deliveries it queues (tasks run synchronously)."""
    with django_capture_on_commit_callbacks(execute=True):
        return dispatch.dispatch_pending()


def our_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


def test_an_event_arrives_signed_as_the_standard_says(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    event = emit(workspace, email="ada@example.com")

    assert fan_out(django_capture_on_commit_callbacks) == 1

    [request] = receiver.requests
    assert request.path == "/hooks"
    body = json.loads(request.body)
    assert body["event"] == "contact.created"
    assert body["data"] == {"email": "ada@example.com"}
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert Webhook(endpoint.plain_secret).verify(request.body, headers) == body
    assert headers["webhook-signature"] == our_signature(
        endpoint.plain_secret, headers["webhook-id"], headers["webhook-timestamp"], request.body
    )
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_id == event.pk
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.log.get().status_code == 200


def test_a_tampered_body_or_a_stale_timestamp_fails_verification(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)
    [request] = receiver.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    webhook = Webhook(endpoint.plain_secret)

    with pytest.raises(WebhookVerificationError):
        webhook.verify(request.body.replace(b"contact", b"kontakt"), headers)
    stale = str(int(headers["webhook-timestamp"]) - 3600)
    with pytest.raises(WebhookVerificationError):
        webhook.verify(request.body, {**headers, "webhook-timestamp": stale})


def test_500_twice_then_200_delivers_three_times_with_one_webhook_id(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [500, Reply(503, body=b"busy"), 200]
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    first_retry = delivery.next_attempt_at

    now = timezone.now()
    assert dispatch.deliver(delivery.pk, now=now) is None  # not due yet: nothing happens
    dispatch.deliver(delivery.pk, now=first_retry + timedelta(seconds=1))
    delivery.refresh_from_db()
    assert delivery.next_attempt_at - first_retry > timedelta(minutes=4)  # about 5 minutes
    dispatch.deliver(delivery.pk, now=delivery.next_attempt_at + timedelta(seconds=1))

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 3
    assert [attempt.status_code for attempt in delivery.log.order_by("number")] == [500, 503, 200]
    assert delivery.log.get(number=2).response_excerpt == "busy"
    ids = {request.headers["webhook-id"] for request in receiver.requests}
    timestamps = [request.headers["webhook-timestamp"] for request in receiver.requests]
    assert len(receiver.requests) == 3 and ids == {delivery.webhook_id}
    assert len(set(timestamps)) == 3  # each attempt is signed at its own time


def test_a_slow_receiver_times_out_and_is_retried(
    workspace, endpoint, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(targets, "TIMEOUT_SECONDS", 0.5)
    receiver.answers = [Reply(200, delay=2)]
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    attempt = delivery.log.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert attempt.status_code is None and "Timeout" in attempt.error
    dispatch.deliver(delivery.pk, now=delivery.next_attempt_at + timedelta(seconds=1))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED


def test_410_switches_the_endpoint_off(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [410]
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)

    endpoint.refresh_from_db()
    assert not endpoint.is_active and "410" in endpoint.disabled_reason
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED
    disabled = AuditEntry.objects.get(action="webhook_endpoint.disabled")  # by the system
    assert (disabled.via, disabled.target_id) == ("system", str(endpoint.pk))
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)
    assert WebhookDelivery.objects.count() == 1  # nothing more goes there


def test_a_redirect_is_a_failure_and_is_not_followed(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [Reply(302, headers={"Location": f"{receiver.url}/elsewhere"})]
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 1
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 302
    assert "Redirects are not followed" in delivery.last_error


def test_retry_after_is_honoured(workspace, endpoint, receiver, django_capture_on_commit_callbacks):
    receiver.answers = [Reply(429, headers={"Retry-After": "600"})]
    before = timezone.now()
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert delivery.next_attempt_at >= before + timedelta(seconds=600)


def test_after_the_last_retry_the_delivery_is_failed(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [500] * 20
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    while delivery.status == DeliveryStatus.PENDING:
        dispatch.deliver(delivery.pk, now=delivery.next_attempt_at + timedelta(seconds=1))
        delivery.refresh_from_db()

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == len(dispatch.RETRY_DELAYS) + 1 == 8


def test_an_endpoint_failing_for_days_is_switched_off_with_a_notice(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [500] * 20
    endpoint.failing_since = timezone.now() - timedelta(days=6)
    endpoint.save()
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)

    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "failed for 5 days" in endpoint.disabled_reason


def test_a_success_clears_the_failure_streak(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    endpoint.failing_since = timezone.now() - timedelta(days=1)
    endpoint.save()
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.is_active


def test_during_a_rotation_both_secrets_sign(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    new_secret = services.endpoint_rotate_secret(endpoint=endpoint)
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)

    [request] = receiver.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(request.body, headers)
    Webhook(endpoint.plain_secret).verify(request.body, headers)

    endpoint.refresh_from_db()
    endpoint.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    endpoint.save()
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)
    headers = {name.lower(): value for name, value in receiver.requests[-1].headers.items()}
    assert len(headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.plain_secret).verify(receiver.requests[-1].body, headers)


def test_a_test_event_and_a_manual_retry(workspace, endpoint, receiver, settings):
    delivery = services.send_test_event(endpoint=endpoint)
    # Outside a test transaction's on_commit capture, run the queued attempt ourselves.
    dispatch.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert json.loads(receiver.requests[0].body)["event"] == "webhook.test"

    services.delivery_retry(delivery=delivery)
    dispatch.deliver(delivery.pk)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]


def test_a_contact_created_through_the_api_reaches_the_receiver(
    api, workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/contacts", {"email": "grace@example.com"}, format="json")
    assert response.status_code == 201
    fan_out(django_capture_on_commit_callbacks)

    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["event"] == "contact.created"
    assert body["data"]["email"] == "grace@example.com"


def test_the_outbox_is_dispatched_once(
    workspace, endpoint, receiver, django_capture_on_commit_callbacks
):
    emit(workspace)
    fan_out(django_capture_on_commit_callbacks)
    fan_out(django_capture_on_commit_callbacks)

    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.requests) == 1


def test_a_delivery_claimed_by_one_worker_is_not_sent_by_another(workspace, endpoint, receiver):
    contact = ContactFactory(workspace=workspace)
    delivery = WebhookDelivery.objects.create(
        workspace=workspace,
        endpoint=endpoint,
        event_type="contact.created",
        payload={"event": "contact.created", "data": {"id": str(contact.pk)}},
        next_attempt_at=timezone.now(),
    )
    now = timezone.now()
    assert dispatch._claim(delivery.pk, now)
    assert dispatch.deliver(delivery.pk, now=now) is None
    assert receiver.requests == []
