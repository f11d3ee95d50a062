"""Streaming CSV export of contacts.

Rows are read in keyset pages (``id > last`` ordered by id, never OFFSET) and written page by
page, so exporting a million contacts keeps memory flat. Cells a spreadsheet would run as a
formula are neutralised (defusedcsv, plus leading tab and CR which it leaves alone)."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from defusedcsv import csv
from django.core.exceptions import SuspiciousFileOperation
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils.text import get_valid_filename

from contacts.models import Contact, ContactTag, ListMembership, PropertyDefinition
from mailcrm.models import Workspace

PAGE_SIZE = 2000
STANDARD_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "company",
    "job_title",
    "status",
    "lifecycle_stage",
    "source",
    "score",
    "score_tier",
    "sends",
    "opens",
    "clicks",
    "last_sent_at",
    "last_opened_at",
    "last_clicked_at",
    "tracking_opt_out",
    "created_at",
    "updated_at",
)
_RISKY_START = ("\t", "\r")


def export_columns(workspace: Workspace) -> list[str]:
    """The header: standard fields, tags, list names, then one column per property."""
    keys = PropertyDefinition.objects.for_workspace(workspace).order_by("key")
    return [
        *STANDARD_COLUMNS,
        "tags",
        "lists",
        *(f"properties.{key}" for key in keys.values_list("key", flat=True)),
    ]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value.startswith(_RISKY_START):
        # defusedcsv escapes = + - @ | % but not a leading tab or CR, which some
        # spreadsheets strip before evaluating the rest as a formula.
        return "'" + value
    return value


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def _text(value: str) -> str:
    # defusedcsv escapes = + - @ | % but not a leading tab or CR, which some
    # spreadsheets strip before evaluating the rest as a formula.
    return "'" + value if value.startswith(_RISKY_START) else value


def _same(value: Any) -> Any:
    return value


# One formatter per standard column, chosen once rather than by type for every cell.
_FORMATTERS = {
    "id": str,
    "status": _same,
    "lifecycle_stage": _same,
    "source": _same,
    "score": _same,
    "score_tier": _same,
    "sends": _same,
    "opens": _same,
    "clicks": _same,
    "last_sent_at": _iso,
    "last_opened_at": _iso,
    "last_clicked_at": _iso,
    "tracking_opt_out": _cell,
    "created_at": _iso,
    "updated_at": _iso,
}


def _pages(queryset: QuerySet, fields: tuple[str, ...]) -> Iterator[tuple[list[tuple], QuerySet]]:
    """Keyset pages of rows, each with a queryset of exactly that page's contacts."""
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        rows = list(page.values_list(*fields)[:PAGE_SIZE])
        if rows:
            yield rows, page.filter(pk__lte=rows[-1][0])
        if len(rows) < PAGE_SIZE:
            return
        last = rows[-1][0]


def _names_by_contact(model, name_field: str, page: QuerySet) -> dict[Any, list[str]]:
    # A subquery rather than 2,000 ids as parameters, which cost more to bind than to run.
    names: dict[Any, list[str]] = defaultdict(list)
    links = model.objects.filter(contact_id__in=page.order_by().values("pk"))
    for contact_id, name in links.values_list("contact_id", name_field).order_by(name_field):
        names[contact_id].append(name)
    return names


def export_contacts(workspace: Workspace, queryset: QuerySet[Contact]) -> Iterator[str]:
    """CSV text of the contacts in ``queryset`` (never outside ``workspace``): the header
    first, then one chunk of rows per page."""
    columns = export_columns(workspace)
    keys = [column.removeprefix("properties.") for column in columns[len(STANDARD_COLUMNS) + 2 :]]
    fields = (*STANDARD_COLUMNS, "properties")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    yield buffer.getvalue()
    # The workspace filter is repeated here so a caller's mistake cannot leak another's rows.
    contacts = queryset.filter(workspace=workspace)
    formatters = [_FORMATTERS.get(name, _text) for name in STANDARD_COLUMNS]
    for rows, page in _pages(contacts, fields):
        buffer.seek(0)
        buffer.truncate()
        tags = _names_by_contact(ContactTag, "tag__name", page)
        lists = _names_by_contact(ListMembership, "contact_list__name", page)
        for row in rows:
            properties = row[-1] or {}
            cells = [fmt(value) for fmt, value in zip(formatters, row, strict=False)]
            cells.append(_text(", ".join(tags.get(row[0], ()))))
            cells.append(_text(", ".join(lists.get(row[0], ()))))
            cells.extend(_cell(properties.get(key)) for key in keys)
            writer.writerow(cells)
        yield buffer.getvalue()


def export_response(
    workspace: Workspace, queryset: QuerySet[Contact], filename: str
) -> StreamingHttpResponse:
    """A download of ``export_contacts`` streamed as it is written."""
    try:
        name = get_valid_filename(filename)
    except SuspiciousFileOperation:
        name = "contacts.csv"
    if not name.lower().endswith(".csv"):
        name += ".csv"
    response = StreamingHttpResponse(
        export_contacts(workspace, queryset), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
