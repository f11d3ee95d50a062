"""Sending journeys in a real browser (chromium over playwright, against a live server): compose
a campaign with the live audience count, preview it as a contact, send it now and read the
report and the outbox; and prove a script in template HTML never runs in the dashboard."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignStatus,
    CapturedEmail,
    Message,
    MessageKind,
    MessageStatus,
)
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability.models import SendingDomain
from templates.tests.factories import EmailTemplateFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Each tries something a script could do to the dashboard if it ran there.
EVIL = (
    "<script>document.title='owned';window.pwned=1;"
    "try{parent.document.title='owned';parent.pwned=1}catch(e){}</script>"
    "<img src=x onerror=\"try{parent.document.title='owned';parent.pwned=1}catch(e){}\">"
)


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def mailbox(live_server):
    """Mail is captured for the outbox; tracking links point at the live server (loopback)."""
    with override_settings(
        EMAIL_BACKEND="campaigns.backends.CaptureBackend", PUBLIC_BASE_URL=live_server.url
    ):
        yield


@pytest.fixture
def verified_domain(workspace):
    """The from domain, verified: a campaign is sent only from a verified domain."""
    return SendingDomain.objects.create(
        workspace=workspace, domain="acme.example", is_verified=True, verified_at=timezone.now()
    )


@pytest.fixture
def newsletter(workspace, verified_domain):
    contact_list = ContactListFactory(workspace=workspace, name="Newsletter")
    for name in ("ada", "bob", "cy"):
        contact = ContactFactory(
            workspace=workspace, email=f"{name}@example.com", first_name=name.title()
        )
        ListMembershipFactory(contact=contact, contact_list=contact_list)
    return contact_list


def assert_not_owned(page) -> None:
    assert "owned" not in page.title()
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_compose_preview_send_and_read_the_report_and_outbox(
    sign_in, owner, workspace, newsletter, mailbox
):
    page = sign_in(owner, workspace)
    page.goto("/campaigns/new/")
    page.locator("#id_name").fill("Autumn news")
    expect()(page.locator("#audience-count")).to_contain_text("0 recipients")
    page.get_by_label("Newsletter").check()
    expect()(page.locator("#audience-count")).to_contain_text("3 recipients")
    page.locator("#id_subject").fill("Autumn, {{ contact.first_name }}")
    page.locator("#id_html").fill(
        "<h1>Hello {{ contact.first_name }}</h1><p><a href='https://example.org/'>More</a></p>"
    )
    page.locator("#id_from_email").fill("news@acme.example")
    page.locator("#preview-contact").fill("ada@example.com")
    live = page.frame_locator("#live-preview iframe")
    expect()(live.get_by_role("heading")).to_have_text("Hello Ada")
    expect()(page.locator("#live-preview .preview-subject")).to_contain_text("Autumn, Ada")
    page.get_by_role("button", name="Save draft").click()
    expect()(page.get_by_role("heading", name="Autumn news")).to_be_visible()

    preview = page.frame_locator("iframe.email-preview")
    expect()(preview.get_by_role("heading")).to_have_text("Hello Ada")
    page.get_by_label("Preview as").fill("bob@example.com")
    page.get_by_role("button", name="Show").click()
    expect()(page.frame_locator("iframe.email-preview").get_by_role("heading")).to_have_text(
        "Hello Bob"
    )

    page.get_by_role("button", name=re.compile("Send now")).click()
    expect()(page.locator(".flash-success")).to_contain_text("Sending Autumn news now.")
    expect()(page.locator("#campaign-status")).to_have_text("Sent")
    expect()(page.locator("[data-stat=sent]")).to_have_text("3")
    assert Campaign.objects.get(name="Autumn news").status == CampaignStatus.SENT
    assert CapturedEmail.objects.count() == 3

    page.get_by_role("button", name="Report").click()
    expect()(page.locator("[data-funnel=sent]")).to_have_text("3")
    expect()(page.locator("#results tbody tr")).to_have_count(3)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbox").click()
    expect()(page.locator("tbody tr")).to_have_count(3)
    page.get_by_role("link", name="Autumn, Cy").click()
    sent = page.frame_locator("iframe.email-preview")
    expect()(sent.get_by_role("heading")).to_have_text("Hello Cy")
    assert_not_owned(page)
    # The open pixel in the sent HTML is live: let its hit finish before the database goes.
    page.wait_for_load_state("networkidle")


def test_a_script_in_a_template_never_runs_in_the_dashboard(sign_in, owner, workspace):
    template = EmailTemplateFactory(
        workspace=workspace, name="Evil", html=f"<p id='body'>Visible body</p>{EVIL}"
    )
    page = sign_in(owner, workspace)

    page.goto(f"/templates/{template.pk}/")
    expect()(page.frame_locator("iframe.email-preview").locator("#body")).to_have_text(
        "Visible body"
    )
    assert_not_owned(page)

    page.goto(f"/templates/{template.pk}/edit/")
    live = page.frame_locator("#live-preview iframe")
    expect()(live.locator("#body")).to_have_text("Visible body")
    page.locator("#id_html").fill(f"<p id='body'>Edited body</p>{EVIL}")
    expect()(page.frame_locator("#live-preview iframe").locator("#body")).to_have_text(
        "Edited body"
    )
    assert_not_owned(page)

    # Opened directly, outside any iframe, the CSP sandbox still keeps the script from running.
    page.goto(f"/templates/{template.pk}/preview/")
    expect()(page.locator("#body")).to_have_text("Visible body")
    assert_not_owned(page)


def test_progress_updates_live_while_sending_and_the_page_settles_when_done(
    sign_in, owner, workspace
):
    campaign = Campaign.objects.create(
        workspace=workspace,
        name="Big send",
        subject="Hi",
        html="<p>Hi</p>",
        from_email="news@acme.example",
        status=CampaignStatus.SENDING,
    )
    messages = Message.objects.bulk_create(
        Message(
            workspace=workspace,
            campaign=campaign,
            kind=MessageKind.CAMPAIGN,
            email=f"r{n}@example.com",
            status=MessageStatus.QUEUED,
        )
        for n in range(3)
    )
    page = sign_in(owner, workspace)
    page.goto(f"/campaigns/{campaign.pk}/")
    expect()(page.locator("[data-stat=remaining]")).to_have_text("3")

    Message.objects.filter(pk__in=[m.pk for m in messages[:2]]).update(status=MessageStatus.SENT)
    expect()(page.locator("[data-stat=sent]")).to_have_text("2")
    expect()(page.locator("[data-stat=remaining]")).to_have_text("1")

    Message.objects.filter(pk=messages[2].pk).update(status=MessageStatus.FAILED)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENT)
    expect()(page.locator("#campaign-status")).to_have_text("Sent")
    expect()(page.locator("[data-stat=failed]")).to_have_text("1")
    expect()(page.get_by_role("button", name="Report")).to_be_visible()
