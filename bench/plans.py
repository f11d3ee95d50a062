"""Query plans at 1,000,000 contacts: every filter, ordering, search and segment field the
product offers, run through the real code (the API's FilterSets, the segment query compiler,
keyset pagination) against a generated workspace, each statement it sends to the database
explained with ``EXPLAIN (ANALYZE, BUFFERS)``.

    DATABASE_URL=postgres://… python -m bench.generate 1000000      # once: bench-generated
    DATABASE_URL=postgres://… python -m bench.plans [--workspace bench-generated] [--runs 3]
        [--only SUBSTRING] [--messages 1000000] [--quiet]

The plans go to stderr (one compact tree per statement), the JSON summary to stdout: for each
case the statements it ran, the best and median execution time of ``--runs`` EXPLAIN ANALYZE
runs, the scans it used (index or sequential, and on which table), buffers read and rows.
Cases slower than ``SLOW_MS`` are flagged. ``--messages N`` first adds a campaign of N
messages (and their events, and N outbox events) to the workspace when it has none, so the
campaign, message and event lists are explained at scale too; the contacts are never changed.

PostgreSQL only: SQLite has no EXPLAIN ANALYZE, and its plans say nothing about production.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from campaigns.filtersets import MessageFilterSet
from campaigns.models import Campaign, Message, to_contacts
from campaigns.recipients import campaign_messages
from contacts.api.views import ContactViewSet
from contacts.filtersets import ContactFilterSet, ContactPageFilterSet
from contacts.models import Contact, Segment, SegmentKind
from mailcrm.api.pagination import KeysetPagination, count_rows
from mailcrm.dashboard.insights import contact_engagement
from mailcrm.filtersets import EventFilterSet
from mailcrm.keyset import encode_cursor, keyset_page
from mailcrm.models import Event, Workspace

SLOW_MS = 100.0
ESTIMATE = "EXPLAIN (FORMAT JSON) "  # how mailcrm.api.pagination.planner_rows asks
PAGE_SIZE = 50
# Tables whose full scan matters at this size; a sequential scan of a lookup table (tags,
# lists, property definitions) is the right plan and is not reported.
LARGE_TABLES = {
    "contacts_contact",
    "contacts_contacttag",
    "contacts_listmembership",
    "contacts_segmentmembership",
    "contacts_companyrole",
    "contacts_activity",
    "campaigns_message",
    "campaigns_messageevent",
    "mailcrm_event",
}
# The contacts list's orderings (ContactViewSet.ordering_fields) and its default.
ORDERINGS = ["-pk", "created_at", "updated_at", "email", "first_name", "last_name", "score"]

# Every segment-language field family and operator family (contacts/query.py), as the
# ``query`` filter of the contacts list compiles them.
QUERIES = {
    # standard text fields
    "email = (ignores case)": "email = person77@example27.com",
    "email ENDS WITH": 'email ENDS WITH "@example7.com"',
    "email CONTAINS": 'email CONTAINS "son4242"',
    "first_name STARTS WITH": 'first_name STARTS WITH "First99"',
    "last_name = ": 'last_name = "Last12"',
    "company IN": 'company IN ("Company 1", "Company 2")',
    "phone IS SET": "phone IS SET",
    "job_title IS NOT SET": "job_title IS NOT SET",
    # choices
    "status = active (85 %)": "status = active",
    "status = complained (2 %)": "status = complained",
    "status != active": "status != active",
    "lifecycle_stage IN": "lifecycle_stage IN (lead, customer)",
    "source = form": "source = form",
    "score_tier = hot": "score_tier = hot",
    # numbers
    "score >= 50": "score >= 50",
    "score >= 99": "score >= 99",
    "opens = 0": "opens = 0",
    "clicks > 4": "clicks > 4",
    "sends IN": "sends IN (1, 2, 3)",
    # dates (engagement and record)
    "created_at > -30d": "created_at > -30d",
    "created_at < 2024-01-01": "created_at < 2024-01-01",
    "updated_at > -7d": "updated_at > -7d",
    "last_opened_at > -30d": "last_opened_at > -30d",
    "last_clicked_at > -2d": "last_clicked_at > -2d",
    "last_sent_at IS NOT SET": "last_sent_at IS NOT SET",
    "tracking_opt_out = true": "tracking_opt_out = true",
    # custom properties, by type
    "properties select =": 'properties.industry = "SaaS"',
    "properties text =": 'properties.country = "Japan"',
    "properties text STARTS WITH": 'properties.country STARTS WITH "Ja"',
    "properties select IN": "properties.plan IN (pro, enterprise)",
    "properties select !=": "properties.plan != free",
    "properties currency >=": "properties.lifetime_value >= 4900",
    "properties currency =": "properties.lifetime_value = 1234",
    "properties currency IS NOT SET": "properties.lifetime_value IS NOT SET",
    "properties date >": "properties.signup_date > -30d",
    "properties multi CONTAINS": 'properties.product_interests CONTAINS "analytics"',
    "properties multi IS SET": "properties.product_interests IS SET",
    # relations
    "tag = (5 %)": "tag = vip",
    "tag = (60 %)": "tag = newsletter",
    "NOT tag =": "NOT tag = newsletter",
    "tag IS NOT SET": "tag IS NOT SET",
    "list =": 'list = "Conference Attendees 2025"',
    "NOT list =": 'NOT list = "Newsletter"',
    "segment = (dynamic)": 'segment = "plans: vip openers"',
    "segment = (static)": 'segment = "plans: static"',
    "company.industry =": 'company.industry = "SaaS"',
    "company.spend >": "company.spend > 1000",
    # combinations the documentation shows
    "status AND score AND stage": (
        "status = active AND score >= 50 AND lifecycle_stage IN (lead, customer)"
    ),
    "properties AND properties": (
        'properties.industry = "SaaS" AND properties.lifetime_value >= 1000'
    ),
    "tag AND engagement": "tag = vip AND last_opened_at > -30d",
    "OR of columns": "last_opened_at > -30d OR score > 90",
    "key:value shorthand": "industry:SaaS plan:pro",
}

FILTERS = {
    "status=bounced": {"status": "bounced"},
    "lifecycle_stage=evangelist": {"lifecycle_stage": "evangelist"},
    "source=integration": {"source": "integration"},
    "tag=vip": {"tag": "vip"},
    "tag=newsletter": {"tag": "newsletter"},
    "list=Conference Attendees 2025": {"list": "Conference Attendees 2025"},
    "list=Newsletter": {"list": "Newsletter"},
    "segment=plans: static": {"segment": "plans: static"},
    "created_after=-30d": {"created_after": "-30d"},
    "created_before (oldest 1 %)": {"created_before": "oldest"},
    # More matches than contacts.filtersets reads to find the newest id among them: no bound.
    "created_before (oldest 5 %)": {"created_before": "oldest 5"},
    "created_before (half-way)": {"created_before": "oldest 50"},
    "created_after + created_before (a day, 1 year ago)": {
        "created_after": "-366d",
        "created_before": "-365d",
    },
    # The same window in the order of its index: (workspace, created_at, id) from the bound on.
    "created_before (oldest 1 %) + ordering=-created_at": {
        "created_before": "oldest",
        "ordering": "-created_at",
    },
    "created_after=-30d + ordering=created_at": {
        "created_after": "-30d",
        "ordering": "created_at",
    },
    "archived=true": {"archived": "true"},
    "status + tag + ordering score": {"status": "active", "tag": "vip", "ordering": "-score"},
}

SEARCHES = [
    "pers",
    "person12",
    "person123456",
    "first12 last3",
    "example7.com",
    "company 42",
    "+1 555 0042",
    "persn12345",
]


@dataclass
class Statement:
    sql: str
    plan: dict = field(default_factory=dict)
    times_ms: list[float] = field(default_factory=list)


@dataclass
class Case:
    group: str
    name: str
    statements: list[Statement]

    def summary(self) -> dict:
        rows = []
        for statement in self.statements:
            scans: list[str] = []
            indexes: set[str] = set()
            _walk(statement.plan["Plan"], scans, indexes)
            rows.append(
                {
                    "best_ms": round(min(statement.times_ms), 2),
                    "median_ms": round(statistics.median(statement.times_ms), 2),
                    "rows": statement.plan["Plan"].get("Actual Rows"),
                    "shared_buffers": _buffers(statement.plan["Plan"]),
                    "seq_scans": sorted({s for s in scans if s in LARGE_TABLES}),
                    "indexes": sorted(indexes),
                }
            )
        best = sum(row["best_ms"] for row in rows)
        return {
            "group": self.group,
            "case": self.name,
            "best_ms": round(best, 2),
            "median_ms": round(sum(row["median_ms"] for row in rows), 2),
            "slow": best > SLOW_MS,
            "seq_scan": any(row["seq_scans"] for row in rows),
            "statements": rows,
        }


def _buffers(plan: dict) -> int:
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)


def _walk(plan: dict, scans: list[str], indexes: set[str]) -> None:
    if plan.get("Node Type") == "Seq Scan":
        scans.append(plan.get("Relation Name", ""))
    if plan.get("Index Name"):
        indexes.add(plan["Index Name"])
    for child in plan.get("Plans", []):
        _walk(child, scans, indexes)


def _render(plan: dict, depth: int = 0) -> list[str]:
    """A compact text tree of one JSON plan: node, table, index, conditions, rows, time."""
    parts = [plan["Node Type"]]
    if plan.get("Relation Name"):
        parts.append(f"on {plan['Relation Name']}")
    if plan.get("Index Name"):
        parts.append(f"using {plan['Index Name']}")
    for key in ("Index Cond", "Recheck Cond", "Filter", "Join Filter", "Hash Cond", "Sort Key"):
        if plan.get(key):
            value = plan[key] if isinstance(plan[key], str) else ", ".join(plan[key])
            parts.append(f"{key.lower()}: {value[:160]}")
    loops = plan.get("Actual Loops", 1)
    parts.append(
        f"(rows={plan.get('Actual Rows')} loops={loops} "
        f"time={plan.get('Actual Total Time')} ms buffers={_buffers(plan)}"
        + (
            f" removed={plan['Rows Removed by Filter']}"
            if plan.get("Rows Removed by Filter")
            else ""
        )
        + ")"
    )
    lines = ["  " * depth + "-> " + " ".join(parts)]
    for child in plan.get("Plans", []):
        lines.extend(_render(child, depth + 1))
    return lines


def explain(sql: str, runs: int) -> Statement:
    """EXPLAIN ANALYZE of a statement; an estimate the code asked for (``?count=estimate``:
    itself an EXPLAIN, planned and not run) is timed by its planning."""
    statement = Statement(sql=sql)
    prefix = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
    if sql.upper().startswith(ESTIMATE):
        sql, prefix = sql[len(ESTIMATE) :], "EXPLAIN (SUMMARY, FORMAT JSON) "
    with connection.cursor() as cursor:
        for _ in range(runs):
            cursor.execute(prefix + sql)
            (result,) = cursor.fetchone()
            document = (json.loads(result) if isinstance(result, str) else result)[0]
            statement.times_ms.append(
                document["Planning Time"] + document.get("Execution Time", 0.0)
            )
            statement.plan = document
    return statement


@dataclass
class Spec:
    """One case: ``action(prepared)`` is the real code path; ``prepare()`` (not explained)
    finds what it needs first, e.g. the cursor of a deep page."""

    group: str
    name: str
    action: Callable[[Any], Any]
    prepare: Callable[[], Any] = lambda: None


def run_case(spec: Spec, runs: int) -> Case:
    """Run the case's code path once, capturing what it sends to the database, then explain
    every SELECT of it. Captured SQL has its parameters inlined by the driver."""
    prepared = spec.prepare()
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        spec.action(prepared)
    selects = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("SELECT", "WITH", ESTIMATE))
    ]
    with transaction.atomic():
        return Case(spec.group, spec.name, [explain(sql, runs) for sql in selects])


# --- the real code paths -----------------------------------------------------------------------


def _request(workspace: Workspace) -> SimpleNamespace:
    return SimpleNamespace(user=SimpleNamespace(workspace=workspace), workspace=workspace)


@functools.cache
def _missing_fields(model) -> tuple[str, ...]:
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, model._meta.db_table)
    columns = {column.name for column in description}
    return tuple(f.name for f in model._meta.concrete_fields if f.column not in columns)


def in_database(model) -> QuerySet:
    """``model.objects`` without the fields the database has no column for yet (another
    session's model change whose migration is not applied to the bench database): the select
    list is then one column shorter, the plan the same."""
    missing = _missing_fields(model)
    return model.objects.defer(*missing) if missing else model.objects.all()


def contacts(workspace: Workspace) -> QuerySet:
    return in_database(Contact).filter(workspace=workspace)


def contacts_page(workspace: Workspace, params: dict, cursor: str | None = None) -> None:
    """The contacts list as the API serves it: ContactPageFilterSet, then one page of the API's
    keyset pagination, with ContactViewSet's orderings."""
    wanted = {**params, "page_size": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
    query = QueryDict(mutable=True)
    query.update(wanted)  # as the API's FilterSet sees it
    filterset = ContactPageFilterSet(
        query, queryset=contacts(workspace), request=_request(workspace)
    )
    if not filterset.is_valid():
        raise SystemExit(f"invalid filter {params}: {filterset.errors.as_json()}")
    request = Request(APIRequestFactory().get("/api/v1/contacts", wanted))
    request.user = _request(workspace).user
    view = ContactViewSet(request=request)  # its orderings and newest_window
    KeysetPagination().paginate_queryset(filterset.qs, request, view=view)


def contacts_count(workspace: Workspace, params: dict, *, estimate: bool = False) -> int:
    """``?count=true`` (or ``?count=estimate``): the API's count of the filtered queryset."""
    filterset = ContactFilterSet(
        QueryDict(mutable=True) | params, queryset=contacts(workspace), request=_request(workspace)
    )
    return count_rows(filterset.qs, estimate=estimate)[0]


def cursor_at(queryset: QuerySet, ordering: str, position: int) -> str | None:
    """The cursor a client holds after reading ``position`` rows (found once, by OFFSET)."""
    name = ordering.lstrip("-")
    direction = "-" if ordering.startswith("-") else ""
    expression = ContactViewSet.ordering_expressions.get(name)
    if expression is not None and queryset.model is Contact:
        queryset = queryset.annotate(**{f"{name}_ordering": expression})
        name = f"{name}_ordering"
    found = (
        queryset.order_by(f"{direction}{name}", f"{direction}pk")
        .values_list(name, "pk")[max(position, 0) : max(position, 0) + 1]
        .first()
    )
    return encode_cursor(list(found)) if found else None


def deep_cursors(queryset: QuerySet, ordering: str) -> dict[str, str | None]:
    """The first page, one half-way through and the last (a part-filled page)."""
    total = queryset.count()
    return {
        "first": None,
        "middle": cursor_at(queryset, ordering, total // 2),
        "last": cursor_at(queryset, ordering, total - PAGE_SIZE // 2),
    }


# --- fixtures the cases name (kept in the workspace, made once) -------------------------------


def ensure_segments(workspace: Workspace) -> None:
    """A dynamic and a static segment the query cases refer to."""
    from contacts import segmentation

    Segment.objects.get_or_create(
        workspace=workspace,
        name="plans: vip openers",
        defaults={"kind": SegmentKind.DYNAMIC, "query": "tag = vip AND opens > 5"},
    )
    static, created = Segment.objects.get_or_create(
        workspace=workspace, name="plans: static", defaults={"kind": SegmentKind.STATIC}
    )
    if created:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO contacts_segmentmembership (segment_id, contact_id, added_at) "
                "SELECT %s, id, now() FROM contacts_contact WHERE workspace_id = %s "
                "AND opens = 19 AND clicks = 5",
                [static.pk, workspace.pk],
            )
            # Statistics from before these rows say the segment has a few dozen members, and
            # the planner then sorts all of them instead of walking (segment, contact) in order.
            cursor.execute("ANALYZE contacts_segmentmembership")
    del segmentation


def ensure_messages(workspace: Workspace, size: int) -> None:
    """A campaign of ``size`` messages with one event for a third of them, a small campaign,
    and ``size`` outbox events: the lists of campaigns, messages and events at scale."""
    if Campaign.objects.filter(workspace=workspace, name="plans: large").exists():
        return
    big = Campaign.objects.create(workspace=workspace, name="plans: large", status="sent")
    small = Campaign.objects.create(workspace=workspace, name="plans: small", status="sent")
    now, day = timezone.now(), timedelta(days=1)
    with connection.cursor() as cursor:
        # As the snapshot makes them (campaigns.pipeline): a campaign's message ids are uuid7s of
        # the moment it was sent — the small campaign three days ago, then the large one, so
        # the small one's report lists ids older than a million others (their dates, which the
        # date filters read, stay spread as the contacts' are).
        for campaign, share, sent in ((big, 1.0, now - 2 * day), (small, 0.01, now - 3 * day)):
            cursor.execute(
                """
                INSERT INTO campaigns_message (id, workspace_id, campaign_id, contact_id, kind,
                    email, status, attempts, payload, tag, metadata, message_id,
                    provider_message_id, error, created_at, sent_at, updated_at)
                SELECT (lpad(to_hex((extract(epoch FROM %s::timestamptz) * 1000)::bigint
                                    + row_number() OVER () / 1000), 12, '0')
                        || '7' || substr(md5(c.id::text), 1, 3) || '8'
                        || substr(md5(random()::text), 1, 15))::uuid,
                       %s, %s, c.id, 'campaign', c.email,
                       (ARRAY['sent','sent','sent','delivered','bounced','failed'])
                           [1 + floor(random() * 6)::int],
                       1, '{}', '', '{}', '', '', '', c.created_at, c.created_at, c.created_at
                FROM contacts_contact c WHERE c.workspace_id = %s AND random() < %s
                LIMIT %s
                """,
                [sent, workspace.pk, campaign.pk, workspace.pk, share, size],
            )
        # Before anything refers to the new messages: with statistics from when the table was
        # empty, each deferred foreign-key check of the events below is a scan of it (100,000
        # events took over 17 minutes).
        cursor.execute("ANALYZE campaigns_message")
        cursor.execute(
            """
            INSERT INTO campaigns_messageevent (id, workspace_id, message_id, type, occurred_at,
                url, is_machine, device_type, client, os, data, created_at)
            SELECT gen_random_uuid(), m.workspace_id, m.id,
                   (ARRAY['delivered','opened','clicked'])[1 + floor(random() * 3)::int],
                   m.created_at, '', false, '', '', '', '{}', m.created_at
            FROM campaigns_message m WHERE m.campaign_id = %s AND random() < 0.33
            """,
            [big.pk],
        )
        cursor.execute(
            """
            INSERT INTO mailcrm_event (id, workspace_id, type, subject_id, data, created_at,
                dispatched_at)
            SELECT (lpad(to_hex((extract(epoch FROM m.created_at) * 1000)::bigint), 12, '0')
                    || '7' || substr(md5(m.id::text), 1, 3) || '8'
                    || substr(md5(random()::text), 1, 15))::uuid, m.workspace_id,
                   (ARRAY['email.sent','email.delivered','email.opened','email.clicked',
                          'contact.updated'])[1 + floor(random() * 5)::int],
                   m.id, jsonb_build_object('email', m.email), m.created_at, m.created_at
            FROM campaigns_message m WHERE m.campaign_id = %s
            """,
            [big.pk],
        )
        cursor.execute("ANALYZE campaigns_message")
        cursor.execute("ANALYZE campaigns_messageevent")
        cursor.execute("ANALYZE mailcrm_event")
    Campaign.objects.filter(pk=big.pk).update(recipients=size)


# --- the cases ---------------------------------------------------------------------------------


def _ago(days: int) -> str:
    return (timezone.now() - timedelta(days=days)).isoformat()


def contact_cases(workspace: Workspace) -> list[Spec]:
    specs: list[Spec] = []
    visible = contacts(workspace).filter(archived_at__isnull=True)
    for field_name in ORDERINGS:
        for ordering in dict.fromkeys([field_name, "-" + field_name.lstrip("-")]):
            if ordering == "pk":
                continue
            for page in ("first", "middle", "last"):
                specs.append(
                    Spec(
                        "ordering",
                        f"ordering={ordering} {page} page",
                        lambda cursor, o=ordering: contacts_page(
                            workspace, {"ordering": o}, cursor
                        ),
                        lambda o=ordering, p=page: (
                            deep_cursors(visible, o)[p] if p != "first" else None
                        ),
                    )
                )
    for label, params in FILTERS.items():

        def prepare(params=params):
            params = dict(params)
            for key in ("created_after", "created_before"):
                if params.get(key, "").endswith("d") and params[key][0] in "+-":
                    params[key] = _ago(-int(params[key][:-1]))
            if params.get("created_before", "").startswith("oldest"):
                share = int(params["created_before"][6:] or 1) / 100
                params["created_before"] = cursor_created_at(visible, share)
            return params

        specs.append(Spec("filter", label, lambda p: contacts_page(workspace, p), prepare))
    for text in SEARCHES:
        specs.append(
            Spec("search", f"q={text}", lambda _, t=text: contacts_page(workspace, {"q": t}))
        )
    for label, text in QUERIES.items():
        specs.append(
            Spec("segment query", label, lambda _, t=text: contacts_page(workspace, {"query": t}))
        )
    for label, params in (("?count=true (all)", {}), ("?count=true&tag=vip", {"tag": "vip"})):
        specs.append(Spec("count", label, lambda _, p=params: contacts_count(workspace, p)))
        specs.append(
            Spec(
                "count",
                label.replace("count=true", "count=estimate"),
                lambda _, p=params: contacts_count(workspace, p, estimate=True),
            )
        )
    return specs


def cursor_created_at(queryset: QuerySet, share: float) -> str:
    total = queryset.count()
    return (
        queryset.order_by("created_at").values_list("created_at", flat=True)[int(total * share)]
    ).isoformat()


def other_cases(workspace: Workspace) -> list[Spec]:
    specs: list[Spec] = [
        Spec(
            "campaigns",
            "campaigns list",
            lambda _: keyset_page(
                in_database(Campaign).filter(workspace=workspace), cursor=None, size=PAGE_SIZE
            ),
        )
    ]
    for campaign in in_database(Campaign).filter(workspace=workspace, name__startswith="plans: "):
        # As the report's table and the API list them: bounded to the campaign's id range.
        messages = campaign_messages(campaign)
        for label, queryset in (
            ("", messages),
            (" status=bounced", messages.filter(status="bounced")),
            *(
                (f" {key}={value}", MessageFilterSet({key: value}, queryset=messages).qs)
                for key, value in (
                    ("email", "person77@"),
                    ("opened", "true"),
                    ("clicked", "false"),
                )
            ),
        ):
            for page in ("first", "last"):
                specs.append(
                    Spec(
                        "messages",
                        f"{campaign.name} messages{label} {page} page",
                        lambda cursor, q=queryset: keyset_page(q, cursor=cursor, size=PAGE_SIZE),
                        lambda q=queryset, p=page: deep_cursors(q, "-pk")[p],
                    )
                )

    # By contact (merge, erasure, the contact's export and engagement): through the two
    # partial indexes that hold a contact's campaign and direct messages (to_contacts).
    def recipient() -> Contact:
        messages = in_database(Message).filter(campaign__workspace=workspace)
        return in_database(Contact).get(
            pk=messages.exclude(contact=None).values_list("contact_id", flat=True).first()
        )

    specs += [
        Spec(
            "messages",
            "messages to a contact",
            lambda contact: list(in_database(Message).filter(to_contacts([contact.pk]))),
            recipient,
        ),
        Spec("messages", "a contact's engagement", contact_engagement, recipient),
    ]
    events = in_database(Event).filter(workspace=workspace)
    some_message = in_database(Message).filter(workspace=workspace).values_list("pk", flat=True)
    for label, params in (
        ("events", {}),
        ("events type=email.opened", {"type": "email.opened"}),
        ("events type=email.*", {"type": "email.*"}),
        ("events type=contact.merged (none)", {"type": "contact.merged"}),
        ("events email=", {"email": "person77@example27.com"}),
        ("events email_id=", {"email_id": "first message"}),
        ("events from (last day)", {"from": "-1d"}),
        ("events from tomorrow (none)", {"from": "+1d"}),
        ("events to (oldest 1 %)", {"to": "oldest"}),
        ("events from/to (one day, a year ago)", {"from": "-366d", "to": "-365d"}),
    ):

        def prepare(params=params):
            data = dict(params)
            for key in ("from", "to"):
                if data.get(key, "").endswith("d") and data[key][0] in "+-":
                    data[key] = _ago(-int(data[key][:-1]))
            if data.get("to") == "oldest":
                data["to"] = cursor_created_at(events, 0.01)
            if data.get("email_id") == "first message":
                data["email_id"] = str(some_message.first() or uuid.UUID(int=0))
            return data

        def action(data):
            filterset = EventFilterSet(data, queryset=events)
            assert filterset.is_valid(), filterset.errors
            keyset_page(filterset.qs, cursor=None, size=PAGE_SIZE)

        specs.append(Spec("events", label, action, prepare))
    specs.append(
        Spec(
            "events",
            "events last page",
            lambda cursor: keyset_page(events, cursor=cursor, size=PAGE_SIZE),
            lambda: deep_cursors(events, "-pk")["last"],
        )
    )
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default="bench-generated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--messages", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no plans on stderr")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench.plans explains PostgreSQL plans: set DATABASE_URL=postgres://…")
    workspace = in_database(Workspace).get(name=args.workspace)
    ensure_segments(workspace)
    if args.messages:
        ensure_messages(workspace, args.messages)
    specs = contact_cases(workspace) + other_cases(workspace)
    results = []
    for spec in specs:
        if args.only and args.only not in f"{spec.group}: {spec.name}":
            continue
        case = run_case(spec, args.runs)
        summary = case.summary()
        results.append(summary)
        if not args.quiet:
            flag = " SLOW" if summary["slow"] else ""
            print(
                f"\n=== {spec.group}: {spec.name} — {summary['best_ms']} ms{flag}", file=sys.stderr
            )
            for statement in case.statements:
                print(statement.sql[:600], file=sys.stderr)
                print("\n".join(_render(statement.plan["Plan"])), file=sys.stderr)
    size = contacts(workspace).count()
    load = os.getloadavg()
    print(
        json.dumps(
            {
                "scenario": "plans",
                "workspace": workspace.name,
                "contacts": size,
                "runs": args.runs,
                "load_average": load,
                "slow": [f"{r['group']}: {r['case']}" for r in results if r["slow"]],
                "cases": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
