"""The long campaign journey in a real browser (chromium over playwright, against a live
server), mail through a real SMTP server on loopback: sign in → import a CSV through the wizard
→ build a dynamic segment and watch its live count → create a template → compose a campaign to
the segment → send it → a recipient opens the received message, follows its tracked link to the
destination → the report shows the open and the click → the recipient unsubscribes with the
link in the message → the contact shows unsubscribed.

Two browser contexts: the marketer's (signed in) and the recipient's, which reads the message
as a mail client would (its HTML loaded into a page, images and all) with an ordinary desktop
browser's user agent — a headless one is counted as a machine, not a person."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Message
from contacts.models import Contact, ContactStatus
from deliverability.models import SendingDomain
from subscriptions.models import SubscriptionForm
from tests.browser import TIMEOUT_MS, _save_screenshots
from tests.smtp import SmtpSink

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

READER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
CSV = (
    b"Email,First Name,Plan\n"
    b"ada@example.com,Ada,pro\n"
    b"bob@example.com,Bob,free\n"
    b"cy@example.com,Cy,pro\n"
)


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def sink(live_server) -> Iterator[SmtpSink]:
    """Django's SMTP backend pointed at a real SMTP server on loopback; the links in the mail
    (tracking, unsubscribe) point at the live server."""
    cache.clear()  # the public pages' rate limits
    with (
        SmtpSink() as smtp,
        smtp.as_email_backend(public_base_url=live_server.url),
    ):
        yield smtp


@pytest.fixture
def verified_domain(workspace) -> SendingDomain:
    """The from domain, verified: a campaign is sent only from a verified domain."""
    return SendingDomain.objects.create(
        workspace=workspace, domain="acme.example", is_verified=True, verified_at=timezone.now()
    )


@pytest.fixture
def reader(browser, live_server, request) -> Iterator:
    """The recipient's browser: not signed in, an ordinary desktop user agent; a screenshot of
    its pages is saved when the test fails, like the marketer's."""
    context = browser.new_context(base_url=live_server.url, locale="en-US", user_agent=READER_AGENT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        _save_screenshots(request, context)
    context.close()


def test_import_segment_template_campaign_send_track_report_and_unsubscribe(
    sign_in, owner, workspace, verified_domain, sink, reader, live_server
):
    # The destination of the mail's link: a page the live server serves (tests stay on
    # loopback), here the hosted sign-up form of another list.
    events = SubscriptionForm.objects.create(
        workspace=workspace,
        name="Events",
        title="Hear about our events",
        contact_list=workspace_list(workspace, "Events"),
    )
    destination = f"{live_server.url}/f/{events.pk}"
    page = sign_in(owner, workspace)

    # Import a CSV through the wizard; Plan becomes a property.
    page.goto("/imports/")
    page.get_by_role("button", name="Import a CSV").first.click()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": CSV}]
    )
    page.get_by_role("button", name="Upload and continue").click()
    expect()(page.get_by_role("heading", name="Map the columns of customers.csv")).to_be_visible()
    page.get_by_label("Import Plan as").select_option("new")
    page.get_by_label("New property key for Plan").fill("plan")
    page.get_by_role("button", name="Run the import").click()
    expect()(page.locator("[data-status]")).to_have_attribute("data-status", "done")
    expect()(page.locator("[data-count=created]")).to_have_text("3")

    # A dynamic segment of the pro plan, with its live count.
    page.goto("/segments/new/")
    page.get_by_label("Name").fill("Pro customers")
    page.locator("#id_query").fill("properties.plan = pro")
    expect()(page.locator(".preview-count")).to_have_attribute("data-count", "2")
    page.get_by_role("button", name="Create segment").click()
    expect()(page.get_by_role("heading", name="Pro customers")).to_be_visible()
    expect()(page.locator("#main table")).to_contain_text("ada@example.com")

    # A template with a link, the open pixel comes with sending.
    page.goto("/templates/new/")
    page.locator("#id_name").fill("Pro news")
    page.locator("#id_subject").fill("News for you, {{ contact.first_name }}")
    page.locator("#id_from_email").fill("news@acme.example")
    page.locator("#id_html").fill(
        "<html><body><h1>Hello {{ contact.first_name }}</h1>"
        f"<p><a id='events' href='{destination}'>See our events</a></p>"
        "<p><a id='unsubscribe' href='{{ unsubscribe_url }}'>Unsubscribe</a></p></body></html>"
    )
    page.get_by_role("button", name="Create template").click()
    expect()(page.get_by_role("heading", name="Pro news")).to_be_visible()

    # Compose a campaign to the segment with the template, and send it.
    page.goto("/campaigns/new/")
    page.locator("#id_name").fill("Pro launch")
    page.get_by_role("group", name="Segments", exact=True).get_by_label("Pro customers").check()
    expect()(page.locator("#audience-count")).to_contain_text("2 recipients")
    page.get_by_label("Template").select_option(label="Pro news")
    page.locator("#id_from_email").fill("news@acme.example")
    page.get_by_role("button", name="Save draft").click()
    expect()(page.get_by_role("heading", name="Pro launch")).to_be_visible()
    page.get_by_role("button", name=re.compile("Send now")).click()
    expect()(page.locator("#campaign-status")).to_have_text("Sent")
    expect()(page.locator("[data-stat=sent]")).to_have_text("2")
    assert sorted(r for m in sink.received for r in m.recipients) == [
        "ada@example.com",
        "cy@example.com",
    ]

    # Ada reads her message. The mail scanners' window after a send (clicks within seconds
    # are a scanner's) is over: she reads it later. Set the clock back instead of waiting.
    campaign = Campaign.objects.get(workspace=workspace, name="Pro launch")
    Message.objects.filter(campaign=campaign).update(sent_at=timezone.now() - timedelta(minutes=5))
    (mail,) = sink.handler.to("ada@example.com")
    assert mail.message["Subject"] == "News for you, Ada"
    assert "List-Unsubscribe=One-Click" in mail.message["List-Unsubscribe-Post"]
    html = mail.part("text/html")
    assert f"{live_server.url}/t/o/" in html and f"{live_server.url}/t/c/" in html
    with reader.expect_response(re.compile(r"/t/o/")) as pixel:
        reader.set_content(html)
    assert pixel.value.status == 200
    expect()(reader.get_by_role("heading")).to_have_text("Hello Ada")

    # Her click goes through the redirect and lands on the destination.
    with reader.expect_navigation(url=re.compile(re.escape(destination))):
        reader.locator("#events").click()
    assert "mc_id=" in reader.url  # the visitor id for the site's tracking snippet
    expect()(reader.get_by_role("heading", name="Hear about our events")).to_be_visible()

    # The report shows the open and the click, made by a person.
    page.goto(f"/campaigns/{campaign.pk}/report/")
    expect()(page.locator("[data-funnel=opened]")).to_have_text("1")
    expect()(page.locator("[data-funnel=clicked]")).to_have_text("1")
    expect()(page.locator("#funnel-title ~ p")).to_contain_text("opens by people 1 of 1")
    expect()(page.get_by_role("region", name="Top links")).to_contain_text(destination)

    # She unsubscribes with the link in the message: the page asks, the button confirms.
    reader.set_content(html)
    reader.locator("#unsubscribe").click()
    expect()(reader.get_by_role("heading", name="Unsubscribe?")).to_be_visible()
    ada = Contact.objects.get(workspace=workspace, email="ada@example.com")
    assert ada.status == ContactStatus.ACTIVE  # the GET changes nothing
    reader.get_by_role("button", name="Unsubscribe ada@example.com").click()
    expect()(reader.get_by_role("heading", name="You are unsubscribed")).to_be_visible()

    # The marketer sees it on the contact.
    page.goto(f"/contacts/{ada.pk}/")
    expect()(page.locator(".badge.status-unsubscribed")).to_have_text("Unsubscribed")
    expect()(page.locator("#timeline")).to_contain_text("Unsubscribed")
    expect()(page.locator("#timeline")).to_contain_text("Email clicked")
    ada.refresh_from_db()
    assert ada.status == ContactStatus.UNSUBSCRIBED
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def workspace_list(workspace, name: str):
    from contacts.tests.factories import ContactListFactory

    return ContactListFactory(workspace=workspace, name=name)
