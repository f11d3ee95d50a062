"""Segments: creation, set-based refresh of materialized membership, incremental
re-evaluation of changed contacts, and previews.

A full refresh is two statements per segment — delete members that no longer match, insert
contacts that newly match — never a Python loop over contacts. Changed contacts are queued
in ``SegmentDirtyContact`` and re-evaluated in batches by one background task per workspace,
so a burst of changes costs one pass."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact, Segment, SegmentDirtyContact, SegmentKind, SegmentMembership
from contacts.query import Compiler, QueryError, conditions_of, parse
from mailcrm import events
from mailcrm.exceptions import Conflict
from mailcrm.models import Workspace
from mailcrm.workspace_reads import workspace_index_reads

logger = logging.getLogger("mailcrm.segments")

PREVIEW_SAMPLE = 10
DIRTY_BATCH = 1000
QUEUED_KEY_SECONDS = 300


class InvalidQuery(ValidationError):
    """A segment query that does not parse or compile; carries the position."""

    def __init__(self, error: QueryError):
        super().__init__({"query": [f"{error.reason} (at position {error.position})"]})
        self.position = error.position
        self.reason = error.reason


def _compile(query: str, workspace: Workspace, *, segment: Segment | None = None) -> Q:
    try:
        stack = (segment.pk,) if segment is not None and segment.pk else ()
        return Compiler(workspace=workspace, segment_stack=stack).compile(parse(query))
    except QueryError as exc:
        raise InvalidQuery(exc) from None


def check_query(query: str, workspace: Workspace, *, segment: Segment | None = None) -> None:
    """Raise InvalidQuery (a ValidationError on ``query``) unless the query compiles."""
    _compile(query, workspace, segment=segment)


def matching_contacts(segment: Segment):
    """The contacts a dynamic segment's query selects now (archived contacts never match)."""
    contacts = Contact.objects.for_workspace(segment.workspace).visible()
    return contacts.filter(_compile(segment.query, segment.workspace, segment=segment))


def segment_members(segment: Segment):
    return Contact.objects.filter(segmentmembership__segment=segment, archived_at__isnull=True)


# --- create, change, delete --------------------------------------------------------------------


def _check_name(workspace: Workspace, name: str, exclude_pk=None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["This field may not be blank."]})
    clash = Segment.objects.for_workspace(workspace).filter(name=name).exclude(pk=exclude_pk)
    if clash.exists():
        raise Conflict(f"A segment named '{name}' already exists.")
    return name


@transaction.atomic
def segment_create(
    *,
    workspace: Workspace,
    name: str,
    kind: str = SegmentKind.DYNAMIC,
    query: str = "",
    description: str = "",
) -> Segment:
    """Create a segment; a dynamic one is refreshed in the background after commit."""
    name = _check_name(workspace, name)
    if kind not in SegmentKind.values:
        raise ValidationError({"kind": [f"Must be one of: {', '.join(SegmentKind.values)}."]})
    if kind == SegmentKind.DYNAMIC:
        _compile(query, workspace)
    segment = Segment.objects.create(
        workspace=workspace, name=name, kind=kind, query=query.strip(), description=description
    )
    if kind == SegmentKind.DYNAMIC:
        schedule_refresh(segment)
    return segment


@transaction.atomic
def segment_update(
    *,
    segment: Segment,
    name: str | None = None,
    query: str | None = None,
    description: str | None = None,
) -> Segment:
    if name is not None:
        segment.name = _check_name(segment.workspace, name, exclude_pk=segment.pk)
    if description is not None:
        segment.description = description
    query_changed = query is not None and query.strip() != segment.query
    if query_changed:
        if segment.kind != SegmentKind.DYNAMIC:
            raise ValidationError({"query": ["A static segment has no query."]})
        _compile(query, segment.workspace, segment=segment)
        segment.query = query.strip()
    segment.save()
    if query_changed:
        schedule_refresh(segment)
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment) -> None:
    dependants = [
        other.name
        for other in Segment.objects.for_workspace(segment.workspace)
        .dynamic()
        .exclude(pk=segment.pk)
        if _refers_to(other, segment)
    ]
    if dependants:
        raise Conflict(f"Segments {', '.join(dependants)} use this segment; change them first.")
    segment.delete()


