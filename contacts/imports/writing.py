"""Writing a chunk of validated rows with a few set-based statements through a temporary
table (COPY on PostgreSQL), then the chunk's tags, list, timeline, company links, one event
and segment re-evaluation in bulk. What differs between PostgreSQL and SQLite lives in the
writers."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from contacts.enrichment import enrich_contacts
from contacts.imports.rows import TEXT_FIELDS, Row
from contacts.models import (
    Activity,
    ActivityKind,
    Contact,
    ContactSource,
    ContactTag,
    ImportJob,
    ListMembership,
)
from contacts.segmentation import segments_contacts_changed
from mailcrm import events


def uuid7_batch(count: int) -> list[uuid.UUID]:
    """``count`` ids laid out as mailcrm.ids.uuid7 makes them, from one read of randomness."""
    head = _uuid7_head()
    raw = os.urandom(10 * count)
    ids = []
    for start in range(0, 10 * count, 10):
        rand = int.from_bytes(raw[start : start + 10], "big")
        value = head | ((rand >> 68) & 0xFFF) << 64 | (rand & 0x3FFF_FFFF_FFFF_FFFF)
        ids.append(uuid.UUID(int=value))
    return ids


def _uuid7_head() -> int:
    """The timestamp, version and variant bits of a uuid7 made now."""
    return ((time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | 0b10 << 62


_TEMP = "mailcrm_import_rows"
_TEMP_COLUMNS = (
    "row_no",
    "email",
    "email_lower",
    *TEXT_FIELDS,
    "status",
    "lifecycle_stage",
    "tracking_opt_out",
    "properties",
)
_UPDATABLE = (*TEXT_FIELDS, "status", "lifecycle_stage", "tracking_opt_out")
_ACTIVITY_COLUMNS = (
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
)


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
    # SQLite has no uuid function: new contacts' ids are made in Python and loaded with the rows.
    temp_columns = ("id", *_TEMP_COLUMNS)
    merge_properties = "json_patch(contacts_contact.properties, t.properties)"
    distinct = "IS NOT"

    def __init__(self, cursor):
        self.cursor = cursor

    def uuid(self, value: uuid.UUID) -> Any:
        return value.hex

    def new_id(self) -> tuple[str, list[Any]]:
        """The SQL expression (and its parameters) giving a new contact its id."""
        return "t.id", []

    def create_temp(self) -> None:
        columns = ", ".join(
            f"{name} {self.temp_types.get(name, 'text')}".strip() for name in self.temp_columns
        )
        self.cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
        self.cursor.execute(f"CREATE TEMP TABLE {_TEMP} ({columns})")

    def load(self, rows: list[Row]) -> None:
        ids = uuid7_batch(len(rows))
        placeholders = ", ".join(["%s"] * len(self.temp_columns))
        self.cursor.executemany(
            f"INSERT INTO {_TEMP} ({', '.join(self.temp_columns)}) VALUES ({placeholders})",
            [(pk.hex, *_temp_values(row)) for row, pk in zip(rows, ids, strict=True)],
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

    def timeline(self, job: ImportJob, contact_ids: list[uuid.UUID], created: bool, now) -> None:
        """One "Imported" timeline entry per contact."""
        if not contact_ids:
            return
        data = json.dumps({"import_id": str(job.pk), "created": created})
        user = self.uuid(job.created_by_id) if job.created_by_id else None
        workspace = self.uuid(job.workspace_id)
        subject = job.filename[:300]
        placeholders = ", ".join(["%s"] * len(_ACTIVITY_COLUMNS))
        self.cursor.executemany(
            f"INSERT INTO {Activity._meta.db_table} ({', '.join(_ACTIVITY_COLUMNS)}) "
            f"VALUES ({placeholders})",
            [
                (
                    self.uuid(activity_id),
                    workspace,
                    self.uuid(pk),
                    ActivityKind.IMPORTED,
                    subject,
                    "",
                    data,
                    now,
                    user,
                    now,
                )
                for pk, activity_id in zip(contact_ids, uuid7_batch(len(contact_ids)), strict=True)
            ],
        )


class _PostgresWriter(_Writer):
    temp_types = {
        "row_no": "integer",
        "tracking_opt_out": "boolean",
        "properties": "jsonb",
    }
    # Ids are made by the INSERT itself (see new_id): nothing to build or copy per row.
    temp_columns = _TEMP_COLUMNS
    merge_properties = "contacts_contact.properties || t.properties"
    distinct = "IS DISTINCT FROM"

    def uuid(self, value: uuid.UUID) -> Any:
        return value

    def new_id(self) -> tuple[str, list[Any]]:
        # A uuid7 as mailcrm.ids.uuid7 lays it out: this millisecond, version 7, then the
        # random bits (and variant) of gen_random_uuid(). The text form splits after the
        # version digit, so the head is a text prefix.
        head = f"{_uuid7_head() >> 64:016x}"
        prefix = f"{head[:8]}-{head[8:12]}-{head[12]}"
        return "(%s || substr(gen_random_uuid()::text, 16))::uuid", [prefix]

    def load(self, rows: list[Row]) -> None:
        with self.cursor.copy(f"COPY {_TEMP} ({', '.join(self.temp_columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(_temp_values(row))
        # A fresh temporary table has no statistics; without them the planner may scan
        # contacts instead of probing the (workspace, lower(email)) index per row. Only the
        # join column matters, and analysing the others (JSON, text) cost more than the COPY.
        self.cursor.execute(f"ANALYZE {_TEMP} (email_lower)")

    def link(self, table: str, column: str, target: Any, contact_ids: list[uuid.UUID], now) -> None:
        stamp = "created_at" if table == ContactTag._meta.db_table else "added_at"
        # One text parameter: psycopg's uuid[] adapter costs more than the insert itself.
        self.cursor.execute(
            f"INSERT INTO {table} (contact_id, {column}, {stamp}) "
            "SELECT unnest(string_to_array(%s, ',')::uuid[]), %s, %s ON CONFLICT DO NOTHING",
            [",".join(map(str, contact_ids)), target, now],
        )

    def timeline(self, job: ImportJob, contact_ids: list[uuid.UUID], created: bool, now) -> None:
        if not contact_ids:
            return
        new_id, params = self.new_id()
        self.cursor.execute(
            f"INSERT INTO {Activity._meta.db_table} ({', '.join(_ACTIVITY_COLUMNS)}) "
            f"SELECT {new_id}, %s, c.id, %s, %s, '', %s, %s, %s, %s "
            "FROM unnest(string_to_array(%s, ',')::uuid[]) AS c(id)",
            [
                *params,
                job.workspace_id,
                ActivityKind.IMPORTED,
                job.filename[:300],
                json.dumps({"import_id": str(job.pk), "created": created}),
                now,
                job.created_by_id,
                now,
                ",".join(map(str, contact_ids)),
            ],
        )


def _writer(cursor) -> _Writer:
    return _PostgresWriter(cursor) if connection.vendor == "postgresql" else _Writer(cursor)


def _insert_sql(writer: _Writer, workspace_id: Any) -> tuple[str, list[Any]]:
    """INSERT … SELECT from the temporary table, every non-null column of Contact filled (a
    column added later gets its model default), conflicts (existing emails) left alone."""
    new_id, id_params = writer.new_id()
    given = {
        "id": new_id,
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
        if name == "id":
            columns.append(name)
            expressions.append(new_id)
            params.extend(id_params)
            continue
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


def _temp_values(row: Row) -> tuple:
    values = row.values
    return (
        row.number,
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
        writer.load(rows)
        match = (
            f"FROM {_TEMP} t WHERE contacts_contact.workspace_id = %s "
            "AND lower(contacts_contact.email) = t.email_lower"
        )
        existing = (
            f"SELECT c.id, t.email_lower FROM {_TEMP} t JOIN contacts_contact c "
            "ON c.workspace_id = %s AND lower(c.email) = t.email_lower"
        )
        if job.update_existing:
            stamp = Contact._meta.get_field("updated_at").get_db_prep_save(
                timezone.now(), connection
            )
            new = {name: f"COALESCE(t.{name}, contacts_contact.{name})" for name in _UPDATABLE}
            new["properties"] = writer.merge_properties
            sets = ", ".join(f"{name} = {value}" for name, value in new.items())
            # A row the file leaves as it is is not rewritten, nor its updated_at moved: a
            # re-import of the same list costs an index probe per row instead of a new version
            # of the row in each of the table's ten indexes.
            changed = " OR ".join(
                f"{value} {writer.distinct} contacts_contact.{name}" for name, value in new.items()
            )
            cursor.execute(
                f"UPDATE contacts_contact SET {sets}, updated_at = %s {match} AND ({changed})",
                [stamp, ws],
            )
            cursor.execute(existing, [ws])
            outcome.updated = {email: _as_uuid(pk) for pk, email in cursor.fetchall()}
        else:
            cursor.execute(existing, [ws])
            outcome.skipped = {email for _, email in cursor.fetchall()}
        sql, params = _insert_sql(writer, ws)
        cursor.execute(sql, params)
        outcome.created = {email: _as_uuid(pk) for pk, email in cursor.fetchall()}
        writer.drop_temp()
        # A row neither updated nor created met a contact created meanwhile by someone else.
        for row in rows:
            if row.email_lower not in outcome.created and row.email_lower not in outcome.updated:
                outcome.skipped.add(row.email_lower)
        _after_write(job, writer, outcome, tag_ids)
    return outcome


def _after_write(job: ImportJob, writer: _Writer, outcome: Outcome, tag_ids: list) -> None:
    """Tags, list, timeline, company links, the chunk's event and segment re-evaluation, each
    one statement (or a few) for the whole chunk."""
    created = list(outcome.created.values())
    updated = list(outcome.updated.values())
    touched = [*created, *updated]
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
    writer.timeline(job, created, True, stamp)
    writer.timeline(job, updated, False, stamp)
    enrich_contacts(job.workspace, touched)
    # One event for the chunk rather than a contact.created/updated per row: the outbox row,
    # its JSON and its indexes cost as much as the contact itself. The ids let a consumer
    # follow every contact the import touched.
    events.emit(
        job.workspace,
        events.CONTACTS_IMPORTED,
        data={
            "import_id": job.pk,
            "created": len(created),
            "updated": len(updated),
            "created_ids": created,
            "updated_ids": updated,
        },
    )
    segments_contacts_changed(job.workspace_id, touched)
