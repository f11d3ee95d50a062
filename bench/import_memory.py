"""Peak memory of the CSV import of N rows (default 1,000,000), measured in a child process.

    DATABASE_URL=postgres://… python -m bench.import_memory [N]

A 1,000,000-row file must fit the 50 MB upload limit, so the file is lean: email, first name,
last name (about 45 bytes a row), every row new, 1 % bad emails. This process stores it with
``import_start`` (as the web process does); a child process then runs the task body
``import_run`` (as a worker does), so the peak RSS reported is the import's own: Python and
Django loaded, the upload read from the database, parsed, checked and written in chunks.
``baseline_rss_mb`` is the child's RSS before the import. The child runs with ``DEBUG=0``, as
a deployed worker does: with DEBUG on, Django keeps the last 9,000 statements with their
parameters, which alone would add over 100 MB here. Prints JSON.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

from django.conf import settings
from django.db import connection

from bench.generate import bench_workspace
from contacts import imports
from contacts.imports import jobs
from contacts.models import Contact
from mailcrm.workspace_deletion import workspace_delete

MAPPING = {"Email": "email", "First Name": "first_name", "Last Name": "last_name"}


def make_lean_csv(rows: int) -> bytes:
    out = io.StringIO()
    out.write("Email,First Name,Last Name\r\n")
    for n in range(rows):
        email = f"person{n}@example{n % 50}.com" if n % 100 != 17 else f"broken-{n}"
        out.write(f"{email},First{n % 997},Last{n % 991}\r\n")
    return out.getvalue().encode()


def _rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak RSS since it started. Not getrusage's ru_maxrss: Linux carries that
    across exec, so a child would report its parent's size at the fork if it was larger."""
    return _rss_mb("VmHWM")


def deployed_env(base: dict[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """A child's environment as deployed (``base``, else this process's, with ``overrides``):
    DEBUG off (else Django keeps the last 9,000 statements with their parameters), this
    process's database and keys (a server must verify the tokens signed here), and plain HTTP
    on loopback as behind a TLS-terminating proxy (with DEBUG off the default redirects every
    request but the tracking paths to https). ``ALLOWED_HOSTS`` is the test client's host."""
    return {
        **(os.environ if base is None else base),
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
        "DATABASE_URL": settings.DATABASE_URL,
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "0",
        **overrides,
    }


def run_in_child(job_id: str) -> dict:
    """The task body, in this (child) process; its peak RSS is the import's."""
    baseline = _rss_mb()
    started = time.perf_counter()
    job = imports.import_run(job_id)
    seconds = time.perf_counter() - started
    return {
        "status": job.status,
        "total_rows": job.total_rows,
        "created": job.created,
        "rejected": job.error_count,
        "seconds": round(seconds, 2),
        "rows_per_s": round(job.total_rows / seconds),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "debug": settings.DEBUG,
    }


def main(rows: int, name: str | None = None) -> dict:
    jobs._enqueue = lambda job_id: None  # the child runs the task body itself
    workspace, _ = bench_workspace(name or f"bench-import-memory-{rows}")
    figures: dict = {
        "scenario": "import_memory",
        "database": connection.vendor,
        "rows": rows,
        "load_average_before": os.getloadavg(),
    }
    try:
        data = make_lean_csv(rows)
        figures["file_mb"] = round(len(data) / 1024 / 1024, 1)
        job = imports.import_start(
            workspace=workspace, data=data, filename="lean.csv", mapping=MAPPING
        )
        del data
        connection.close()
        output = subprocess.run(
            [sys.executable, "-m", "bench.import_memory", "--child", str(job.pk)],
            check=True,
            capture_output=True,
            text=True,
            env=deployed_env(),
        ).stdout
        figures["import"] = json.loads(output)
        figures["contacts_after"] = Contact.objects.for_workspace(workspace).count()
        figures["load_average_after"] = os.getloadavg()
    finally:
        # The figures first: deleting a million contacts takes a few minutes.
        print(json.dumps(figures, indent=2), flush=True)
        workspace_delete(workspace.pk)
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(run_in_child(sys.argv[2])))
    else:
        # --name NAME: a workspace of another name (a previous run's may still be deleting).
        args = sys.argv[1:]
        name = args[args.index("--name") + 1] if "--name" in args else None
        size = int(args[0]) if args and args[0].isdigit() else 1_000_000
        main(size, name)
