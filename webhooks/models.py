"""Outbound webhooks: the endpoints a workspace registers, one delivery per (endpoint, event),
and every attempt at it."""

from __future__ import annotations

from django.db import models

from deliverability.models import SendingDomain
from mailcrm import crypto
from mailcrm.ids import uuid7
from mailcrm.models import Event, Workspace
from mailcrm.querysets import WorkspaceQuerySet


class WebhookEndpoint(models.Model):
    """Where the workspace's events are POSTed, signed with the endpoint's secret.

    ``events`` empty means every event; with no ``domains`` the endpoint hears the whole
    workspace, otherwise only email events of mail sent from those domains."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, blank=True, help_text="Event types; empty = all.")
    domains = models.ManyToManyField(SendingDomain, blank=True, related_name="+")
    is_active = models.BooleanField(default=True)
    secret = models.TextField(help_text="whsec_…, encrypted with FIELD_ENCRYPTION_KEY.")
    previous_secret = models.TextField(
        blank=True, help_text="The secret before the last rotation, still signed with until…"
    )
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success."
    )
    disabled_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "is_active"], name="webhook_ws_active")]

    def __str__(self) -> str:
        return self.name or self.url

    def signing_secrets(self, now) -> list[str]:
        """The plaintext secrets to sign with: the current one, and the previous one while a
        rotation's overlap lasts."""
        secrets = [crypto.decrypt(self.secret)]
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and now < (self.previous_secret_expires_at)
        ):
            secrets.append(crypto.decrypt(self.previous_secret))
        return secrets


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its first or next attempt
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"  # retries exhausted, or the endpoint is gone (410/disabled)


class WebhookDelivery(models.Model):
    """One event for one endpoint. The ``webhook-id`` header is the same on every attempt."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(
        Event,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Null for test events.",
    )
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhookdelivery_unique")
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint"),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhookdelivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint}"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.pk.hex}"


class WebhookAttempt(models.Model):
    """One HTTP POST of a delivery: what the receiver answered and how long it took."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    attempted_at = models.DateTimeField()

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class InboundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    ORPHAN = "orphan", "Orphan"  # names no message we know and no address we can act on
    IGNORED = "ignored", "Ignored"  # an event type we have nothing to do with (queued, sent…)


class InboundEvent(models.Model):
    """A tracking event an ESP posted to us, stored as received, then applied by a worker.
    The same ESP event twice is one row (unique ESP and event id)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(
        Workspace,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="From the message, or from the per-workspace URL it was posted to.",
    )
    esp = models.CharField(max_length=32)
    event_id = models.CharField(
        max_length=255, help_text="The ESP's id of the event, or a digest of it if it has none."
    )
    event_type = models.CharField(max_length=20, help_text="anymail's normalized type.")
    provider_message_id = models.CharField(max_length=255, blank=True)
    recipient = models.CharField(max_length=254, blank=True)
    occurred_at = models.DateTimeField()
    description = models.TextField(blank=True)
    reject_reason = models.CharField(max_length=20, blank=True, help_text="anymail's reason.")
    mta_response = models.TextField(blank=True)
    click_url = models.TextField(blank=True)
    user_agent = models.TextField(blank=True)
    raw = models.JSONField(default=dict, blank=True)
    message = models.ForeignKey(
        "campaigns.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=8, choices=InboundStatus.choices, default=InboundStatus.PENDING
    )
    received_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["esp", "event_id"], name="inboundevent_unique")
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=models.Q(status="pending"),
                name="inboundevent_pending",
            ),
            models.Index(fields=["workspace", "-received_at"], name="inboundevent_ws"),
        ]

    def __str__(self) -> str:
        return f"{self.esp} {self.event_type} for {self.recipient or self.provider_message_id}"
