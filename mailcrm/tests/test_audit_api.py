"""The audit log through the API: changes made with a key are recorded as the key's, via
"api"; ``GET /api/v1/audit-log`` shows the workspace's own entries only, to full-access keys
only, newest first, cursor-paginated and filtered."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from mailcrm import audit, members
from mailcrm.models import ApiKeyScope, AuditEntry, AuditVia
from mailcrm.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-log"


def _client(key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key.secret)
    return client


def _entry(workspace, action: str, **lookup) -> AuditEntry:
    return AuditEntry.objects.for_workspace(workspace).get(action=action, **lookup)


def _assert_by_key(entry: AuditEntry, key) -> None:
    assert entry.via == AuditVia.API
    assert entry.actor_api_key_id == key.pk and entry.actor_user is None
    assert key.prefix in entry.actor_label
    assert entry.ip_address == "127.0.0.1"


def test_api_keys_made_rotated_and_revoked_with_a_key_are_the_keys(api, api_key, workspace):
    created = api.post("/api/v1/customer/api-keys", {"name": "CRM"}, format="json").json()
    rotated = api.post(f"/api/v1/customer/api-keys/{created['id']}/rotate").json()
    assert api.delete(f"/api/v1/customer/api-keys/{created['id']}").status_code == 204
    for action in ("api_key.created", "api_key.rotated", "api_key.revoked"):
        _assert_by_key(_entry(workspace, action, target_id=created["id"]), api_key)
    text = str(list(AuditEntry.objects.values()))
    assert created["key"] not in text and rotated["key"] not in text


def test_domains_are_recorded(api, api_key, workspace):
    created = api.post("/api/v1/customer/domains", {"domain": "acme.test"}, format="json")
    assert created.status_code == 201
    tracking = api.post(
        "/api/v1/customer/tracking-domains", {"domain": "links.acme.test"}, format="json"
    )
    assert tracking.status_code == 201, tracking.json()
    domain_url = f"/api/v1/customer/domains/{created.json()['id']}"
    patched = api.patch(domain_url, {"tracking_domain_id": tracking.json()["id"]}, format="json")
    assert patched.status_code == 200
    assert api.delete(domain_url).status_code == 204
    assert _entry(workspace, "sending_domain.created").changes == {"domain": "acme.test"}
    assert _entry(workspace, "tracking_domain.created").changes == {"domain": "links.acme.test"}
    updated = _entry(workspace, "sending_domain.updated")
    assert updated.changes == {"tracking_domain_id": [None, tracking.json()["id"]]}
    _assert_by_key(_entry(workspace, "sending_domain.deleted"), api_key)


def test_webhook_endpoints_are_recorded_without_their_secret(api, api_key, workspace, receiver):
    created = api.post(
        "/api/v1/customer/webhooks",
        {"url": receiver.url, "name": "Sync", "events": ["contact.created"]},
        format="json",
    ).json()
    url = f"/api/v1/customer/webhooks/{created['id']}"
    assert api.patch(url, {"name": "Sync 2", "is_active": False}, format="json").status_code == 200
    assert api.delete(url).status_code == 204
    changes = _entry(workspace, "webhook_endpoint.created").changes
    assert changes["secret"] == "changed" and changes["url"] == receiver.url
    updated = _entry(workspace, "webhook_endpoint.updated")
    assert updated.changes == {"name": ["Sync", "Sync 2"], "is_active": [True, False]}
    _assert_by_key(_entry(workspace, "webhook_endpoint.deleted"), api_key)
    assert created["secret"] not in str(list(AuditEntry.objects.values()))


def test_smtp_rotation_and_scoring_are_recorded(api, api_key, workspace):
    password = api.post("/api/v1/customer/smtp/rotate").json()["password"]
    body = {"rules": {"clicked": 25}, "hot_threshold": 40, "warm_threshold": 10, "recompute": False}
    assert api.put("/api/v1/scoring", body, format="json").status_code == 200
    smtp = _entry(workspace, "smtp_credential.rotated")
    _assert_by_key(smtp, api_key)
    assert password not in str(smtp.changes)
    scoring = _entry(workspace, "scoring_settings.updated")
    assert scoring.changes["hot_threshold"] == [50, 40]


def test_the_log_lists_the_workspaces_own_entries_newest_first(api, workspace, outsider):
    with audit.acting(label="ops"):
        members.workspace_update(workspace=workspace, name="First")
        members.workspace_update(workspace=workspace, name="Second")
        members.workspace_update(workspace=outsider.workspace, name="Theirs")
    body = api.get(URL).json()
    updates = [row for row in body["results"] if row["action"] == "workspace.updated"]
    assert [row["changes"]["name"][1] for row in updates] == ["Second", "First"]
    ids = {row["id"] for row in body["results"]}
    theirs = AuditEntry.objects.for_workspace(outsider.workspace).values_list("id", flat=True)
    assert not ids & {str(pk) for pk in theirs}
    assert "Theirs" not in str(body)
    assert set(updates[0]) >= {"occurred_at", "actor_label", "via", "target_type", "changes"}


def test_the_log_pages_by_cursor_and_filters(api, api_key, workspace, owner):
    with audit.acting(user=owner):
        for name in ("One", "Two", "Three"):
            members.workspace_update(workspace=workspace, name=name)
    first = api.get(URL, {"action": "workspace.updated", "page_size": 2}).json()
    assert [row["changes"]["name"][1] for row in first["results"]] == ["Three", "Two"]
    second = api.get(first["next"]).json()
    assert [row["changes"]["name"][1] for row in second["results"]] == ["One"]
    assert second["next"] is None

    by_key = api.get(URL, {"actor": str(api_key.pk)}).json()["results"]
    assert by_key == []  # the fixture's key was made outside any request
    by_owner = api.get(URL, {"actor": str(owner.pk)}).json()["results"]
    assert len(by_owner) == 3
    assert len(api.get(URL, {"actor": owner.email.upper()}).json()["results"]) == 3
    assert len(api.get(URL, {"action": "workspace.*", "via": "cli"}).json()["results"]) == 3
    assert api.get(URL, {"since": "2999-01-01T00:00:00Z"}).json()["results"] == []
    assert api.get(URL, {"since": "yesterday"}).status_code == 400


@pytest.mark.parametrize(
    "scope, missing", [(ApiKeyScope.READ_ONLY, "full_access"), (ApiKeyScope.SENDING, "read")]
)
def test_only_full_access_keys_read_the_log(workspace, scope, missing):
    response = _client(ApiKeyFactory(workspace=workspace, scope=scope)).get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["missing_scope"] == missing


def test_the_log_needs_a_key(anon_api):
    assert anon_api.get(URL).status_code == 401
