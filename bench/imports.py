"""CSV import of N rows (default 100,000) into a workspace of its own.

    DATABASE_URL=postgres://… python -m bench.imports 100000 [--existing 1000000]

With --existing, the workspace first gets that many generated contacts (bench/generate.py),
so the import meets a large table. The file is realistic: standard fields, four typed
properties, 1 % bad emails, 1 % bad numbers and a few duplicate emails. Three runs of the
import task itself are timed: all rows new, the same file again (every row an update), and
other new rows with a tag and a list applied. Prints JSON; rows/s counts every row of the
file, rejected ones included.
"""

from __future__ import annotations

import io
import json
import random
import sys
import time

from django.db import connection

from bench.generate import bench_workspace, generate
from contacts import imports
from contacts.imports import jobs
from contacts.models import Contact
from contacts.services import contact_list_create
from mailcrm.models import Workspace

MAPPING = {
    "Email": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Company": "company",
    "Phone": "phone",
    "Plan": "properties.plan",
    "Lifetime value": "properties.lifetime_value",
    "Signup date": "properties.signup_date",
    "Interests": "properties.product_interests",
}
PLANS = ["free", "starter", "pro", "enterprise"]
INTERESTS = ["analytics", "crm", "email", "automation", "reporting"]


def make_csv(rows: int, *, prefix: str = "person", seed: int = 7) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    out.write(",".join(MAPPING) + ",Notes\r\n")
    for n in range(rows):
        email = f"{prefix}{n}@example{n % 50}.com"
        if n % 100 == 17:
            email = f"broken-address-{n}"  # 1 % invalid emails
        elif n % 1000 == 999:
            email = f"{prefix}{n - 1}@EXAMPLE{(n - 1) % 50}.com"  # a duplicate in another case
        value = rng.randint(0, 5000) if n % 100 != 42 else "lots"  # 1 % bad numbers
        interests = "; ".join(i for i in INTERESTS if rng.random() < 0.3).replace(";", ",")
        out.write(
            f'{email},First{n % 997},Last{n % 991},"Company {n % 5000}, Inc.",'
            f"+1 555 {n % 10000:04d},{rng.choice(PLANS)},{value},"
            f'2024-{1 + n % 12:02d}-{1 + n % 28:02d},"{interests}","note {n}"\r\n'
        )
    return out.getvalue().encode()


def timed_import(workspace: Workspace, data: bytes, **options) -> dict:
    started = time.perf_counter()
    job = imports.import_start(
        workspace=workspace, data=data, filename="bench.csv", mapping=MAPPING, **options
    )
    job = imports.import_run(job.pk)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "rows_per_s": round(job.total_rows / seconds),
        "status": job.status,
        "total_rows": job.total_rows,
        "created": job.created,
        "updated": job.updated,
        "skipped": job.skipped,
        "rejected": job.error_count,
    }


def main(rows: int, existing: int) -> dict:
    workspace, _ = bench_workspace("bench-imports")
    # The bench calls the task body itself instead of queueing it for a worker.
    jobs._enqueue = lambda job_id: None
    figures: dict = {
        "scenario": "imports",
        "database": connection.vendor,
        "rows": rows,
        "existing_contacts": existing,
    }
    try:
        if existing:
            figures["generate_s"] = round(generate(workspace, existing, progress=False), 1)
        started = time.perf_counter()
        data = make_csv(rows, prefix="fresh")
        figures["file_mb"] = round(len(data) / 1024 / 1024, 1)
        figures["make_csv_s"] = round(time.perf_counter() - started, 2)
        figures["all_new"] = timed_import(workspace, data)
        figures["all_updates"] = timed_import(workspace, data)
        contact_list = contact_list_create(workspace=workspace, name="Imported")
        figures["new_with_tag_and_list"] = timed_import(
            workspace,
            make_csv(rows, prefix="other", seed=8),
            tags=["bench"],
            contact_list=contact_list,
        )
        figures["contacts_after"] = Contact.objects.for_workspace(workspace).count()
    finally:
        Workspace.objects.filter(pk=workspace.pk).delete()
    return figures


if __name__ == "__main__":
    args = sys.argv[1:]
    existing = int(args[args.index("--existing") + 1]) if "--existing" in args else 0
    size = int(args[0]) if args and args[0].isdigit() else 100_000
    print(json.dumps(main(size, existing), indent=2))
