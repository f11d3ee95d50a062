"""API list and detail latency (p50/p95/p99) on N contacts (default 1,000,000), at any depth.

    DATABASE_URL=postgres://… python -m bench.contacts_api [N] [--repeat 40] [--reuse NAME]

N contacts are generated in a workspace of their own (``bench-contacts-api``, by
``bench/generate.py``: made by PostgreSQL itself, with properties, tags and lists), or with
``--reuse NAME`` an existing generated workspace holding at least N contacts (e.g. the
``bench-generated`` one ``python -m bench.generate`` leaves) is read and kept. Then, through the
test client (key check, filters, keyset pages, serializer), each URL is requested ``--repeat``
times after one warm-up request:

- the first page, a deep page (the cursor of the row at N/2, i.e. after 500,000 rows of a
  million) and the last page, for the default order (newest first) and two others
  (``ordering=email`` and ``ordering=-score``);
- filters (status, tag, list, stage, a creation date, a segment-language ``query``), each with
  its first and last page, and ``?count=true``;
- ``GET /contacts/{id}`` of ``--repeat`` different contacts picked at random.

The cursors are built the way the API builds them, from the row at that position (found once,
with an OFFSET, outside the timing). Prints one JSON object: ``latency`` maps each case to its
p50/p95/p99 in milliseconds; the target is p95 ≤ 100 ms everywhere.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import timedelta

from django.core.management import call_command
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.test import APIClient

from bench.generate import bench_workspace, generate
from contacts.models import Contact, ContactList, Tag
from contacts.query import compile_query
from mailcrm import services
from mailcrm.keyset import encode_cursor
from mailcrm.models import Workspace
from mailcrm.startup import freeze_startup_objects
from mailcrm.workspace_deletion import workspace_delete

PAGE = 50
ORDERINGS = {"-pk": "-pk", "email": "email", "-score": "-score"}


def percentiles(samples: list[float]) -> dict:
    """Nearest-rank p50/p95/p99 of samples in milliseconds."""
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return round(ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)], 2)

    return {"p50_ms": rank(50), "p95_ms": rank(95), "p99_ms": rank(99), "n": len(ordered)}


def timed(client: APIClient, urls: list[str], repeat: int) -> dict:
    """Each request of ``repeat`` (cycling through ``urls``), after one warm-up of each."""
    for url in urls:
        _check(client.get(url), url)
    samples = []
    for n in range(repeat):
        url = urls[n % len(urls)]
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        _check(response, url)
    return percentiles(samples)


def _check(response, url: str) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")


def cursor_at(queryset: QuerySet, ordering: str, position: int) -> str:
    """The API's cursor after the row at ``position`` of ``queryset`` in ``ordering``."""
    field = ordering.lstrip("-")
    descending = ordering.startswith("-")
    direction = "-" if descending else ""
    ordered = queryset.order_by(f"{direction}{field}", f"{direction}pk")
    value, pk = ordered.values_list(field if field != "pk" else "pk", "pk")[position]
    return encode_cursor([value, pk])


def depth_cases(queryset: QuerySet, base: str, label: str) -> dict[str, list[str]]:
    """First, middle and last page of ``base`` (a list URL) for each ordering."""
    total = queryset.count()
    cases: dict[str, list[str]] = {}
    for name, ordering in ORDERINGS.items():
        url = f"{base}&page_size={PAGE}" + ("" if ordering == "-pk" else f"&ordering={ordering}")
        tag = f"{label} order {name}"
        cases[f"{tag}: first page"] = [url]
        if total > 2 * PAGE:
            middle = total // 2
            cases[f"{tag}: page after {middle:,} rows"] = [
                f"{url}&cursor={cursor_at(queryset, ordering, middle)}"
            ]
            cases[f"{tag}: last page"] = [
                f"{url}&cursor={cursor_at(queryset, ordering, total - PAGE // 2 - 1)}"
            ]
    return cases


