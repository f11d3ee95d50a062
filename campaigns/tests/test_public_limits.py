"""Rate limits of the public tracking endpoints: per recipient token, and per address with a
generous, configurable ceiling (a mailbox provider's image proxy fetches everyone's opens)."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from campaigns.models import Message, MessageEvent
from campaigns.public import HITS_PER_TOKEN_PER_MINUTE
from campaigns.tokens import make_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def _message(workspace, email="ann@example.com") -> Message:
    return Message.objects.create(
        workspace=workspace, kind="transactional", email=email, status="sent"
    )


def test_one_token_hammered_is_cut_off_but_others_are_not(client, workspace):
    flooded = make_token("open", _message(workspace).id)
    for _ in range(HITS_PER_TOKEN_PER_MINUTE):
        assert client.get(f"/t/o/{flooded}").status_code == 200
    refused = client.get(f"/t/o/{flooded}")
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    other = make_token("open", _message(workspace, "bob@example.com").id)
    assert client.get(f"/t/o/{other}").status_code == 200
    assert MessageEvent.objects.count() == HITS_PER_TOKEN_PER_MINUTE + 1


@override_settings(PUBLIC_HITS_PER_MINUTE=3)
def test_one_address_has_a_ceiling(client, workspace):
    tokens = [make_token("open", _message(workspace, f"p{n}@example.com").id) for n in range(4)]
    statuses = [client.get(f"/t/o/{token}").status_code for token in tokens]
    assert statuses == [200, 200, 200, 429]


@override_settings(PUBLIC_HITS_PER_MINUTE=0)
def test_the_address_ceiling_can_be_turned_off(client, workspace):
    for n in range(20):
        token = make_token("open", _message(workspace, f"p{n}@example.com").id)
        assert client.get(f"/t/o/{token}").status_code == 200


def test_a_forged_token_is_not_found(client, workspace):
    token = make_token("open", _message(workspace).id)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(f"/t/o/{forged}").status_code == 404
    assert client.get("/t/o/not-a-token").status_code == 404
