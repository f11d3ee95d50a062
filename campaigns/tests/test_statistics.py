"""GET /statistics (API.md): sends, deliveries, bounces, opens, clicks, complaints and
unsubscribes per period, narrowed by tag, sending domain or campaign, with opens and clicks by
device and client, human apart from machine — and nothing of another workspace."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campaigns.models import Campaign, EventType, MessageKind
from deliverability.tests.factories import (
    MessageEventFactory,
    MessageFactory,
    SendingDomainFactory,
)
from mailcrm.models import ApiKeyScope
from mailcrm.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

MON = datetime(2026, 3, 2, 10, tzinfo=UTC)  # a Monday
TUE = datetime(2026, 3, 3, 9, tzinfo=UTC)
NEXT_WEEK = datetime(2026, 3, 10, 9, tzinfo=UTC)
WINDOW = {"from": "2026-03-01", "to": "2026-03-15"}


def _campaign(workspace, **fields) -> Campaign:
    return Campaign.objects.create(
        workspace=workspace, name="Spring", subject="Hi", html="<p>Hi</p>", **fields
    )


def _send(workspace, at, *, campaign=None, tag="", kind=MessageKind.CAMPAIGN, **payload):
    message = MessageFactory(
        workspace=workspace, campaign=campaign, tag=tag, kind=kind, payload=payload
    )
    MessageEventFactory(message=message, type=EventType.SENT, occurred_at=at)
    return message


def _event(message, kind, at, **fields):
    return MessageEventFactory(message=message, type=kind, occurred_at=at, **fields)


def _day(body, day: str) -> dict:
    return next(p for p in body["periods"] if p["period"].startswith(day))


def test_counts_each_kind_of_event_in_the_period_it_happened(api, workspace, outsider):
    campaign = _campaign(workspace)
    first = _send(workspace, MON, campaign=campaign)
    second = _send(workspace, MON, campaign=campaign)
    bounced = _send(workspace, MON, campaign=campaign)
    _event(bounced, EventType.BOUNCED, MON)
    _event(first, EventType.OPENED, TUE, device_type="mobile", client="Apple Mail")
    _event(first, EventType.OPENED, TUE, device_type="mobile", client="Apple Mail")
    _event(second, EventType.OPENED, TUE, is_machine=True, client="Gmail image proxy")
    _event(first, EventType.CLICKED, TUE, url="https://acme.example/", device_type="mobile")
    _event(second, EventType.COMPLAINED, NEXT_WEEK)
    _event(second, EventType.UNSUBSCRIBED, NEXT_WEEK)
    # Another workspace's busy day must not show.
    for _ in range(4):
        other = _send(outsider.workspace, MON)
        _event(other, EventType.OPENED, TUE)

    response = api.get("/api/v1/statistics", WINDOW)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["group_by"] == "day"
    assert len(body["periods"]) == 14  # every day of the window, quiet ones as zeros
    monday, tuesday = _day(body, "2026-03-02"), _day(body, "2026-03-03")
    assert (monday["sends"], monday["bounces"], monday["delivered"]) == (3, 1, 2)
    assert tuesday["sends"] == 0
    assert tuesday["opens"] == {"unique": 2, "human": 1, "total": 3}
    assert tuesday["clicks"] == {"unique": 1, "human": 1, "total": 1}
    assert _day(body, "2026-03-10")["complaints"] == 1
    assert _day(body, "2026-03-10")["unsubscribes"] == 1
    assert body["totals"]["sends"] == 3
    assert body["totals"]["opens"]["total"] == 3
    mobile = next(d for d in body["devices"] if d["name"] == "mobile")
    assert mobile["opens"] == {"human": 2, "machine": 0}
    assert mobile["clicks"] == {"human": 1, "machine": 0}
    proxy = next(c for c in body["clients"] if c["name"] == "Gmail image proxy")
    assert proxy["opens"] == {"human": 0, "machine": 1}


def test_groups_by_week_and_month(api, workspace):
    _send(workspace, MON)
    _send(workspace, TUE)
    _send(workspace, NEXT_WEEK)

    weeks = api.get("/api/v1/statistics", {**WINDOW, "group_by": "week"}).json()
    months = api.get("/api/v1/statistics", {**WINDOW, "group_by": "month"}).json()

    assert [(p["period"][:10], p["sends"]) for p in weeks["periods"]] == [
        ("2026-02-23", 0),
        ("2026-03-02", 2),
        ("2026-03-09", 1),
    ]
    assert [(p["period"][:10], p["sends"]) for p in months["periods"]] == [("2026-03-01", 3)]


def test_narrows_by_tag_campaign_and_sending_domain(api, workspace):
    domain = SendingDomainFactory(workspace=workspace, domain="brand.example")
    branded = _campaign(workspace, sending_domain=domain, tag="spring")
    plain = _campaign(workspace)
    _send(workspace, MON, campaign=branded)
    _send(workspace, MON, campaign=plain)
    _send(workspace, MON, kind=MessageKind.TRANSACTIONAL, tag="receipt")
    _send(workspace, MON, kind=MessageKind.TRANSACTIONAL, from_email="billing@brand.example")

    def sends(**params) -> int:
        response = api.get("/api/v1/statistics", {**WINDOW, **params})
        assert response.status_code == 200, response.content
        return response.json()["totals"]["sends"]

    assert sends() == 4
    assert sends(tag="spring") == 1  # the campaign's tag
    assert sends(tag="receipt") == 1  # a transactional email's own tag
    assert sends(campaign_id=str(plain.pk)) == 1
    assert sends(domain_id=str(domain.pk)) == 2  # the branded campaign and the billing email


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-45"}, "to"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ({"group_by": "hour"}, "group_by"),
        ({"campaign_id": "not-a-uuid"}, "campaign_id"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(api, params, field):
    response = api.get("/api/v1/statistics", params)

    assert response.status_code == 400
    assert field in response.content.decode()


def test_another_workspaces_campaign_or_domain_is_refused_not_counted(api, outsider):
    campaign = _campaign(outsider.workspace)
    domain = SendingDomainFactory(workspace=outsider.workspace, domain="theirs.example")
    _send(outsider.workspace, MON, campaign=campaign)

    by_campaign = api.get("/api/v1/statistics", {**WINDOW, "campaign_id": str(campaign.pk)})
    by_domain = api.get("/api/v1/statistics", {**WINDOW, "domain_id": str(domain.pk)})

    assert by_campaign.status_code == 400
    assert "No such campaign" in by_campaign.content.decode()
    assert by_domain.status_code == 400
    assert str(campaign.pk) not in by_campaign.content.decode()


def test_defaults_to_the_last_thirty_days_and_needs_a_key(api, anon_api, workspace):
    body = api.get("/api/v1/statistics").json()

    assert len(body["periods"]) == 30
    assert anon_api.get("/api/v1/statistics").status_code == 401


def test_a_sending_key_may_read_it(workspace):
    from rest_framework.test import APIClient

    key = ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.SENDING)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key.secret)

    assert client.get("/api/v1/statistics").status_code == 200


def test_an_empty_parameter_is_refused_not_ignored(api):
    response = api.get("/api/v1/statistics", {"group_by": "", "domain_id": ""})

    assert response.status_code == 400
    assert "group_by" in response.content.decode()
