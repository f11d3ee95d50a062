"""API key scopes: full access, sending only, read only, and keys limited to some sending
domains. A call outside the key's scope is a 403 naming the missing scope; a walk over every
API route checks that a read-only key cannot write anywhere."""

import re

import pytest
from rest_framework.test import APIClient

from campaigns.models import Campaign
from contacts.models import Contact
from deliverability.models import SendingDomain
from mailcrm.models import ApiKey, ApiKeyScope
from mailcrm.tests.factories import ApiKeyFactory
from tests.routes import all_routes

pytestmark = pytest.mark.django_db

ZERO = "00000000-0000-0000-0000-000000000000"
# POSTs that change nothing a user owns (checks and previews), declared READ by their views.
READ_POSTS = {
    "/api/v1/validation/email",
    "/api/v1/validation/bulk",
    "/api/v1/content/score",
    "/api/v1/risk/assess",
    "/api/v1/segments/preview",
    f"/api/v1/templates/{ZERO}/preview",
}


def _client(key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key.secret)
    return client


@pytest.fixture
def brands(workspace):
    return (
        SendingDomain.objects.create(workspace=workspace, domain="brand-a.example"),
        SendingDomain.objects.create(workspace=workspace, domain="brand-b.example"),
    )


def _email(sender: str) -> dict:
    return {"from": sender, "to": ["jane@example.com"], "subject": "Hi", "text": "Hello"}


def _routes() -> list[tuple[str, type, dict]]:
    """(url, view class, actions) of every API route, ids replaced by a zero UUID."""
    routes = []
    for route in all_routes():
        path = route.path
        if not path.startswith("api/v1/") or "schema" in path or "docs" in path:
            continue
        url = "/" + path.replace("^", "").replace("$", "")
        url = re.sub(r"\(\?P<[a-z_]+>[^)]*\)", ZERO, url)
        url = re.sub(r"<str:[a-z_]+>", ZERO, url)
        callback = route.callback
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        routes.append((url, view, getattr(callback, "actions", None)))
    return routes


def _unsafe_methods(view, actions) -> list[str]:
    if actions is not None:
        methods = actions.keys()
    else:
        methods = [m for m in ("post", "put", "patch", "delete") if hasattr(view, m)]
    return [m for m in methods if m in ("post", "put", "patch", "delete")]


def test_existing_and_default_keys_have_full_access(api, api_key):
    assert api_key.scope == ApiKeyScope.FULL_ACCESS
    assert (
        api.post("/api/v1/contacts", {"email": "a@example.com"}, format="json").status_code == 201
    )


def test_a_read_only_key_reads_and_gets_403_naming_write(workspace):
    reader = _client(ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.READ_ONLY))
    assert reader.get("/api/v1/contacts").status_code == 200
    response = reader.post("/api/v1/contacts", {"email": "a@example.com"}, format="json")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "missing_scope"
    assert error["missing_scope"] == "write"
    assert "'write'" in error["message"]
    assert not Contact.objects.exists()


def test_a_read_only_key_cannot_write_on_any_route(workspace):
    reader = _client(ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.READ_ONLY))
    checked = 0
    for url, view, actions in _routes():
        for method in _unsafe_methods(view, actions):
            if method == "post" and url in READ_POSTS:
                continue
            response = getattr(reader, method)(url, {}, format="json")
            assert response.status_code == 403, (method, url, response.status_code)
            assert response.json()["error"]["missing_scope"] in ("write", "send"), (method, url)
            checked += 1
    assert checked >= 40


def test_read_only_keys_may_run_checks(workspace):
    reader = _client(ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.READ_ONLY))
    response = reader.post("/api/v1/segments/preview", {"query": "status = active"}, format="json")
    assert response.status_code == 200


def test_a_sending_key_sends_and_reads_what_it_sends_only(workspace):
    sender = _client(ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.SENDING))
    response = sender.post("/api/v1/emails", _email("news@acme.example"), format="json")
    assert response.status_code == 202
    assert sender.get(f"/api/v1/emails/{response.json()['id']}").status_code == 200
    assert sender.get("/api/v1/campaigns").status_code == 200
    assert sender.get("/api/v1/templates").status_code == 200
    refused = sender.get("/api/v1/contacts")
    assert refused.status_code == 403
    assert refused.json()["error"]["missing_scope"] == "read"
    create = sender.post("/api/v1/campaigns", {"name": "New"}, format="json")
    assert create.json()["error"]["missing_scope"] == "write"
    assert sender.post("/api/v1/customer/api-keys", {"name": "x"}, format="json").status_code == 403


