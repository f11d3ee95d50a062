"""The A/B test API: ``/campaigns/{id}/ab`` and ``/ab/winner`` — the contract, bad input as 400s
naming the field, lifecycle conflicts as 409s, another workspace's campaign as 404 — and the
``variants`` and ``ab`` blocks of ``/campaigns/{id}/stats``."""

import pytest

from campaigns import services
from campaigns.models import Campaign, CampaignStatus
from campaigns.tests.ab_factories import HTML, ab_campaign, audience_list
from templates.models import EmailTemplate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_domains")]

VALID = {
    "share": 20,
    "criterion": "open",
    "wait_minutes": 240,
    "variants": [{"subject": "Hello"}, {"subject": "Hi there", "from_name": "Ann at Acme"}],
}


@pytest.fixture
def campaign(workspace):
    return services.campaign_create(
        workspace=workspace,
        name="June",
        subject="Base",
        html=HTML,
        from_email="news@acme.io",
        audience={"lists": [str(audience_list(workspace, 4).id)]},
    )


def url(campaign, tail: str = "") -> str:
    return f"/api/v1/campaigns/{campaign.pk}/ab{tail}"


def test_set_read_replace_and_remove_an_ab_test(api, campaign):
    response = api.put(url(campaign), VALID, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["share"], body["criterion"], body["wait_minutes"]) == (20, "open", 240)
    assert [v["variant"] for v in body["variants"]] == ["A", "B"]
    assert body["variants"][1]["from_name"] == "Ann at Acme"
    assert body["winner"] is None and body["decide_at"] is None
    assert api.get(url(campaign)).json() == body
    three = VALID | {
        "criterion": "manual",
        "variants": [{"subject": "1"}, {"subject": "2"}, {"html": "<p>Short</p>"}],
    }
    replaced = api.put(url(campaign), three, format="json").json()
    assert [v["variant"] for v in replaced["variants"]] == ["A", "B", "C"]
    assert replaced["criterion"] == "manual"
    assert api.delete(url(campaign)).status_code == 204
    missing = api.get(url(campaign))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "change,field",
    [
        ({"variants": [{"subject": str(n)} for n in range(5)]}, "variants"),
        ({"variants": [{"subject": "alone"}]}, "variants"),
        ({"share": 0}, "share"),
        ({"share": 101}, "share"),
        ({"share": "half"}, "share"),
        ({"criterion": "revenue"}, "criterion"),
        ({"wait_minutes": 0}, "wait_minutes"),
        ({"variants": [{"subject": "a"}, {"colour": "red"}]}, "variants[1].colour"),
        ({"variants": [{"subject": "a"}, {"html": "{% if %}"}]}, "variants[1].html"),
        ({"variants": [{"subject": "a"}, {"send_at": "tomorrow"}]}, "variants[1].send_at"),
    ],
)
def test_bad_ab_tests_are_400s_naming_the_field(api, campaign, change, field):
    response = api.put(url(campaign), VALID | change, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()


def test_another_workspaces_template_is_refused(api, campaign, outsider):
    theirs = EmailTemplate.objects.create(
        workspace=outsider.workspace, name="Theirs", subject="S", html="<p>x</p>"
    )
    variants = [{"subject": "a"}, {"template_id": str(theirs.pk)}]
    response = api.put(url(campaign), VALID | {"variants": variants}, format="json")
    assert response.status_code == 400
    assert "variants[1].template_id" in response.json()["error"]["fields"]


def test_a_started_campaigns_test_cannot_change(api, workspace, campaign):
    api.put(url(campaign), VALID, format="json")
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    assert api.put(url(campaign), VALID, format="json").status_code == 409
    assert api.delete(url(campaign)).status_code == 409


def test_a_winner_is_picked_only_from_the_variants_of_a_started_test(api, campaign):
    assert api.post(url(campaign, "/winner"), {"variant": "A"}).status_code == 409  # no test
    api.put(url(campaign), VALID, format="json")
    assert api.post(url(campaign, "/winner"), {"variant": "A"}).status_code == 409  # not sent
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    for bad in ("C", "E", "", "AB"):
        response = api.post(url(campaign, "/winner"), {"variant": bad})
        assert response.status_code == 400, (bad, response.json())
        assert "variant" in response.json()["error"]["fields"]
    picked = api.post(url(campaign, "/winner"), {"variant": "B"})
    assert picked.status_code == 200 and picked.json()["winner"] == "B"


def test_another_workspaces_campaign_is_not_found(api, outsider, campaign):
    api.put(url(campaign), VALID, format="json")
    theirs = outsider.api
    assert theirs.get(url(campaign)).status_code == 404
    assert theirs.put(url(campaign), VALID, format="json").status_code == 404
    assert theirs.delete(url(campaign)).status_code == 404
    assert theirs.post(url(campaign, "/winner"), {"variant": "A"}).status_code == 404
    assert theirs.get(f"/api/v1/campaigns/{campaign.pk}/stats").status_code == 404
    assert api.get("/api/v1/campaigns/not-a-uuid/ab").status_code == 404
    # Nothing changed on our side.
    assert api.get(url(campaign)).json()["winner"] is None


def test_stats_carry_the_variants_and_the_test(api, workspace):
    contact_list = audience_list(workspace, 3)
    plain = services.campaign_create(
        workspace=workspace,
        name="Plain",
        subject="S",
        html=HTML,
        from_email="news@acme.io",
        audience={"lists": [str(contact_list.id)]},
    )
    body = api.get(f"/api/v1/campaigns/{plain.pk}/stats").json()
    assert body["variants"] == [] and body["ab"] is None
    tested = ab_campaign(workspace, contact_list, share=30, criterion="click")
    body = api.get(f"/api/v1/campaigns/{tested.pk}/stats").json()
    assert [v["variant"] for v in body["variants"]] == ["A", "B"]
    assert body["variants"][1]["subject"] == "Subject B"
    assert body["variants"][1]["tests"] == {"open": None, "click": None}  # no sample yet
    assert body["ab"]["share"] == 30 and body["ab"]["criterion"] == "click"
    assert body["ab"]["winner"] is None
