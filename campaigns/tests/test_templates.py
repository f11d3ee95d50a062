"""Campaigns and transactional email that use a saved template, against a real SMTP server:
the template's content is rendered per recipient, its from name and address are the defaults,
and a template that fails in the sandbox at send time fails its messages cleanly."""

import time

import pytest

from campaigns import services
from campaigns.content import campaign_sender, campaign_source
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from mailcrm.exceptions import DomainError
from templates.tests.factories import EmailTemplateFactory
from tests.smtp import SmtpSink

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_domains"),
]


@pytest.fixture
def smtp():
    with (
        SmtpSink() as sink,
        sink.as_email_backend(),
    ):
        yield sink


@pytest.fixture
def newsletter(workspace):
    contact_list = ContactListFactory(workspace=workspace, name="Newsletter")
    for name, plan in (("ann", "pro"), ("bob", "free")):
        contact = ContactFactory(
            workspace=workspace,
            email=f"{name}@example.com",
            first_name=name.title(),
            properties={"plan": plan},
        )
        ListMembershipFactory(contact=contact, contact_list=contact_list)
    return contact_list


@pytest.fixture
def template(workspace):
    return EmailTemplateFactory(
        workspace=workspace,
        subject="{{ contact.first_name }}, your {{ contact.properties.plan }} plan",
        html="<html><head><style>h1 { color: navy }</style></head><body>"
        "<h1>Hi {{ contact.first_name }}</h1><p>Plan: {{ contact.properties.plan|upper }}</p>"
        "<p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p></body></html>",
        text="",
        from_name="Acme Team",
        from_email="team@acme.example",
    )


def _campaign(workspace, newsletter, **fields):
    return services.campaign_create(
        workspace=workspace, name="With a template", audience={"lists": [str(newsletter.id)]},
        **fields,
    )  # fmt: skip


def test_a_campaign_with_a_template_renders_it_per_recipient(workspace, newsletter, template, smtp):
    campaign = _campaign(workspace, newsletter, template_id=template.pk)
    services.campaign_send(campaign=campaign)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT
    ann = smtp.handler.to("ann@example.com")[0]
    assert ann.message["Subject"] == "Ann, your pro plan"
    html = ann.part("text/html")
    assert '<h1 style="color: navy;">Hi Ann</h1>' in html and "Plan: PRO" in html
    assert "<style" not in html
    text = ann.part("text/plain")
    assert "Hi Ann" in text and "Plan: PRO" in text and "<h1" not in text
    bob = smtp.handler.to("bob@example.com")[0]
    assert bob.message["Subject"] == "Bob, your free plan"


def test_the_templates_sender_is_the_default(workspace, newsletter, template, smtp):
    campaign = _campaign(workspace, newsletter, template_id=template.pk)
    assert campaign.from_email == "" and campaign_sender(campaign) == (
        "Acme Team",
        "team@acme.example",
    )
    services.campaign_send(campaign=campaign)
    message = smtp.handler.to("ann@example.com")[0].message
    assert message["From"] == "Acme Team <team@acme.example>"
    assert message["Message-ID"].endswith("@acme.example>")
    assert smtp.received[0].sender == "team@acme.example"


def test_the_campaigns_own_values_win_over_the_template(workspace, newsletter, template, smtp):
    campaign = _campaign(
        workspace,
        newsletter,
        template_id=template.pk,
        subject="Own subject for {{ contact.first_name }}",
        from_name="Sales",
        from_email="sales@acme.example",
    )
    assert campaign_source(campaign)[0] == "Own subject for {{ contact.first_name }}"
    services.campaign_send(campaign=campaign)
    message = smtp.handler.to("ann@example.com")[0].message
    assert message["Subject"] == "Own subject for Ann"
    assert message["From"] == "Sales <sales@acme.example>"
    assert "Hi Ann" in smtp.handler.to("ann@example.com")[0].part("text/html")


