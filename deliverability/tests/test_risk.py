"""Pre-send risk: known histories give known factors, levels and policies; a block refuses the
send (422) unless an owner or admin overrides it; the API and another workspace."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns import services as campaign_services
from campaigns.models import Campaign, CampaignStatus, EventType, Message, MessageEvent
from contacts.models import Contact
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability import risk
from deliverability.models import (
    Bounce,
    DeliverabilitySettings,
    EmailValidation,
    RiskAssessment,
    SendingDomain,
)
from mailcrm.models import Role
from mailcrm.services import api_key_create
from mailcrm.tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

GOOD_HTML = (
    "<h1>October news</h1><p>We shipped faster imports and a new report this month; here is "
    "what changed and how to use it in your own workspace.</p>"
    '<p><a href="https://acme.example/blog">Read the post</a></p>'
    '<p>{{ workspace.physical_address }} · <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)
GOOD_TEXT = "October news\n\nRead the post: https://acme.example/blog\n{{ unsubscribe_url }}"


@pytest.fixture
def domain(workspace):
    return SendingDomain.objects.create(
        workspace=workspace, domain="acme.example", is_verified=True, verified_at=timezone.now()
    )


@pytest.fixture
def audience(workspace):
    contact_list = ContactListFactory(workspace=workspace, name="Newsletter")
    contacts = [
        ContactFactory(workspace=workspace, email=f"Person{i}@Customers.example") for i in range(10)
    ]
    for contact in contacts:
        ListMembershipFactory(contact=contact, contact_list=contact_list)
    return contact_list, contacts


@pytest.fixture
def campaign(workspace, domain, audience):
    return campaign_services.campaign_create(
        workspace=workspace,
        name="October",
        subject="October news from Acme",
        html=GOOD_HTML,
        text=GOOD_TEXT,
        from_email="news@acme.example",
        audience={"lists": [str(audience[0].pk)]},
    )


def validate(workspace, emails, result="valid", **checks):
    now = timezone.now()
    EmailValidation.objects.bulk_create(
        EmailValidation(
            workspace=workspace,
            email=email.lower(),
            result=result,
            checks={"syntax": True, "mx": True, "disposable": False, "role": False} | checks,
            checked_at=now,
        )
        for email in emails
    )


def make_stale(contacts):
    long_ago = timezone.now() - timedelta(days=400)
    Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(created_at=long_ago)


def sent_messages(workspace, count, complaints=0):
    now = timezone.now()
    messages = Message.objects.bulk_create(
        Message(workspace=workspace, kind="campaign", email=f"m{i}@x.example", status="sent")
        for i in range(count)
    )
    events = [
        MessageEvent(workspace=workspace, message=m, type=EventType.SENT, occurred_at=now)
        for m in messages
    ]
    events += [
        MessageEvent(workspace=workspace, message=m, type=EventType.COMPLAINED, occurred_at=now)
        for m in messages[:complaints]
    ]
    MessageEvent.objects.bulk_create(events)


def factors(assessment):
    return {f["code"]: f for f in assessment.factors}


def emails(contacts):
    return [c.email for c in contacts]


# --- known histories ---------------------------------------------------------------------------


def test_a_clean_validated_engaged_audience_is_low_risk(workspace, campaign, audience):
    validate(workspace, emails(audience[1]))

    assessment = risk.assess_campaign(campaign=campaign)

    assert (assessment.risk_score, assessment.level, assessment.policy) == (0, "low", "allow")
    assert all(f["weight"] == 0 for f in assessment.factors)
    assert assessment.recommendations == []
    assert RiskAssessment.objects.get().campaign_id == campaign.pk


def test_an_audience_never_validated_counts_but_does_not_block(workspace, campaign):
    assessment = risk.assess_campaign(campaign=campaign)

    assert factors(assessment)["never_validated"]["value"] == 1.0
    assert factors(assessment)["never_validated"]["weight"] == 10
    assert (assessment.risk_score, assessment.level, assessment.policy) == (10, "low", "allow")


def test_invalid_and_stale_contacts_warn(workspace, campaign, audience):
    contacts = audience[1]
    validate(workspace, emails(contacts[1:]))
    validate(workspace, emails(contacts[:1]), result="invalid", mx=False)
    make_stale(contacts[:5])

    assessment = risk.assess_campaign(campaign=campaign)

    found = factors(assessment)
    assert (found["invalid"]["value"], found["invalid"]["weight"]) == (0.1, 30)
    assert (found["stale"]["value"], found["stale"]["weight"]) == (0.5, 15)
    assert found["never_validated"]["value"] == 0
    assert (assessment.risk_score, assessment.level, assessment.policy) == (45, "medium", "warn")
    assert assessment.recommendations[0].startswith("Remove the invalid addresses")


def test_complaints_on_top_block(workspace, campaign, audience):
    contacts = audience[1]
    validate(workspace, emails(contacts[1:]))
    validate(workspace, emails(contacts[:1]), result="invalid", mx=False)
    make_stale(contacts[:5])
    sent_messages(workspace, 200, complaints=2)  # 1%

    assessment = risk.assess_campaign(campaign=campaign)

    found = factors(assessment)
    assert (found["complaint_rate"]["value"], found["complaint_rate"]["weight"]) == (0.01, 25)
    assert (assessment.risk_score, assessment.level, assessment.policy) == (70, "high", "block")


def test_disposable_role_risky_and_soft_bounced_addresses(workspace, campaign, audience):
    contacts = audience[1]
    validate(workspace, emails(contacts[2:]))
    validate(workspace, emails(contacts[:1]), result="risky", disposable=True)
    validate(workspace, emails(contacts[1:2]), result="risky", role=True)
    Bounce.objects.create(
        workspace=workspace,
        email=contacts[3].email.lower(),
        kind="soft",
        occurred_at=timezone.now(),
    )
    Bounce.objects.create(
        workspace=workspace,
        email=contacts[4].email.lower(),
        kind="soft",
        occurred_at=timezone.now() - timedelta(days=200),
    )

    found = factors(risk.assess_campaign(campaign=campaign))

    assert (found["disposable"]["value"], found["disposable"]["weight"]) == (0.1, 10)
    assert (found["role"]["value"], found["role"]["weight"]) == (0.1, 2.5)
    assert (found["risky"]["value"], found["risky"]["weight"]) == (0.2, 10)
    assert (found["soft_bounces"]["value"], found["soft_bounces"]["weight"]) == (0.1, 10)


def test_an_unverified_domain_and_poor_content_add_up(workspace, campaign, domain, audience):
    validate(workspace, emails(audience[1]))
    SendingDomain.objects.filter(pk=domain.pk).update(is_verified=False)
    Campaign.objects.filter(pk=campaign.pk).update(
        subject="FREE MONEY!!!", html="<p>Click here</p>", text=""
    )
    campaign.refresh_from_db()

    found = factors(risk.assess_campaign(campaign=campaign))

    assert found["domain_auth"]["weight"] == 15
    assert "not verified" in found["domain_auth"]["detail"]
    assert found["content"]["weight"] > 5
    assert "Content scores" in found["content"]["detail"]


def test_the_workspace_thresholds_decide_the_policy(workspace, campaign):
    settings = DeliverabilitySettings.for_workspace(workspace)
    settings.risk_warn_at, settings.risk_block_at = 5, 10
    settings.save()

    assert risk.assess_campaign(campaign=campaign).policy == "block"


def test_another_workspace_data_is_not_counted(workspace, campaign, audience, outsider):
    validate(outsider.workspace, emails(audience[1]), result="invalid")
    sent_messages(outsider.workspace, 100, complaints=10)

    assessment = risk.assess_campaign(campaign=campaign)

    assert factors(assessment)["invalid"]["value"] == 0
    assert factors(assessment)["complaint_rate"]["value"] == 0


def test_a_list_of_recipients(workspace, audience):
    validate(workspace, ["person0@customers.example"], result="invalid")

    assessment = risk.assess_recipients(
        workspace=workspace,
        recipients=["Person0@customers.example", "person1@customers.example", "new@x.example"],
    )

    found = factors(assessment)
    assert found["invalid"]["value"] == round(1 / 3, 4)
    assert found["never_validated"]["value"] == round(2 / 3, 4)
    assert "domain_auth" not in found
    assert assessment.campaign_id is None


def test_the_audience_is_measured_in_a_few_queries(
    workspace, campaign, audience, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        risk.assess_campaign(campaign=campaign)


# --- the gate at send --------------------------------------------------------------------------


@pytest.fixture
def blocking(workspace):
    settings = DeliverabilitySettings.for_workspace(workspace)
    settings.risk_warn_at, settings.risk_block_at = 1, 5  # never validated alone blocks
    settings.save()


def key_client(workspace, user):
    _, secret = api_key_create(workspace=workspace, name="k", created_by=user)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    return client


def test_a_blocked_send_is_refused_with_the_assessment(api, campaign, blocking):
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/send", {}, format="json")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "risk_blocked"
    assert error["assessment"]["policy"] == "block"
    assert error["assessment"]["factors"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assessment = RiskAssessment.objects.get(campaign_id=campaign.pk)
    assert assessment.policy == "block" and assessment.overridden_by is None


def test_an_admin_overrides_a_block_and_it_is_recorded(workspace, admin_user, campaign, blocking):
    client = key_client(workspace, admin_user)

    response = client.post(
        f"/api/v1/campaigns/{campaign.pk}/send", {"override_risk": True}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "sending"
    assert RiskAssessment.objects.get(campaign_id=campaign.pk).overridden_by == admin_user


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_a_member_cannot_override(workspace, campaign, blocking, role):
    user = MembershipFactory(workspace=workspace, user=UserFactory(), role=role).user
    client = key_client(workspace, user)

    response = client.post(
        f"/api/v1/campaigns/{campaign.pk}/send", {"override_risk": True}, format="json"
    )

    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_a_key_without_a_creator_cannot_override(api, campaign, blocking):
    response = api.post(
        f"/api/v1/campaigns/{campaign.pk}/send", {"override_risk": True}, format="json"
    )

    assert response.status_code == 403


def test_an_allowed_send_needs_no_override(api, campaign, audience):
    validate(campaign.workspace, emails(audience[1]))

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/send", format="json")

    assert response.status_code == 200
    assert RiskAssessment.objects.get(campaign_id=campaign.pk).policy == "allow"


def test_the_dashboard_refuses_a_blocked_send_and_lets_an_admin_override(
    client, workspace, member, admin_user, campaign, blocking
):
    url = f"/campaigns/{campaign.pk}/send/"
    client.force_login(member)
    response = client.post(url, {"override_risk": "on"}, follow=True)
    assert "owner or admin" in response.content.decode()
    response = client.post(url, follow=True)
    assert "block threshold" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT

    client.force_login(admin_user)
    client.post(url, {"override_risk": "on"})

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING
    assert RiskAssessment.objects.filter(overridden_by=admin_user).count() == 1


# --- API ---------------------------------------------------------------------------------------


def test_api_assesses_a_campaign(api, campaign):
    response = api.post("/api/v1/risk/assess", {"campaign_id": str(campaign.pk)}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"risk_score", "level", "factors", "recommendations", "policy"}
    assert {f["code"] for f in body["factors"]} >= {"invalid", "stale", "complaint_rate"}
    assert set(body["factors"][0]) == {"code", "label", "value", "weight", "detail"}
    assert RiskAssessment.objects.filter(pk=body["id"]).exists()


def test_api_another_workspace_campaign_is_not_found(outsider, campaign):
    response = outsider.api.post(
        "/api/v1/risk/assess", {"campaign_id": str(campaign.pk)}, format="json"
    )

    assert response.status_code == 404
    assert not RiskAssessment.objects.exists()


def test_api_assesses_recipients(api):
    response = api.post(
        "/api/v1/risk/assess", {"recipients": ["a@x.example", "b@x.example"]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["campaign_id"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"campaign_id": "not-a-uuid"},
        {"recipients": []},
        {"recipients": "a@x.example"},
        {"campaign_id": "0190a0a0-0000-7000-8000-000000000000", "recipients": ["a@x.example"]},
    ],
)
def test_api_refuses_odd_bodies(api, body):
    assert api.post("/api/v1/risk/assess", body, format="json").status_code == 400


def test_api_unknown_campaign_is_not_found(api):
    response = api.post(
        "/api/v1/risk/assess",
        {"campaign_id": "0190a0a0-0000-7000-8000-000000000000"},
        format="json",
    )

    assert response.status_code == 404
