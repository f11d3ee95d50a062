"""Merging duplicate contacts, and finding likely duplicates.

The primary keeps its values and takes from the duplicates what it lacks: tags, lists,
companies, static segments, empty fields and missing properties. Their timeline and their
messages move to the primary, their engagement counters add up, then they are deleted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, CharField, Count, F, Q, Value, When
from django.db.models.functions import Concat, Left, Lower, Replace, StrIndex, Substr, Trim
from django.utils import timezone

from contacts.imports.timeline import ensure_import_activity
from contacts.models import (
    Activity,
    ActivityKind,
    CompanyRole,
    Contact,
    ContactTag,
    ListMembership,
    SegmentKind,
    SegmentMembership,
)
from contacts.segmentation import segments_contacts_changed
from mailcrm import events
from mailcrm.models import Workspace

MAX_DUPLICATES = 50
FILLABLE_FIELDS = ("first_name", "last_name", "phone", "company", "job_title")
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
# (model, the column other than contact) of the links a primary inherits.
LINKS = (
    (ContactTag, "tag_id"),
    (ListMembership, "contact_list_id"),
    (CompanyRole, "company_id"),
    (SegmentMembership, "segment_id"),
)


def _check(workspace: Workspace, primary: Contact, duplicates: list[Contact]) -> None:
    if not duplicates:
        raise ValidationError({"duplicate_ids": ["Name at least one duplicate."]})
    if len(duplicates) > MAX_DUPLICATES:
        raise ValidationError({"duplicate_ids": [f"At most {MAX_DUPLICATES} at a time."]})
    if any(dup.pk == primary.pk for dup in duplicates):
        raise ValidationError({"duplicate_ids": ["The primary cannot be one of the duplicates."]})
    if any(c.workspace_id != workspace.pk for c in (primary, *duplicates)):
        raise ValidationError({"duplicate_ids": ["Every contact must be of this workspace."]})


@transaction.atomic
def contacts_merge(
    *, workspace: Workspace, primary: Contact, duplicates: list[Contact], actor=None
) -> Contact:
    """Merge ``duplicates`` into ``primary`` (see the module docstring); returns the primary."""
    duplicates = list({dup.pk: dup for dup in duplicates}.values())
    _check(workspace, primary, duplicates)
    # Lock every row involved so a concurrent merge or update cannot interleave.
    locked = {
        c.pk: c
        for c in Contact.objects.select_for_update().filter(
            pk__in=[primary.pk, *(d.pk for d in duplicates)]
        )
    }
    primary = locked[primary.pk]
    duplicates = [locked[d.pk] for d in duplicates if d.pk in locked]
    dup_ids = [dup.pk for dup in duplicates]
    _take_values(primary, duplicates)
    for model, column in LINKS:
        _inherit_links(model, column, primary.pk, dup_ids)
    for dup in duplicates:  # their "Imported" entries move with the rest of their timeline
        ensure_import_activity(dup)
    Activity.objects.filter(contact_id__in=dup_ids).update(contact_id=primary.pk)
    move_campaign_messages(primary_id=primary.pk, duplicate_ids=dup_ids)
    merged = [{"id": str(dup.pk), "email": dup.email} for dup in duplicates]
    Activity.objects.create(
        workspace=workspace,
        contact=primary,
        kind=ActivityKind.MERGED,
        subject=", ".join(dup.email for dup in duplicates)[:300],
        data={"merged": merged},
        occurred_at=timezone.now(),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    events.emit_many(
        workspace,
        events.CONTACT_MERGED,
        [
            (
                primary.pk,
                {
                    "id": primary.pk,
                    "email": primary.email,
                    "merged_id": dup.pk,
                    "merged_email": dup.email,
                },
            )
            for dup in duplicates
        ],
    )
    Contact.objects.filter(pk__in=dup_ids).delete()
    segments_contacts_changed(workspace, [primary.pk])
    return primary


def _take_values(primary: Contact, duplicates: list[Contact]) -> None:
    """Fill the primary's empty fields and missing properties; add up engagement."""
    for name in FILLABLE_FIELDS:
        if not getattr(primary, name):
            given = next((getattr(d, name) for d in duplicates if getattr(d, name)), "")
            setattr(primary, name, given)
    properties = dict(primary.properties)
    for dup in duplicates:
        for key, value in dup.properties.items():
            if properties.get(key) in (None, "", []):
                properties[key] = value
    primary.properties = properties
    for counter in ("sends", "opens", "clicks"):
        setattr(primary, counter, sum(getattr(c, counter) for c in (primary, *duplicates)))
    for moment in ("last_sent_at", "last_opened_at", "last_clicked_at"):
        times = [getattr(c, moment) for c in (primary, *duplicates) if getattr(c, moment)]
        setattr(primary, moment, max(times, default=None))
    primary.save()


