"""Reading an uploaded CSV: encoding, delimiter, header, and a preview with a suggested
column mapping. Nothing here touches the database except the workspace's property names."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.core.exceptions import ValidationError

from contacts.imports.rows import PROPERTY_PREFIX
from contacts.models import PropertyDefinition
from contacts.services import normalize_email
from mailcrm.models import Workspace

# The file as bytes, or the path of the import task's spooled copy (jobs._spooled_upload), read
# through the page cache: neither held in the worker's memory nor mapped into it.
Source = bytes | Path

PREVIEW_ROWS = 5
DELIMITERS = (",", ";", "\t")
SNIFF_CHARS = 64 * 1024
MAX_COLUMNS = 2_000
# The csv module refuses a cell over 128 K characters and cannot go on with the rest of its
# line; with a limit above any upload (50 MB) a huge cell is read whole and refused by the
# row's own checks (too long for its field), so the rows after it are still imported.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
# Read after the file's last line. It comes back as a record of its own unless a quote was
# left open, in which case it ends the last cell: the only way to tell the two apart, since
# the csv module (non-strict) silently closes a quote at the end of the data.
_END = "\ufdd0end of file\ufdd0"

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


@dataclass
class CsvPreview:
    columns: list[str]
    rows: list[list[str]]
    delimiter: str
    encoding: str
    suggested_mapping: dict[str, str]
    has_header: bool = True


def _open(source: Source) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


def _head(source: Source, size: int) -> bytes:
    with _open(source) as stream:
        return stream.read(size)


def _pieces(source: Source, size: int = 1 << 20) -> Iterator[bytes]:
    with _open(source) as stream:
        while piece := stream.read(size):
            yield piece


def _decodes(source: Source, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for piece in _pieces(source):
            decoder.decode(piece)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _bomless_utf16(head: bytes) -> str | None:
    """UTF-16 written without a byte-order mark (some exports do) shows as a NUL in every
    other byte of ASCII text: most odd bytes for little-endian, even ones for big-endian."""
    half = len(head) // 2
    if half < 4:
        return None
    even = head[0::2].count(0) / half
    odd = head[1::2].count(0) / half
    if odd > 0.5 and even < 0.05:
        return "utf-16-le"
    if even > 0.5 and odd < 0.05:
        return "utf-16-be"
    return None


def detect_encoding(data: Source) -> str:
    """UTF-8 (with or without BOM) or UTF-16 (with a BOM, or without one when the NULs show
    it); otherwise Windows-1252, whose printable range is a superset of Latin-1, and Latin-1
    itself as the last resort."""
    candidates = ["utf-8", "cp1252"]
    head = _head(data, 4096)
    if head.startswith(codecs.BOM_UTF8):
        candidates.insert(0, "utf-8-sig")
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.insert(0, "utf-16")
    elif utf16 := _bomless_utf16(head):
        candidates.insert(0, utf16)
    for encoding in candidates:
        if _decodes(data, encoding):
            return encoding
    return "latin-1"


def _check_not_binary(data: Source, encoding: str) -> None:
    start = _head(data, SNIFF_CHARS)
    for signature, what in _BINARY_SIGNATURES.items():
        if start.startswith(signature):
            raise ImportFileError(f"This is not a CSV file: it looks like {what}.")
    head = start.decode(encoding, errors="replace")
    controls = sum(1 for ch in head if ord(ch) < 32 and ch not in "\t\r\n")
    if "\x00" in head or controls > len(head) // 100:
        raise ImportFileError("This is not a CSV file: it contains binary data.")


def _text_stream(data: Source, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(_open(data), encoding=encoding, newline="")


def _sniff_delimiter(sample: str) -> str:
    """The candidate that splits the first lines into the same number (> 1) of columns most
    often; ties go to the one giving more columns, then to the comma."""
    cut = sample.rfind("\n")
    lines = sample[: cut if cut > 0 else len(sample)]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        try:
            reader = csv.reader(io.StringIO(lines, newline=""), delimiter=delimiter)
            rows = [row for row in reader if row][:50]
        except csv.Error:
            continue
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
    taken: set[str] = set()  # a list's `in` made 20,000 columns take seconds
    for index, raw in enumerate(header, start=1):
        name = raw.strip() or f"Column {index}"
        if name in taken:
            name = f"{name} ({index})"
        names.append(name)
        taken.add(name)
    return names


@dataclass
class Layout:
    encoding: str
    delimiter: str
    columns: list[str]
    has_header: bool


def file_layout(data: Source) -> Layout:
    """Work out how to read the file: encoding, delimiter, columns."""
    if not any(piece.strip() for piece in _pieces(data)):
        raise ImportFileError("The file is empty.")
    encoding = detect_encoding(data)
    _check_not_binary(data, encoding)
    stream = _text_stream(data, encoding)
    try:
        delimiter = _sniff_delimiter(stream.read(SNIFF_CHARS))
        stream.seek(0)
        _, header = next(_records(_reader(stream, delimiter)))
    except StopIteration:
        raise ImportFileError("The file has no rows.") from None
    except Unreadable as exc:
        raise ImportFileError(f"Row {exc.row} cannot be read: {exc.reason}.") from None
    finally:
        stream.close()
    if len(header) > MAX_COLUMNS:
        # The mapping step shows one choice per column: 20,000 made a 32 MB page.
        raise ImportFileError(
            f"The file has {len(header):,} columns; imports read at most {MAX_COLUMNS:,}."
        )
    # A file without a header starts with an address; its columns get plain names.
    has_header = not any(_looks_like_email(cell) for cell in header)
    columns = _column_names(header if has_header else [""] * len(header))
    return Layout(encoding, delimiter, columns, has_header)


def data_rows(data: Source, layout: Layout) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of every data row, blank lines skipped."""
    with _text_stream(data, layout.encoding) as stream:
        records = _records(_reader(stream, layout.delimiter))
        if layout.has_header:
            next(records, None)
        yield from records


def _reader(stream: io.TextIOWrapper, delimiter: str):
    return csv.reader(itertools.chain(stream, [_END]), delimiter=delimiter)


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    number = 0
    try:
        for number, row in enumerate(reader, start=1):
            if row and row[-1].endswith(_END):
                if row == [_END]:
                    return
                # Everything after the open quote went into this row's last cell.
                raise Unreadable(number, "a quote opened in this row is never closed")
            if any(cell.strip() for cell in row):
                yield number, row
    except csv.Error as exc:
        raise Unreadable(number + 1, str(exc)) from None
    except UnicodeDecodeError as exc:
        raise Unreadable(number + 1, "the text cannot be decoded") from exc


class Unreadable(Exception):
    def __init__(self, row: int, reason: str):
        super().__init__(reason)
        self.row = row
        self.reason = reason


def read_preview(data: bytes, workspace: Workspace | None = None) -> CsvPreview:
    """The columns, the first rows and how the file is read; raises ImportFileError."""
    layout = file_layout(data)
    rows: list[list[str]] = []
    try:
        for _, row in data_rows(data, layout):
            rows.append(row)
            if len(rows) == PREVIEW_ROWS:
                break
    except Unreadable as exc:
        if not rows:  # else the preview shows what reads, and the run reports the row
            raise ImportFileError(f"Row {exc.row} cannot be read: {exc.reason}.") from None
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
