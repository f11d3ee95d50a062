"""Streaming CSV export of N contacts (default 1,000,000) through the API.

    DATABASE_URL=postgres://… python -m bench.exports 1000000

Generates the contacts (bench/generate.py), then exports them in a child process with DEBUG
off, as deployed, so the peak memory reported is the export's own and not the generator's: the
child streams `GET /api/v1/contacts/export` (the whole stack: auth, filters, keyset pages, CSV
writer), counting bytes and rows. A second export with a tag filter shows a filtered set.
Prints JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from django.db import connection
from rest_framework.test import APIClient

from bench.generate import bench_workspace, generate
from bench.import_memory import deployed_env, peak_rss_mb
from mailcrm.workspace_deletion import workspace_delete


def export(secret: str, query: str = "") -> dict:
    """Stream one export (run in the child process) and measure it."""
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    started = time.perf_counter()
    response = client.get(f"/api/v1/contacts/export{query}")
    assert response.status_code == 200, response.status_code
    size = rows = 0
    first_row_s = None
    for chunk in response.streaming_content:
        if first_row_s is None:
            first_row_s = time.perf_counter() - started
        size += len(chunk)
        rows += chunk.count(b"\n")  # generated emails and names hold no newline
    seconds = time.perf_counter() - started
    return {
        "query": query or "(all)",
        "rows": rows - 1,
        "mb": round(size / 1024 / 1024, 1),
        "seconds": round(seconds, 2),
        "rows_per_s": round((rows - 1) / seconds),
        "first_bytes_s": round(first_row_s or 0, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def in_child(secret: str, query: str) -> dict:
    child = subprocess.run(
        [sys.executable, "-m", "bench.exports", "--child", secret, query],
        capture_output=True,
        text=True,
        env=deployed_env(),
    )
    if child.returncode:
        raise RuntimeError(f"the exporting child failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout)


def main(size: int) -> dict:
    workspace, secret = bench_workspace("bench-exports")
    figures: dict = {"scenario": "exports", "database": connection.vendor, "contacts": size}
    try:
        figures["generate_s"] = round(generate(workspace, size), 1)
        connection.close()
        figures["export_all"] = in_child(secret, "")
        figures["export_tag_vip"] = in_child(secret, "?tag=vip")
    finally:
        # The figures first: deleting a million contacts takes a few minutes.
        print(json.dumps(figures, indent=2), flush=True)
        workspace_delete(workspace.pk)
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(export(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
