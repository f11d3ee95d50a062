"""Work on many contacts at once: the batch upsert of ``POST /contacts/batch`` and the bulk
actions of ``POST /contacts/bulk`` (by ids or by query).

Both are set-based: a handful of statements per chunk of contacts, never a save() per
contact — except unsubscribing, which goes through deliverability so that each address gets
its ``Unsubscribe`` row. Large bulk actions run as a ``BulkJob`` in the background, chunk by
chunk in keyset order, recording progress."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.enrichment import enrich_contacts
from contacts.models import (
    Activity,
    ActivityKind,
    BulkAction,
    BulkJob,
    Contact,
    ContactList,
    ContactTag,
    JobStatus,
    LifecycleStage,
    ListMembership,
)
from contacts.properties import definitions_for, validate_properties
from contacts.query import QueryError, compile_query
from contacts.segmentation import InvalidQuery, segments_contacts_changed
from contacts.services import (
    STANDARD_FIELDS,
    _clean_tag_names,
    _json_safe,
    _log_activities,
    _snapshot,
    _valid_uuids,
    list_add_contacts,
    list_remove_contacts,
    normalize_email,
    tags_get_or_create,
)
from mailcrm import events
from mailcrm.exceptions import Conflict
from mailcrm.models import Workspace

MAX_BATCH = 1000
CHUNK = 1000
MAX_IDS = 100_000
DEFAULT_BACKGROUND_THRESHOLD = 1000


# --- batch upsert ------------------------------------------------------------------------------


@dataclass
class _Item:
    index: int
    email: str
    fields: dict[str, Any]
    properties: dict[str, Any]
    tags: list[str]
    list_ids: list[str]
    contact: Contact | None = None
    created: bool = False
    changed: dict[str, Any] | None = None


def item_result(
    email: Any, status: str, pk: Any = None, error: str | None = None
) -> dict[str, Any]:
    return {"email": email, "status": status, "id": pk, "error": error}


def error_text(exc: ValidationError) -> str:
    """One line naming each bad field: ``email: Enter a valid email address.``"""
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def _prepare(item: Mapping[str, Any], index: int, definitions) -> _Item:
    if not isinstance(item, Mapping):
        raise ValidationError({"contact": ["Must be an object."]})
    data = dict(item)
    email = normalize_email(str(data.pop("email", "") or ""))
    properties = validate_properties(None, data.pop("properties", None), definitions=definitions)
    tags = _clean_tag_names(data.pop("tags", None) or [])
    list_ids = [str(value) for value in data.pop("list_ids", None) or []]
    unknown = set(data) - set(STANDARD_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    return _Item(index, email, data, properties, tags, list_ids)


def _clean(contact: Contact) -> None:
    try:
        contact.full_clean(exclude=["workspace"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None


@transaction.atomic
def _refuse_erased(workspace: Workspace, items: list[_Item], results: list) -> list[_Item]:
    """People whose data was erased at their request are never added back (one query)."""
    from privacy.services import erased_among

    erased = erased_among(workspace, [item.email for item in items])
    if not erased:
        return items
    for item in items:
        if item.email.lower() in erased:
            results[item.index] = item_result(
                item.email,
                "error",
                error="email: This person's data was erased at their request: "
                "they cannot be added.",
            )
    return [item for item in items if item.email.lower() not in erased]


# One transaction: the contacts, their activities, tags and lists and the events announcing
# them commit together (each item still fails alone, in its own savepoint).
@transaction.atomic
def contacts_batch_upsert(
    *, workspace: Workspace, items: list[dict], actor=None, source: str = "api"
) -> list[dict]:
    """Create or update up to 1,000 contacts by email (any case); returns one result per item,
    in order: ``{"email", "status": created|updated|error, "id", "error"}``.

    Fields given replace the stored ones, properties are merged, tags and lists given are
    added (nothing is removed). A bad item is reported and the others are kept."""
    if len(items) > MAX_BATCH:
        raise ValidationError({"contacts": [f"At most {MAX_BATCH} contacts per batch."]})
    results: list[dict | None] = [None] * len(items)
    definitions = definitions_for(workspace)
    prepared: list[_Item] = []
    seen: set[str] = set()
    for index, raw in enumerate(items):
        email = raw.get("email") if isinstance(raw, Mapping) else None
        try:
            item = _prepare(raw, index, definitions)
        except ValidationError as exc:
            results[index] = item_result(email, "error", error=error_text(exc))
            continue
        if item.email.lower() in seen:
            results[index] = item_result(
                item.email, "error", error="email: Appears twice in the batch."
            )
            continue
        seen.add(item.email.lower())
        prepared.append(item)
    prepared = _check_lists(workspace, prepared, results)
    prepared = _refuse_erased(workspace, prepared, results)
    prepared = _apply_fields(workspace, prepared, results, source)
    _add_tags(workspace, prepared)
    _add_lists(workspace, prepared)
    _announce_batch(workspace, prepared)
    touched = [item.contact.pk for item in prepared]
    enrich_contacts(workspace, touched)
    segments_contacts_changed(workspace, touched)
    for item in prepared:
        status = "created" if item.created else "updated"
        results[item.index] = item_result(item.contact.email, status, item.contact.pk)
    return results  # type: ignore[return-value]


def _check_lists(workspace: Workspace, items: list[_Item], results: list) -> list[_Item]:
    wanted = {value for item in items for value in item.list_ids}
    found = {
        str(pk)
        for pk in ContactList.objects.for_workspace(workspace)
        .filter(id__in=_valid_uuids(wanted))
        .values_list("id", flat=True)
    }
    kept = []
    for item in items:
        item.list_ids = [(_valid_uuids([v]) or [v])[0] for v in item.list_ids]
        missing = [value for value in item.list_ids if value not in found]
        if missing:
            error = "lists: " + " ".join(f"No list with id {value}." for value in missing)
            results[item.index] = item_result(item.email, "error", error=error)
        else:
            kept.append(item)
    return kept


def _apply_fields(
    workspace: Workspace, items: list[_Item], results: list, source: str
) -> list[_Item]:
    """Insert the new contacts and update the existing ones, two statements in all."""
    existing = {
        contact.email.lower(): contact
        for contact in Contact.objects.for_workspace(workspace)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=[item.email.lower() for item in items])
    }
    kept, creates, updates, changed_fields = [], [], [], set()
    for item in items:
        contact = existing.get(item.email.lower())
        try:
            if contact is None:
                contact = _new_contact(workspace, item, source)
                creates.append(contact)
            elif _change(contact, item):
                updates.append(contact)
                changed_fields.update(item.changed)
        except ValidationError as exc:
            results[item.index] = item_result(item.email, "error", error=error_text(exc))
            continue
        item.contact = contact
        kept.append(item)
    creates = _within_limit(workspace, creates, kept, results)
    allowed = {id(contact) for contact in creates}
    kept = [item for item in kept if not item.created or id(item.contact) in allowed]
    try:
        with transaction.atomic():
            Contact.objects.bulk_create(creates, batch_size=500)
    except IntegrityError:
        # Another request created one of these addresses since we looked.
        raise Conflict("A contact of the batch was created meanwhile; send it again.") from None
    if updates:
        now = timezone.now()
        for contact in updates:
            contact.updated_at = now
        Contact.objects.bulk_update(
            updates, [*sorted(changed_fields), "updated_at"], batch_size=500
        )
    activities = [
        _activity(item.contact, ActivityKind.CREATED, data={"source": item.contact.source})
        for item in kept
        if item.created
    ] + [
        _activity(item.contact, ActivityKind.UPDATED, data={"changed": sorted(item.changed)})
        for item in kept
        if item.changed
    ]
    Activity.objects.bulk_create(activities, batch_size=CHUNK)
    return kept


def _new_contact(workspace: Workspace, item: _Item, source: str) -> Contact:
    properties = {k: v for k, v in item.properties.items() if v is not None}
    fields = {"source": source, **item.fields}
    contact = Contact(workspace=workspace, email=item.email, properties=properties, **fields)
    _clean(contact)
    item.created = True
    return contact


def _change(contact: Contact, item: _Item) -> bool:
    """Apply the item's fields and properties to ``contact`` in memory; True if it changed."""
    before = {name: getattr(contact, name) for name in (*item.fields, "properties")}
    changed: dict[str, list[Any]] = {}
    for name, value in item.fields.items():
        if getattr(contact, name) != value:
            changed[name] = [_json_safe(getattr(contact, name)), _json_safe(value)]
            setattr(contact, name, value)
    if item.properties:
        merged = dict(contact.properties)
        for key, value in item.properties.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged != contact.properties:
            changed["properties"] = [contact.properties, merged]
            contact.properties = merged
    try:
        _clean(contact)
    except ValidationError:
        for name, value in before.items():
            setattr(contact, name, value)
        raise
    item.changed = changed
    return bool(changed)


