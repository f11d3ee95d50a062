"""Segment refresh, preview count and typeahead search over N contacts (default 1,000,000).

    DATABASE_URL=postgres://… python -m bench.segments 1000000 [--plans]
    DATABASE_URL=postgres://… python -m bench.segments --typeahead bench-generated

Prints JSON figures; with --plans, the query plans go to stderr. With --typeahead NAME, only
the typeahead search is timed, on an existing workspace (e.g. the one `python -m
bench.generate 1000000` leaves, named bench-generated), which is kept.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

from django.db import connection
from rest_framework.test import APIClient

from bench.generate import bench_workspace, generate
from contacts import segmentation
from contacts.models import Contact, SegmentMembership
from contacts.query import compile_query
from contacts.search import search
from mailcrm.models import Workspace
from mailcrm.startup import freeze_startup_objects
from mailcrm.workspace_deletion import workspace_delete

SEGMENTS = {
    "columns": "status = active AND score >= 50 AND lifecycle_stage IN (lead, customer)",
    "properties": 'properties.industry = "SaaS" AND properties.lifetime_value >= 1000',
    "relations_and_dates": "tag = vip AND last_opened_at > -30d",
}
TYPEAHEAD = ["pers", "person12", "first12 last3", "example7.com", "company 42"]


def seconds(action) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 3)


def latency(client: APIClient, urls: list[str], rounds: int = 8) -> dict:
    """p50 and p95 over ``rounds`` of every URL, after one untimed round: a fresh process's
    first request (≈ 250 ms: Django and DRF warming up) is not the search's latency."""
    for url in urls:
        assert client.get(url).status_code == 200
    samples = []
    for _ in range(rounds):
        for url in urls:
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 1),
    }


def main(size: int, plans: bool) -> dict:
    workspace, secret = bench_workspace("bench-segments")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    figures: dict = {"scenario": "segments", "database": connection.vendor, "contacts": size}
    try:
        figures["generate_s"] = round(generate(workspace, size), 1)
        for name, query in SEGMENTS.items():
            segment = segmentation.segment_create(workspace=workspace, name=name, query=query)
            first = seconds(lambda s=segment: segmentation.segment_refresh(segment=s))
            again = seconds(lambda s=segment: segmentation.segment_refresh(segment=s))
            preview = seconds(
                lambda q=query: segmentation.segment_preview(workspace=workspace, query=q)
            )
            figures[f"segment_{name}"] = {
                "members": SegmentMembership.objects.filter(segment=segment).count(),
                "first_refresh_s": first,
                "steady_refresh_s": again,
                "preview_count_s": preview,
            }
            if plans:
                matching = Contact.objects.filter(workspace=workspace).filter(
                    compile_query(query, workspace)
                )
                print(f"--- {name}: {query}\n{matching.explain()}", file=sys.stderr)
        urls = [f"/api/v1/contacts?q={text}&page_size=10" for text in TYPEAHEAD]
        freeze_startup_objects()  # as a web process (mailcrm.wsgi) does
        figures["typeahead_search"] = latency(client, urls)
        if plans:
            found = search(Contact.objects.filter(workspace=workspace), "person12")[:10]
            print(f"--- search\n{found.explain()}", file=sys.stderr)
    finally:
        workspace_delete(workspace.pk)
    return figures


def typeahead_only(name: str) -> dict:
    from mailcrm import services

    workspace = Workspace.objects.get(name=name)
    _, secret = services.api_key_create(workspace=workspace, name="bench typeahead")
    # The requests run in this process, which is then a web process: as mailcrm.wsgi does.
    freeze_startup_objects()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    urls = [f"/api/v1/contacts?q={text}&page_size=10" for text in TYPEAHEAD]
    overall = latency(client, urls)
    per_query = {
        text: latency(client, [url], rounds=8) for text, url in zip(TYPEAHEAD, urls, strict=True)
    }
    return {
        "scenario": "typeahead",
        "contacts": Contact.objects.for_workspace(workspace).count(),
        "typeahead_search": overall,
        "per_query_p50_ms": {text: figures["p50_ms"] for text, figures in per_query.items()},
        "per_query_p95_ms": {text: figures["p95_ms"] for text, figures in per_query.items()},
        "load_1min": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    if "--typeahead" in sys.argv:
        print(json.dumps(typeahead_only(sys.argv[sys.argv.index("--typeahead") + 1]), indent=2))
        sys.exit()
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    print(json.dumps(main(int(args[0]) if args else 1_000_000, "--plans" in sys.argv), indent=2))
