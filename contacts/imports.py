"""CSV import of contacts.

``import_start`` checks the file and the column mapping, stores the bytes in the database
(any worker can read them) and queues ``import_run``. The run reads the file once to count
rows, then again in chunks: every row is validated in Python, and each chunk is written with a
few set-based statements through a temporary table (COPY on PostgreSQL), never a save() per
row. A bad row is reported with its number and reason; the good rows are kept.

Rows are numbered as a spreadsheet shows them: the header is row 1."""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from contacts.models import (
    MAX_STORED_ROW_ERRORS,
    Activity,
    ActivityKind,
    Contact,
    ContactList,
    ContactSource,
    ContactStatus,
    ContactTag,
    ImportJob,
    ImportUpload,
    JobStatus,
    LifecycleStage,
    ListMembership,
    PropertyDefinition,
    PropertyType,
)
from contacts.properties import PropertyError, coerce_value, definitions_for
from contacts.segmentation import segments_contacts_changed
from contacts.services import (
    normalize_email,
    property_definition_create,
    tags_get_or_create,
)
from mailcrm import events
from mailcrm.exceptions import DomainError
from mailcrm.models import Event, Workspace

logger = logging.getLogger("mailcrm.imports")

MAX_IMPORT_BYTES = 50 * 1024 * 1024
CHUNK_ROWS = 5000
PREVIEW_ROWS = 5
DELIMITERS = (",", ";", "\t")
SNIFF_CHARS = 64 * 1024
# A run whose worker died is taken over by the next delivery after this long.
STALE_RUN = timedelta(minutes=30)

TEXT_FIELDS = ("first_name", "last_name", "phone", "company", "job_title")
IMPORT_FIELDS = ("email", "name", *TEXT_FIELDS, "status", "lifecycle_stage", "tracking_opt_out")
PROPERTY_PREFIX = "properties."

_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive or an Excel workbook (.xlsx); save it as CSV first",
    b"\xd0\xcf\x11\xe0": "an Excel 97 workbook (.xls); save it as CSV first",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
}
# Header spellings (lower-cased, letters and digits only) and the field each suggests.
_HEADER_ALIASES = {
    alias: target
    for target, aliases in {
        "email": "email emailaddress mail emailadresse",
        "name": "name fullname contactname",
        "first_name": "firstname givenname first forename prenom vorname",
        "last_name": "lastname surname familyname last nom nachname",
        "phone": "phone phonenumber mobile mobilephone telephone tel",
        "company": "company companyname organization organisation org",
        "job_title": "jobtitle title position role",
        "status": "status",
        "lifecycle_stage": "lifecyclestage lifecycle stage",
        "tracking_opt_out": "trackingoptout",
    }.items()
    for alias in aliases.split()
}


class ImportFileError(ValidationError):
    """The upload is not a CSV we can read (a 400 naming ``file``); ``message`` says why."""

    def __init__(self, message: str):
        super().__init__({"file": [message]})
        self.reason = message


class ImportTooLarge(DomainError):
    status_code = 413
    code = "too_large"

    def __init__(self, size: int):
        limit = MAX_IMPORT_BYTES // (1024 * 1024)
        super().__init__(
            f"The file is {size / (1024 * 1024):.1f} MB; imports take at most {limit} MB.",
            limit_bytes=MAX_IMPORT_BYTES,
        )


@dataclass
class CsvPreview:
    columns: list[str]
    rows: list[list[str]]
    delimiter: str
    encoding: str
    suggested_mapping: dict[str, str]
    has_header: bool = True


# --- reading the file --------------------------------------------------------------------------