def _within_limit(
    workspace: Workspace, creates: list[Contact], items: list[_Item], results: list
) -> list[Contact]:
    """Keep the creations the plan allows; report the others as errors."""
    limit = workspace.limit_contacts
    if limit is None or not creates:
        return creates
    current = Contact.objects.for_workspace(workspace).values("id")[:limit].count()
    room = max(limit - current, 0)
    if len(creates) <= room:
        return creates
    refused = {id(contact) for contact in creates[room:]}
    for item in items:
        if id(item.contact) in refused:
            error = f"The workspace's plan allows {limit} contacts."
            results[item.index] = item_result(item.email, "error", error=error)
    return creates[:room]


def _activity(contact: Contact, kind: str, *, subject: str = "", data=None) -> Activity:
    return Activity(
        workspace_id=contact.workspace_id,
        contact=contact,
        kind=kind,
        subject=subject,
        data=data or {},
        occurred_at=timezone.now(),
    )


def _add_tags(workspace: Workspace, items: list[_Item]) -> None:
    names = [name for item in items for name in item.tags]
    if not names:
        return
    tags = {tag.name.lower(): tag for tag in tags_get_or_create(workspace=workspace, names=names)}
    pairs = {(item.contact.pk, tags[name.lower()].pk) for item in items for name in item.tags}
    labels = {tag.pk: tag.name for tag in tags.values()}
    _link(workspace, ContactTag, "tag_id", pairs, ActivityKind.TAGGED, labels)