def _inherit_links(model, column: str, primary_id: Any, dup_ids: list[Any]) -> None:
    """The duplicates' links the primary lacks become its own: one read, one bulk insert."""
    have = model.objects.filter(contact_id=primary_id).values_list(column, flat=True)
    theirs = model.objects.filter(contact_id__in=dup_ids)
    if model is SegmentMembership:
        # Dynamic memberships follow the query: the primary is re-evaluated instead.
        theirs = theirs.filter(segment__kind=SegmentKind.STATIC)
    wanted = theirs.exclude(**{f"{column}__in": have}).values_list(column, flat=True).distinct()
    extra = {"role": ""} if model is CompanyRole else {}
    model.objects.bulk_create(
        [model(contact_id=primary_id, **{column: other}, **extra) for other in wanted],
        ignore_conflicts=True,
    )
    if model is CompanyRole:
        # Keep the roles the duplicates had at those companies.
        for role in CompanyRole.objects.filter(contact_id__in=dup_ids).exclude(role=""):
            CompanyRole.objects.filter(
                contact_id=primary_id, company_id=role.company_id, role=""
            ).update(role=role.role)


def move_campaign_messages(*, primary_id: Any, duplicate_ids: Iterable[Any]) -> int:
    """Re-point the duplicates' ``campaigns.Message`` rows (and so their events) to the
    primary. A campaign sends once per contact: where the primary already has a message of
    the same campaign, the duplicate's stays behind and loses its contact on deletion."""
    from campaigns.models import Message, to_contacts

    moved = 0
    for dup_id in duplicate_ids:
        # One duplicate at a time: two duplicates may hold messages of the same campaign.
        taken = Message.objects.filter(to_contacts([primary_id]), campaign__isnull=False).values(
            "campaign_id"
        )
        moved += (
            Message.objects.filter(to_contacts([dup_id]))
            .exclude(campaign__isnull=False, campaign_id__in=taken)
            .update(contact_id=primary_id)
        )
    return moved


# --- duplicate suggestions ---------------------------------------------------------------------


def duplicate_suggestions(workspace: Workspace, limit: int = 50) -> list[list[Contact]]:
    """Groups of contacts that are likely the same person: the same Gmail address ignoring
    dots and +tags, or the same first name, last name and company. Grouped in SQL."""
    contacts = Contact.objects.for_workspace(workspace).visible()
    groups: list[list[Any]] = []
    gmail = _gmail_keys(contacts)
    keys = list(
        gmail.values("_key").annotate(n=Count("id")).filter(n__gt=1).order_by("-n", "_key")[:limit]
    )
    members = gmail.filter(_key__in=[row["_key"] for row in keys]).order_by("created_at", "id")
    by_key: dict[str, list[Contact]] = {row["_key"]: [] for row in keys}
    for contact in members:
        by_key[contact._key].append(contact)
    groups.extend(by_key.values())

    named = contacts.exclude(first_name="").exclude(last_name="").exclude(company="")
    named = named.annotate(
        _first=Lower(Trim("first_name")), _last=Lower(Trim("last_name")), _co=Lower(Trim("company"))
    )
    triples = list(
        named.values("_first", "_last", "_co")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("-n", "_last", "_first")[:limit]
    )
    if triples:
        match = Q()
        for row in triples:
            match |= Q(_first=row["_first"], _last=row["_last"], _co=row["_co"])
        by_name: dict[tuple, list[Contact]] = {
            (r["_first"], r["_last"], r["_co"]): [] for r in triples
        }
        for contact in named.filter(match).order_by("created_at", "id"):
            by_name[(contact._first, contact._last, contact._co)].append(contact)
        seen = {frozenset(c.pk for c in group) for group in groups}
        groups.extend(g for g in by_name.values() if frozenset(c.pk for c in g) not in seen)
    return groups[:limit]


def _gmail_keys(contacts):
    email = Lower(Trim("email"))
    annotated = contacts.annotate(
        _email=email,
        _at=StrIndex(email, Value("@")),
    ).annotate(
        _domain=Substr(F("_email"), F("_at") + 1),
        _local=Left(F("_email"), F("_at") - 1),
    )
    annotated = annotated.filter(_domain__in=GMAIL_DOMAINS).annotate(
        _plus=StrIndex(F("_local"), Value("+"))
    )
    base = Case(
        When(_plus__gt=0, then=Left(F("_local"), F("_plus") - 1)),
        default=F("_local"),
    )
    return annotated.annotate(
        _key=Concat(
            Replace(base, Value("."), Value("")), Value("@gmail.com"), output_field=CharField()
        )
    )
