"""Campaigns, the messages they (and the transactional API) send, what happens to each message,
and the links a message may redirect to."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.querysets import WorkspaceQuerySet


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"


def empty_audience() -> dict:
    return {"lists": [], "segments": [], "tags": [], "exclude_segments": []}


class Campaign(models.Model):
    """A marketing send to an audience: the union of lists, segments and tags, minus excluded
    segments, minus whoever may not be mailed."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=998, blank=True)
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    from_email = models.EmailField(blank=True)
    reply_to = models.EmailField(blank=True)
    template_id = models.UUIDField(
        null=True, blank=True, help_text="The email template whose content is used when set."
    )
    audience = models.JSONField(default=empty_audience)
    send_at = models.DateTimeField(null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(null=True, blank=True)
    send_window = models.JSONField(
        null=True,
        blank=True,
        help_text='Days and hours in each recipient\'s time zone, e.g. {"days": ["mon", "tue"], '
        '"start": "09:00", "end": "17:00"}; {}: any time; null: the workspace\'s window.',
    )
    local_time = models.TimeField(
        null=True,
        blank=True,
        help_text="Deliver at this time of day in each recipient's time zone.",
    )
    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    tag = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    sending_domain = models.ForeignKey(
        "deliverability.SendingDomain",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    status_reason = models.TextField(blank=True, help_text="Why it paused itself, for instance.")
    recipients = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "status"], name="campaign_ws_status"),
            models.Index(fields=["status", "send_at"], name="campaign_due"),
        ]

    def __str__(self) -> str:
        return self.name


class MessageKind(models.TextChoices):
    CAMPAIGN = "campaign", "Campaign"
    TRANSACTIONAL = "transactional", "Transactional"
    TEST = "test", "Test send"
    AUTOMATION = "automation", "Automation"


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DEFERRED = "deferred", "Deferred (will retry)"
    FAILED = "failed", "Failed"
    BOUNCED = "bounced", "Bounced"
    SUPPRESSED = "suppressed", "Suppressed"
    INTERRUPTED = "interrupted", "Interrupted"
    # An A/B test's message waiting for its variant's send time or for the winner
    # (campaigns.ab); never claimed by a batch until released to ``queued``.
    HELD = "held", "Held (A/B test)"
    # Waiting for the recipient's local send time or for the send window to open
    # (campaigns.windows); back to ``queued`` at ``next_attempt_at``.
    WAITING = "waiting", "Waiting for its send time"


def to_contacts(contact_ids, *, prefix: str = "") -> Q:
    """Messages to these contacts, in the form PostgreSQL reads through the two partial indexes
    holding them — campaign messages through message_once_per_campaign_contact (contact,
    campaign), the others through message_direct_contact. ``contact_id IN (…)`` alone implies
    neither index's condition (and a scan of every message follows); with the kind's two
    cases beside it (always true: kind is never null) it is one index scan per case."""
    return Q(**{f"{prefix}contact_id__in": contact_ids}) & _either_kind(prefix)


def _either_kind(prefix: str = "") -> Q:
    kind = {f"{prefix}kind": MessageKind.CAMPAIGN}
    return Q(**kind) | ~Q(**kind)


def forget_contact(collector, field, sub_objs, using) -> None:
    """``on_delete`` of Message.contact: SET_NULL, finding the contact's messages through the
    indexes (``to_contacts``) instead of the collector's bare ``contact_id IN (…)``."""
    models.SET_NULL(collector, field, sub_objs.filter(_either_kind()), using)


forget_contact.lazy_sub_objs = True  # like SET_NULL: no need to fetch the messages first


