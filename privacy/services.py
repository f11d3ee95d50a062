"""Privacy requests for one contact: export everything held about them, or erase them.

Erasure deletes the contact and every row that names them (timeline, consents, tags and list
memberships go with the contact; suppressions, unsubscribes, bounces and validations of the
address through ``deliverability.services``), strips the address from the messages sent to
them (through ``campaigns.privacy``; the campaign counts stay right), and keeps two things: a
SHA-256 of the normalised address (``ErasedAddress``), which imports, creates and sends refuse,
and an ``Erasure`` audit row without personal data."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from campaigns.privacy import messages_export_for_contact, messages_forget_contact
from contacts.imports.timeline import ensure_import_activity
from contacts.models import Contact
from mailcrm import events
from mailcrm.models import Event, Workspace
from privacy.models import ErasedAddress, Erasure

EXPORT_FORMAT = 1


def email_hash(email: str) -> str:
    """SHA-256 (hex) of the address trimmed and lower-cased."""
    return hashlib.sha256((email or "").strip().lower().encode()).hexdigest()


def erased_among(workspace: Workspace | Any, emails: Iterable[str]) -> set[str]:
    """The lower-cased addresses among ``emails`` that were erased in the workspace (one query
    for a whole batch)."""
    by_hash = {email_hash(email): (email or "").strip().lower() for email in emails}
    if not by_hash:
        return set()
    found = ErasedAddress.objects.filter(
        workspace_id=getattr(workspace, "pk", workspace), email_hash__in=list(by_hash)
    ).values_list("email_hash", flat=True)
    return {by_hash[digest] for digest in found}


def is_erased(workspace: Workspace | Any, email: str) -> bool:
    return bool(erased_among(workspace, [email]))


def _timeline(contact: Contact):
    ensure_import_activity(contact)  # derived from the import that created the contact
    return contact.activities.order_by("occurred_at")


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def contact_export(contact: Contact) -> dict[str, Any]:
    """Everything held about one contact, as JSON-ready data."""
    from deliverability.services import address_records

    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(timezone.now()),
        "contact": {
            "id": str(contact.id),
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "phone": contact.phone,
            "company": contact.company,
            "job_title": contact.job_title,
            "status": contact.status,
            "lifecycle_stage": contact.lifecycle_stage,
            "source": contact.source,
            "score": contact.score,
            "tracking_opt_out": contact.tracking_opt_out,
            "created_at": _iso(contact.created_at),
            "updated_at": _iso(contact.updated_at),
        },
        "properties": contact.properties,
        "tags": sorted(contact.tags.values_list("name", flat=True)),
        "lists": [
            {"id": str(pk), "name": name} for pk, name in contact.lists.values_list("id", "name")
        ],
        "activities": [
            {
                "kind": a.kind,
                "subject": a.subject,
                "body": a.body,
                "data": a.data,
                "occurred_at": _iso(a.occurred_at),
            }
            for a in _timeline(contact)
        ],
        "messages": messages_export_for_contact(
            workspace_id=contact.workspace_id, contact_id=contact.id
        ),
        "consents": [
            {
                "list": c.contact_list.name,
                "form": c.form.name if c.form else None,
                "status": c.status,
                "method": c.method,
                "ip_address": c.ip_address,
                "user_agent": c.user_agent,
                "created_at": _iso(c.created_at),
                "confirmed_at": _iso(c.confirmed_at),
            }
            for c in contact.consents.select_related("contact_list", "form")
        ],
        **address_records(contact.workspace_id, contact.email),
    }


@transaction.atomic
def contact_erase(*, contact: Contact, actor=None, via: str = "dashboard") -> Erasure:
    """Erase one contact (see the module docstring); returns the audit row."""
    from deliverability.services import address_forget

    workspace_id = contact.workspace_id
    email = contact.email.strip().lower()
    ErasedAddress.objects.get_or_create(workspace_id=workspace_id, email_hash=email_hash(email))
    message_ids = messages_forget_contact(
        workspace_id=workspace_id, contact_id=contact.id, email=email
    )
    # The outbox holds copies of the contact's data (contact.created carries its fields).
    outbox = Event.objects.filter(
        workspace_id=workspace_id, subject_id__in=[contact.id, *message_ids]
    ).delete()[0]
    deleted = {
        "messages_anonymised": len(message_ids),
        "events": outbox,
        **address_forget(workspace_id=workspace_id, email=email),
    }
    contact_id = contact.id
    deleted["contact_rows"] = contact.delete()[0]
    erasure = Erasure.objects.create(
        workspace_id=workspace_id,
        contact_id=contact_id,
        erased_by=actor if getattr(actor, "pk", None) else None,
        via=via,
        deleted=deleted,
    )
    # Receivers hear that the contact is gone, without the address.
    events.emit(
        workspace_id,
        events.CONTACT_DELETED,
        subject_id=contact_id,
        data={"id": contact_id, "erased": True},
    )
    return erasure
