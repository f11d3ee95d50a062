"""What an index on contacts costs an import: 100,000 rows ``INSERT … SELECT`` into a copy of
``contacts_contact`` (every index of the real table, ``LIKE … INCLUDING ALL``) already holding
100,000 rows, with the current indexes and with each candidate index added, every variant in a
transaction that is rolled back. Besides wall time, the CPU time of the PostgreSQL backend
(read from /proc: the server must run on this machine), which other work on the machine moves
far less.

    DATABASE_URL=postgres://… python -m bench.index_cost [--rows 100000] [--runs 3]

Copies rows of the largest workspace (e.g. bench-generated); the real tables are not touched.
Prints JSON: seconds per variant (best and median of ``--runs``) and the cost relative to the
current indexes. The machine's load moves wall times; compare variants of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from django.db import connection, transaction

SCRATCH = "bench_index_cost"
# The candidates measured: name -> the CREATE INDEX of it on the scratch table.
CANDIDATES = {
    "(workspace, updated_at, id)": f"CREATE INDEX ON {SCRATCH} (workspace_id, updated_at, id)",
    "(workspace, first_name, id)": f"CREATE INDEX ON {SCRATCH} (workspace_id, first_name, id)",
    "(workspace, last_name, id)": f"CREATE INDEX ON {SCRATCH} (workspace_id, last_name, id)",
    "(workspace, email, id)": f"CREATE INDEX ON {SCRATCH} (workspace_id, email, id)",
    "(workspace, id) WHERE archived": (
        f"CREATE INDEX ON {SCRATCH} (workspace_id, id) WHERE archived_at IS NOT NULL"
    ),
}

# Each copied row gets a new id (same time prefix) and address, so no unique index refuses it.
CHANGED = {
    "id": "(substr(c.id::text, 1, 24) || substr(md5(random()::text), 1, 12))::uuid",
    "email": "'copy.' || c.email",
}


def _columns(table: str = "contacts_contact") -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


def prepare(rows: int) -> str:
    """The scratch table, holding ``rows`` contacts of the largest workspace; its id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT workspace_id FROM contacts_contact GROUP BY workspace_id "
            "ORDER BY count(*) DESC LIMIT 1"
        )
        (workspace_id,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        cursor.execute(f"CREATE TABLE {SCRATCH} (LIKE contacts_contact INCLUDING ALL)")
        columns = ", ".join(f'"{name}"' for name in _columns())
        cursor.execute(
            f"INSERT INTO {SCRATCH} ({columns}) SELECT {columns} FROM contacts_contact "
            "WHERE workspace_id = %s ORDER BY id LIMIT %s",
            [workspace_id, rows],
        )
        cursor.execute(f"ANALYZE {SCRATCH}")
    return workspace_id


def _backend_cpu(pid: int) -> float:
    """CPU seconds the PostgreSQL backend has used (it runs on this machine): unlike wall
    time, barely moved by other work on the same cores."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def insert_seconds(workspace_id: str, rows: int, indexes: list[str]) -> tuple[float, float]:
    names = _columns(SCRATCH)
    columns = ", ".join(f'"{name}"' for name in names)
    values = ", ".join(CHANGED.get(name, f'c."{name}"') for name in names)
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in indexes:
            cursor.execute(sql)
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
        cpu_before = _backend_cpu(backend)
        started = time.perf_counter()
        cursor.execute(
            f"INSERT INTO {SCRATCH} ({columns}) SELECT {values} FROM contacts_contact c "
            "WHERE c.workspace_id = %s ORDER BY c.id DESC LIMIT %s",
            [workspace_id, rows],
        )
        seconds = time.perf_counter() - started
        cpu = _backend_cpu(backend) - cpu_before
        transaction.set_rollback(True)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workspace_id = prepare(args.rows)
    variants = {"current indexes": [], **{k: [v] for k, v in CANDIDATES.items()}}
    variants["all candidates"] = list(CANDIDATES.values())
    load_before = os.getloadavg()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.runs):  # interleaved, so a change of load hits every variant alike
        for name, indexes in variants.items():
            seconds, cpu_s = insert_seconds(workspace_id, args.rows, indexes)
            samples[name].append(seconds)
            cpu[name].append(cpu_s)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {SCRATCH}")
    base = min(samples["current indexes"])
    base_cpu = min(cpu["current indexes"])
    print(
        json.dumps(
            {
                "scenario": "index_cost",
                "rows": args.rows,
                "load_average": [load_before, os.getloadavg()],
                "variants": {
                    name: {
                        "best_s": round(min(values), 3),
                        "median_s": round(statistics.median(values), 3),
                        "vs_current": round(min(values) / base, 3),
                        "backend_cpu_s": round(min(cpu[name]), 3),
                        "cpu_vs_current": round(min(cpu[name]) / base_cpu, 3),
                    }
                    for name, values in samples.items()
                },
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
