"""Streaming CSV export of suppressions.

Rows are read in keyset pages (``id > last`` ordered by id, never OFFSET) and written page by
page, so memory stays flat however many rows there are. Cells a spreadsheet would run as a
formula are neutralised (defusedcsv, plus a leading tab or CR, which it leaves alone). The
columns read back with ``suppressions_import_csv`` (email, type, reason come first)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime

from defusedcsv import csv
from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from deliverability.models import SendingDomain, Suppression
from mailcrm.models import Workspace

PAGE_SIZE = 2000
COLUMNS = ("email", "type", "reason", "source", "domain", "created_at")
_RISKY_START = ("\t", "\r")


def _text(value: str) -> str:
    return "'" + value if value.startswith(_RISKY_START) else value


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def export_suppressions(workspace: Workspace, queryset: QuerySet[Suppression]) -> Iterator[str]:
    """CSV text of the suppressions in ``queryset`` (never outside ``workspace``): the header
    first, then one chunk per page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    domains = dict(SendingDomain.objects.for_workspace(workspace).values_list("id", "domain"))
    # The workspace filter is repeated here so a caller's mistake cannot leak another's rows.
    suppressions = queryset.filter(workspace=workspace).order_by("pk")
    last = None
    while True:
        page = suppressions if last is None else suppressions.filter(pk__gt=last)
        rows = list(
            page.values_list("pk", "email", "type", "reason", "source", "domain_id", "created_at")[
                :PAGE_SIZE
            ]
        )
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for _, email, type, reason, source, domain_id, created_at in rows:
            domain = domains.get(domain_id, "") if domain_id else ""
            writer.writerow(
                [_text(email), type, _text(reason), source, _text(domain), _iso(created_at)]
            )
        yield buffer.getvalue()
        if len(rows) < PAGE_SIZE:
            return
        last = rows[-1][0]


def export_response(workspace: Workspace, queryset: QuerySet[Suppression]) -> StreamingHttpResponse:
    """A download of ``export_suppressions``, streamed as it is written."""
    response = StreamingHttpResponse(
        export_suppressions(workspace, queryset), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="suppressions.csv"'
    response["Cache-Control"] = "no-store"
    return response
