"""Contact generation and API list latency: first page, a deep page by cursor, a filter."""

from __future__ import annotations

import json
import random
import statistics
import sys
import time

from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from contacts.models import Contact, ContactTag, Tag
from mailcrm import services
from mailcrm.ids import uuid7
from mailcrm.models import Workspace


def generate(workspace: Workspace, size: int) -> float:
    started = time.perf_counter()
    rng = random.Random(7)
    tag = Tag.objects.create(workspace=workspace, name="bench-vip")
    batch: list[Contact] = []
    links: list[ContactTag] = []
    for n in range(size):
        contact = Contact(
            id=uuid7(),
            workspace=workspace,
            email=f"bench{n}@example.com",
            first_name=f"First{n % 997}",
            last_name=f"Last{n % 991}",
            status=rng.choice(["active"] * 8 + ["unsubscribed", "bounced"]),
            score=rng.randint(0, 100),
        )
        batch.append(contact)
        if n % 10 == 0:
            links.append(ContactTag(contact=contact, tag=tag))
        if len(batch) == 5000:
            Contact.objects.bulk_create(batch)
            ContactTag.objects.bulk_create(links)
            batch, links = [], []
    Contact.objects.bulk_create(batch)
    ContactTag.objects.bulk_create(links)
    return time.perf_counter() - started


def timed(client: APIClient, url: str, repeat: int = 20) -> dict:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:200]
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
    }


def deep_cursor(client: APIClient, pages: int) -> str:
    url = "/api/v1/contacts?page_size=500"
    for _ in range(pages):
        url = client.get(url).json()["next"]
    return url.replace("page_size=500", "page_size=50")


def print_plan(workspace: Workspace) -> None:
    from contacts.search import search

    queryset = search(Contact.objects.filter(workspace=workspace), "last98").order_by("-pk")[:10]
    print(queryset.explain(), file=sys.stderr)


def main(size: int) -> dict:
    call_command("migrate", verbosity=0)
    Workspace.objects.filter(name="bench").delete()
    workspace, _ = services.workspace_create(name="bench", owner_email="bench@example.com")
    workspace.limit_api_requests_per_minute = None
    workspace.save()
    _, secret = services.api_key_create(workspace=workspace, name="bench")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    try:
        seconds = generate(workspace, size)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            print_plan(workspace)
        deep_pages = min(size // 500 - 1, 40)
        deep_url = deep_cursor(client, deep_pages)
        figures = {
            "scenario": "contacts_api",
            "database": connection.vendor,
            "contacts": size,
            "generate_rows_per_s": round(size / seconds),
            "list_first_page": timed(client, "/api/v1/contacts?page_size=50"),
            f"list_page_after_{deep_pages * 500}_rows": timed(client, deep_url),
            "list_tag_filter": timed(client, "/api/v1/contacts?tag=bench-vip&page_size=50"),
            "list_with_count": timed(client, "/api/v1/contacts?count=true&page_size=50", repeat=5),
            "search_typeahead": timed(client, "/api/v1/contacts?q=last98&page_size=10"),
            "search_two_words": timed(client, "/api/v1/contacts?q=first9%20last12&page_size=10"),
            "search_email": timed(client, "/api/v1/contacts?q=bench4242@&page_size=10"),
        }
    finally:
        Workspace.objects.filter(pk=workspace.pk).delete()
    return figures


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=2))
