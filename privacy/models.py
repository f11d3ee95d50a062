"""What erasure leaves behind: a hash of the address, so it is never re-imported or mailed by
accident, and an audit row that holds no personal data."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.querysets import WorkspaceQuerySet


class ErasedAddress(models.Model):
    """SHA-256 of an erased contact's normalised (trimmed, lower-cased) address."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "erased addresses"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "email_hash"], name="erased_address_once")
        ]

    def __str__(self) -> str:
        return self.email_hash[:12]


class Erasure(models.Model):
    """The record that an erasure happened: who asked, when, and how many rows went. The
    contact's id is kept (it identifies nothing outside this database); nothing personal is."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact_id = models.UUIDField()
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=16, help_text="dashboard or api")
    deleted = models.JSONField(default=dict, help_text="Rows removed, by kind.")
    erased_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"erasure of {self.contact_id}"
