"""The snapshot (pipeline.snapshot): one queued message per eligible contact, in contact
order, counted by the INSERT itself; a repeated snapshot adds nobody twice."""

from __future__ import annotations

import pytest
from django.db import connection

from campaigns import pipeline, services
from campaigns.models import Message
from campaigns.tests.factories import list_campaign
from contacts.tests.factories import ContactFactory, ListMembershipFactory
from mailcrm.workspace_reads import random_page_cost
from tests.planner import random_page_cost_seen

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_domains")]


def test_a_snapshot_queues_each_contact_once_in_contact_order(workspace):
    campaign, _ = list_campaign(workspace, 5)
    assert pipeline.snapshot(campaign) == 5
    rows = list(Message.objects.filter(campaign=campaign).order_by("id"))
    if connection.vendor == "postgresql":  # SQLite's snapshot ids are random
        assert [m.contact_id for m in rows] == sorted(m.contact_id for m in rows)
    assert {m.status for m in rows} == {"queued"}


def test_a_repeated_snapshot_adds_only_whom_it_did_not_have(workspace):
    campaign, newsletter = list_campaign(workspace, 3)
    assert pipeline.snapshot(campaign) == 3
    assert pipeline.snapshot(campaign) == 3
    ListMembershipFactory(
        contact=ContactFactory(workspace=workspace, status="active"), contact_list=newsletter
    )
    assert pipeline.snapshot(campaign) == 4
    assert Message.objects.filter(campaign=campaign).count() == 4
    assert Message.objects.filter(campaign=campaign).values("contact_id").distinct().count() == 4


def test_a_snapshot_that_meets_rows_it_did_not_expect_skips_them(workspace, monkeypatch):
    """Two snapshots of one campaign at once (never through campaign_send, which locks the
    campaign): the second's plain INSERT meets the first's rows, and it skips them."""
    campaign, _ = list_campaign(workspace, 3)
    pipeline.snapshot(campaign)
    real_filter, asked = Message.objects.filter, []

    def first_sees_nothing(*args, **kwargs):
        found = real_filter(*args, **kwargs)
        if not asked:
            asked.append(kwargs)
            return found.none()  # as if the other snapshot had not committed yet
        return found

    monkeypatch.setattr(Message.objects, "filter", first_sees_nothing)
    assert pipeline.snapshot(campaign) == 3
    assert asked == [{"campaign": campaign}]
    assert real_filter(campaign=campaign).count() == 3


def test_a_send_asks_for_its_snapshot_once_committed(
    workspace, monkeypatch, django_capture_on_commit_callbacks
):
    asked = []
    monkeypatch.setattr(services, "analyze_after_insert", lambda *args: asked.append(args))
    campaign, _ = list_campaign(workspace, 4)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.campaign_send(campaign=campaign)
        assert asked == []  # not inside the snapshot's transaction
    for callback in callbacks:
        callback()

    assert ("campaigns_message", 4) in asked


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_the_snapshot_reads_the_workspace_through_its_index(workspace):
    """Random reads priced as on an SSD for the INSERT alone (mailcrm.workspace_reads)."""
    campaign, _ = list_campaign(workspace, 2)
    with random_page_cost_seen(f"INSERT INTO {Message._meta.db_table}") as seen:
        pipeline.snapshot(campaign)
    assert seen == [1.1]
    assert random_page_cost() == 4
    assert Message.objects.filter(campaign=campaign).count() == 2
