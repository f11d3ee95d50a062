"""Writing a chunk of validated rows with a few set-based statements through a temporary
table (COPY on PostgreSQL), then the chunk's tags, list, company links, one event and segment
re-evaluation in bulk. What differs between PostgreSQL and SQLite lives in the writers.

No timeline row is written per contact: a new contact records the import that created it
(``Contact.source_import``) and its "Imported" entry is derived from that
(contacts/imports/timeline.py)."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from contacts.enrichment import companies_for, company_domain, enrich_contacts
from contacts.imports.rows import TEXT_FIELDS, Row
from contacts.models import (
    CompanyRole,
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

    def begin_chunk(self) -> None:
        """Settings for the chunk's transaction."""

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
            f"INSERT INTO {_TEMP} ({', '.join(self.temp_columns)}) VALUES ({placeholders})",  # nosec B608 - identifiers are ours, values are bound parameters
            [(pk.hex, *_copy_values(row)) for row, pk in zip(rows, ids, strict=True)],
        )

    def drop_temp(self) -> None:
        self.cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")

    def link(self, table: str, column: str, target: Any, contact_ids: list[uuid.UUID], now) -> None:
        """Link many contacts to one tag or list, keeping existing links."""
        stamp = "created_at" if table == ContactTag._meta.db_table else "added_at"
        self.cursor.executemany(
            f"INSERT INTO {table} (contact_id, {column}, {stamp}) VALUES (%s, %s, %s) "  # nosec B608 - identifiers are ours, values are bound parameters
            "ON CONFLICT DO NOTHING",
            [(self.uuid(pk), self.uuid(target), now) for pk in contact_ids],
        )

    def link_companies(self, job: ImportJob, rows: list[Row], outcome: Outcome) -> None:
        """Link the touched contacts to the company of their email domain."""
        enrich_contacts(job.workspace, outcome.touched())


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

    def begin_chunk(self) -> None:
        # The chunk's commit does not wait for its WAL to reach the disk. A crash may lose the
        # last chunks written, and their progress with them (same transaction); the import's
        # final commit waits, and flushes every chunk before it.
        self.cursor.execute("SET LOCAL synchronous_commit = off")

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
                copy.write_row(_copy_values(row))
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

    def link_companies(self, job: ImportJob, rows: list[Row], outcome: Outcome) -> None:
        # The domains come from the rows already in Python (a few distinct ones per chunk), and
        # the links are one INSERT of (contact, company) pairs: no second read of the contacts.
        # Segment re-evaluation needs no separate call: every touched contact is queued.
        ids = {**outcome.created, **outcome.updated}
        domain_of: dict[str, str | None] = {}
        names: dict[str, str] = {}
        pairs: list[tuple[Any, str]] = []
        for row in rows:
            pk = ids.get(row.email_lower)
            if pk is None:
                continue
            host = row.email_lower.rpartition("@")[2]
            if host not in domain_of:
                domain_of[host] = company_domain(row.email_lower)
            domain = domain_of[host]
            if domain is None:
                continue
            pairs.append((pk, domain))
            given = row.values.get("company") or ""
            if domain not in names or (given and (not names[domain] or given < names[domain])):
                names[domain] = given
        if not pairs:
            return
        companies = companies_for(job.workspace, names)
        self.cursor.execute(
            f"INSERT INTO {CompanyRole._meta.db_table} (contact_id, company_id, role) "
            "SELECT unnest(string_to_array(%s, ',')::uuid[]), "
            "unnest(string_to_array(%s, ',')::uuid[]), '' "
            "ON CONFLICT (contact_id, company_id) DO NOTHING",
            [
                ",".join(str(pk) for pk, _ in pairs),
                ",".join(str(companies[domain]) for _, domain in pairs),
            ],
        )


def _writer(cursor) -> _Writer:
    return _PostgresWriter(cursor) if connection.vendor == "postgresql" else _Writer(cursor)


def _insert_sql(writer: _Writer, workspace_id: Any, source_import: Any) -> tuple[str, list[Any]]:
    """INSERT … SELECT from the temporary table, every non-null column of Contact filled (a
    column added later gets its model default), conflicts (existing emails) left alone."""
    new_id, id_params = writer.new_id()
    given = {
        "id": new_id,
        "workspace_id": "%s",
        "email": "t.email",
        **{name: f"COALESCE(t.{name}, %s)" for name in _UPDATABLE},
        "source": "%s",
        "source_import_id": "%s",
        "properties": "t.properties",
    }
    params_for = {
        "workspace_id": workspace_id,
        "source": ContactSource.IMPORT,
        "source_import_id": source_import,
    }
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
        f"INSERT INTO contacts_contact ({', '.join(columns)}) "  # nosec B608 - identifiers are ours, values are bound parameters
        f"SELECT {', '.join(expressions)} FROM {_TEMP} t WHERE 1 = 1 "
        "ON CONFLICT DO NOTHING RETURNING id, lower(email)"
    )
    return sql, params


@dataclass
class Outcome:
    created: dict[str, Any] = field(default_factory=dict)  # email_lower -> id
    updated: dict[str, Any] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)

    def touched(self) -> list[Any]:
        return [*self.created.values(), *self.updated.values()]


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def prepare(rows: list[Row]) -> None:
    """Make each row's temporary-table values now (on the parsing thread), not while writing."""
    for row in rows:
        row.copy = _temp_values(row)


def _copy_values(row: Row) -> tuple:
    return row.copy if row.copy is not None else _temp_values(row)


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
            f"SELECT c.id, t.email_lower FROM {_TEMP} t JOIN contacts_contact c "  # nosec B608 - identifiers are ours, values are bound parameters
            "ON c.workspace_id = %s AND lower(c.email) = t.email_lower"
        )
        writer.begin_chunk()
        # Who is already there first: a file of new contacts (the common case) then skips
        # the UPDATE and its join altogether.
        cursor.execute(existing, [ws])
        found = {email: _as_uuid(pk) for pk, email in cursor.fetchall()}
        if found and job.update_existing:
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
                f"UPDATE contacts_contact SET {sets}, updated_at = %s {match} AND ({changed})",  # nosec B608 - identifiers are ours, values are bound parameters
                [stamp, ws],
            )
            outcome.updated = found
        elif found:
            outcome.skipped = set(found)
        sql, params = _insert_sql(writer, ws, writer.uuid(job.pk))
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
    """Tags, list, company links, the chunk's event and segment re-evaluation, each one
    statement (or a few) for the whole chunk."""
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
    writer.link_companies(job, rows, outcome)
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
