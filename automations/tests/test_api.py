"""The automations and tracking API: the contract, validation, isolation; the site snippet's
collect endpoint: signed ids only, rate limits, opt-out."""

import json

import pytest
from django.core.cache import cache
from django.test import override_settings

from automations import engine
from automations.models import Automation, Enrollment
from campaigns.tracking import visitor_token
from contacts.models import Activity, Contact
from contacts.scoring import scoring_update
from contacts.tests.factories import ContactFactory
from mailcrm import outbox

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def make(api, **body):
    body = {"name": "Onboarding", "trigger_type": "manual"} | body
    response = api.post("/api/v1/automations", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_build_activate_enroll_and_read_positions(api, workspace):
    automation = make(api)
    url = f"/api/v1/automations/{automation['id']}"
    assert api.post(f"{url}/activate").status_code == 409  # no steps yet
    step = api.post(f"{url}/steps", {"type": "add_tag", "config": {"tag": "x"}}, format="json")
    assert step.status_code == 201
    wait = api.post(f"{url}/steps", {"type": "wait", "config": {"days": 1}}, format="json").json()
    assert (
        api.post(f"{url}/steps", {"type": "wait", "config": {}}, format="json").status_code == 400
    )
    assert api.post(f"{url}/activate").json()["status"] == "active"
    contacts = ContactFactory.create_batch(3, workspace=workspace)
    response = api.post(f"{url}/enroll", {"ids": [str(c.pk) for c in contacts]}, format="json")
    assert response.json() == {"count": 3}
    engine.run_due()
    body = api.get(f"{url}/enrollments").json()
    counts = {row["step_id"]: (row["waiting"], row["passed"]) for row in body["steps"]}
    assert counts[step.json()["id"]] == (0, 3)
    assert counts[wait["id"]] == (3, 0)
    assert body["totals"]["waiting"] == 3
    history = body["results"][0]["history"]
    assert [h["kind"] for h in history] == ["entered", "step"]
    assert api.post(f"{url}/pause").json()["status"] == "paused"
    assert (
        api.patch(f"{url}/steps/{wait['id']}", {"config": {"hours": 2}}, format="json").status_code
        == 200
    )
    assert api.delete(f"{url}/steps/{wait['id']}").status_code == 204
    assert api.delete(url).status_code == 204
    assert not Automation.objects.exists()


def test_bad_automations_are_refused_with_the_field(api):
    response = api.post(
        "/api/v1/automations",
        {"name": "x", "trigger_type": "tag_added", "trigger_config": {}},
        format="json",
    )
    assert response.status_code == 400
    assert "trigger_config" in response.json()["error"]["fields"]
    response = api.post("/api/v1/automations", {"name": "x", "goal_query": "nope ="}, format="json")
    assert response.status_code == 400
    assert "goal_query" in response.json()["error"]["fields"]


def test_another_workspaces_automation_is_not_found(api, outsider):
    theirs = make(outsider.api)
    for method, path in [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/activate"),
        ("post", "/enroll"),
        ("get", "/enrollments"),
    ]:
        response = getattr(api, method)(
            f"/api/v1/automations/{theirs['id']}{path}", {"ids": []}, format="json"
        )
        assert response.status_code == 404, (method, path)
    assert api.get("/api/v1/automations").json()["results"] == []


# --- tracking ----------------------------------------------------------------------------------


def test_track_records_an_activity_points_and_triggers(api, workspace):
    scoring_update(
        workspace=workspace,
        rules={"visited_pricing_page": 20},
        hot_threshold=50,
        warm_threshold=20,
        recompute=False,
    )
    automation = make(
        api, trigger_type="event_tracked", trigger_config={"event": "visited_pricing_page"}
    )
    url = f"/api/v1/automations/{automation['id']}"
    api.post(f"{url}/steps", {"type": "add_tag", "config": {"tag": "pricing"}}, format="json")
    api.post(f"{url}/activate")
    contact = ContactFactory(workspace=workspace, email="jane@example.com")
    body = {
        "email": "JANE@example.com",
        "event": "visited_pricing_page",
        "properties": {"plan": "pro"},
    }
    response = api.post("/api/v1/track", body, format="json")
    assert response.status_code == 200
    assert response.json()["contact_id"] == str(contact.pk)
    contact.refresh_from_db()
    assert contact.score == 20
    activity = Activity.objects.get(contact=contact, kind="event")
    assert activity.subject == "visited_pricing_page"
    assert activity.data["properties"] == {"plan": "pro"}
    outbox.dispatch_pending()
    assert Enrollment.objects.filter(contact=contact).count() == 1


def test_track_creates_the_contact_when_asked(api, workspace):
    body = {"email": "new@example.com", "event": "signed_up"}
    assert api.post("/api/v1/track", body, format="json").status_code == 404
    response = api.post("/api/v1/track", body | {"create": True}, format="json")
    assert response.status_code == 200
    assert Contact.objects.filter(email="new@example.com").exists()


def test_track_batch(api, workspace):
    contact = ContactFactory(workspace=workspace)
    events = [{"contact_id": str(contact.pk), "event": f"e{i}"} for i in range(5)]
    events.append({"email": "nobody@example.com", "event": "x"})
    response = api.post("/api/v1/track/batch", {"events": events}, format="json")
    assert response.status_code == 200
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["recorded"] * 5 + ["error"]
    assert Activity.objects.filter(contact=contact, kind="event").count() == 5
    too_many = {"events": [{"contact_id": str(contact.pk), "event": "x"}] * 1001}
    assert api.post("/api/v1/track/batch", too_many, format="json").status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"event": "x"},
        {"email": "a@example.com"},
        {"email": "a@example.com", "event": "has spaces"},
        {"email": "a@example.com", "event": "x", "properties": [1]},
        {"email": "a@example.com", "event": "x", "timestamp": "yesterday"},
        {"contact_id": "not-a-uuid", "event": "x"},
    ],
)
def test_track_refuses_bad_input_naming_the_field(api, body):
    response = api.post("/api/v1/track", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]