def _decodes(data: bytes, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    step = 1 << 20
    try:
        for start in range(0, len(view), step):
            decoder.decode(view[start : start + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; otherwise Windows-1252, whose
    printable range is a superset of Latin-1, and Latin-1 itself as the last resort."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        if _decodes(data, encoding):
            return encoding
    return "latin-1"


def _check_not_binary(data: bytes, encoding: str) -> None:
    for signature, what in _BINARY_SIGNATURES.items():
        if data.startswith(signature):
            raise ImportFileError(f"This is not a CSV file: it looks like {what}.")
    head = data[:SNIFF_CHARS].decode(encoding, errors="replace")
    controls = sum(1 for ch in head if ord(ch) < 32 and ch not in "\t\r\n")
    if "\x00" in head or controls > len(head) // 100:
        raise ImportFileError("This is not a CSV file: it contains binary data.")


def _text_stream(data: bytes, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")


def _sniff_delimiter(sample: str) -> str:
    """The candidate that splits the first lines into the same number (> 1) of columns most
    often; ties go to the one giving more columns, then to the comma."""
    cut = sample.rfind("\n")
    lines = sample[: cut if cut > 0 else len(sample)]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        rows = [row for row in csv.reader(io.StringIO(lines), delimiter=delimiter) if row][:50]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(1 for row in rows if len(row) == width), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _normalise_header(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def suggest_mapping(columns: list[str], workspace: Workspace | None = None) -> dict[str, str]:
    """Guess a target for each column from its header (``E-mail`` → email, ``First Name`` →
    first_name, a property's key or label → properties.<key>)."""
    properties: dict[str, str] = {}
    if workspace is not None:
        for definition in PropertyDefinition.objects.for_workspace(workspace):
            for text in (definition.key, definition.label):
                if text:
                    properties.setdefault(_normalise_header(text), definition.key)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        normal = _normalise_header(column)
        target = _HEADER_ALIASES.get(normal)
        if target is None and normal in properties:
            target = PROPERTY_PREFIX + properties[normal]
        if target is None and column.lower().startswith(PROPERTY_PREFIX):
            key = column[len(PROPERTY_PREFIX) :]
            target = PROPERTY_PREFIX + key if key in properties.values() else None
        if target and target not in used:
            mapping[column] = target
            used.add(target)
    return mapping


def _looks_like_email(value: str) -> bool:
    try:
        normalize_email(value)
    except ValidationError:
        return False
    return True


def _column_names(header: list[str]) -> list[str]:
    names: list[str] = []
    for index, raw in enumerate(header, start=1):
        name = raw.strip() or f"Column {index}"
        if name in names:
            name = f"{name} ({index})"
        names.append(name)
    return names


@dataclass
class _Layout:
    encoding: str
    delimiter: str
    columns: list[str]
    has_header: bool


def _layout(data: bytes) -> _Layout:
    """Work out how to read the file: encoding, delimiter, columns."""
    if not data.strip():
        raise ImportFileError("The file is empty.")
    encoding = detect_encoding(data)
    _check_not_binary(data, encoding)
    stream = _text_stream(data, encoding)
    try:
        delimiter = _sniff_delimiter(stream.read(SNIFF_CHARS))
        stream.seek(0)
        _, header = next(_records(csv.reader(stream, delimiter=delimiter)))
    except StopIteration:
        raise ImportFileError("The file has no rows.") from None
    except _Unreadable as exc:
        raise ImportFileError(f"Row {exc.row} cannot be read: {exc.reason}.") from None
    # A file without a header starts with an address; its columns get plain names.
    has_header = not any(_looks_like_email(cell) for cell in header)
    columns = _column_names(header if has_header else [""] * len(header))
    return _Layout(encoding, delimiter, columns, has_header)


def _data_rows(data: bytes, layout: _Layout) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of every data row, blank lines skipped."""
    stream = _text_stream(data, layout.encoding)
    records = _records(csv.reader(stream, delimiter=layout.delimiter))
    if layout.has_header:
        next(records, None)
    return records


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    number = 0
    try:
        for number, row in enumerate(reader, start=1):
            if any(cell.strip() for cell in row):
                yield number, row
    except csv.Error as exc:
        raise _Unreadable(number + 1, str(exc)) from None
    except UnicodeDecodeError as exc:
        raise _Unreadable(number + 1, "the text cannot be decoded") from exc


class _Unreadable(Exception):
    def __init__(self, row: int, reason: str):
        super().__init__(reason)
        self.row = row
        self.reason = reason


def read_preview(data: bytes, workspace: Workspace | None = None) -> CsvPreview:
    """The columns, the first rows and how the file is read; raises ImportFileError."""
    layout = _layout(data)
    rows: list[list[str]] = []
    try:
        for _, row in _data_rows(data, layout):
            rows.append(row)
            if len(rows) == PREVIEW_ROWS:
                break
    except _Unreadable:
        pass  # the preview shows what reads; the run reports the row
    suggested = suggest_mapping(layout.columns, workspace)
    if not layout.has_header:
        # Point the mapping at the column holding addresses.
        for index, cell in enumerate(rows[0] if rows else []):
            if _looks_like_email(cell):
                suggested = {layout.columns[index]: "email"}
                break
    return CsvPreview(
        columns=layout.columns,
        rows=rows,
        delimiter=layout.delimiter,
        encoding=layout.encoding,
        suggested_mapping=suggested,
        has_header=layout.has_header,
    )


# --- starting an import ------------------------------------------------------------------------


def _validate_mapping(
    mapping: Mapping[str, Any], columns: list[str], property_keys: Iterable[str]
) -> dict[str, str]:
    if not isinstance(mapping, Mapping):
        raise ValidationError({"mapping": ["Must be an object from CSV column to field."]})
    keys = set(property_keys)
    errors: list[str] = []
    cleaned: dict[str, str] = {}
    seen: dict[str, str] = {}
    for column, target in mapping.items():
        if target in (None, "", "ignore"):
            continue
        if not isinstance(target, str):
            errors.append(f"Column '{column}': the target must be text.")
            continue
        target = target.strip()
        if column not in columns:
            errors.append(f"Column '{column}' is not in the file.")
        elif target.startswith(PROPERTY_PREFIX):
            key = target[len(PROPERTY_PREFIX) :]
            if key not in keys:
                errors.append(
                    f"Column '{column}': unknown property '{key}'; define it first "
                    "or create it with the import."
                )
        elif target not in IMPORT_FIELDS:
            fields = ", ".join(IMPORT_FIELDS)
            errors.append(
                f"Column '{column}': unknown field '{target}'. "
                f"Use one of {fields} or properties.<key>."
            )
        if target in seen:
            errors.append(f"Columns '{seen[target]}' and '{column}' both map to '{target}'.")
        seen.setdefault(target, column)
        cleaned[column] = target
    if "email" not in seen and not errors:
        errors.append("Map one column to email.")
    if errors:
        raise ValidationError({"mapping": errors})
    return cleaned


def _clean_new_properties(
    workspace: Workspace, create_properties: Mapping[str, str] | None
) -> dict[str, str]:
    existing = set(definitions_for(workspace))
    wanted: dict[str, str] = {}
    for key, kind in (create_properties or {}).items():
        if key in existing:
            continue
        if kind not in PropertyType.values:
            raise ValidationError({"create_properties": [f"'{key}': unknown type '{kind}'."]})
        if kind in (PropertyType.SELECT, PropertyType.MULTI_SELECT):
            raise ValidationError(
                {"create_properties": [f"'{key}': define a select property with its options."]}
            )
        wanted[key] = kind
    return wanted


def import_start(
    *,
    workspace: Workspace,
    data: bytes,
    filename: str,
    mapping: Mapping[str, str] | None,
    update_existing: bool = True,
    tags: Iterable[str] = (),
    contact_list: ContactList | None = None,
    created_by=None,
    create_properties: Mapping[str, str] | None = None,
) -> ImportJob:
    """Check the file and the mapping, store the upload and queue the run. Without a mapping,
    the one suggested from the headers is used."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportTooLarge(len(data))
    preview = read_preview(data, workspace)
    if not preview.rows:
        raise ImportFileError("The file has a header but no rows.")
    if contact_list is not None and contact_list.workspace_id != workspace.pk:
        raise ValidationError({"list_id": ["No such list."]})
    new_properties = _clean_new_properties(workspace, create_properties)
    mapping = _validate_mapping(
        preview.suggested_mapping if mapping is None else mapping,
        preview.columns,
        [*definitions_for(workspace), *new_properties],
    )
    with transaction.atomic():
        for key, kind in new_properties.items():
            property_definition_create(workspace=workspace, key=key, type=kind)
        tag_names = [tag.name for tag in tags_get_or_create(workspace=workspace, names=tags)]
        job = ImportJob.objects.create(
            workspace=workspace,
            created_by=created_by if getattr(created_by, "pk", None) else None,
            filename=(filename or "")[:255],
            mapping=mapping,
            update_existing=update_existing,
            tags=tag_names,
            contact_list=contact_list,
        )
        ImportUpload.objects.create(job=job, content=data)
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: Any) -> None:
    from django_q.tasks import async_task

    async_task("contacts.tasks.run_import", str(job_id), group="imports")


# --- validating rows ---------------------------------------------------------------------------


def _choices(enum) -> dict[str, str]:
    found: dict[str, str] = {}
    for value, label in enum.choices:
        for text in (value, label, value.replace("_", " ")):
            found[text.lower()] = value
    return found


_STATUSES = _choices(ContactStatus)
_STAGES = _choices(LifecycleStage)
_MAX_LENGTH = {name: Contact._meta.get_field(name).max_length for name in ("email", *TEXT_FIELDS)}
# A strict subset of what Django's EmailValidator accepts, checked first because it is several
# times cheaper; anything else goes through the full validator (normalize_email).
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}\Z"
)
MEMO_PER_COLUMN = 10_000


@dataclass
class _Row:
    number: int
    email: str
    email_lower: str
    values: dict[str, Any]
    properties: dict[str, Any]


@dataclass
class _Plan:
    """The mapping resolved to column positions and definitions."""

    email: int
    fields: list[tuple[int, str]]
    properties: list[tuple[int, PropertyDefinition]]
    width: int = 0
    # Per property column, the outcome of each distinct cell seen so far: files repeat the
    # same plan names, dates and tags, so most cells are validated once.
    seen: dict[int, dict[str, Any]] = field(default_factory=dict)

    def coerce(self, index: int, definition: PropertyDefinition, raw: str) -> Any:
        memo = self.seen.setdefault(index, {})
        if raw in memo:
            outcome = memo[raw]
        else:
            try:
                outcome = coerce_value(definition, raw)
            except PropertyError as exc:
                outcome = exc
            if len(memo) < MEMO_PER_COLUMN:
                memo[raw] = outcome
        if isinstance(outcome, PropertyError):
            raise outcome
        return outcome

    @classmethod
    def build(cls, workspace: Workspace, mapping: dict[str, str], columns: list[str]) -> _Plan:
        definitions = definitions_for(workspace)
        position = {name: index for index, name in enumerate(columns)}
        plan = cls(email=-1, fields=[], properties=[], width=len(columns))
        for column, target in mapping.items():
            index = position.get(column)
            if index is None:
                raise ValidationError({"mapping": [f"Column '{column}' is not in the file."]})
            if target == "email":
                plan.email = index
            elif target.startswith(PROPERTY_PREFIX):
                definition = definitions.get(target[len(PROPERTY_PREFIX) :])
                if definition is None:
                    raise ValidationError({"mapping": [f"Unknown property in '{target}'."]})
                plan.properties.append((index, definition))
            else:
                plan.fields.append((index, target))
        return plan


def _clean_field(name: str, raw: str) -> Any:
    if name in _MAX_LENGTH:
        if len(raw) > _MAX_LENGTH[name]:
            raise PropertyError(f"{name} is longer than {_MAX_LENGTH[name]} characters")
        return raw
    if name == "status":
        if raw.lower() not in _STATUSES:
            raise PropertyError(f"status '{raw}' is not one of {', '.join(ContactStatus.values)}")
        return _STATUSES[raw.lower()]
    if name == "lifecycle_stage":
        if raw.lower() not in _STAGES:
            allowed = ", ".join(LifecycleStage.values)
            raise PropertyError(f"lifecycle_stage '{raw}' is not one of {allowed}")
        return _STAGES[raw.lower()]
    if name == "tracking_opt_out":
        try:
            return coerce_value(PropertyDefinition(type=PropertyType.BOOLEAN), raw)
        except PropertyError:
            raise PropertyError(f"tracking_opt_out '{raw}' must be true or false") from None
    raise PropertyError(f"unknown field {name}")


def _short(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "…"


def _clean_row(plan: _Plan, number: int, cells: list[str]) -> _Row:
    """Validate one row; raises PropertyError with every reason found."""

    def cell(index: int) -> str:
        return cells[index].strip() if index < len(cells) else ""

    reasons: list[str] = []
    raw_email = cell(plan.email)
    email = ""
    if not raw_email:
        reasons.append("no email address")
    elif len(raw_email) > _MAX_LENGTH["email"]:
        reasons.append(f"email is longer than {_MAX_LENGTH['email']} characters")
    elif _PLAIN_EMAIL.match(raw_email):
        local, _, domain = raw_email.rpartition("@")
        email = f"{local}@{domain.lower()}"
    else:
        try:
            email = normalize_email(raw_email)
        except ValidationError:
            reasons.append(f"'{_short(raw_email)}' is not a valid email address")
    values: dict[str, Any] = {}
    for index, name in plan.fields:
        raw = cell(index)
        if not raw:
            continue
        if name == "name":
            first, _, last = raw.partition(" ")
            values.setdefault("first_name", first[: _MAX_LENGTH["first_name"]])
            values.setdefault("last_name", last.strip()[: _MAX_LENGTH["last_name"]])
            continue
        try:
            values[name] = _clean_field(name, raw)
        except PropertyError as exc:
            reasons.append(str(exc))
    properties: dict[str, Any] = {}
    for index, definition in plan.properties:
        raw = cell(index)
        if not raw:
            continue
        try:
            properties[definition.key] = plan.coerce(index, definition, raw)
        except PropertyError as exc:
            reasons.append(f"{definition.key} ({definition.type}) {exc}: '{_short(raw)}'")
    if reasons:
        raise PropertyError("; ".join(reasons))
    values = {k: v for k, v in values.items() if v != ""}
    return _Row(number, email, email.lower(), values, properties)


# --- writing chunks ----------------------------------------------------------------------------


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
        "tracking_opt_out": "boolean",
        "properties": "text",
    }
    merge_properties = "json_patch(contacts_contact.properties, t.properties)"

    def __init__(self, cursor):
        self.cursor = cursor

    def uuid(self, value: uuid.UUID) -> Any:
        return value.hex

    def create_temp(self) -> None:
        columns = ", ".join(f"{name} {self.temp_types.get(name, 'text')}" for name in _TEMP_COLUMNS)
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
class _Outcome:
    created: dict[str, Any] = field(default_factory=dict)  # email_lower -> id
    updated: dict[str, Any] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _temp_row(writer: _Writer, row: _Row, pk: uuid.UUID) -> tuple:
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


def _write_chunk(job: ImportJob, rows: list[_Row]) -> _Outcome:
    outcome = _Outcome()
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
        _after_write(job, writer, rows, outcome)
    return outcome


def _after_write(job: ImportJob, writer: _Writer, rows: list[_Row], outcome: _Outcome) -> None:
    """Tags, list, timeline, events and segment re-evaluation for the chunk, in bulk."""
    touched = [*outcome.created.values(), *outcome.updated.values()]
    if not touched:
        return
    now = timezone.now()
    stamp = Contact._meta.get_field("created_at").get_db_prep_save(now, connection)
    for tag in job._tags:
        writer.link(ContactTag._meta.db_table, "tag_id", tag.pk, touched, stamp)
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


def _created_event(pk: Any, row: _Row, tag_names: list[str], job: ImportJob) -> dict:
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


def _updated_event(pk: Any, row: _Row, job: ImportJob) -> dict:
    changed = sorted([*row.values, *(f"properties.{key}" for key in row.properties)])
    return {"id": pk, "email": row.email, "changed": changed, "import_id": job.pk}


# --- running an import -------------------------------------------------------------------------


@dataclass
class _Progress:
    processed: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: int, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_STORED_ROW_ERRORS:
            self.errors.append({"row": row, "reason": reason})

    def save(self, job: ImportJob, **extra: Any) -> None:
        ImportJob.objects.filter(pk=job.pk).update(
            processed=self.processed,
            created=self.created,
            updated=self.updated,
            skipped=self.skipped,
            error_count=self.error_count,
            errors=self.errors,
            **extra,
        )


def _claim(job_id: Any) -> ImportJob | None:
    """Take the job if it is queued, or running but abandoned; a finished job is left alone."""
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(
        status=JobStatus.RUNNING, started_at__lt=now - STALE_RUN
    )
    try:
        won = ImportJob.objects.filter(claimable, pk=job_id).update(
            status=JobStatus.RUNNING, started_at=now
        )
    except (ValueError, ValidationError):
        return None
    if not won:
        return None
    return ImportJob.objects.select_related("workspace").get(pk=job_id)


def _count_rows(records: Iterator[tuple[int, list[str]]]) -> int:
    total = 0
    try:
        for _ in records:
            total += 1
    except _Unreadable:
        total += 1
    return total


def _room_for_new(workspace: Workspace) -> int | None:
    limit = workspace.limit_contacts
    if limit is None:
        return None
    current = Contact.objects.for_workspace(workspace).values("id")[:limit].count()
    return max(limit - current, 0)


def _apply_contact_limit(job: ImportJob, rows: list[_Row], progress: _Progress) -> list[_Row]:
    """Rows that would create contacts beyond the plan's limit are rejected with a reason;
    rows for existing contacts always pass."""
    room = _room_for_new(job.workspace)
    if room is None or room >= len(rows):
        return rows
    existing = set(
        Contact.objects.for_workspace(job.workspace)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=[row.email_lower for row in rows])
        .values_list("email_lower", flat=True)
    )
    kept = []
    limit = job.workspace.limit_contacts
    for row in rows:
        if row.email_lower in existing:
            kept.append(row)
        elif room > 0:
            room -= 1
            kept.append(row)
        else:
            progress.reject(row.number, f"the workspace's plan allows {limit} contacts")
            progress.processed += 1
    return kept


def _flush(job: ImportJob, rows: list[_Row], progress: _Progress) -> None:
    with transaction.atomic():
        rows = _apply_contact_limit(job, rows, progress)
        if rows:
            outcome = _write_chunk(job, rows)
            progress.created += len(outcome.created)
            progress.updated += len(outcome.updated)
            progress.skipped += len(outcome.skipped)
            progress.processed += len(rows)
        progress.save(job)


def import_run(job_id: Any) -> ImportJob | None:
    """The task body: safe to run twice (a finished or running job is left alone)."""
    job = _claim(job_id)
    if job is None:
        return None
    progress = _Progress()
    try:
        _run(job, progress)
    except ValidationError as exc:
        _fail(job, progress, " ".join(exc.messages))
    except Exception as exc:  # the job must end in a state the user can read
        logger.exception("import %s failed", job.pk)
        _fail(job, progress, f"The import stopped on an internal error ({type(exc).__name__}).")
    else:
        progress.save(job, status=JobStatus.DONE, finished_at=timezone.now())
    ImportUpload.objects.filter(job_id=job.pk).delete()
    job.refresh_from_db()
    return job


def _fail(job: ImportJob, progress: _Progress, reason: str) -> None:
    progress.save(job, status=JobStatus.FAILED, failure_reason=reason, finished_at=timezone.now())


def _run(job: ImportJob, progress: _Progress) -> None:
    upload = ImportUpload.objects.filter(job_id=job.pk).first()
    if upload is None:
        raise ImportFileError("The uploaded file is gone.")
    data = bytes(upload.content)
    del upload
    layout = _layout(data)
    total = _count_rows(_data_rows(data, layout))
    ImportJob.objects.filter(pk=job.pk).update(total_rows=total)
    records = _data_rows(data, layout)
    plan = _Plan.build(job.workspace, job.mapping, layout.columns)
    job._tags = tags_get_or_create(workspace=job.workspace, names=job.tags)
    seen: dict[str, int] = {}
    chunk: list[_Row] = []
    try:
        for number, cells in records:
            try:
                row = _clean_row(plan, number, cells)
            except PropertyError as exc:
                progress.reject(number, str(exc))
                progress.processed += 1
                continue
            first = seen.setdefault(row.email_lower, number)
            if first != number:
                progress.reject(number, f"{row.email} already appears in row {first}")
                progress.processed += 1
                continue
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                _flush(job, chunk, progress)
                chunk = []
    except _Unreadable as exc:
        progress.reject(exc.row, f"cannot be read ({exc.reason}); the rest of the file is skipped")
        progress.processed += 1
    _flush(job, chunk, progress)