def _refers_to(other: Segment, segment: Segment) -> bool:
    try:
        tree = parse(other.query)
    except QueryError:
        return False
    names = {segment.name.lower(), str(segment.pk)}
    return any(
        value.text.strip().lower() in names
        for condition in conditions_of(tree)
        if condition.field.lower() in ("segment", "segments")
        for value in condition.values
    )


# --- static members ----------------------------------------------------------------------------


@transaction.atomic
def segment_add_contacts(*, segment: Segment, contact_ids: Iterable[Any]) -> int:
    if segment.kind != SegmentKind.STATIC:
        raise ValidationError({"segment": ["Members of a dynamic segment follow its query."]})
    ids = list(contact_ids)
    have = set(
        SegmentMembership.objects.filter(segment=segment, contact_id__in=ids).values_list(
            "contact_id", flat=True
        )
    )
    new = [SegmentMembership(segment=segment, contact_id=pk) for pk in ids if pk not in have]
    SegmentMembership.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    _store_count(segment)
    return len(new)


@transaction.atomic
def segment_remove_contacts(*, segment: Segment, contact_ids: Iterable[Any]) -> int:
    if segment.kind != SegmentKind.STATIC:
        raise ValidationError({"segment": ["Members of a dynamic segment follow its query."]})
    removed, _ = SegmentMembership.objects.filter(
        segment=segment, contact_id__in=list(contact_ids)
    ).delete()
    _store_count(segment)
    return removed


def _store_count(segment: Segment) -> None:
    segment.count = segment_members(segment).count()
    segment.refreshed_at = timezone.now()
    Segment.objects.filter(pk=segment.pk).update(
        count=segment.count, refreshed_at=segment.refreshed_at
    )


# --- refresh -----------------------------------------------------------------------------------


def _db_value(value: Any) -> Any:
    return SegmentMembership._meta.get_field("segment").target_field.get_db_prep_value(
        value, connection
    )


@transaction.atomic
def segment_refresh(*, segment: Segment) -> Segment:
    """Bring a segment's materialized membership in line with its query, in set-based SQL."""
    if segment.kind == SegmentKind.STATIC:
        _store_count(segment)
        return segment
    matching = matching_contacts(segment).values("id")
    leaving = SegmentMembership.objects.filter(segment=segment).exclude(contact_id__in=matching)
    left = list(leaving.values_list("contact_id", flat=True))
    SegmentMembership.objects.filter(segment=segment, contact_id__in=left).delete()
    select_sql, params = matching.query.sql_with_params()
    table = SegmentMembership._meta.db_table
    # INSERT … SELECT: the database copies the ids; only the joiners' ids come back, to be
    # announced (segment.joined) in one bulk write.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (segment_id, contact_id, added_at) "  # nosec B608 - identifiers are ours, values are bound parameters
            f"SELECT %s, matching.id, %s FROM ({select_sql}) AS matching "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS m "
            f"WHERE m.segment_id = %s AND m.contact_id = matching.id) RETURNING contact_id",
            [_db_value(segment.pk), timezone.now(), *params, _db_value(segment.pk)],
        )
        field = SegmentMembership._meta.get_field("contact").target_field
        joined = [field.to_python(row[0]) for row in cursor.fetchall()]
    _announce_membership(segment, joined, left)
    _store_count(segment)
    return segment


def _announce_membership(segment: Segment, joined: Iterable[Any], left: Iterable[Any]) -> None:
    """segment.joined / segment.left per contact (automation triggers), set-based."""
    data = {"segment_id": segment.pk, "segment": segment.name}
    events.emit_many(segment.workspace_id, events.SEGMENT_JOINED, [(pk, data) for pk in joined])
    events.emit_many(segment.workspace_id, events.SEGMENT_LEFT, [(pk, data) for pk in left])


def schedule_refresh(segment: Segment) -> None:
    """Refresh after the current transaction commits, in a worker."""
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("contacts.tasks.refresh_segment", str(segment.pk), group="segments")
    )