def _add_lists(workspace: Workspace, items: list[_Item]) -> None:
    pairs = {(item.contact.pk, uuid.UUID(value)) for item in items for value in item.list_ids}
    if not pairs:
        return
    labels = dict(
        ContactList.objects.for_workspace(workspace)
        .filter(id__in={pk for _, pk in pairs})
        .values_list("id", "name")
    )
    _link(workspace, ListMembership, "contact_list_id", pairs, ActivityKind.LIST_ADDED, labels)


def _link(workspace: Workspace, model, column: str, pairs: set, kind: str, labels: dict) -> None:
    """Insert the missing (contact, tag or list) links and log each new one on the timeline."""
    have = set(
        model.objects.filter(
            contact_id__in={contact_id for contact_id, _ in pairs},
            **{f"{column}__in": {other for _, other in pairs}},
        ).values_list("contact_id", column)
    )
    new = sorted(pairs - have)
    model.objects.bulk_create(
        [model(contact_id=contact_id, **{column: other}) for contact_id, other in new],
        batch_size=CHUNK,
        ignore_conflicts=True,
    )
    now = timezone.now()
    Activity.objects.bulk_create(
        [
            Activity(
                workspace_id=workspace.pk,
                contact_id=contact_id,
                kind=kind,
                subject=labels[other],
                data={"list_id": str(other)} if model is ListMembership else {},
                occurred_at=now,
            )
            for contact_id, other in new
        ],
        batch_size=CHUNK,
    )


