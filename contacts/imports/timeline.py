"""The "Imported" entry of a contact's timeline, derived from the import that created it.

An import writes no timeline row per contact (a million rows would cost as much as the
contacts themselves); ``Contact.source_import`` names the import instead. The entry is written
the first time the contact's timeline is read, with an id made from the contact and the import
(two readers at once write it once) and the import's time, so it sorts where it happened."""

from __future__ import annotations

import hashlib
import uuid

from contacts.models import Activity, ActivityKind, Contact, ImportJob


def import_activity_id(contact_id: uuid.UUID, job: ImportJob) -> uuid.UUID:
    """A uuid7 laid out as mailcrm.ids.uuid7 makes them, at the import's start, whose random
    bits come from the contact and the import: the same pair always gives the same id."""
    moment = job.started_at or job.created_at
    millis = int(moment.timestamp() * 1000) & 0xFFFF_FFFF_FFFF
    digest = int.from_bytes(hashlib.sha256(contact_id.bytes + job.pk.bytes).digest()[:10], "big")
    value = (
        millis << 80
        | 0x7 << 76
        | ((digest >> 68) & 0xFFF) << 64
        | 0b10 << 62
        | (digest & 0x3FFF_FFFF_FFFF_FFFF)
    )
    return uuid.UUID(int=value)


def ensure_import_activity(contact: Contact) -> None:
    """Write the contact's "Imported" timeline entry if it was created by an import and the
    entry is not there yet (one primary-key lookup when it is)."""
    if contact.source_import_id is None:
        return
    job = ImportJob.objects.filter(
        pk=contact.source_import_id, workspace_id=contact.workspace_id
    ).first()
    if job is None:
        return  # the import was deleted: nothing left to derive the entry from
    pk = import_activity_id(contact.pk, job)
    if Activity.objects.filter(pk=pk).exists():
        return
    moment = job.started_at or job.created_at
    Activity.objects.bulk_create(
        [
            Activity(
                id=pk,
                workspace_id=contact.workspace_id,
                contact=contact,
                kind=ActivityKind.IMPORTED,
                subject=job.filename[:300],
                data={"import_id": str(job.pk), "created": True},
                occurred_at=moment,
                created_by_id=job.created_by_id,
            )
        ],
        ignore_conflicts=True,
    )
