"""Subscription forms (hosted at /f/{id} and embeddable) and the consent each sign-up records."""

from __future__ import annotations

from django.db import models

from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.querysets import WorkspaceQuerySet

# The contact fields a form may ask for besides the email (properties are "properties.<key>").
FORM_STANDARD_FIELDS = {
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone",
    "company": "Company",
    "job_title": "Job title",
}


class SubscriptionForm(models.Model):
    """A sign-up form for one list. The email is always asked; ``fields`` lists the others
    (standard field names and ``properties.<key>``)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    contact_list = models.ForeignKey(
        "contacts.ContactList", on_delete=models.CASCADE, related_name="+", verbose_name="list"
    )
    fields = models.JSONField(default=list, blank=True)
    title = models.CharField(max_length=200, blank=True, help_text="Heading of the hosted page.")
    success_message = models.TextField(
        default="Thanks for subscribing!",
        help_text="Shown after a sign-up (lists with double opt-in add: check your inbox).",
    )
    error_message = models.TextField(
        default="Sorry, we could not subscribe you. Please check the form and try again."
    )
    success_url = models.URLField(
        blank=True, help_text="Send people here after signing up (else our own thank-you page)."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "subscription form"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="subscriptionform_name")
        ]

    def __str__(self) -> str:
        return self.name


class ConsentStatus(models.TextChoices):
    PENDING = "pending", "Waiting for confirmation"
    CONFIRMED = "confirmed", "Confirmed"


class ConsentMethod(models.TextChoices):
    FORM = "form", "Form (single opt-in)"
    DOUBLE_OPT_IN = "double_opt_in", "Form + confirmation email"


class Consent(models.Model):
    """Proof of a sign-up: when, how, from which form and address. Pending until the
    confirmation link is followed on double opt-in lists; the list membership comes then."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="consents"
    )
    contact_list = models.ForeignKey(
        "contacts.ContactList", on_delete=models.CASCADE, related_name="+"
    )
    form = models.ForeignKey(
        SubscriptionForm, null=True, blank=True, on_delete=models.SET_NULL, related_name="consents"
    )
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    method = models.CharField(max_length=16, choices=ConsentMethod.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation_ip = models.GenericIPAddressField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "created_at"], name="consent_ws_created"),
            models.Index(fields=["form", "status"], name="consent_form_status"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} → {self.contact_list_id} ({self.status})"
