"""API keys: authentication, rotation, revocation, the profile and the request-rate limit."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from mailcrm import services
from mailcrm.models import ApiKey
from mailcrm.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def test_it_refuses_a_request_without_a_key(anon_api):
    response = anon_api.get("/api/v1/contacts")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("header", ["HTTP_X_API_KEY", "HTTP_AUTHORIZATION"])
def test_it_refuses_a_wrong_key(anon_api, api_key, header):
    wrong = api_key.secret[:-4] + "abcd"
    value = f"Bearer {wrong}" if header == "HTTP_AUTHORIZATION" else wrong
    anon_api.credentials(**{header: value})
    assert anon_api.get("/api/v1/contacts").status_code == 401


@pytest.mark.parametrize("value", ["garbage", "mc_", "mc_x_y", "Bearer", "Basic abc"])
def test_it_refuses_malformed_keys(anon_api, value):
    anon_api.credentials(HTTP_X_API_KEY=value)
    assert anon_api.get("/api/v1/contacts").status_code == 401


def test_it_accepts_a_bearer_token(anon_api, api_key):
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    assert anon_api.get("/api/v1/contacts").status_code == 200


def test_it_stores_only_a_digest_and_a_prefix(api_key):
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert api_key.secret not in (stored.key_hash, stored.prefix, stored.name)
    assert api_key.secret.startswith(stored.prefix + "_")
    assert len(stored.key_hash) == 64


def test_it_records_last_use(api, api_key):
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is None
    api.get("/api/v1/contacts")
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None


def test_a_revoked_key_stops_working(api, api_key):
    services.api_key_revoke(key=api_key)
    assert api.get("/api/v1/contacts").status_code == 401


def test_creating_a_key_shows_the_secret_once(api, workspace):
    response = api.post("/api/v1/customer/api-keys", {"name": "CI"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "prefix", "key", "scope", "sending_domain_ids"}
    new_client = APIClient()
    new_client.credentials(HTTP_X_API_KEY=body["key"])
    assert new_client.get("/api/v1/customer/profile").status_code == 200
    listing = api.get("/api/v1/customer/api-keys").json()["results"]
    assert body["id"] in [row["id"] for row in listing]
    assert all("key" not in row and "key_hash" not in row for row in listing)
    detail = api.get(f"/api/v1/customer/api-keys/{body['id']}").json()
    assert "key" not in detail


def test_creating_a_key_needs_a_name(api):
    response = api.post("/api/v1/customer/api-keys", {}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]


def test_rotating_a_key_ends_the_old_secret(api, workspace):
    key, old_secret = services.api_key_create(workspace=workspace, name="rotating")
    response = api.post(f"/api/v1/customer/api-keys/{key.id}/rotate")
    assert response.status_code == 200
    new_secret = response.json()["key"]
    assert new_secret != old_secret
    old, new = APIClient(), APIClient()
    old.credentials(HTTP_X_API_KEY=old_secret)
    new.credentials(HTTP_X_API_KEY=new_secret)
    assert old.get("/api/v1/contacts").status_code == 401
    assert new.get("/api/v1/contacts").status_code == 200


def test_revoking_a_key_by_api(api, workspace):
    key, secret = services.api_key_create(workspace=workspace, name="to revoke")
    assert api.delete(f"/api/v1/customer/api-keys/{key.id}").status_code == 204
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    assert client.get("/api/v1/contacts").status_code == 401
    assert str(key.id) not in [
        k["id"] for k in api.get("/api/v1/customer/api-keys").json()["results"]
    ]


def test_another_workspaces_key_is_not_found(api, outsider):
    for method, suffix in [("get", ""), ("delete", ""), ("post", "/rotate")]:
        response = getattr(api, method)(f"/api/v1/customer/api-keys/{outsider.key.id}{suffix}")
        assert response.status_code == 404
    assert ApiKey.objects.get(pk=outsider.key.pk).revoked_at is None


def test_the_profile_shows_limits_and_usage(api, workspace):
    from contacts.tests.factories import ContactFactory

    ContactFactory.create_batch(3, workspace=workspace)
    body = api.get("/api/v1/customer/profile").json()
    assert body["workspace"]["id"] == str(workspace.id)
    assert body["limits"]["contacts"] == workspace.limit_contacts
    assert body["usage"]["contacts"] == 3
    assert body["usage"]["api_requests_per_minute"] >= 1


def test_the_request_rate_limit_answers_429_with_retry_after(api, workspace):
    workspace.limit_api_requests_per_minute = 3
    workspace.save()
    codes = [api.get("/api/v1/contacts").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = api.get("/api/v1/contacts")
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1


def test_the_rate_limit_is_per_workspace(api, workspace, outsider):
    workspace.limit_api_requests_per_minute = 1
    workspace.save()
    api.get("/api/v1/contacts")
    assert api.get("/api/v1/contacts").status_code == 429
    assert outsider.api.get("/api/v1/contacts").status_code == 200


def test_keys_of_one_workspace_do_not_share_prefixes(workspace):
    keys = [ApiKeyFactory(workspace=workspace) for _ in range(20)]
    assert len({key.prefix for key in keys}) == 20
    assert all(key.created_at <= timezone.now() for key in keys)
