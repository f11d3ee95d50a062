"""Behaviour in, automation out, in a real browser against a live server and a real SMTP sink:
a person follows a tracked link from a campaign mail they received to a page of "their site"
(served here by the live server) that carries the mailcrm snippet (/t.js); the page view lands
on their timeline, and the automation triggered by that tracked event mails them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.http import HttpResponse
from django.urls import include, path
from django.utils import timezone

from automations import services as automations
from automations.models import Enrollment, EnrollmentStatus
from campaigns import services as campaigns
from campaigns.models import Campaign, Message
from contacts.models import Activity, ActivityKind
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability.models import SendingDomain
from templates.models import EmailTemplate
from tests.smtp import SmtpSink

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PRICING = """<!doctype html><html><head><title>Pricing – Acme</title></head>
<body><h1>Pricing</h1><p>Plans for every team.</p><script src="/t.js"></script></body></html>"""


def pricing_page(request):
    """The customer's own site, with the snippet pasted in as the README says."""
    return HttpResponse(PRICING)


# The live server's URLs while these tests run: the customer's page beside mailcrm's own.
urlpatterns = [path("site/pricing/", pricing_page), path("", include("mailcrm.urls"))]


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def smtp(live_server):
    """Mail goes over SMTP to a real sink; links and the snippet point at the live server."""
    sink = SmtpSink()
    with (
        sink,
        sink.as_email_backend(public_base_url=live_server.url, ROOT_URLCONF=__name__),
    ):
        yield sink


@pytest.fixture
def verified_domain(workspace):
    return SendingDomain.objects.create(
        workspace=workspace, domain="acme.example", is_verified=True, verified_at=timezone.now()
    )


@pytest.fixture
def pricing_follow_up(workspace, verified_domain):
    """Whoever views a page (the snippet's ``page_view`` event) gets a mail."""
    template = EmailTemplate.objects.create(
        workspace=workspace,
        name="Pricing follow-up",
        subject="Questions about pricing, {{ contact.first_name }}?",
        html="<p>Saw you looking at our plans.</p>",
        from_email="sales@acme.example",
        from_name="Acme",
    )
    automation = automations.automation_create(
        workspace=workspace,
        name="Pricing interest",
        trigger_type="event_tracked",
        trigger_config={"event": "page_view"},
    )
    automations.step_add(
        automation=automation, type="send_email", config={"template_id": str(template.pk)}
    )
    return automations.automation_activate(automation=automation)


def send_campaign(workspace, live_server) -> None:
    contact_list = ContactListFactory(workspace=workspace, name="Customers")
    ada = ContactFactory(workspace=workspace, email="ada@example.com", first_name="Ada")
    ListMembershipFactory(contact=ada, contact_list=contact_list)
    campaign = Campaign.objects.create(
        workspace=workspace,
        name="Spring offer",
        subject="Our new plans",
        html=f'<p>See <a href="{live_server.url}/site/pricing/">our plans</a>.</p>',
        from_email="news@acme.example",
        audience={"lists": [str(contact_list.pk)]},
    )
    campaigns.campaign_send(campaign=campaign)


def test_a_tracked_page_view_lands_on_the_timeline_and_triggers_the_automations_mail(
    sign_in, owner, workspace, live_server, smtp, pricing_follow_up
):
    send_campaign(workspace, live_server)
    [received] = smtp.handler.to("ada@example.com")
    assert received.message["Subject"] == "Our new plans"
    link = re.search(r'href="([^"]*/t/c/[^"]+)"', received.part("text/html")).group(1)
    # Read a while after it arrived: a click within seconds of delivery counts as a scanner's.
    Message.objects.update(sent_at=timezone.now() - timedelta(minutes=5))

    page = sign_in(owner, workspace)
    with page.expect_response(lambda r: r.url.endswith("/t/collect")) as collected:
        page.goto(link)
    expect()(page.get_by_role("heading", name="Pricing")).to_be_visible()
    assert "mc_id=" in page.url and page.url.startswith(f"{live_server.url}/site/pricing/")
    assert collected.value.status == 204

    ada = Enrollment.objects.select_related("contact").get().contact
    view = Activity.objects.get(contact=ada, kind=ActivityKind.PAGE_VIEW)
    assert view.data["properties"]["url"] == page.url
    assert view.data["properties"]["title"] == "Pricing – Acme"
    # The automation it triggered sent its mail through the SMTP sink, once.
    assert [r.message["Subject"] for r in smtp.handler.to("ada@example.com")] == [
        "Our new plans",
        "Questions about pricing, Ada?",
    ]
    assert Enrollment.objects.get().status == EnrollmentStatus.COMPLETED

    page.goto(f"/contacts/{ada.pk}/")
    timeline = page.locator("#timeline")
    expect()(timeline).to_contain_text("Viewed a page: page_view")
    expect()(timeline).to_contain_text("Completed Pricing interest")


def test_a_page_view_with_a_forged_id_records_nothing(page, workspace, smtp, pricing_follow_up):
    ContactFactory(workspace=workspace, email="bob@example.com")
    with page.expect_response(lambda r: r.url.endswith("/t/collect")) as collected:
        page.goto("/site/pricing/?mc_id=not-a-signed-id")
    assert collected.value.status == 204  # the same answer: it tells nobody the id is bad
    assert not Activity.objects.filter(kind=ActivityKind.PAGE_VIEW).exists()
    assert not Enrollment.objects.exists()
    assert smtp.received == []
