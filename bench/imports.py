"""CSV import of N rows (default 100,000) into a workspace of its own.

    DATABASE_URL=postgres://… python -m bench.imports 100000 [--existing 1000000]

With --existing, the workspace first gets that many generated contacts (bench/generate.py),
so the import meets a large table. The file is realistic: standard fields, four typed
properties, 1 % bad emails, 1 % bad numbers and a few duplicate emails. Three runs of the
import task itself are timed: all rows new, the same file again (every row an update), and
other new rows with a tag and a list applied. Prints JSON; rows/s counts every row of the
file, rejected ones included; cpu_s is this process's CPU time plus its PostgreSQL backend's
(when the server is on this machine), which stays comparable when other work shares the cores.
"""

from __future__ import annotations

import io
import json
import os
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
from mailcrm.workspace_deletion import workspace_delete

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


def cpu_seconds() -> tuple[int, float] | None:
    """(backend pid, CPU time of this process plus its PostgreSQL backend) when the server runs
    on this machine (read from /proc): unlike wall time, it hardly moves when other work shares
    the cores. None when it cannot be read."""
    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    return pid, time.process_time() + ticks / os.sysconf("SC_CLK_TCK")


def _cpu_between(before: tuple[int, float] | None, after: tuple[int, float] | None):
    if before is None or after is None or before[0] != after[0]:
        return None  # not measurable, or the connection was replaced meanwhile
    return round(after[1] - before[1], 2)


def timed_import(workspace: Workspace, data: bytes, **options) -> dict:
    started, cpu_before = time.perf_counter(), cpu_seconds()
    job = imports.import_start(
        workspace=workspace, data=data, filename="bench.csv", mapping=MAPPING, **options
    )
    job = imports.import_run(job.pk)
    seconds = time.perf_counter() - started
    cpu_after = cpu_seconds()
    return {
        "seconds": round(seconds, 2),
        "rows_per_s": round(job.total_rows / seconds),
        # Close to the time on an otherwise idle machine (it leaves out waiting for the disk).
        "cpu_s": _cpu_between(cpu_before, cpu_after),
        "load_1min": round(os.getloadavg()[0], 2),
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
        workspace_delete(workspace.pk)
    return figures


if __name__ == "__main__":
    args = sys.argv[1:]
    existing = int(args[args.index("--existing") + 1]) if "--existing" in args else 0
    size = int(args[0]) if args and args[0].isdigit() else 100_000
    print(json.dumps(main(size, existing), indent=2))
