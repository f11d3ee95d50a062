"""Generate N realistic contacts (default 1,000,000) in a workspace of their own.

On PostgreSQL the rows are made by the database itself (INSERT … SELECT over
generate_series, in chunks), which is what makes a million rows a matter of seconds; on SQLite
a bulk_create fallback does the same more slowly.

    python -m bench.generate 1000000        # prints JSON with the time taken
"""

from __future__ import annotations

import json
import random
import sys
import time

from django.db import connection, transaction

from contacts import services as contact_services
from contacts.models import Contact, ContactList, PropertyType, Tag
from mailcrm import services
from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.workspace_deletion import workspace_delete

INDUSTRIES = ["SaaS", "Retail", "Finance", "Health", "Education", "Media", "Manufacturing"]
COUNTRIES = ["USA", "Germany", "France", "UK", "Canada", "Brazil", "India", "Japan"]
PLANS = ["free", "starter", "pro", "enterprise"]
INTERESTS = ["analytics", "crm", "email", "automation", "reporting"]
TAGS = {"vip": 0.05, "newsletter": 0.6, "beta": 0.1, "webinar-2025": 0.15, "churn-risk": 0.08}
LISTS = {"Newsletter": 0.55, "Customers": 0.2, "Conference Attendees 2025": 0.05}
CHUNK = 100_000

PROPERTY_DEFINITIONS = [
    {"key": "industry", "type": PropertyType.SELECT, "options": INDUSTRIES},
    {"key": "country", "type": PropertyType.TEXT},
    {"key": "plan", "type": PropertyType.SELECT, "options": PLANS},
    {"key": "lifetime_value", "type": PropertyType.CURRENCY},
    {"key": "signup_date", "type": PropertyType.DATE},
    {"key": "product_interests", "type": PropertyType.MULTI_SELECT, "options": INTERESTS},
]


def bench_workspace(name: str = "bench") -> tuple[Workspace, str]:
    """A fresh workspace without plan limits, and an API key for it."""
    for stale in Workspace.objects.filter(name=name).values_list("pk", flat=True):
        workspace_delete(stale)
    workspace, _ = services.workspace_create(name=name, owner_email=f"{name}@example.com")
    workspace.limit_contacts = None
    workspace.limit_api_requests_per_minute = None
    workspace.save()
    _, secret = services.api_key_create(workspace=workspace, name=name)
    for spec in PROPERTY_DEFINITIONS:
        contact_services.property_definition_create(workspace=workspace, **spec)
    contact_services.tags_get_or_create(workspace=workspace, names=list(TAGS))
    for list_name in LISTS:
        contact_services.contact_list_create(workspace=workspace, name=list_name)
    return workspace, secret


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{value}'" for value in values) + "]"


