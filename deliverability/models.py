"""Sending domains, suppressions and unsubscribes: who must never be mailed again, and from
which of the workspace's domains."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.querysets import WorkspaceQuerySet


class SendingDomain(models.Model):
    """A domain the workspace sends from, with its DKIM key (mail sent over direct SMTP is
    signed with it)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=253)
    is_verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    dkim_selector = models.CharField(max_length=63, blank=True)
    dkim_private_key = models.TextField(
        blank=True, help_text="PEM, encrypted with FIELD_ENCRYPTION_KEY."
    )
    dkim_public_key = models.TextField(blank=True, help_text="Base64 DER, as published in DNS.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "domain"], name="sendingdomain_unique")
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def has_dkim_key(self) -> bool:
        return bool(self.dkim_selector and self.dkim_private_key)


class SuppressionType(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    SOFT_BOUNCE = "soft_bounce", "Soft bounce"
    COMPLAINT = "complaint", "Complaint"
    MANUAL = "manual", "Manual"


class Suppression(models.Model):
    """An address that must not be mailed: globally (no domain) or from one sending domain.
    Emails are stored lower-cased so the check is one indexed equality."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)
    type = models.CharField(max_length=16, choices=SuppressionType.choices)
    domain = models.ForeignKey(
        SendingDomain, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(domain__isnull=True),
                name="suppression_global_unique",
            ),
            models.UniqueConstraint(
                fields=["workspace", "email", "domain"],
                condition=Q(domain__isnull=False),
                name="suppression_domain_unique",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "type"], name="suppression_ws_type")]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_type_display()})"


class SuppressionWhitelist(models.Model):
    """Addresses that override suppressions (e.g. a colleague's inbox that bounced once)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "email"], name="whitelist_unique")
        ]

    def __str__(self) -> str:
        return self.email


class UnsubscribeSource(models.TextChoices):
    LINK = "link", "Unsubscribe page"
    ONE_CLICK = "one_click", "One-click (RFC 8058)"
    PREFERENCES = "preferences", "Preference centre"
    API = "api", "API"
    COMPLAINT = "complaint", "Spam complaint"
    MANUAL = "manual", "Manual"
    IMPORT = "import", "Import"


class Unsubscribe(models.Model):
    """A person's wish to receive no marketing mail: from every domain, or from one."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)
    domain = models.ForeignKey(
        SendingDomain, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(max_length=16, choices=UnsubscribeSource.choices)
    campaign_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(domain__isnull=True),
                name="unsubscribe_global_unique",
            ),
            models.UniqueConstraint(
                fields=["workspace", "email", "domain"],
                condition=Q(domain__isnull=False),
                name="unsubscribe_domain_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} unsubscribed"
