"""SMTP credentials of a workspace (the relay's AUTH), and the mail the bounce mailbox kept."""

from __future__ import annotations

from django.db import models

from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.querysets import WorkspaceQuerySet


class SmtpCredential(models.Model):
    """The username and password an application submits mail to the relay with. Like an API
    key, only a SHA-256 digest of the password and its short prefix are stored; the password
    is shown once, when it is made. One per workspace."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="smtp_credential"
    )
    username = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16, blank=True, help_text="Start of the password.")
    password_hash = models.CharField(max_length=64, blank=True, help_text="Empty: no password.")
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        verbose_name = "SMTP credential"

    def __str__(self) -> str:
        return self.username

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)


class BounceMailStatus(models.TextChoices):
    RECEIVED = "received", "Received"  # stored, not read yet
    PARSED = "parsed", "Parsed"  # a DSN or ARF report, turned into inbound events
    UNPARSED = "unparsed", "Unparsed"  # kept for a person to read


class BounceMail(models.Model):
    """One message the bounce mailbox accepted. Stored before it is read, so nothing is lost;
    what could not be read as a delivery status notification or a complaint report keeps its
    bytes for inspection (a parsed report keeps only its summary)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(
        Workspace,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="From the return path's token, when it named a message.",
    )
    mail_from = models.CharField(max_length=512, blank=True)
    rcpt_tos = models.JSONField(default=list)
    subject = models.CharField(max_length=998, blank=True)
    size = models.PositiveIntegerField(default=0)
    data = models.BinaryField(blank=True, help_text="The raw message (kept when unparsed).")
    status = models.CharField(
        max_length=8, choices=BounceMailStatus.choices, default=BounceMailStatus.RECEIVED
    )
    kind = models.CharField(max_length=16, blank=True, help_text="dsn, arf, or empty.")
    events = models.PositiveSmallIntegerField(default=0, help_text="Inbound events made.")
    reason = models.TextField(blank=True, help_text="Why it was not parsed.")
    received_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "-received_at"], name="bouncemail_status")]

    def __str__(self) -> str:
        return f"{self.kind or 'mail'} from {self.mail_from or '<>'} ({self.status})"
