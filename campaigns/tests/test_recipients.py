"""A campaign's messages as its recipient lists read them: bounded to the campaign's id range,
the same rows as the plain filter whatever the statuses, with other campaigns' and
transactional messages made in between; opened/clicked tested per message, not joined."""

import pytest
from django.db import connection

from campaigns import services
from campaigns.filtersets import MessageFilterSet
from campaigns.models import Message, MessageStatus
from campaigns.recipients import campaign_messages
from mailcrm.keyset import keyset_page

pytestmark = pytest.mark.django_db


def _campaign(workspace, name: str):
    return services.campaign_create(
        workspace=workspace, name=name, subject="S", html="<p>x</p>", from_email="n@acme.io"
    )


def _message(workspace, campaign, n: int, status: str) -> Message:
    return Message.objects.create(
        workspace=workspace,
        campaign=campaign,
        kind="campaign" if campaign else "transactional",
        email=f"p{n}@example.com",
        status=status,
    )


@pytest.fixture
def interleaved(workspace, outsider):
    ours, theirs = _campaign(workspace, "Ours"), _campaign(outsider.workspace, "Theirs")
    statuses = MessageStatus.values
    for n in range(3 * len(statuses)):
        # ours, someone else's, a transactional one, in turn: ids interleave
        _message(workspace, ours, n, statuses[n % len(statuses)])
        _message(outsider.workspace, theirs, n, MessageStatus.SENT)
        _message(workspace, None, n, MessageStatus.SENT)
    return ours


def _walk(queryset) -> list:
    seen, cursor = [], None
    while True:
        page = keyset_page(queryset, cursor=cursor, size=4)
        seen += [message.pk for message in page.rows]
        if not page.next_cursor:
            return seen
        cursor = page.next_cursor


def test_the_bounded_list_is_the_campaigns_messages_page_by_page(interleaved):
    plain = Message.objects.filter(campaign=interleaved)
    bounded = campaign_messages(interleaved)
    assert (
        _walk(bounded) == _walk(plain) == list(plain.order_by("-pk").values_list("pk", flat=True))
    )
    assert len(_walk(bounded)) == 3 * len(MessageStatus.values)
    failed = [m.pk for m in plain.filter(status=MessageStatus.FAILED).order_by("-pk")]
    assert _walk(bounded.filter(status=MessageStatus.FAILED)) == failed


def test_the_bound_is_the_campaigns_oldest_and_newest_message(interleaved):
    messages = Message.objects.filter(campaign=interleaved)
    oldest, newest = messages.order_by("pk").first(), messages.order_by("-pk").first()
    bounded = str(campaign_messages(interleaved).query)
    assert str(oldest.pk.hex) in bounded.replace("-", "") and str(newest.pk.hex) in bounded.replace(
        "-", ""
    )


def test_a_campaign_without_messages_lists_nothing(workspace):
    assert list(campaign_messages(_campaign(workspace, "Empty"))) == []


def test_the_api_lists_the_campaigns_messages_only(api, interleaved):
    response = api.get(f"/api/v1/campaigns/{interleaved.pk}/messages?page_size=100")
    assert response.status_code == 200
    listed = [row["id"] for row in response.json()["results"]]
    expected = Message.objects.filter(campaign=interleaved).order_by("-pk")
    assert listed == [str(pk) for pk in expected.values_list("pk", flat=True)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plan")
@pytest.mark.parametrize("wanted", ["true", "false"])
def test_opened_is_tested_per_message_not_merged_with_every_event(interleaved, wanted):
    opened = MessageFilterSet({"opened": wanted}, queryset=campaign_messages(interleaved)).qs
    plan = opened.order_by("-pk")[:51].explain()
    assert "SubPlan" in plan and "Join" not in plan, plan
