"""The campaign and email API: the contract, validation, lifecycle errors and isolation."""

import pytest

from campaigns.models import Campaign, CampaignStatus, Message
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_domains")]


@pytest.fixture
def newsletter(workspace):
    contact_list = ContactListFactory(workspace=workspace, name="Newsletter")
    for n in range(3):
        ListMembershipFactory(
            contact=ContactFactory(workspace=workspace, email=f"p{n}@example.com"),
            contact_list=contact_list,
        )
    return contact_list


def body(newsletter, **extra):
    return {
        "name": "June",
        "subject": "Hello {{ contact.first_name }}",
        "html": "<p>Hi</p>",
        "from_email": "news@acme.io",
        "audience": {"lists": [str(newsletter.id)]},
    } | extra


def test_create_read_update_delete(api, newsletter):
    response = api.post("/api/v1/campaigns", body(newsletter), format="json")
    assert response.status_code == 201, response.json()
    campaign = response.json()
    assert campaign["status"] == "draft"
    assert campaign["audience"]["lists"] == [str(newsletter.id)]
    campaign_id = campaign["id"]
    assert api.get(f"/api/v1/campaigns/{campaign_id}/recipients/count").json() == {"count": 3}
    patched = api.patch(f"/api/v1/campaigns/{campaign_id}", {"name": "July"}, format="json")
    assert patched.json()["name"] == "July"
    assert api.get("/api/v1/campaigns").json()["results"][0]["id"] == campaign_id
    assert api.delete(f"/api/v1/campaigns/{campaign_id}").status_code == 204


@pytest.mark.parametrize(
    "extra,field",
    [
        ({"audience": {"lists": ["00000000-0000-0000-0000-000000000000"]}}, "audience.lists"),
        ({"audience": {"tags": ["no-such-tag"]}}, "audience.tags"),
        ({"audience": {"everyone": True}}, "audience"),
        ({"from_email": "not-an-address"}, "from_email"),
        ({"rate_per_minute": -5}, "rate_per_minute"),
        ({"template_id": "00000000-0000-0000-0000-000000000000"}, "template_id"),
    ],
)
def test_bad_campaigns_are_400s_naming_the_field(api, newsletter, extra, field):
    response = api.post("/api/v1/campaigns", body(newsletter, **extra), format="json")
    assert response.status_code == 400, response.json()
    assert any(name.startswith(field.split(".")[0]) for name in response.json()["error"]["fields"])


def test_another_workspaces_list_cannot_be_the_audience(api, newsletter, outsider):
    response = api.post(
        "/api/v1/campaigns",
        body(newsletter, audience={"lists": [str(outsider.list.id)]}),
        format="json",
    )
    assert response.status_code == 400


def test_sending_with_no_recipients_is_a_422(api, workspace):
    empty = ContactListFactory(workspace=workspace, name="Empty")
    campaign = api.post(
        "/api/v1/campaigns",
        {
            "name": "X",
            "subject": "S",
            "html": "<p>x</p>",
            "from_email": "a@acme.io",
            "audience": {"lists": [str(empty.id)]},
        },
        format="json",
    ).json()
    response = api.post(f"/api/v1/campaigns/{campaign['id']}/send")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "no_recipients"
    assert Campaign.objects.get(pk=campaign["id"]).status == CampaignStatus.DRAFT


def test_sending_an_unready_campaign_is_a_422_naming_what_is_missing(api, newsletter):
    campaign = api.post(
        "/api/v1/campaigns",
        {"name": "X", "audience": {"lists": [str(newsletter.id)]}},
        format="json",
    ).json()
    response = api.post(f"/api/v1/campaigns/{campaign['id']}/send")
    assert response.status_code == 422
    assert {"subject", "html", "from_email"} <= set(response.json()["error"]["fields"])


def test_lifecycle_errors_are_409s(api, newsletter):
    campaign = api.post("/api/v1/campaigns", body(newsletter), format="json").json()
    for verb in ("pause", "resume"):
        response = api.post(f"/api/v1/campaigns/{campaign['id']}/{verb}")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "campaign_state"
    assert api.post(f"/api/v1/campaigns/{campaign['id']}/cancel").json()["status"] == "cancelled"
    response = api.patch(f"/api/v1/campaigns/{campaign['id']}", {"name": "Y"}, format="json")
    assert response.status_code == 409


def test_scheduling_needs_a_future_time(api, newsletter):
    campaign = api.post("/api/v1/campaigns", body(newsletter), format="json").json()
    url = f"/api/v1/campaigns/{campaign['id']}/schedule"
    assert api.post(url, {"send_at": "2001-01-01T00:00:00Z"}, format="json").status_code == 400
    assert api.post(url, {}, format="json").status_code == 400
    response = api.post(url, {"send_at": "2099-01-01T09:00:00Z"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "scheduled"


def test_stats_and_messages_of_a_draft(api, newsletter):
    campaign = api.post("/api/v1/campaigns", body(newsletter), format="json").json()
    stats = api.get(f"/api/v1/campaigns/{campaign['id']}/stats").json()
    assert stats["sent"] == 0 and stats["opened"] == {"unique": 0, "total": 0, "human": 0}
    assert api.get(f"/api/v1/campaigns/{campaign['id']}/messages").json()["results"] == []


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"to": ["a@example.com"], "subject": "S", "html": "x"}, "from"),
        ({"from": "a@acme.io", "subject": "S", "html": "x"}, "to"),
        ({"from": "a@acme.io", "to": ["nope"], "subject": "S", "html": "x"}, "to"),
        ({"from": "a@acme.io", "to": ["a@example.com"], "subject": "S"}, "html"),
        ({"from": "a@acme.io", "to": ["a@example.com"], "html": "x"}, "subject"),
        (
            {
                "from": "a@acme.io",
                "to": ["a@example.com"],
                "subject": "S",
                "html": "x",
                "headers": {"Bad\nName": "x"},
            },
            "headers",
        ),
    ],
)
def test_bad_transactional_emails_are_400s(api, payload, field):
    response = api.post("/api/v1/emails", payload, format="json")
    assert response.status_code == 400
    assert any(name.startswith(field) for name in response.json()["error"]["fields"])
    assert not Message.objects.exists()


def test_an_email_of_another_workspace_is_not_found(api, outsider):
    theirs = Message.objects.create(
        workspace=outsider.workspace, kind="transactional", email="x@y.z"
    )
    assert api.get(f"/api/v1/emails/{theirs.id}").status_code == 404


def test_campaign_routes_need_a_key(anon_api):
    assert anon_api.get("/api/v1/campaigns").status_code == 401
    assert anon_api.post("/api/v1/emails", {}, format="json").status_code == 401


def test_the_monthly_sends_limit_is_a_422(api, workspace):
    workspace.limit_monthly_sends = 0
    workspace.save()
    response = api.post(
        "/api/v1/emails",
        {"from": "a@acme.io", "to": ["b@example.com"], "subject": "S", "text": "x"},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["limit"] == "monthly_sends"
    assert not Message.objects.exists()
    profile = api.get("/api/v1/customer/profile").json()
    assert profile["limits"]["monthly_sends"] == 0 and profile["usage"]["monthly_sends"] == 0