def filter_cases(workspace: Workspace, visible: QuerySet) -> dict[str, list[str]]:
    cases: dict[str, list[str]] = {}
    tag = Tag.objects.for_workspace(workspace).filter(name="vip").first()
    contact_list = ContactList.objects.for_workspace(workspace).order_by("name").first()
    since = (timezone.now() - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    filters = [
        ("status=active", "status=active", visible.filter(status="active")),
        (
            "lifecycle_stage=customer",
            "lifecycle_stage=customer",
            visible.filter(lifecycle_stage="customer"),
        ),
        (
            "created_after (90 days)",
            f"created_after={since}",
            visible.filter(created_at__gte=since),
        ),
        (
            "query score >= 50 AND status = active",
            "query=score%20%3E%3D%2050%20AND%20status%20%3D%20active",
            visible.filter(compile_query("score >= 50 AND status = active", workspace)),
        ),
    ]
    if tag is not None:
        filters.append(("tag=vip", "tag=vip", visible.filter(contacttag__tag=tag)))
    if contact_list is not None:
        filters.append(
            (
                f"list={contact_list.name}",
                f"list={contact_list.pk}",
                visible.filter(listmembership__contact_list=contact_list),
            )
        )
    for label, query, matching in filters:
        url = f"/api/v1/contacts?{query}&page_size={PAGE}"
        total = matching.count()
        cases[f"filter {label}: first page"] = [url]
        if total > 2 * PAGE:
            cursor = cursor_at(matching, "-pk", total - PAGE // 2 - 1)
            cases[f"filter {label}: last page"] = [f"{url}&cursor={cursor}"]
    cases["?count=true (all)"] = [f"/api/v1/contacts?count=true&page_size={PAGE}"]
    return cases


def _workspace(size: int, reuse: str | None) -> tuple[Workspace, str, bool, float | None]:
    """(workspace, API key, keep it afterwards, generation seconds)."""
    if reuse:
        workspace = Workspace.objects.filter(name=reuse).first()
        if workspace is not None and Contact.objects.for_workspace(workspace)[size - 1 : size]:
            workspace.limit_api_requests_per_minute = None
            workspace.save(update_fields=["limit_api_requests_per_minute"])
            _, secret = services.api_key_create(workspace=workspace, name="bench contacts_api")
            return workspace, secret, True, None
        print(f"no workspace {reuse!r} with {size:,} contacts: generating", file=sys.stderr)
    workspace, secret = bench_workspace("bench-contacts-api")
    seconds = generate(workspace, size)
    return workspace, secret, False, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--reuse", metavar="NAME", help="an existing generated workspace")
    args = parser.parse_args()
    call_command("migrate", skip_checks=True, verbosity=0)
    workspace, secret, keep, seconds = _workspace(args.size, args.reuse)
    # The requests run in this process, which is then a web process: as mailcrm.wsgi does.
    freeze_startup_objects()
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    figures: dict = {
        "scenario": "contacts_api",
        "database": connection.vendor,
        "workspace": workspace.name,
        "load_average_before": os.getloadavg(),
    }
    try:
        if seconds is not None:
            figures["generate_s"] = round(seconds, 1)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE contacts_contact")
        visible = Contact.objects.for_workspace(workspace).filter(archived_at__isnull=True)
        figures["contacts"] = visible.count()
        cases = {
            **depth_cases(visible, "/api/v1/contacts?", "list"),
            **filter_cases(workspace, visible),
        }
        ids = list(visible.order_by("?").values_list("pk", flat=True)[: args.repeat])
        cases["detail GET /contacts/{id}"] = [f"/api/v1/contacts/{pk}" for pk in ids]
        figures["latency"] = {}
        for name, urls in cases.items():
            figures["latency"][name] = timed(client, urls, args.repeat)
            print(f"{name}: {figures['latency'][name]}", file=sys.stderr, flush=True)
        worst = max(figures["latency"].items(), key=lambda item: item[1]["p95_ms"])
        figures["worst_p95"] = {"case": worst[0], "p95_ms": worst[1]["p95_ms"]}
        figures["load_average_after"] = os.getloadavg()
    finally:
        # The figures first: deleting a million contacts takes a few minutes.
        print(json.dumps(figures, indent=2), flush=True)
        if not keep:
            workspace_delete(workspace.pk)


if __name__ == "__main__":
    main()
