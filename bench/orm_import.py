"""Our CSV import side by side with a plain per-row Django ORM import of the same file.

    DATABASE_URL=postgres://… python -m bench.orm_import [N]

The file is ``bench.imports``' generated one (N rows, default 20,000: standard fields, four
typed properties, 1 % bad emails, 1 % bad numbers, a duplicate every 1,000 rows). Each import
runs into an empty workspace of its own and applies the tag ``bench`` to every row:

- ``ours``: ``import_start`` + ``import_run`` (the task body), as ``bench.imports`` times it;
- ``orm``: what a naive implementation does — ``csv.DictReader``, per row a validation of the
  address and the number, ``Contact.objects.get_or_create`` on the lower-cased address, then
  ``contact.tags.add(tag)``; in autocommit, as a view or a management command would.

Reported as rows/s each and ``ours_vs_orm`` (ours over the ORM's). The ORM import does less
than ours: no timeline row, no company link, no events, no per-row error report.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection

from bench.generate import bench_workspace
from bench.imports import MAPPING, make_csv, timed_import
from contacts.imports import jobs
from contacts.models import Contact, Tag
from mailcrm.models import Workspace
from mailcrm.workspace_deletion import workspace_delete


def orm_import(workspace: Workspace, data: bytes, tag_name: str) -> dict:
    """The per-row import: one get_or_create and one tag link per row."""
    started = time.perf_counter()
    tag, _ = Tag.objects.get_or_create(workspace=workspace, name=tag_name)
    created = updated = rejected = total = 0
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        total += 1
        fields = {target: (row.get(column) or "").strip() for column, target in MAPPING.items()}
        email = fields.pop("email").lower()
        try:
            validate_email(email)
            value = fields["properties.lifetime_value"]
            lifetime_value = int(value) if value else None
        except (ValidationError, ValueError):
            rejected += 1
            continue
        properties = {
            "plan": fields.pop("properties.plan"),
            "lifetime_value": lifetime_value,
            "signup_date": fields.pop("properties.signup_date"),
            "product_interests": [
                part.strip() for part in fields.pop("properties.product_interests").split(",")
            ],
        }
        fields.pop("properties.lifetime_value")
        contact, was_created = Contact.objects.get_or_create(
            workspace=workspace,
            email=email,
            defaults={**fields, "properties": properties, "source": "import"},
        )
        if was_created:
            created += 1
        else:
            for name, value in fields.items():
                setattr(contact, name, value)
            contact.properties = {**contact.properties, **properties}
            contact.save()
            updated += 1
        contact.tags.add(tag)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "rows_per_s": round(total / seconds),
        "load_1min": round(os.getloadavg()[0], 2),
        "total_rows": total,
        "created": created,
        "updated": updated,
        "rejected": rejected,
    }


def main(rows: int) -> dict:
    # The bench calls the task body itself instead of queueing it for a worker.
    jobs._enqueue = lambda job_id: None
    data = make_csv(rows, prefix="fresh")
    figures: dict = {
        "scenario": "orm_import",
        "database": connection.vendor,
        "rows": rows,
        "file_mb": round(len(data) / 1024 / 1024, 1),
        "load_average_before": os.getloadavg(),
    }
    workspace, _ = bench_workspace("bench-import-ours")
    try:
        figures["ours"] = timed_import(workspace, data, tags=["bench"])
    finally:
        workspace_delete(workspace.pk)
    print(f"ours: {json.dumps(figures['ours'])}", file=sys.stderr, flush=True)
    workspace, _ = bench_workspace("bench-import-orm")
    try:
        figures["orm"] = orm_import(workspace, data, "bench")
    finally:
        workspace_delete(workspace.pk)
    figures["ours_vs_orm"] = round(figures["ours"]["rows_per_s"] / figures["orm"]["rows_per_s"], 2)
    figures["load_average_after"] = os.getloadavg()
    return figures


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000), indent=2))