def _announce_batch(workspace: Workspace, items: list[_Item]) -> None:
    created = [
        (item.contact.pk, _snapshot(item.contact) | {"tags": sorted(item.tags)})
        for item in items
        if item.created
    ]
    updated = [
        (
            item.contact.pk,
            {"id": item.contact.pk, "email": item.contact.email, "changed": item.changed},
        )
        for item in items
        if item.changed
    ]
    events.emit_many(workspace, events.CONTACT_CREATED, created)
    events.emit_many(workspace, events.CONTACT_UPDATED, updated)


# --- bulk actions ------------------------------------------------------------------------------


@dataclass
class BulkResult:
    """``count`` of contacts changed when the action ran at once, else the queued ``job``."""

    count: int | None = None
    job: BulkJob | None = None


def _threshold() -> int:
    return getattr(settings, "BULK_BACKGROUND_THRESHOLD", DEFAULT_BACKGROUND_THRESHOLD)


def _clean_value(workspace: Workspace, action: str, value: Any) -> Any:
    """The action's value in its stored form: tag names, a list id, a stage, or None."""
    if action in (BulkAction.TAG, BulkAction.UNTAG):
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            raise ValidationError({"value": ["Give a tag name or a list of tag names."]})
        try:
            return _clean_tag_names(names)
        except ValidationError as exc:
            raise ValidationError({"value": exc.message_dict["tags"]}) from None
    if action in (BulkAction.ADD_TO_LIST, BulkAction.REMOVE_FROM_LIST):
        return str(_resolve_list(workspace, value).pk)
    if action == BulkAction.SET_LIFECYCLE_STAGE:
        if value not in LifecycleStage.values:
            stages = ", ".join(LifecycleStage.values)
            raise ValidationError({"value": [f"Give a lifecycle stage: one of {stages}."]})
        return value
    return None


