"""What list unsubscribes cost the campaign snapshot (the list rule is a NOT EXISTS inside the
audience's list-membership subquery, docs/deliverability.md):

    DATABASE_URL=postgres://… python -m bench.unsubscribe_layers [N] [--left PERCENT]

1. the snapshot of a campaign to a list of N contacts with no list unsubscribes (baseline);
2. the same after PERCENT % of them (default 10) left that list and as many left another list
   (rows the rule must look at and ignore), and 1 % unsubscribed globally.

Prints one JSON object with the load average before and after. Uses a workspace of its own
(``bench-unsubscribes``), kept (the next run replaces it)."""

from __future__ import annotations

import argparse
import json
import os
import time

from django.core.management import call_command
from django.db import connection, transaction

from bench.generate import bench_workspace, generate
from bench.sending import _campaign, _everyone
from campaigns import pipeline
from contacts import services as contact_services
from contacts.models import Contact
from deliverability.models import Unsubscribe


def _timed(action) -> tuple[object, float]:
    started = time.perf_counter()
    result = action()
    return result, round(time.perf_counter() - started, 2)


def _leave(workspace, list_id, share: float, *, global_: bool = False) -> int:
    """Unsubscribe a share of the workspace's contacts (by a hash of their id) from a list, or
    globally, in one INSERT … SELECT."""
    table, contacts = Unsubscribe._meta.db_table, Contact._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, workspace_id, email, domain_id, contact_list_id, source,"
            " reason, reason_text, campaign_id, created_at)"
            f" SELECT gen_random_uuid(), workspace_id, lower(email), NULL, %s, 'api',"
            f" 'too_frequent', '', NULL, now() FROM {contacts}"
            " WHERE workspace_id = %s AND abs(hashtext(id::text || %s)) %% 10000 < %s",
            [None if global_ else list_id, workspace.pk, str(list_id), int(share * 10000)],
        )
        return cursor.rowcount


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=int, default=200_000)
    parser.add_argument("--left", type=float, default=10.0)
    args = parser.parse_args()
    call_command("migrate", skip_checks=True, verbosity=0)
    figures: dict = {"scenario": "unsubscribe_layers", "load_average_before": os.getloadavg()}
    workspace, _ = bench_workspace("bench-unsubscribes")
    workspace.limit_monthly_sends = None
    workspace.save()
    generate(workspace, args.size, progress=False)
    everyone = _everyone(workspace, "Everyone")
    other = contact_services.contact_list_create(workspace=workspace, name="Other newsletter")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    baseline = _campaign(workspace, everyone)
    with transaction.atomic():
        recipients, seconds = _timed(lambda: pipeline.snapshot(baseline))
    figures["baseline"] = {"recipients": recipients, "seconds": seconds}

    with transaction.atomic():
        left = _leave(workspace, everyone, args.left / 100)
        elsewhere = _leave(workspace, other.pk, args.left / 100)
        everywhere = _leave(workspace, None, 0.01, global_=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    layered = _campaign(workspace, everyone)
    with transaction.atomic():
        recipients, seconds = _timed(lambda: pipeline.snapshot(layered))
    figures["with_unsubscribes"] = {
        "left_this_list": left,
        "left_another_list": elsewhere,
        "global": everywhere,
        "recipients": recipients,
        "seconds": seconds,
    }
    figures["load_average_after"] = os.getloadavg()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