def test_track_never_reaches_another_workspaces_contact(api, outsider):
    body = {"contact_id": str(outsider.contact.pk), "event": "x"}
    assert api.post("/api/v1/track", body, format="json").status_code == 404
    body = {"email": outsider.contact.email, "event": "x"}
    assert api.post("/api/v1/track", body, format="json").status_code == 404
    assert not Activity.objects.filter(contact=outsider.contact, kind="event").exists()


def test_track_needs_a_key(anon_api):
    assert anon_api.post("/api/v1/track", {}, format="json").status_code == 401


# --- the snippet -------------------------------------------------------------------------------


def collect(client, body, **extra):
    return client.post("/t/collect", json.dumps(body), content_type="text/plain", **extra)


def test_the_snippet_is_served_with_its_endpoint(client):
    with override_settings(PUBLIC_BASE_URL="https://mail.example.com"):
        from automations.public import _script

        _script.cache_clear()
        response = client.get("/t.js")
    assert response["Content-Type"] == "application/javascript"
    assert "https://mail.example.com/t/collect" in response.content.decode()
    assert "mc_id" in response.content.decode()


def test_collect_records_a_page_view_for_a_signed_id(client, workspace):
    contact = ContactFactory(workspace=workspace)
    body = {"mc_id": visitor_token(contact.pk), "url": "https://acme.io/pricing", "title": "P"}
    response = collect(client, body)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    view = Activity.objects.get(contact=contact, kind="page_view")
    assert view.data["properties"]["url"] == "https://acme.io/pricing"


def test_a_forged_id_records_nothing(client, workspace):
    contact = ContactFactory(workspace=workspace)
    forged = f"{contact.pk}:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert collect(client, {"mc_id": forged, "url": "https://x"}).status_code == 204
    assert collect(client, {"mc_id": str(contact.pk), "url": "https://x"}).status_code == 204
    assert collect(client, {"url": "https://x"}).status_code == 400
    assert client.post("/t/collect", "{", content_type="text/plain").status_code == 400
    assert not Activity.objects.filter(kind="page_view").exists()


def test_an_opted_out_contact_is_not_tracked(client, workspace):
    contact = ContactFactory(workspace=workspace, tracking_opt_out=True)
    collect(client, {"mc_id": visitor_token(contact.pk), "url": "https://x"})
    assert not Activity.objects.filter(kind="page_view").exists()


def test_collect_is_rate_limited(client, workspace):
    contact = ContactFactory(workspace=workspace)
    body = {"mc_id": visitor_token(contact.pk), "url": "https://acme.io/"}
    codes = [collect(client, body).status_code for _ in range(35)]
    assert codes.count(204) == 30
    assert codes[-1] == 429
    assert Activity.objects.filter(kind="page_view").count() == 30
