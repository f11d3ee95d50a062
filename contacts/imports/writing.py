"""Writing a chunk of validated rows with a few set-based statements through a temporary
table (COPY on PostgreSQL), then the chunk's tags, list, timeline, events and segment
re-evaluation in bulk. What differs between PostgreSQL and SQLite lives in the writers."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from contacts.imports.rows import TEXT_FIELDS, Row
from contacts.models import (
    Activity,
    ActivityKind,
    Contact,
    ContactSource,
    ContactStatus,
    ContactTag,
    ImportJob,
    LifecycleStage,
    ListMembership,
)
from contacts.segmentation import segments_contacts_changed
from mailcrm import events
from mailcrm.models import Event, Workspace


def uuid7_batch(count: int) -> list[uuid.UUID]:
    """``count`` ids laid out as mailcrm.ids.uuid7 makes them, from one read of randomness."""
    head = ((time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | 0b10 << 62
    raw = os.urandom(10 * count)
    ids = []
    for start in range(0, 10 * count, 10):
        rand = int.from_bytes(raw[start : start + 10], "big")
        value = head | ((rand >> 68) & 0xFFF) << 64 | (rand & 0x3FFF_FFFF_FFFF_FFFF)
        ids.append(uuid.UUID(int=value))
    return ids


_TEMP = "mailcrm_import_rows"
_TEMP_COLUMNS = (
    "row_no",
    "id",
    "email",
    "email_lower",
    *TEXT_FIELDS,
    "status",
    "lifecycle_stage",
    "tracking_opt_out",
    "properties",
)
_UPDATABLE = (*TEXT_FIELDS, "status", "lifecycle_stage", "tracking_opt_out")


class _Writer:
    """What differs between PostgreSQL and SQLite when writing a chunk, in one place."""

    temp_types = {
        "row_no": "integer",
        "id": "char(32)",
        # No declared type, hence no affinity: a TEXT column compared with lower(email) stops
        # SQLite from using the (workspace, lower(email)) index, and every match would scan
        # the whole workspace.
        "email_lower": "",
        "tracking_opt_out": "boolean",
        "properties": "text",
    }
    merge_properties = "json_patch(contacts_contact.properties, t.properties)"

    def __init__(self, cursor):
        self.cursor = cursor

    def uuid(self, value: uuid.UUID) -> Any:
        return value.hex

    def create_temp(self) -> None:
        columns = ", ".join(
            f"{name} {self.temp_types.get(name, 'text')}".strip() for name in _TEMP_COLUMNS
        )
        self.cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
        self.cursor.execute(f"CREATE TEMP TABLE {_TEMP} ({columns})")

    def load(self, rows: list[tuple]) -> None:
        placeholders = ", ".join(["%s"] * len(_TEMP_COLUMNS))
        self.cursor.executemany(
            f"INSERT INTO {_TEMP} ({', '.join(_TEMP_COLUMNS)}) VALUES ({placeholders})", rows
        )

    def drop_temp(self) -> None:
        self.cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")

    def link(self, table: str, column: str, target: Any, contact_ids: list[uuid.UUID], now) -> None:
        """Link many contacts to one tag or list, keeping existing links."""
        stamp = "created_at" if table == ContactTag._meta.db_table else "added_at"
        self.cursor.executemany(
            f"INSERT INTO {table} (contact_id, {column}, {stamp}) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [(self.uuid(pk), self.uuid(target), now) for pk in contact_ids],
        )

    def insert_rows(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        placeholders = ", ".join(["%s"] * len(columns))
        self.cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows
        )

    def emit(self, workspace: Workspace, event_type: str, items: list[tuple[Any, dict]]) -> None:
        events.emit_many(workspace, event_type, items)


class _PostgresWriter(_Writer):
    temp_types = {
        "row_no": "integer",
        "id": "uuid",
        "tracking_opt_out": "boolean",
        "properties": "jsonb",
    }
    merge_properties = "contacts_contact.properties || t.properties"

    def uuid(self, value: uuid.UUID) -> Any:
        return value

    def load(self, rows: list[tuple]) -> None:
        with self.cursor.copy(f"COPY {_TEMP} ({', '.join(_TEMP_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # A fresh temporary table has no statistics; without them the planner may scan
        # contacts instead of probing the (workspace, lower(email)) index per row.
        self.cursor.execute(f"ANALYZE {_TEMP}")

    def link(self, table: str, column: str, target: Any, contact_ids: list[uuid.UUID], now) -> None:
        stamp = "created_at" if table == ContactTag._meta.db_table else "added_at"
        # One text parameter: psycopg's uuid[] adapter costs more than the insert itself.
        self.cursor.execute(
            f"INSERT INTO {table} (contact_id, {column}, {stamp}) "
            "SELECT unnest(string_to_array(%s, ',')::uuid[]), %s, %s ON CONFLICT DO NOTHING",
            [",".join(map(str, contact_ids)), target, now],
        )

    def insert_rows(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        with self.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def emit(self, workspace: Workspace, event_type: str, items: list[tuple[Any, dict]]) -> None:
        # The rows events.emit_many() would write, in the same transaction, by COPY: building
        # one Event object per contact cost more than the rest of the import.
        now = timezone.now()
        ids = uuid7_batch(len(items))
        self.insert_rows(
            Event._meta.db_table,
            ["id", "workspace_id", "type", "subject_id", "data", "created_at"],
            [
                (
                    pk,
                    workspace.pk,
                    event_type,
                    subject,
                    json.dumps(data, cls=DjangoJSONEncoder),
                    now,
                )
                for pk, (subject, data) in zip(ids, items, strict=True)
            ],
        )


def _writer(cursor) -> _Writer:
    return _PostgresWriter(cursor) if connection.vendor == "postgresql" else _Writer(cursor)


def _insert_sql(workspace_id: Any) -> tuple[str, list[Any]]:
    """INSERT … SELECT from the temporary table, every non-null column of Contact filled (a
    column added later gets its model default), conflicts (existing emails) left alone."""
    given = {
        "id": "t.id",
        "workspace_id": "%s",
        "email": "t.email",
        **{name: f"COALESCE(t.{name}, %s)" for name in _UPDATABLE},
        "source": "%s",
        "properties": "t.properties",
    }
    params_for = {"workspace_id": workspace_id, "source": ContactSource.IMPORT}
    now = timezone.now()
    columns, expressions, params = [], [], []
    for model_field in Contact._meta.concrete_fields:
        name = model_field.column
        if name in given:
            expression = given[name]
            value = params_for.get(name, model_field.get_default())
        elif getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            expression, value = "%s", now
        elif model_field.null:
            continue
        else:
            expression, value = "%s", model_field.get_default()
        columns.append(name)
        expressions.append(expression)
        if "%s" in expression:
            params.append(model_field.get_db_prep_save(value, connection))
    sql = (
        f"INSERT INTO contacts_contact ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM {_TEMP} t WHERE 1 = 1 "
        "ON CONFLICT DO NOTHING RETURNING id, lower(email)"
    )
    return sql, params


@dataclass
class Outcome:
    created: dict[str, Any] = field(default_factory=dict)  # email_lower -> id
    updated: dict[str, Any] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _temp_row(writer: _Writer, row: Row, pk: uuid.UUID) -> tuple:
    values = row.values
    return (
        row.number,
        writer.uuid(pk),
        row.email,
        row.email_lower,
        *(values.get(name) for name in TEXT_FIELDS),
        values.get("status"),
        values.get("lifecycle_stage"),
        values.get("tracking_opt_out"),
        json.dumps(row.properties),
    )


def write_chunk(job: ImportJob, rows: list[Row], *, tag_ids: list) -> Outcome:
    """Create or update the chunk's contacts; ``tag_ids`` are added to every one of them."""
    outcome = Outcome()
    workspace_id = job.workspace_id
    with connection.cursor() as cursor:
        writer = _writer(cursor)
        ws = writer.uuid(workspace_id)
        writer.create_temp()
        ids = uuid7_batch(len(rows))
        writer.load([_temp_row(writer, row, pk) for row, pk in zip(rows, ids, strict=True)])
        match = (
            f"FROM {_TEMP} t WHERE contacts_contact.workspace_id = %s "
            "AND lower(contacts_contact.email) = t.email_lower"
        )
        if job.update_existing:
            stamp = Contact._meta.get_field("updated_at").get_db_prep_save(
                timezone.now(), connection
            )
            sets = ", ".join(
                f"{name} = COALESCE(t.{name}, contacts_contact.{name})" for name in _UPDATABLE
            )
            cursor.execute(
                f"UPDATE contacts_contact SET {sets}, "
                f"properties = {writer.merge_properties}, updated_at = %s "
                f"{match} RETURNING contacts_contact.id, lower(contacts_contact.email)",
                [stamp, ws],
            )
            outcome.updated = {email: _as_uuid(pk) for pk, email in cursor.fetchall()}
        else:
            cursor.execute(
                f"SELECT t.email_lower FROM {_TEMP} t JOIN contacts_contact c "
                "ON c.workspace_id = %s AND lower(c.email) = t.email_lower",
                [ws],
            )
            outcome.skipped = {email for (email,) in cursor.fetchall()}
        sql, params = _insert_sql(ws)
        cursor.execute(sql, params)
        outcome.created = {email: _as_uuid(pk) for pk, email in cursor.fetchall()}
        writer.drop_temp()
        # A row neither updated nor created met a contact created meanwhile by someone else.
        for row in rows:
            if row.email_lower not in outcome.created and row.email_lower not in outcome.updated:
                outcome.skipped.add(row.email_lower)
        _after_write(job, writer, rows, outcome, tag_ids)
    return outcome