def test_without_a_sender_anywhere_the_campaign_is_not_ready(workspace, newsletter):
    bare = EmailTemplateFactory(workspace=workspace, from_name="", from_email="")
    campaign = _campaign(workspace, newsletter, template_id=bare.pk)
    with pytest.raises(DomainError) as caught:
        services.campaign_send(campaign=campaign)
    assert "from_email" in caught.value.extra["fields"]
    assert not Message.objects.exists()


def test_a_test_send_uses_the_template_and_its_sender(workspace, newsletter, template, smtp):
    campaign = _campaign(workspace, newsletter, template_id=template.pk)
    assert services.campaign_test_send(campaign=campaign, emails=["qa@example.com"]) == 1
    message = smtp.handler.to("qa@example.com")[0].message
    assert message["From"] == "Acme Team <team@acme.example>"
    assert message["Subject"].startswith("[Test] ")


def test_a_template_refused_at_send_time_fails_its_messages_cleanly(
    workspace, newsletter, template, smtp
):
    template.html = "<p>{{ contact[('_' * 2) ~ 'class' ~ ('_' * 2)] }}</p>"
    template.save()
    campaign = _campaign(workspace, newsletter, template_id=template.pk)
    services.campaign_send(campaign=campaign)
    messages = Message.objects.filter(campaign=campaign)
    assert {m.status for m in messages} == {MessageStatus.FAILED}
    assert all(m.error.startswith("rendering failed: ") for m in messages)
    assert all("<class" not in m.error for m in messages)
    assert not smtp.received


def test_a_campaign_through_the_api_with_only_a_template(api, newsletter, template, smtp):
    created = api.post(
        "/api/v1/campaigns",
        {
            "name": "API",
            "template_id": str(template.pk),
            "audience": {"lists": [str(newsletter.id)]},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    response = api.post(f"/api/v1/campaigns/{created.json()['id']}/send")
    assert response.status_code == 200, response.json()
    assert sorted(r.recipients[0] for r in smtp.received) == ["ann@example.com", "bob@example.com"]


def test_another_workspaces_template_cannot_be_used(api, newsletter, outsider):
    theirs = EmailTemplateFactory(workspace=outsider.workspace)
    response = api.post(
        "/api/v1/campaigns",
        {"name": "X", "template_id": str(theirs.pk), "audience": {"lists": [str(newsletter.id)]}},
        format="json",
    )
    assert response.status_code == 400
    assert "template_id" in response.json()["error"]["fields"]


def test_a_transactional_email_renders_its_template_with_variables(api, workspace, template, smtp):
    template.subject = "Order {{ order.number }} for {{ contact.first_name|default('you') }}"
    template.save()
    response = api.post(
        "/api/v1/emails",
        {
            "from": "orders@acme.example",
            "to": ["new@example.com"],
            "template_id": str(template.pk),
            "variables": {"order": {"number": "A-7"}},
        },
        format="json",
    )
    assert response.status_code == 202, response.json()
    message = smtp.handler.to("new@example.com")[0].message
    assert message["Subject"] == "Order A-7 for you"
    assert message["From"] == "Acme Team <orders@acme.example>"


def test_a_template_over_its_limits_pauses_the_campaign_after_a_burst(workspace, template, smtp):
    contact_list = ContactListFactory(workspace=workspace, name="Many")
    for n in range(25):
        contact = ContactFactory(workspace=workspace, email=f"m{n}@example.com")
        ListMembershipFactory(contact=contact, contact_list=contact_list)
    template.html = "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}"
    template.save()
    started = time.monotonic()
    campaign = _campaign(workspace, contact_list, template_id=template.pk)
    services.campaign_send(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert "rendering failed" in campaign.status_reason
    assert "too many steps" in campaign.status_reason
    failed = Message.objects.filter(campaign=campaign, status=MessageStatus.FAILED).count()
    assert failed == 20
    assert not smtp.received
    assert time.monotonic() - started < 30
