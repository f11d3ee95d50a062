"""What the throttling gate costs a batch: the same campaign sent in one process into a local
SMTP sink three times — nothing backed off; every recipient domain backed off at a rate that
still lets everything through (so each chunk takes its per-domain budgets and records its
successes); and a warm-up running with a cap above the campaign — reported as messages/s and
SQL statements per batch.

    DATABASE_URL=postgres://… python -m bench.throttling [N] [--domains 20]

Uses a workspace of its own (``bench-throttling``), deleted first; migrates the database
first. Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import time

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import pipeline, services
from campaigns.models import Campaign, CampaignStatus
from campaigns.sending import send_batch
from contacts.models import Contact, ContactList, ListMembership
from deliverability.models import SendingDomain, ThrottleState
from deliverability.warmup import domain_set_warmup
from mailcrm.models import Workspace
from mailcrm.workspace_deletion import workspace_delete
from tests.smtp import SmtpSink


def _workspace(size: int, domains: int) -> tuple[Workspace, ContactList]:
    for stale in Workspace.objects.filter(name="bench-throttling").values_list("pk", flat=True):
        workspace_delete(stale)
    workspace = Workspace.objects.create(name="bench-throttling", limit_contacts=None)
    Contact.objects.bulk_create(
        [
            Contact(workspace=workspace, email=f"p{n}@d{n % domains}.example", status="active")
            for n in range(size)
        ],
        batch_size=5000,
    )
    everyone = ContactList.objects.create(workspace=workspace, name="Everyone")
    ListMembership.objects.bulk_create(
        [
            ListMembership(contact_id=pk, contact_list=everyone)
            for pk in Contact.objects.filter(workspace=workspace).values_list("id", flat=True)
        ],
        batch_size=5000,
    )
    SendingDomain.objects.create(
        workspace=workspace, domain="news.example", is_verified=True, verified_at=timezone.now()
    )
    return workspace, everyone


def _send(workspace, everyone, name: str, sink: SmtpSink) -> dict:
    campaign = services.campaign_create(
        workspace=workspace,
        name=name,
        subject="Hello {{ contact.email }}",
        html="<p>Hello {{ contact.email }}</p><p><a href='https://example.org/'>News</a></p>",
        from_email="news@news.example",
        audience={"lists": [str(everyone.pk)]},
    )
    pipeline.snapshot(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    before, batches, statements = len(sink.received), 0, 0
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        while send_batch(str(campaign.pk)):
            batches += 1
        statements = len(queries)
    seconds = time.perf_counter() - started
    sent = len(sink.received) - before
    return {
        "sent": sent,
        "msg_per_s": round(sent / seconds, 1),
        "statements_per_batch": round(statements / max(batches, 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=int, default=5000)
    parser.add_argument("--domains", type=int, default=20)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    workspace, everyone = _workspace(args.size, args.domains)
    result = {"size": args.size, "domains": args.domains, "load": os.getloadavg()[0]}
    with SmtpSink() as sink, sink.as_email_backend():
        result["plain"] = _send(workspace, everyone, "plain", sink)
        ThrottleState.objects.bulk_create(
            [
                ThrottleState(
                    backend="server",
                    domain=f"d{n}.example",
                    rate_per_minute=1_000_000,
                    ceiling=2_000_000,
                )
                for n in range(args.domains)
            ],
            ignore_conflicts=True,
        )
        result["backed_off"] = _send(workspace, everyone, "backed-off", sink)
        ThrottleState.objects.filter(domain__endswith=".example", backend="server").delete()
        domain_set_warmup(
            domain=SendingDomain.objects.get(workspace=workspace),
            target=10_000_000,
            daily_start=5_000_000,
        )
        result["warmup"] = _send(workspace, everyone, "warm-up", sink)
    result["load_after"] = os.getloadavg()[0]
    workspace_delete(workspace.pk)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
