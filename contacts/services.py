"""The verbs of the contact database. Every write with consequences goes through here: the API,
the dashboard, the admin and background tasks all call these functions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.enrichment import enrich_contacts
from contacts.models import (
    MANUAL_ACTIVITY_KINDS,
    Activity,
    ActivityKind,
    Company,
    CompanyRole,
    Contact,
    ContactList,
    ContactTag,
    ListMembership,
    PropertyDefinition,
    PropertyType,
    Tag,
)
from contacts.properties import merge_properties, validate_properties
from contacts.segmentation import segments_contacts_changed
from mailcrm import events
from mailcrm.exceptions import Conflict, LimitExceeded
from mailcrm.models import Workspace

STANDARD_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "company",
    "job_title",
    "time_zone",
    "status",
    "lifecycle_stage",
    "source",
    "tracking_opt_out",
)


# --- helpers -----------------------------------------------------------------------------------


def normalize_email(raw: str) -> str:
    """Trim, lower-case the domain, and validate; raise ValidationError on the ``email`` field."""
    email = (raw or "").strip()
    local, at, domain = email.rpartition("@")
    if at:
        email = f"{local}@{domain.lower()}"
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": ["Enter a valid email address."]}) from None
    return email


def find_contact_by_email(workspace: Workspace, email: str) -> Contact | None:
    return (
        Contact.objects.for_workspace(workspace)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower=email.strip().lower())
        .first()
    )


def _refuse_erased(workspace: Workspace, email: str) -> None:
    from privacy.services import is_erased

    if is_erased(workspace, email):
        raise ValidationError(
            {"email": ["This person's data was erased at their request: they cannot be added."]}
        )


def _check_contact_limit(workspace: Workspace, adding: int = 1) -> None:
    limit = workspace.limit_contacts
    if limit is None:
        return
    # Counting at most `limit` ids keeps this cheap on a large table.
    current = Contact.objects.for_workspace(workspace).values("id")[:limit].count()
    if current + adding > limit:
        raise LimitExceeded("contacts", limit)


def _clean_fields(contact: Contact) -> None:
    try:
        contact.full_clean(exclude=["workspace"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None


def _snapshot(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "status": contact.status,
        "lifecycle_stage": contact.lifecycle_stage,
        "source": contact.source,
        "properties": contact.properties,
    }


def _activity(contact: Contact, kind: str, *, actor=None, subject: str = "", data=None) -> Activity:
    return Activity(
        workspace_id=contact.workspace_id,
        contact=contact,
        kind=kind,
        subject=subject,
        data=data or {},
        occurred_at=timezone.now(),
        created_by=actor if getattr(actor, "pk", None) else None,
    )


def _log_activities(
    workspace_id: Any,
    contact_ids: Iterable[Any],
    kind: str,
    *,
    subject: str = "",
    data: dict | None = None,
    actor=None,
) -> None:
    """The same timeline entry for many contacts, in bulk."""
    now = timezone.now()
    author = actor if getattr(actor, "pk", None) else None
    Activity.objects.bulk_create(
        [
            Activity(
                workspace_id=workspace_id,
                contact_id=pk,
                kind=kind,
                subject=subject,
                data=data or {},
                occurred_at=now,
                created_by=author,
            )
            for pk in contact_ids
        ],
        batch_size=1000,
    )


def _json_safe(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# --- contacts ----------------------------------------------------------------------------------


@transaction.atomic
def contact_create(
    *,
    workspace: Workspace,
    email: str,
    actor=None,
    properties: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    list_ids: Iterable[Any] | None = None,
    **fields: Any,
) -> Contact:
    """Create a contact. A duplicate email (any case) raises Conflict with the existing id."""
    unknown = set(fields) - set(STANDARD_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    email = normalize_email(email)
    existing = find_contact_by_email(workspace, email)
    if existing is not None:
        raise Conflict("A contact with this email already exists.", id=str(existing.id))
    _refuse_erased(workspace, email)
    _check_contact_limit(workspace)
    cleaned = {k: v for k, v in validate_properties(workspace, properties).items() if v is not None}
    contact = Contact(workspace=workspace, email=email, properties=cleaned, **fields)
    _clean_fields(contact)
    lists = _resolve_lists(workspace, list_ids) if list_ids is not None else []
    contact.save()
    _activity(contact, ActivityKind.CREATED, actor=actor, data={"source": contact.source}).save()
    if tags:
        contact_tag(contact=contact, names=tags, actor=actor, announce=False)
    for contact_list in lists:
        list_add_contacts(contact_list=contact_list, contact_ids=[contact.id], actor=actor)
    events.emit(
        workspace,
        events.CONTACT_CREATED,
        subject_id=contact.id,
        data=_snapshot(contact) | {"tags": sorted(tags or [])},
    )
    enrich_contacts(workspace, [contact.id])
    segments_contacts_changed(workspace, [contact.id])
    return contact


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    actor=None,
    properties: Mapping[str, Any] | None = None,
    replace_properties: bool = False,
    tags: Iterable[str] | None = None,
    list_ids: Iterable[Any] | None = None,
    **fields: Any,
) -> Contact:
    """Change a contact. ``properties`` are merged (``None`` removes a key) unless
    ``replace_properties``; ``tags`` and ``list_ids``, when given, replace the current sets."""
    unknown = set(fields) - set(STANDARD_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    workspace = contact.workspace
    if "email" in fields:
        fields["email"] = normalize_email(fields["email"])
        other = find_contact_by_email(workspace, fields["email"])
        if other is not None and other.pk != contact.pk:
            raise Conflict("A contact with this email already exists.", id=str(other.id))
    changed: dict[str, list[Any]] = {}
    for name, value in fields.items():
        old = getattr(contact, name)
        if old != value:
            changed[name] = [_json_safe(old), _json_safe(value)]
            setattr(contact, name, value)
    if properties is not None:
        cleaned = validate_properties(workspace, properties)
        base = {} if replace_properties else contact.properties
        new_props = merge_properties(base, cleaned)
        if new_props != contact.properties:
            changed["properties"] = [contact.properties, new_props]
            contact.properties = new_props
    _clean_fields(contact)
    lists = _resolve_lists(workspace, list_ids) if list_ids is not None else None
    if changed:
        contact.save()
        _activity(
            contact,
            ActivityKind.UPDATED,
            actor=actor,
            data={"changed": sorted(changed)},
        ).save()
        if "email" in changed:
            enrich_contacts(workspace, [contact.id])
    if tags is not None:
        changed |= _replace_tags(contact, tags, actor)
    if lists is not None:
        changed |= _replace_lists(contact, lists, actor)
    if changed:
        events.emit(
            workspace,
            events.CONTACT_UPDATED,
            subject_id=contact.id,
            data={"id": contact.id, "email": contact.email, "changed": changed},
        )
        segments_contacts_changed(workspace, [contact.id])
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, actor=None) -> None:
    events.emit(
        contact.workspace,
        events.CONTACT_DELETED,
        subject_id=contact.id,
        data={"id": contact.id, "email": contact.email},
    )
    contact.delete()


@transaction.atomic
def contact_archive(*, contact: Contact, actor=None) -> Contact:
    """Hide a contact from lists and sends, keeping its data; restorable."""
    if contact.archived_at is None:
        contact.archived_at = timezone.now()
        contact.save(update_fields=["archived_at", "updated_at"])
        _activity(contact, ActivityKind.ARCHIVED, actor=actor).save()
        events.emit(
            contact.workspace,
            events.CONTACT_UPDATED,
            subject_id=contact.id,
            data={
                "id": contact.id,
                "email": contact.email,
                "changed": {"archived": [False, True]},
            },
        )
        segments_contacts_changed(contact.workspace_id, [contact.id])
    return contact


@transaction.atomic
def contact_restore(*, contact: Contact, actor=None) -> Contact:
    if contact.archived_at is not None:
        contact.archived_at = None
        contact.save(update_fields=["archived_at", "updated_at"])
        _activity(contact, ActivityKind.RESTORED, actor=actor).save()
        events.emit(
            contact.workspace,
            events.CONTACT_UPDATED,
            subject_id=contact.id,
            data={
                "id": contact.id,
                "email": contact.email,
                "changed": {"archived": [True, False]},
            },
        )
        segments_contacts_changed(contact.workspace_id, [contact.id])
    return contact


# --- tags --------------------------------------------------------------------------------------


def _clean_tag_names(names: Iterable[str]) -> list[str]:
    cleaned: dict[str, str] = {}
    for raw in names:
        if not isinstance(raw, str) or not raw.strip():
            raise ValidationError({"tags": ["Tag names must be non-empty text."]})
        name = raw.strip()
        if len(name) > 100:
            raise ValidationError({"tags": [f"Tag '{name[:20]}…' is longer than 100 characters."]})
        cleaned.setdefault(name.lower(), name)
    return list(cleaned.values())


def tags_get_or_create(*, workspace: Workspace, names: Iterable[str]) -> list[Tag]:
    """Resolve tag names case-insensitively inside the workspace, creating the missing ones."""
    wanted = _clean_tag_names(names)
    if not wanted:
        return []
    lowered = [name.lower() for name in wanted]
    existing = {
        tag.name.lower(): tag
        for tag in Tag.objects.for_workspace(workspace)
        .annotate(name_lower=Lower("name"))
        .filter(name_lower__in=lowered)
    }
    missing = [Tag(workspace=workspace, name=n) for n in wanted if n.lower() not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {
            tag.name.lower(): tag
            for tag in Tag.objects.for_workspace(workspace)
            .annotate(name_lower=Lower("name"))
            .filter(name_lower__in=lowered)
        }
    return [existing[name] for name in lowered]


@transaction.atomic
def contact_tag(
    *, contact: Contact, names: Iterable[str], actor=None, announce: bool = True
) -> list[Tag]:
    """Add tags (created when unknown) to a contact; returns the tags newly added."""
    tags = tags_get_or_create(workspace=contact.workspace, names=names)
    have = set(ContactTag.objects.filter(contact=contact).values_list("tag_id", flat=True))
    added = [tag for tag in tags if tag.id not in have]
    ContactTag.objects.bulk_create(
        [ContactTag(contact=contact, tag=tag) for tag in added], ignore_conflicts=True
    )
    Activity.objects.bulk_create(
        [_activity(contact, ActivityKind.TAGGED, actor=actor, subject=tag.name) for tag in added]
    )
    if added:
        segments_contacts_changed(contact.workspace_id, [contact.id])
    if added and announce:
        _announce_change(contact, "tags", added=[t.name for t in added])
    return added


@transaction.atomic
def contact_untag(*, contact: Contact, name: str, actor=None) -> bool:
    """Remove one tag by name (any case). Returns whether the contact had it."""
    link = (
        ContactTag.objects.filter(contact=contact)
        .annotate(name_lower=Lower("tag__name"))
        .filter(name_lower=name.strip().lower())
        .select_related("tag")
        .first()
    )
    if link is None:
        return False
    link.delete()
    _activity(contact, ActivityKind.UNTAGGED, actor=actor, subject=link.tag.name).save()
    _announce_change(contact, "tags", removed=[link.tag.name])
    segments_contacts_changed(contact.workspace_id, [contact.id])
    return True


def _replace_tags(contact: Contact, names: Iterable[str], actor) -> dict[str, list[Any]]:
    tags = tags_get_or_create(workspace=contact.workspace, names=names)
    wanted = {tag.id: tag for tag in tags}
    current = {
        link.tag_id: link.tag
        for link in ContactTag.objects.filter(contact=contact).select_related("tag")
    }
    added = [tag for tag_id, tag in wanted.items() if tag_id not in current]
    removed = [tag for tag_id, tag in current.items() if tag_id not in wanted]
    if not added and not removed:
        return {}
    ContactTag.objects.filter(contact=contact, tag__in=removed).delete()
    ContactTag.objects.bulk_create([ContactTag(contact=contact, tag=tag) for tag in added])
    Activity.objects.bulk_create(
        [_activity(contact, ActivityKind.TAGGED, actor=actor, subject=t.name) for t in added]
        + [_activity(contact, ActivityKind.UNTAGGED, actor=actor, subject=t.name) for t in removed]
    )
    return {"tags": [sorted(t.name for t in current.values()), sorted(t.name for t in tags)]}


def _announce_change(contact: Contact, field: str, **detail: list[str]) -> None:
    events.emit(
        contact.workspace,
        events.CONTACT_UPDATED,
        subject_id=contact.id,
        data={"id": contact.id, "email": contact.email, "changed": {field: detail}},
    )


@transaction.atomic
def tag_create(*, workspace: Workspace, name: str, description: str = "") -> Tag:
    (name,) = _clean_tag_names([name])
    if Tag.objects.for_workspace(workspace).filter(name__iexact=name).exists():
        raise Conflict(f"A tag named '{name}' already exists.")
    return Tag.objects.create(workspace=workspace, name=name, description=description)


@transaction.atomic
def tag_update(*, tag: Tag, name: str | None = None, description: str | None = None) -> Tag:
    if name is not None:
        (name,) = _clean_tag_names([name])
        clash = (
            Tag.objects.for_workspace(tag.workspace).filter(name__iexact=name).exclude(pk=tag.pk)
        )
        if clash.exists():
            raise Conflict(f"A tag named '{name}' already exists.")
        tag.name = name
    if description is not None:
        tag.description = description
    tag.save()
    return tag


@transaction.atomic
def tag_delete(*, tag: Tag) -> None:
    tag.delete()


# --- lists -------------------------------------------------------------------------------------


def _resolve_lists(workspace: Workspace, list_ids: Iterable[Any]) -> list[ContactList]:
    ids = [str(value) for value in list_ids]
    found = {
        str(cl.id): cl
        for cl in ContactList.objects.for_workspace(workspace).filter(id__in=_valid_uuids(ids))
    }
    missing = [value for value in ids if value not in found]
    if missing:
        raise ValidationError({"lists": [f"No list with id {value}." for value in missing]})
    return list(found.values())


def _valid_uuids(values: Iterable[str]) -> list[str]:
    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return valid


def _replace_lists(contact: Contact, lists: list[ContactList], actor) -> dict[str, list[Any]]:
    wanted = {cl.id for cl in lists}
    current = set(
        ListMembership.objects.filter(contact=contact).values_list("contact_list_id", flat=True)
    )
    if wanted == current:
        return {}
    for contact_list in lists:
        if contact_list.id not in current:
            list_add_contacts(contact_list=contact_list, contact_ids=[contact.id], actor=actor)
    for removed in ContactList.objects.filter(id__in=current - wanted):
        list_remove_contacts(contact_list=removed, contact_ids=[contact.id], actor=actor)
    return {"lists": [sorted(str(i) for i in current), sorted(str(i) for i in wanted)]}


@transaction.atomic
def contact_list_create(
    *,
    workspace: Workspace,
    name: str,
    description: str = "",
    double_opt_in: bool = False,
) -> ContactList:
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["This field may not be blank."]})
    if ContactList.objects.for_workspace(workspace).filter(name=name).exists():
        raise Conflict(f"A list named '{name}' already exists.")
    return ContactList.objects.create(
        workspace=workspace,
        name=name,
        description=description,
        double_opt_in=double_opt_in,
    )


@transaction.atomic
def contact_list_update(*, contact_list: ContactList, **changes: Any) -> ContactList:
    allowed = {"name", "description", "double_opt_in"}
    for field, value in changes.items():
        if field not in allowed:
            raise ValidationError({field: ["Unknown field."]})
        if field == "name":
            value = value.strip()
            clash = ContactList.objects.for_workspace(contact_list.workspace).filter(name=value)
            if clash.exclude(pk=contact_list.pk).exists():
                raise Conflict(f"A list named '{value}' already exists.")
        setattr(contact_list, field, value)
    contact_list.full_clean(exclude=["workspace"], validate_constraints=False)
    contact_list.save()
    return contact_list


@transaction.atomic
def contact_list_delete(*, contact_list: ContactList) -> None:
    contact_list.delete()


def contact_ids_for(
    workspace: Workspace, *, ids: Iterable[Any] = (), emails: Iterable[str] = ()
) -> tuple[list[Any], list[str]]:
    """Resolve ids and emails to contact ids inside the workspace; returns (found, not_found)."""
    ids = [str(value) for value in ids]
    emails = [str(value).strip().lower() for value in emails]
    contacts = Contact.objects.for_workspace(workspace)
    found: dict[str, Any] = {}
    if ids:
        for pk in contacts.filter(id__in=_valid_uuids(ids)).values_list("id", flat=True):
            found[str(pk)] = pk
    by_email: dict[str, Any] = {}
    if emails:
        rows = contacts.annotate(email_lower=Lower("email")).filter(email_lower__in=emails)
        by_email = dict(rows.values_list("email_lower", "id"))
    not_found = [v for v in ids if v not in found] + [e for e in emails if e not in by_email]
    return list({*found.values(), *by_email.values()}), not_found


@transaction.atomic
def list_add_contacts(*, contact_list: ContactList, contact_ids: Iterable[Any], actor=None) -> int:
    """Add contacts (already resolved in the list's workspace) to a static list; returns how
    many were new members."""
    contact_ids = list(contact_ids)
    have = set(
        ListMembership.objects.filter(
            contact_list=contact_list, contact_id__in=contact_ids
        ).values_list("contact_id", flat=True)
    )
    new_ids = [pk for pk in contact_ids if pk not in have]
    ListMembership.objects.bulk_create(
        [ListMembership(contact_list=contact_list, contact_id=pk) for pk in new_ids],
        batch_size=1000,
        ignore_conflicts=True,
    )
    _log_activities(
        contact_list.workspace_id,
        new_ids,
        ActivityKind.LIST_ADDED,
        subject=contact_list.name,
        data={"list_id": str(contact_list.id)},
        actor=actor,
    )
    events.emit_many(
        contact_list.workspace_id,
        events.CONTACT_LIST_ADDED,
        [(pk, {"id": pk, "list_id": contact_list.id, "list": contact_list.name}) for pk in new_ids],
    )
    segments_contacts_changed(contact_list.workspace_id, new_ids)
    return len(new_ids)


@transaction.atomic
def list_remove_contacts(
    *, contact_list: ContactList, contact_ids: Iterable[Any], actor=None
) -> int:
    contact_ids = list(contact_ids)
    members = ListMembership.objects.filter(contact_list=contact_list, contact_id__in=contact_ids)
    removed_ids = list(members.values_list("contact_id", flat=True))
    members.delete()
    _log_activities(
        contact_list.workspace_id,
        removed_ids,
        ActivityKind.LIST_REMOVED,
        subject=contact_list.name,
        data={"list_id": str(contact_list.id)},
        actor=actor,
    )
    segments_contacts_changed(contact_list.workspace_id, removed_ids)
    return len(removed_ids)


@transaction.atomic
def contacts_tag_bulk(
    *,
    workspace: Workspace,
    contact_ids: Iterable[Any],
    names: Iterable[str],
    actor=None,
) -> int:
    """Tag many contacts at once (admin and dashboard bulk actions); returns links added."""
    tags = tags_get_or_create(workspace=workspace, names=names)
    ids = list(
        Contact.objects.for_workspace(workspace)
        .filter(id__in=list(contact_ids))
        .values_list("id", flat=True)
    )
    added = 0
    per_contact: dict[Any, list[str]] = {}
    for tag in tags:
        have = set(
            ContactTag.objects.filter(tag=tag, contact_id__in=ids).values_list(
                "contact_id", flat=True
            )
        )
        new_ids = [pk for pk in ids if pk not in have]
        ContactTag.objects.bulk_create(
            [ContactTag(tag=tag, contact_id=pk) for pk in new_ids],
            batch_size=1000,
            ignore_conflicts=True,
        )
        _log_activities(workspace.id, new_ids, ActivityKind.TAGGED, subject=tag.name, actor=actor)
        added += len(new_ids)
        for pk in new_ids:
            per_contact.setdefault(pk, []).append(tag.name)
    emails = dict(Contact.objects.filter(pk__in=list(per_contact)).values_list("pk", "email"))
    events.emit_many(
        workspace,
        events.CONTACT_UPDATED,
        [
            (pk, {"id": pk, "email": emails[pk], "changed": {"tags": {"added": sorted(names)}}})
            for pk, names in per_contact.items()
        ],
    )
    segments_contacts_changed(workspace, ids)
    return added


@transaction.atomic
def contacts_set_property(
    *, workspace: Workspace, contact_ids: Iterable[Any], key: str, value: Any, actor=None
) -> int:
    """Set one custom property to one value on many contacts (automations, bulk edits): the
    value is validated once, written with one UPDATE, announced as contact.updated per contact
    whose value changed; returns how many changed."""
    cleaned = validate_properties(workspace, {key: value})
    new = cleaned.get(key)
    rows = list(
        Contact.objects.for_workspace(workspace)
        .filter(pk__in=list(contact_ids))
        .values_list("pk", "email", "properties")
    )
    changing = [(pk, email, props) for pk, email, props in rows if props.get(key) != new]
    if not changing:
        return 0
    ids = [pk for pk, _, _ in changing]
    table = Contact._meta.db_table
    in_list = ", ".join(["%s"] * len(ids))
    ws = workspace.pk.hex if connection.vendor == "sqlite" else workspace.pk
    db_ids = [pk.hex if connection.vendor == "sqlite" else pk for pk in ids]
    encoded = json.dumps(new, cls=DjangoJSONEncoder)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET properties = properties || jsonb_build_object(%s, %s::jsonb), "  # nosec B608 - identifiers are ours, values are bound parameters
                f"updated_at = %s WHERE workspace_id = %s AND id IN ({in_list})",
                [key, encoded, timezone.now(), ws, *db_ids],
            )
        else:
            path = '$."' + key.replace('"', "") + '"'
            cursor.execute(
                f"UPDATE {table} SET properties = json_set(properties, %s, json(%s)), "  # nosec B608 - identifiers are ours, values are bound parameters
                f"updated_at = %s WHERE workspace_id = %s AND id IN ({in_list})",
                [path, encoded, timezone.now(), ws, *db_ids],
            )
    _log_activities(
        workspace.pk, ids, ActivityKind.UPDATED, data={"changed": ["properties"]}, actor=actor
    )
    events.emit_many(
        workspace,
        events.CONTACT_UPDATED,
        [
            (
                pk,
                {
                    "id": pk,
                    "email": email,
                    "changed": {"properties": [props, {**props, key: new}]},
                },
            )
            for pk, email, props in changing
        ],
    )
    segments_contacts_changed(workspace, ids)
    return len(ids)


# --- property definitions ----------------------------------------------------------------------


def _clean_definition(definition: PropertyDefinition) -> None:
    options = definition.options
    if definition.type in (PropertyType.SELECT, PropertyType.MULTI_SELECT):
        if (
            not isinstance(options, list)
            or not options
            or not all(isinstance(o, str) and o for o in options)
        ):
            raise ValidationError({"options": ["A select property needs a list of text options."]})
    elif options:
        raise ValidationError(
            {"options": ["Only select and multi_select properties take options."]}
        )
    try:
        definition.full_clean(exclude=["workspace"], validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None


@transaction.atomic
def property_definition_create(
    *, workspace: Workspace, key: str, **fields: Any
) -> PropertyDefinition:
    if PropertyDefinition.objects.for_workspace(workspace).filter(key=key).exists():
        raise Conflict(f"A property with key '{key}' already exists.")
    definition = PropertyDefinition(workspace=workspace, key=key, **fields)
    definition.options = definition.options or []
    _clean_definition(definition)
    definition.save()
    return definition


@transaction.atomic
def property_definition_update(
    *, definition: PropertyDefinition, **fields: Any
) -> PropertyDefinition:
    if "key" in fields and fields["key"] != definition.key:
        raise ValidationError({"key": ["The key of a property cannot change; create a new one."]})
    for name, value in fields.items():
        setattr(definition, name, value)
    definition.options = definition.options or []
    _clean_definition(definition)
    definition.save()
    return definition


@transaction.atomic
def property_definition_delete(*, definition: PropertyDefinition) -> None:
    """Delete a definition and remove its values from every contact of the workspace."""
    _remove_property_values(definition.workspace_id, definition.key)
    definition.delete()


def _remove_property_values(workspace_id: Any, key: str) -> None:
    table = Contact._meta.db_table
    ws = workspace_id.hex if connection.vendor == "sqlite" else workspace_id
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET properties = properties - %s "  # nosec B608 - identifiers are ours, values are bound parameters
                f"WHERE workspace_id = %s AND properties ? %s",
                [key, ws, key],
            )
        else:
            path = '$."' + key.replace('"', "") + '"'
            cursor.execute(
                f"UPDATE {table} SET properties = json_remove(properties, %s) "  # nosec B608 - identifiers are ours, values are bound parameters
                f"WHERE workspace_id = %s AND json_type(properties, %s) IS NOT NULL",
                [path, ws, path],
            )


# --- companies ---------------------------------------------------------------------------------

COMPANY_FIELDS = ("name", "domain", "industry", "size", "plan", "spend", "properties")


def _clean_company(company: Company) -> None:
    if not isinstance(company.properties, dict):
        raise ValidationError({"properties": ["Must be an object."]})
    try:
        company.full_clean(exclude=["workspace"], validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None


def _set_company_contacts(company: Company, members: list[Mapping[str, Any]]) -> None:
    ids = [str(m.get("id") or m.get("contact_id")) for m in members]
    found, missing = contact_ids_for(company.workspace, ids=ids)
    if missing:
        raise ValidationError({"contacts": [f"No contact with id {value}." for value in missing]})
    CompanyRole.objects.filter(company=company).exclude(contact_id__in=found).delete()
    for member in members:
        contact_id = str(member.get("id") or member.get("contact_id"))
        CompanyRole.objects.update_or_create(
            company=company,
            contact_id=contact_id,
            defaults={"role": member.get("role") or ""},
        )
    segments_contacts_changed(company.workspace_id, found)


@transaction.atomic
def company_create(
    *,
    workspace: Workspace,
    contacts: list[Mapping[str, Any]] | None = None,
    **fields: Any,
) -> Company:
    company = Company(workspace=workspace, **fields)
    company.properties = company.properties or {}
    _clean_company(company)
    company.save()
    if contacts:
        _set_company_contacts(company, contacts)
    return company


@transaction.atomic
def company_update(
    *, company: Company, contacts: list[Mapping[str, Any]] | None = None, **fields: Any
) -> Company:
    for name, value in fields.items():
        if name not in COMPANY_FIELDS:
            raise ValidationError({name: ["Unknown field."]})
        setattr(company, name, value)
    company.properties = company.properties or {}
    _clean_company(company)
    company.save()
    if contacts is not None:
        _set_company_contacts(company, contacts)
    member_ids = CompanyRole.objects.filter(company=company).values_list("contact_id", flat=True)
    segments_contacts_changed(company.workspace_id, member_ids)
    return company


@transaction.atomic
def company_delete(*, company: Company) -> None:
    company.delete()


@transaction.atomic
def company_set_role(*, company: Company, contact: Contact, role: str = "") -> CompanyRole:
    if company.workspace_id != contact.workspace_id:
        raise ValidationError({"contact": ["The contact belongs to another workspace."]})
    link, _ = CompanyRole.objects.update_or_create(
        company=company, contact=contact, defaults={"role": role}
    )
    return link


# --- activities --------------------------------------------------------------------------------


@transaction.atomic
def activity_log(
    *,
    contact: Contact,
    kind: str,
    subject: str = "",
    body: str = "",
    occurred_at: datetime | None = None,
    data: Mapping[str, Any] | None = None,
    actor=None,
) -> Activity:
    """Log a manual timeline entry: a note, call, meeting or task."""
    if kind not in MANUAL_ACTIVITY_KINDS:
        allowed = ", ".join(MANUAL_ACTIVITY_KINDS)
        raise ValidationError({"kind": [f"Must be one of: {allowed}."]})
    if not subject.strip() and not body.strip():
        raise ValidationError({"body": ["Write a subject or a body."]})
    activity = _activity(contact, kind, actor=actor, subject=subject.strip(), data=dict(data or {}))
    activity.body = body
    activity.occurred_at = occurred_at or timezone.now()
    activity.full_clean(exclude=["workspace", "contact", "created_by"])
    activity.save()
    return activity


def timeline_record(
    *, contact: Contact, kind: str, subject: str = "", data: Mapping[str, Any] | None = None
) -> Activity:
    """Put something another app saw (a form sign-up, a confirmation) on the timeline."""
    activity = _activity(contact, kind, subject=subject[:300], data=dict(data or {}))
    activity.save()
    return activity


def contacts_in(workspace: Workspace, contact_ids: Iterable[Any]) -> QuerySet[Contact]:
    return Contact.objects.for_workspace(workspace).filter(id__in=list(contact_ids))


@transaction.atomic
def contact_set_status_by_email(
    *, workspace: Workspace, email: str, status: str, reason: str = ""
) -> Contact | None:
    """Mark the workspace's contact with this address (any case) bounced, complained,
    unsubscribed or active again; returns it, or None when there is no such contact."""
    contact = find_contact_by_email(workspace, email)
    if contact is None or contact.status == status:
        return contact
    old = contact.status
    contact.status = status
    contact.save(update_fields=["status", "updated_at"])
    _activity(contact, ActivityKind.UPDATED, subject=reason, data={"changed": ["status"]}).save()
    events.emit(
        workspace,
        events.CONTACT_UNSUBSCRIBED if status == "unsubscribed" else events.CONTACT_UPDATED,
        subject_id=contact.id,
        data={"id": contact.id, "email": contact.email, "changed": {"status": [old, status]}},
    )
    segments_contacts_changed(workspace, [contact.id])
    return contact