def refresh_workspace_segments(workspace: Workspace) -> int:
    # A full refresh re-evaluates everyone, so contacts queued so far need no pass of their own.
    SegmentDirtyContact.objects.filter(workspace=workspace).delete()
    refreshed = 0
    for segment in Segment.objects.for_workspace(workspace):
        try:
            segment_refresh(segment=segment)
            refreshed += 1
        except InvalidQuery as exc:
            # E.g. a tag the query names was deleted; the segment keeps its last members.
            logger.warning("segment %s not refreshed: %s", segment.pk, exc.reason)
    return refreshed


# --- incremental re-evaluation -----------------------------------------------------------------


def segments_contacts_changed(workspace: Workspace | Any, contact_ids: Iterable[Any]) -> None:
    """Note that these contacts changed; their dynamic memberships are re-evaluated in the
    background after commit, one coalesced pass for a burst of changes."""
    workspace_id = getattr(workspace, "pk", workspace)
    ids = list(contact_ids)
    if not ids or not Segment.objects.filter(workspace_id=workspace_id).dynamic().exists():
        return
    SegmentDirtyContact.objects.bulk_create(
        [SegmentDirtyContact(workspace_id=workspace_id, contact_id=pk) for pk in ids],
        batch_size=1000,
        ignore_conflicts=True,
    )
    transaction.on_commit(lambda: _enqueue_evaluation(workspace_id))


def _queued_key(workspace_id: Any) -> str:
    return f"segments:evaluation-queued:{workspace_id}"


def _enqueue_evaluation(workspace_id: Any) -> None:
    from django_q.tasks import async_task

    # At most one pass waits in the queue per workspace; rows marked meanwhile ride along.
    # The key expires in case a queued task is lost; the scheduled refresh drains leftovers.
    if cache.add(_queued_key(workspace_id), 1, timeout=QUEUED_KEY_SECONDS):
        async_task("contacts.tasks.evaluate_changed_contacts", str(workspace_id), group="segments")


def evaluate_changed_contacts(workspace: Workspace) -> int:
    """Re-evaluate queued contacts against every dynamic segment of the workspace."""
    # From here on, new changes queue a new pass: none can slip in after our last batch.
    cache.delete(_queued_key(workspace.pk))
    segments = []
    for segment in Segment.objects.for_workspace(workspace).dynamic():
        try:
            segments.append((segment, _compile(segment.query, workspace, segment=segment)))
        except InvalidQuery as exc:
            logger.warning("segment %s not re-evaluated: %s", segment.pk, exc.reason)
    done = 0
    while True:
        with transaction.atomic():
            batch = list(
                SegmentDirtyContact.objects.filter(workspace=workspace)
                .order_by("id")
                .values_list("id", "contact_id")[:DIRTY_BATCH]
            )
            if not batch:
                return done
            contact_ids = {contact_id for _, contact_id in batch}
            for segment, condition in segments:
                _evaluate_batch(segment, condition, contact_ids)
            SegmentDirtyContact.objects.filter(id__in=[pk for pk, _ in batch]).delete()
            done += len(batch)


def _evaluate_batch(segment: Segment, condition: Q, contact_ids: set[Any]) -> None:
    candidates = Contact.objects.filter(workspace=segment.workspace_id, id__in=contact_ids)
    matching = set(candidates.visible().filter(condition).values_list("id", flat=True))
    current = set(
        SegmentMembership.objects.filter(segment=segment, contact_id__in=contact_ids).values_list(
            "contact_id", flat=True
        )
    )
    joined, left = matching - current, current - matching
    if joined:
        SegmentMembership.objects.bulk_create(
            [SegmentMembership(segment=segment, contact_id=pk) for pk in joined],
            ignore_conflicts=True,
        )
    if left:
        SegmentMembership.objects.filter(segment=segment, contact_id__in=left).delete()
    _announce_membership(segment, joined, left)
    if joined or left:
        Segment.objects.filter(pk=segment.pk).update(count=segment_members(segment).count())


# --- preview -----------------------------------------------------------------------------------


def segment_preview(*, workspace: Workspace, query: str) -> tuple[int, list[Contact]]:
    """How many contacts a query selects now, and a few of them."""
    contacts = Contact.objects.for_workspace(workspace).visible().filter(_compile(query, workspace))
    sample = list(contacts.prefetch_related("tags", "lists").order_by("-pk")[:PREVIEW_SAMPLE])
    with workspace_index_reads():
        return contacts.count(), sample