def _pg_contacts(workspace: Workspace, start: int, stop: int) -> None:
    pick = "({array})[1 + floor(random() * {n})::int]"
    industry = pick.format(array=_sql_array(INDUSTRIES), n=len(INDUSTRIES))
    country = pick.format(array=_sql_array(COUNTRIES), n=len(COUNTRIES))
    plan = pick.format(array=_sql_array(PLANS), n=len(PLANS))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO contacts_contact (
                id, workspace_id, email, first_name, last_name, phone, company, job_title,
                status, lifecycle_stage, source, properties, score, score_tier, sends, opens,
                clicks, last_sent_at, last_opened_at, last_clicked_at, tracking_opt_out,
                created_at, updated_at)
            SELECT
                (lpad(to_hex((extract(epoch FROM created) * 1000)::bigint), 12, '0') || '7'
                 || substr(md5(g::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid,
                %(ws)s, 'person' || g || '@example' || (g %% 50) || '.com',
                'First' || (g %% 997), 'Last' || (g %% 991),
                '+1 555 ' || lpad((g %% 10000)::text, 4, '0'),
                'Company ' || (g %% 5000), '',
                CASE WHEN r < 0.85 THEN 'active' WHEN r < 0.93 THEN 'unsubscribed'
                     WHEN r < 0.98 THEN 'bounced' ELSE 'complained' END,
                (ARRAY['subscriber','lead','marketing_qualified','sales_qualified','opportunity',
                       'customer','evangelist'])[1 + floor(random() * 7)::int],
                (ARRAY['api','form','import','manual','integration'])[1 + floor(random() * 5)::int],
                jsonb_build_object(
                    'industry', {industry}, 'country', {country}, 'plan', {plan},
                    'lifetime_value', floor(random() * 5000)::int,
                    'signup_date', to_char(created, 'YYYY-MM-DD'),
                    'product_interests', to_jsonb(ARRAY(
                        SELECT i FROM unnest({_sql_array(INTERESTS)}) AS i
                        WHERE random() < 0.3 AND g > 0)))
                    - CASE WHEN random() < 0.1 THEN 'lifetime_value' ELSE '' END,
                score,
                CASE WHEN score >= 50 THEN 'hot' WHEN score >= 20 THEN 'warm' ELSE 'cold' END,
                sends, opens, clicks,
                CASE WHEN sends > 0 THEN now() - random() * interval '60 days' END,
                CASE WHEN opens > 0 THEN now() - random() * interval '180 days' END,
                CASE WHEN clicks > 0 THEN now() - random() * interval '180 days' END,
                random() < 0.02, created, created
            FROM (
                SELECT g, random() AS r, floor(random() * 100)::int AS score,
                       floor(random() * 40)::int AS sends, floor(random() * 20)::int AS opens,
                       floor(random() * 6)::int AS clicks,
                       now() - interval '3 years' + (g::float / %(total)s) * interval '3 years'
                           AS created
                FROM generate_series(%(start)s, %(stop)s - 1) AS g
            ) AS s
            """,
            {"ws": workspace.pk, "start": start, "stop": stop, "total": max(stop, 1)},
        )


def _pg_links(workspace: Workspace) -> None:
    with connection.cursor() as cursor:
        for tag in Tag.objects.for_workspace(workspace):
            cursor.execute(
                "INSERT INTO contacts_contacttag (contact_id, tag_id, created_at) "
                "SELECT id, %s, now() FROM contacts_contact "
                "WHERE workspace_id = %s AND random() < %s",
                [tag.pk, workspace.pk, TAGS[tag.name]],
            )
        for contact_list in ContactList.objects.for_workspace(workspace):
            cursor.execute(
                "INSERT INTO contacts_listmembership (contact_id, contact_list_id, added_at) "
                "SELECT id, %s, now() FROM contacts_contact "
                "WHERE workspace_id = %s AND random() < %s",
                [contact_list.pk, workspace.pk, LISTS[contact_list.name]],
            )
    # As a live database has them: autovacuum visits a table after its inserts (statistics,
    # the visibility map and hint bits). Measured right after the INSERTs, the first reads of
    # every scenario would set a million hint bits and write the pages out again.
    tables = "contacts_contact, contacts_contacttag, contacts_listmembership"
    with connection.cursor() as cursor:
        # VACUUM cannot run inside a transaction: a caller's atomic block gets statistics only.
        cursor.execute(
            f"{'ANALYZE' if connection.in_atomic_block else 'VACUUM (ANALYZE)'} {tables}"
        )


def _python_contacts(workspace: Workspace, count: int) -> None:
    rng = random.Random(7)
    tags = list(Tag.objects.for_workspace(workspace))
    batch = []
    for n in range(count):
        batch.append(
            Contact(
                id=uuid7(),
                workspace=workspace,
                email=f"person{n}@example{n % 50}.com",
                first_name=f"First{n % 997}",
                last_name=f"Last{n % 991}",
                score=rng.randint(0, 99),
                status=rng.choice(["active"] * 8 + ["unsubscribed", "bounced"]),
                properties={
                    "industry": rng.choice(INDUSTRIES),
                    "lifetime_value": rng.randint(0, 5000),
                },
            )
        )
        if len(batch) == 5000:
            Contact.objects.bulk_create(batch)
            batch = []
    Contact.objects.bulk_create(batch)
    for tag in tags:
        ids = Contact.objects.for_workspace(workspace).values_list("id", flat=True)
        tag.contacts.add(*[pk for pk in ids if rng.random() < TAGS[tag.name]])


def generate(workspace: Workspace, count: int, *, progress: bool = True) -> float:
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        for start in range(0, count, CHUNK):
            with transaction.atomic():
                _pg_contacts(workspace, start, min(start + CHUNK, count))
            if progress:
                print(f"  {min(start + CHUNK, count):,} contacts", file=sys.stderr)
        _pg_links(workspace)
    else:
        _python_contacts(workspace, count)
    return time.perf_counter() - started


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    ws, _ = bench_workspace("bench-generated")
    seconds = generate(ws, size)
    print(
        json.dumps(
            {
                "scenario": "generate",
                "contacts": size,
                "seconds": round(seconds, 2),
                "rows_per_s": round(size / seconds),
            },
            indent=2,
        )
    )