class Message(models.Model):
    """One email to one recipient. ``sending`` is written before the hand-off to the server,
    so after a crash a message is either known sent or reported ``interrupted`` — never sent
    twice silently."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No single-column indexes on workspace and campaign: a snapshot writes every index once
    # per row. message_campaign_status leads with the campaign; message_ws_direct leads with
    # the workspace for direct sends only (a workspace's campaign messages are found through
    # its campaigns: campaigns.limits, campaigns.privacy).
    # No database-level foreign keys (db_constraint=False): checking them cost a snapshot of a
    # million recipients more than its insert (a locking read of the contact's row per
    # message at commit). The snapshot writes valid ids by construction; deletions go through
    # the ORM, which still cascades and nulls (migration 0008 says why and which paths).
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    # No index on the contact alone: a snapshot would write one entry per recipient in it
    # besides the uniqueness index, which leads with the contact for campaign messages
    # (message_direct_contact holds the others). Look messages up by contact with to_contacts.
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=forget_contact,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    email = models.CharField(max_length=254)
    status = models.CharField(
        max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker holds this queued message until then."
    )
    # Claims that ran out unreleased: the worker holding the message died (SIGKILL, out of
    # memory, timeout). Past pipeline.MAX_ABANDONED_CLAIMS the message is failed, not claimed
    # again. A database default, so the snapshot's INSERT … SELECT need not name it.
    abandoned_claims = models.PositiveSmallIntegerField(default=0, db_default=0)
    payload = models.JSONField(
        default=dict, blank=True, help_text="Transactional content: from, subject, html, …"
    )
    tag = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=255, blank=True, help_text="The Message-ID header.")
    provider_message_id = models.CharField(max_length=255, blank=True)
    ab_variant = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="A/B test recipient's variant (0 = A); none: the rest, sent the winner.",
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "campaign"],
                condition=Q(kind="campaign"),
                name="message_once_per_campaign_contact",
            )
        ]
        # The retry, sweeper, provider-id and direct-send indexes are partial: a snapshot of
        # queued campaign messages (with no provider id yet) adds nothing to them.
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="message_campaign_status"),
            models.Index(
                fields=["status", "next_attempt_at"],
                name="message_retry_due",
                condition=Q(status="deferred"),
            ),
            models.Index(
                fields=["status", "next_attempt_at"],
                name="message_waiting_due",
                condition=Q(status="waiting"),
            ),
            models.Index(
                fields=["status", "sending_at"],
                name="message_sending_since",
                condition=Q(status="sending"),
            ),
            # Transactional, automation and test messages only: the transactional log and
            # the monthly count's direct sends (campaigns.limits; a campaign's sends are its
            # recipients). A snapshot's campaign rows are not in it, so it costs them nothing.
            models.Index(
                fields=["workspace", "kind", "id"],
                name="message_ws_direct",
                condition=~Q(kind="campaign"),
            ),
            models.Index(
                fields=["contact"],
                name="message_direct_contact",
                condition=~Q(kind="campaign"),
            ),
            models.Index(
                fields=["provider_message_id"],
                name="message_provider_id",
                condition=~Q(provider_message_id=""),
            ),
            # Bounce reports and complaints name the original Message-ID header.
            models.Index(
                fields=["message_id"], name="message_header_id", condition=~Q(message_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"


class EventType(models.TextChoices):
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    DEFERRED = "deferred", "Deferred"
    BOUNCED = "bounced", "Bounced"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    COMPLAINED = "complained", "Complained"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    FAILED = "failed", "Failed"


class MessageEvent(models.Model):
    """Something that happened to a message: a send, a delivery report, an open, a click …"""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=16, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    url = models.TextField(blank=True)
    is_machine = models.BooleanField(
        default=False, help_text="A privacy proxy or a security scanner, not a person."
    )
    device_type = models.CharField(max_length=20, blank=True)
    client = models.CharField(max_length=100, blank=True)
    os = models.CharField(max_length=100, blank=True)
    data = models.JSONField(default=dict, blank=True)
    esp_event_id = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "esp_event_id"],
                condition=Q(esp_event_id__isnull=False),
                name="messageevent_esp_event_once",
            )
        ]
        indexes = [
            models.Index(fields=["message", "type"], name="messageevent_message_type"),
            models.Index(fields=["workspace", "type", "occurred_at"], name="messageevent_ws_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type} of {self.message_id}"


class Link(models.Model):
    """A URL that appeared in a campaign (or in one transactional message). Click tokens name
    a link row, so the redirect can only ever go to a URL that was in the message."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="links"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="links"
    )
    url = models.TextField()
    url_hash = models.CharField(max_length=64, help_text="SHA-256 of the URL, for uniqueness.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "url_hash"],
                condition=Q(campaign__isnull=False),
                name="link_once_per_campaign",
            ),
            models.UniqueConstraint(
                fields=["message", "url_hash"],
                condition=Q(message__isnull=False),
                name="link_once_per_message",
            ),
        ]

    def __str__(self) -> str:
        return self.url


