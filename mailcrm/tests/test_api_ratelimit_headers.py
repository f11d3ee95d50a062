"""The IETF RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset headers on every API
response of a workspace with a request limit, from its per-minute counter; 429 with
Retry-After once the limit is passed."""

import pytest

from mailcrm.models import ApiKeyScope
from mailcrm.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def _limits(response) -> tuple[int, int, int]:
    return (
        int(response["RateLimit-Limit"]),
        int(response["RateLimit-Remaining"]),
        int(response["RateLimit-Reset"]),
    )


def test_each_response_carries_the_headers_and_remaining_decreases(api, workspace):
    workspace.limit_api_requests_per_minute = 50
    workspace.save()
    seen = [_limits(api.get("/api/v1/contacts")) for _ in range(3)]
    assert [limit for limit, _, _ in seen] == [50, 50, 50]
    assert [remaining for _, remaining, _ in seen] == [49, 48, 47]
    assert all(1 <= reset <= 60 for _, _, reset in seen)


def test_errors_carry_the_headers_too(api, workspace):
    workspace.limit_api_requests_per_minute = 50
    workspace.save()
    missing = api.get("/api/v1/contacts/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert _limits(missing)[:2] == (50, 49)
    bad = api.post("/api/v1/contacts", {"email": "not an address"}, format="json")
    assert bad.status_code == 400
    assert _limits(bad)[:2] == (50, 48)


def test_a_scope_refusal_reports_the_count_without_spending_a_request(workspace):
    from rest_framework.test import APIClient

    workspace.limit_api_requests_per_minute = 50
    workspace.save()
    client = APIClient()
    client.credentials(
        HTTP_X_API_KEY=ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.READ_ONLY).secret
    )
    assert _limits(client.get("/api/v1/contacts"))[1] == 49
    refused = client.post("/api/v1/contacts", {"email": "a@example.com"}, format="json")
    assert refused.status_code == 403
    assert _limits(refused)[1] == 49


def test_a_tiny_limit_answers_429_with_retry_after_and_zero_remaining(api, workspace):
    workspace.limit_api_requests_per_minute = 2
    workspace.save()
    first, second, third = (api.get("/api/v1/contacts") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert _limits(second)[1] == 0
    limit, remaining, reset = _limits(third)
    assert (limit, remaining) == (2, 0)
    assert 1 <= int(third["Retry-After"]) <= 60 and 1 <= reset <= 60
    assert third.json()["error"]["code"] == "rate_limited"


def test_the_counter_is_per_workspace(api, workspace, outsider):
    workspace.limit_api_requests_per_minute = 50
    outsider.workspace.limit_api_requests_per_minute = 50
    workspace.save()
    outsider.workspace.save()
    api.get("/api/v1/contacts")
    api.get("/api/v1/contacts")
    assert _limits(outsider.api.get("/api/v1/contacts"))[1] == 49


def test_unlimited_workspaces_and_requests_without_a_key_have_no_headers(api, workspace, anon_api):
    workspace.limit_api_requests_per_minute = None
    workspace.save()
    assert "RateLimit-Limit" not in api.get("/api/v1/contacts")
    assert "RateLimit-Limit" not in anon_api.get("/api/v1/contacts")