def test_a_sending_key_may_send_a_campaign(workspace):
    sender = _client(ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.SENDING))
    campaign = Campaign.objects.create(workspace=workspace, name="Empty", subject="S", html="x")
    response = sender.post(f"/api/v1/campaigns/{campaign.id}/send", {}, format="json")
    # Past the scope check: refused for its content (no sender, no recipients), not its key.
    assert response.status_code != 403
    assert response.status_code < 500


def test_a_read_only_key_cannot_send(workspace):
    reader = _client(ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.READ_ONLY))
    response = reader.post("/api/v1/emails", _email("news@acme.example"), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["missing_scope"] == "send"


def test_a_key_limited_to_brand_a_cannot_send_from_brand_b(workspace, brands):
    brand_a, _ = brands
    key = ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.SENDING, sending_domains=[brand_a])
    sender = _client(key)
    ok = sender.post("/api/v1/emails", _email("news@brand-a.example"), format="json")
    assert ok.status_code == 202
    refused = sender.post("/api/v1/emails", _email("news@brand-b.example"), format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["missing_scope"] == "send:brand-b.example"
    batch = sender.post(
        "/api/v1/emails/batch",
        {"emails": [_email("a@brand-a.example"), _email("b@brand-b.example")]},
        format="json",
    )
    assert batch.status_code == 403


def test_a_limited_key_cannot_send_a_campaign_of_another_brand(workspace, brands):
    brand_a, brand_b = brands
    key = ApiKeyFactory(workspace=workspace, scope=ApiKeyScope.SENDING, sending_domains=[brand_a])
    campaign = Campaign.objects.create(
        workspace=workspace,
        name="B news",
        subject="S",
        html="x",
        from_email="news@brand-b.example",
        sending_domain=brand_b,
    )
    response = _client(key).post(f"/api/v1/campaigns/{campaign.id}/test", {"emails": ["a@b.c"]})
    assert response.status_code == 403
    assert response.json()["error"]["missing_scope"] == "send:brand-b.example"


def test_keys_are_created_with_a_scope_and_domains_through_the_api(api, brands):
    brand_a, _ = brands
    response = api.post(
        "/api/v1/customer/api-keys",
        {"name": "Shop", "scope": "sending", "sending_domain_ids": [str(brand_a.id)]},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["scope"] == "sending" and body["sending_domain_ids"] == [str(brand_a.id)]
    assert body["key"].startswith(body["prefix"])
    listed = {k["id"]: k for k in api.get("/api/v1/customer/api-keys").json()["results"]}
    assert listed[body["id"]]["scope"] == "sending"
    assert listed[body["id"]]["sending_domain_ids"] == [str(brand_a.id)]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "x", "scope": "root"}, "scope"),
        ({"name": "x", "sending_domain_ids": ["nope"]}, "sending_domain_ids"),
    ],
)
def test_bad_scopes_and_domains_are_400s(api, body, field):
    response = api.post("/api/v1/customer/api-keys", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_another_workspaces_domain_cannot_be_given_to_a_key(api, outsider):
    theirs = SendingDomain.objects.create(workspace=outsider.workspace, domain="o.example")
    response = api.post(
        "/api/v1/customer/api-keys",
        {"name": "x", "scope": "sending", "sending_domain_ids": [str(theirs.id)]},
        format="json",
    )
    assert response.status_code == 400
    assert "sending_domain_ids" in response.json()["error"]["fields"]
    assert not ApiKey.objects.filter(name="x").exists()


def test_the_dashboard_makes_a_scoped_key_and_lists_its_access(dashboard, workspace, brands):
    brand_a, _ = brands
    response = dashboard.post(
        "/settings/api-keys/",
        {"name": "Newsletter", "scope": "sending", "sending_domains": [str(brand_a.id)]},
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="Newsletter")
    assert key.scope == "sending"
    assert list(key.sending_domains.all()) == [brand_a]
    page = dashboard.get("/settings/api-keys/").content.decode()
    assert "Sending only" in page and "brand-a.example" in page


def test_the_admin_makes_a_read_only_key(admin_client, workspace):
    response = admin_client.post(
        "/admin/mailcrm/apikey/add/",
        {"workspace": str(workspace.id), "name": "Reports", "scope": "read_only"},
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(name="Reports").scope == "read_only"