def _resolve_list(workspace: Workspace, value: Any) -> ContactList:
    """A list of the workspace by id or by name."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"value": ["Give a list id or name."]})
    lists = ContactList.objects.for_workspace(workspace)
    found = (
        lists.filter(id__in=_valid_uuids([value])).first()
        or lists.filter(name=value.strip()).first()
    )
    if found is None:
        raise ValidationError({"value": [f"No list '{value}'."]})
    return found


def _targets(workspace: Workspace, ids: list[Any] | None, query: str | None) -> QuerySet:
    """The contacts an action applies to: the named ids of this workspace (others are simply
    not found), or the visible contacts matching the query."""
    contacts = Contact.objects.for_workspace(workspace)
    if ids:
        return contacts.filter(id__in=_valid_uuids(str(value) for value in ids))
    try:
        condition = compile_query(query or "", workspace)
    except QueryError as exc:
        raise InvalidQuery(exc) from None
    return contacts.visible().filter(condition)


def _check_request(action: Any, ids: Any, query: Any) -> None:
    errors: dict[str, list[str]] = {}
    if action not in BulkAction.values:
        errors["action"] = [f"Must be one of: {', '.join(BulkAction.values)}."]
    has_ids, has_query = bool(ids), bool(query and str(query).strip())
    if has_ids == has_query:
        errors["ids"] = ["Give either ids or a query."]
    elif has_ids and (not isinstance(ids, list | tuple) or len(ids) > MAX_IDS):
        errors["ids"] = [f"Give a list of at most {MAX_IDS} ids."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def bulk_start(
    *,
    workspace: Workspace,
    action: str,
    ids: list | None = None,
    query: str | None = None,
    value: Any = None,
    created_by=None,
) -> BulkResult:
    """Run ``action`` on contacts named by ``ids`` or matched by ``query``. Up to the
    background threshold it runs now and returns the count changed; above, it returns a
    queued BulkJob run by a background task after commit."""
    _check_request(action, ids, query)
    value = _clean_value(workspace, action, value)
    targets = _targets(workspace, ids, query)
    total = targets.count()
    if total <= _threshold():
        ids_now = list(targets.order_by("pk").values_list("pk", flat=True))
        return BulkResult(count=_apply(workspace, action, value, ids_now, created_by))
    job = BulkJob.objects.create(
        workspace=workspace,
        created_by=created_by if getattr(created_by, "pk", None) else None,
        action=action,
        value=value,
        ids=[str(pk) for pk in _valid_uuids(str(v) for v in ids or [])],
        query=query or "",
        total=total,
    )
    job_id = str(job.pk)
    transaction.on_commit(lambda: _enqueue(job_id))
    return BulkResult(job=job)


def _enqueue(job_id: str) -> None:
    from django_q.tasks import async_task

    async_task("contacts.tasks.run_bulk_job", job_id, group="bulk")


def bulk_job_run(job_id: Any) -> BulkJob | None:
    """Run a queued job chunk by chunk in id order, saving progress after each chunk. Safe to
    run twice: only the run that claims the queued job works."""
    claimed = BulkJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING
    )
    job = BulkJob.objects.select_related("workspace", "created_by").filter(pk=job_id).first()
    if not claimed or job is None:
        return job
    try:
        targets = _targets(job.workspace, job.ids, job.query)
        last = None
        while True:
            chunk_qs = targets.order_by("pk")
            if last is not None:
                chunk_qs = chunk_qs.filter(pk__gt=last)
            chunk = list(chunk_qs.values_list("pk", flat=True)[:CHUNK])
            if not chunk:
                break
            with transaction.atomic():
                changed = _apply(job.workspace, job.action, job.value, chunk, job.created_by)
            job.processed += len(chunk)
            job.changed += changed
            BulkJob.objects.filter(pk=job.pk).update(processed=job.processed, changed=job.changed)
            last = chunk[-1]
        job.status = JobStatus.DONE
    except Exception as exc:  # recorded for the user; the task itself must not retry forever
        job.status, job.failure_reason = JobStatus.FAILED, str(exc)[:2000]
    job.total = max(job.total, job.processed)
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "failure_reason", "total", "finished_at"])
    return job


def _apply(workspace: Workspace, action: str, value: Any, ids: list[Any], actor) -> int:
    """Apply one action to contact ids already resolved in the workspace; returns how many
    contacts it changed."""
    if not ids:
        return 0
    if action == BulkAction.TAG:
        return _tag(workspace, ids, value, actor)
    if action == BulkAction.UNTAG:
        return _untag(workspace, ids, value, actor)
    if action == BulkAction.ADD_TO_LIST:
        contact_list = ContactList.objects.for_workspace(workspace).get(pk=value)
        return list_add_contacts(contact_list=contact_list, contact_ids=ids, actor=actor)
    if action == BulkAction.REMOVE_FROM_LIST:
        contact_list = ContactList.objects.for_workspace(workspace).get(pk=value)
        return list_remove_contacts(contact_list=contact_list, contact_ids=ids, actor=actor)
    if action == BulkAction.SET_LIFECYCLE_STAGE:
        return _set_stage(workspace, ids, value, actor)
    if action == BulkAction.UNSUBSCRIBE:
        return _unsubscribe(workspace, ids)
    if action == BulkAction.DELETE:
        return _delete(workspace, ids)
    raise ValidationError({"action": [f"Unknown action '{action}'."]})


def _announce(workspace: Workspace, event_type: str, rows: Iterable[tuple[Any, dict]]) -> None:
    events.emit_many(workspace, event_type, [(pk, data) for pk, data in rows])


def _tag(workspace: Workspace, ids: list[Any], names: list[str], actor) -> int:
    tags = tags_get_or_create(workspace=workspace, names=names)
    pairs = {(pk, tag.pk) for pk in ids for tag in tags}
    have = set(
        ContactTag.objects.filter(contact_id__in=ids, tag__in=tags).values_list(
            "contact_id", "tag_id"
        )
    )
    new = pairs - have
    ContactTag.objects.bulk_create(
        [ContactTag(contact_id=pk, tag_id=tag_id) for pk, tag_id in new],
        batch_size=CHUNK,
        ignore_conflicts=True,
    )
    for tag in tags:
        added = [pk for pk, tag_id in new if tag_id == tag.pk]
        _log_activities(workspace.pk, added, ActivityKind.TAGGED, subject=tag.name, actor=actor)
    return _announce_tags(workspace, new, {tag.pk: tag.name for tag in tags}, "added")


def _untag(workspace: Workspace, ids: list[Any], names: list[str], actor) -> int:
    lowered = [name.lower() for name in names]
    links = ContactTag.objects.filter(contact_id__in=ids, tag__workspace=workspace).annotate(
        name_lower=Lower("tag__name")
    )
    links = links.filter(name_lower__in=lowered)
    found = list(links.values_list("contact_id", "tag_id", "tag__name"))
    ContactTag.objects.filter(pk__in=links.values("pk")).delete()
    labels = {tag_id: name for _, tag_id, name in found}
    for tag_id, name in labels.items():
        removed = [pk for pk, tid, _ in found if tid == tag_id]
        _log_activities(workspace.pk, removed, ActivityKind.UNTAGGED, subject=name, actor=actor)
    return _announce_tags(workspace, {(pk, tid) for pk, tid, _ in found}, labels, "removed")


def _announce_tags(workspace: Workspace, pairs: set, labels: dict, how: str) -> int:
    """One contact.updated per changed contact, naming the tags added or removed."""
    per_contact: dict[Any, list[str]] = {}
    for pk, tag_id in pairs:
        per_contact.setdefault(pk, []).append(labels[tag_id])
    emails = dict(Contact.objects.filter(pk__in=per_contact).values_list("pk", "email"))
    _announce(
        workspace,
        events.CONTACT_UPDATED,
        (
            (pk, {"id": pk, "email": emails[pk], "changed": {"tags": {how: sorted(names)}}})
            for pk, names in per_contact.items()
        ),
    )
    segments_contacts_changed(workspace, list(per_contact))
    return len(per_contact)


def _set_stage(workspace: Workspace, ids: list[Any], stage: str, actor) -> int:
    moving = (
        Contact.objects.for_workspace(workspace).filter(pk__in=ids).exclude(lifecycle_stage=stage)
    )
    rows = list(moving.values_list("pk", "email", "lifecycle_stage"))
    changed_ids = [pk for pk, _, _ in rows]
    Contact.objects.filter(pk__in=changed_ids).update(
        lifecycle_stage=stage, updated_at=timezone.now()
    )
    _log_activities(
        workspace.pk,
        changed_ids,
        ActivityKind.UPDATED,
        data={"changed": ["lifecycle_stage"]},
        actor=actor,
    )
    _announce(
        workspace,
        events.CONTACT_UPDATED,
        (
            (pk, {"id": pk, "email": email, "changed": {"lifecycle_stage": [old, stage]}})
            for pk, email, old in rows
        ),
    )
    segments_contacts_changed(workspace, changed_ids)
    return len(changed_ids)


def _unsubscribe(workspace: Workspace, ids: list[Any]) -> int:
    """Through deliverability, one address at a time, so each gets its Unsubscribe row (and
    the contact its status, timeline entry, score reset and event)."""
    from deliverability.models import Unsubscribe
    from deliverability.services import unsubscribe_record

    emails = list(
        Contact.objects.for_workspace(workspace).filter(pk__in=ids).values_list("email", flat=True)
    )
    already = {
        email.lower()
        for email in Unsubscribe.objects.filter(workspace=workspace, domain__isnull=True)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=[e.lower() for e in emails])
        .values_list("email", flat=True)
    }
    changed = 0
    for email in emails:
        if email.lower() not in already:
            unsubscribe_record(workspace=workspace, email=email, source="manual")
            changed += 1
    return changed


def _delete(workspace: Workspace, ids: list[Any]) -> int:
    doomed = Contact.objects.for_workspace(workspace).filter(pk__in=ids)
    rows = list(doomed.values_list("pk", "email"))
    _announce(
        workspace,
        events.CONTACT_DELETED,
        ((pk, {"id": pk, "email": email}) for pk, email in rows),
    )
    Contact.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    return len(rows)