class IdempotencyRecord(models.Model):
    """The first response to a sending POST with an ``Idempotency-Key``, kept 24 hours."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="idempotency_key_once")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return self.key


class ThrottleWindow(models.Model):
    """Sends counted per key (a campaign, a backend) and minute, shared by every worker: a
    conditional UPDATE takes a slot only while the window has room."""

    key = models.CharField(max_length=100)
    window = models.BigIntegerField(help_text="Minutes since the epoch.")
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window"], name="throttle_window_once")
        ]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window}: {self.used}"


class CapturedEmail(models.Model):
    """Mail kept by the development capture backend instead of being sent: the dashboard's
    local outbox."""

    id = models.BigAutoField(primary_key=True)
    from_email = models.CharField(max_length=320)
    to = models.JSONField(default=list)
    subject = models.TextField(blank=True)
    message = models.TextField(help_text="The whole message as sent (RFC 5322).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.subject


class BackendKind(models.TextChoices):
    SMTP = "smtp", "SMTP server"
    ESP = "esp", "Email service provider (API)"


class SmtpSecurity(models.TextChoices):
    NONE = "none", "None"
    STARTTLS = "starttls", "STARTTLS"
    SSL = "ssl", "TLS from the start (SMTPS)"


# The email service providers django-anymail sends through: value = anymail's backend module.
ESP_CHOICES = [
    ("amazon_ses", "Amazon SES"),
    ("brevo", "Brevo"),
    ("mailersend", "MailerSend"),
    ("mailgun", "Mailgun"),
    ("mailjet", "Mailjet"),
    ("mailtrap", "Mailtrap"),
    ("mandrill", "Mandrill"),
    ("postal", "Postal"),
    ("postmark", "Postmark"),
    ("resend", "Resend"),
    ("scaleway", "Scaleway"),
    ("sendgrid", "SendGrid"),
    ("sparkpost", "SparkPost"),
    ("unisender_go", "Unisender Go"),
]


class SendingBackend(models.Model):
    """Where a workspace's mail leaves: an SMTP server (DKIM-signed with the sending domain's
    key) or an ESP's API through django-anymail. A backend bound to a sending domain carries
    the mail from that domain; the workspace's default carries the rest; without either, the
    server-wide EMAIL_BACKEND does. Secrets are stored encrypted."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=BackendKind.choices, default=BackendKind.SMTP)
    sending_domain = models.ForeignKey(
        "deliverability.SendingDomain",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Carry the mail sent from this domain.",
    )
    is_default = models.BooleanField(
        default=False, help_text="Carry the workspace's mail that no domain's backend carries."
    )
    is_active = models.BooleanField(default=True)
    host = models.CharField(max_length=253, blank=True)
    port = models.PositiveIntegerField(default=587)
    security = models.CharField(
        max_length=8, choices=SmtpSecurity.choices, default=SmtpSecurity.STARTTLS
    )
    username = models.CharField(max_length=254, blank=True)
    password = models.TextField(blank=True, help_text="Encrypted.")
    esp = models.CharField(max_length=20, choices=ESP_CHOICES, blank=True)
    esp_settings = models.TextField(
        blank=True, help_text='Encrypted JSON of anymail settings, e.g. {"api_key": …}.'
    )
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many messages a minute, across workers."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="sendingbackend_name"),
            models.UniqueConstraint(
                fields=["workspace"],
                condition=Q(is_default=True),
                name="sendingbackend_one_default",
            ),
            models.UniqueConstraint(
                fields=["workspace", "sending_domain"],
                condition=Q(sending_domain__isnull=False),
                name="sendingbackend_one_per_domain",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PendingEngagement(models.Model):
    """A person's open or click waiting to be counted on the contact. A tracking hit answers
    after one short transaction; a background drain applies these in batches (counters, score,
    timeline), so a burst of hits never queues behind contact updates."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact_id = models.UUIDField()
    event = models.CharField(max_length=16)
    campaign_id = models.UUIDField(null=True, blank=True)
    occurred_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.event} of {self.contact_id}"


class AbCriterion(models.TextChoices):
    OPEN = "open", "Human open rate"
    CLICK = "click", "Human click rate"
    MANUAL = "manual", "Manual pick"


class AbTest(models.Model):
    """A campaign's A/B test: ``share`` percent of the audience is split evenly between the
    variants; ``wait_minutes`` after the last variant went out, the winner by ``criterion`` (or
    by a person's pick) is sent to the rest (campaigns.ab)."""

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, primary_key=True, related_name="ab_test"
    )
    share = models.PositiveSmallIntegerField(
        default=20, help_text="Percent of the audience in the test (1–100)."
    )
    criterion = models.CharField(
        max_length=8, choices=AbCriterion.choices, default=AbCriterion.OPEN
    )
    wait_minutes = models.PositiveIntegerField(
        default=240, help_text="How long the test runs before the winner is chosen."
    )
    decide_at = models.DateTimeField(null=True, blank=True)
    winner = models.PositiveSmallIntegerField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["winner", "decide_at"], name="abtest_due")]

    def __str__(self) -> str:
        return f"A/B test of {self.campaign_id}"


class AbVariant(models.Model):
    """One variant of an A/B test. A blank field falls back to the campaign's own."""

    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="ab_variants")
    position = models.PositiveSmallIntegerField(help_text="0 = A, 1 = B, …")
    subject = models.CharField(max_length=998, blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    template_id = models.UUIDField(null=True, blank=True)
    send_at = models.DateTimeField(
        null=True, blank=True, help_text="When this variant goes out; blank: at the start."
    )

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="abvariant_once")
        ]

    def __str__(self) -> str:
        return f"Variant {self.label}"

    @property
    def label(self) -> str:
        return "ABCD"[self.position]


class PendingHit(models.Model):
    """An open or click answered but not yet written as a ``MessageEvent``: the queue of the
    embedded mode (with Redis, hits wait in a Redis stream). No foreign keys, so queueing a hit
    is one cheap INSERT; the drain (``campaigns.hits``) drops hits of deleted messages."""

    id = models.UUIDField(primary_key=True, help_text="The id of the event it becomes.")
    kind = models.CharField(max_length=16)
    message_id = models.UUIDField()
    link_id = models.BigIntegerField(null=True, blank=True)
    method = models.CharField(max_length=8)
    user_agent = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind} of {self.message_id}"