def _after_write(
    job: ImportJob, writer: _Writer, rows: list[Row], outcome: Outcome, tag_ids: list
) -> None:
    """Tags, list, timeline, events and segment re-evaluation for the chunk, in bulk."""
    touched = [*outcome.created.values(), *outcome.updated.values()]
    if not touched:
        return
    now = timezone.now()
    stamp = Contact._meta.get_field("created_at").get_db_prep_save(now, connection)
    for tag_id in tag_ids:
        writer.link(ContactTag._meta.db_table, "tag_id", tag_id, touched, stamp)
    if job.contact_list_id:
        writer.link(
            ListMembership._meta.db_table, "contact_list_id", job.contact_list_id, touched, stamp
        )
    created_ids = set(outcome.created.values())
    data = {
        True: json.dumps({"import_id": str(job.pk), "created": True}),
        False: json.dumps({"import_id": str(job.pk), "created": False}),
    }
    writer.insert_rows(
        Activity._meta.db_table,
        [
            "id",
            "workspace_id",
            "contact_id",
            "kind",
            "subject",
            "body",
            "data",
            "occurred_at",
            "created_by_id",
            "created_at",
        ],
        [
            (
                writer.uuid(activity_id),
                writer.uuid(job.workspace_id),
                writer.uuid(pk),
                ActivityKind.IMPORTED,
                job.filename[:300],
                "",
                data[pk in created_ids],
                stamp,
                writer.uuid(job.created_by_id) if job.created_by_id else None,
                stamp,
            )
            for pk, activity_id in zip(touched, uuid7_batch(len(touched)), strict=True)
        ],
    )
    by_email = {row.email_lower: row for row in rows}
    tag_names = sorted(job.tags)
    writer.emit(
        job.workspace,
        events.CONTACT_CREATED,
        [
            (pk, _created_event(pk, by_email[email], tag_names, job))
            for email, pk in outcome.created.items()
        ],
    )
    writer.emit(
        job.workspace,
        events.CONTACT_UPDATED,
        [(pk, _updated_event(pk, by_email[email], job)) for email, pk in outcome.updated.items()],
    )
    segments_contacts_changed(job.workspace_id, touched)


def _created_event(pk: Any, row: Row, tag_names: list[str], job: ImportJob) -> dict:
    values = row.values
    return {
        "id": pk,
        "email": row.email,
        "first_name": values.get("first_name", ""),
        "last_name": values.get("last_name", ""),
        "status": values.get("status", ContactStatus.ACTIVE),
        "lifecycle_stage": values.get("lifecycle_stage", LifecycleStage.SUBSCRIBER),
        "source": ContactSource.IMPORT,
        "properties": row.properties,
        "tags": tag_names,
        "import_id": job.pk,
    }


def _updated_event(pk: Any, row: Row, job: ImportJob) -> dict:
    changed = sorted([*row.values, *(f"properties.{key}" for key in row.properties)])
    return {"id": pk, "email": row.email, "changed": changed, "import_id": job.pk}
