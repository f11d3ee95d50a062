"""Journeys in a real browser (chromium over playwright, against a live server, mail through a
real SMTP sink): subscribing through a hosted form with double opt-in; a viewer who can look
but not change anything; text with HTML in it shown escaped; settings usable on a phone.

The long campaign journey (import → segment → template → campaign → SMTP sink → tracked click
→ report → unsubscribe) is in test_browser_campaign_journey.py; the tracking-snippet +
automation journey in test_browser_automations.py."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache

from contacts.models import Contact, ListMembership
from contacts.tests.factories import ContactFactory, ContactListFactory, PropertyDefinitionFactory
from subscriptions.models import Consent, SubscriptionForm
from templates.tests.factories import EmailTemplateFactory
from tests.smtp import SmtpSink

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

EVIL = "<img src=x onerror=\"document.title='owned';window.pwned=1\">"


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def sink(live_server):
    """Mail leaves over SMTP to a real server on loopback; links point at the live server."""
    cache.clear()
    with (
        SmtpSink() as smtp,
        smtp.as_email_backend(public_base_url=live_server.url),
    ):
        yield smtp


def assert_not_owned(page) -> None:
    assert page.title() != "owned"
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_subscribe_through_a_hosted_form_and_confirm_by_email(page, workspace, sink):
    newsletter = ContactListFactory(workspace=workspace, name="Newsletter", double_opt_in=True)
    form = SubscriptionForm.objects.create(
        workspace=workspace, name="Footer", contact_list=newsletter, fields=["first_name"]
    )
    page.goto(f"/f/{form.pk}")
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_label("First name").fill("Nia")
    page.get_by_role("button", name="Subscribe").click()
    expect()(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    contact = Contact.objects.get(email="nia@example.com")
    assert not ListMembership.objects.filter(contact=contact).exists()

    (mail,) = sink.handler.to("nia@example.com")
    link = re.search(r"https?://\S+/f/confirm/\S+", mail.part("text/plain")).group(0)
    page.goto(link)
    page.get_by_role("button", name="Yes, subscribe me").click()
    expect()(page.locator("#confirmed")).to_contain_text("nia@example.com now receives Newsletter")
    assert ListMembership.objects.filter(contact=contact, contact_list=newsletter).exists()
    consent = Consent.objects.get(contact=contact)
    assert consent.status == "confirmed" and consent.ip_address == "127.0.0.1"


def test_a_viewer_can_look_but_not_change_anything(sign_in, viewer, workspace):
    contact = ContactFactory(workspace=workspace, email="ann@example.com", first_name="Ann")
    page = sign_in(viewer, workspace)
    page.goto(f"/contacts/{contact.pk}/")
    expect()(page.get_by_role("heading", name="Ann")).to_be_visible()
    actions = page.locator("main a, main button")
    expect()(actions.filter(has_text="Export data")).to_have_count(0)
    for name in ("Edit", "Erase…", "Delete…", "Archive"):
        expect()(actions.filter(has_text=re.compile(f"^{name}$"))).to_have_count(0)
    page.goto("/forms/")
    expect()(page.locator("main a").filter(has_text="New form")).to_have_count(0)
    for path in (f"/contacts/{contact.pk}/erase/", "/forms/new/", "/settings/", "/contacts/new/"):
        response = page.goto(path)
        assert response.status == 403, path
    page.goto("/")
    expect()(page.get_by_role("link", name="Settings")).to_have_count(0)


def test_text_with_html_in_it_is_shown_escaped_everywhere(sign_in, owner, workspace):
    PropertyDefinitionFactory(workspace=workspace, key="nick", label=f"Nick {EVIL}", type="text")
    contact = ContactFactory(
        workspace=workspace,
        email="eve@example.com",
        first_name=f"Eve {EVIL}",
        properties={"nick": EVIL},
    )
    evil_list = ContactListFactory(workspace=workspace, name=f"List {EVIL}")
    ListMembership.objects.create(contact=contact, contact_list=evil_list)
    template = EmailTemplateFactory(workspace=workspace, name=f"Tpl {EVIL}")
    form = SubscriptionForm.objects.create(
        workspace=workspace, name=f"Form {EVIL}", contact_list=evil_list, title=f"T {EVIL}"
    )
    page = sign_in(owner, workspace)
    for path in (
        "/",
        "/contacts/",
        f"/contacts/{contact.pk}/",
        "/lists/",
        "/templates/",
        f"/templates/{template.pk}/",
        "/forms/",
        f"/forms/{form.pk}/",
        f"/f/{form.pk}",
    ):
        page.goto(path)
        page.wait_for_load_state("load")
        assert_not_owned(page)
    page.goto(f"/contacts/{contact.pk}/")
    expect()(page.get_by_role("heading", level=1)).to_contain_text("onerror")


def test_settings_work_on_a_phone(sign_in, owner, workspace):
    page = sign_in(owner, workspace)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/settings/api-keys/")
    page.get_by_label("Name").fill("Website")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#api-key-secret").input_value()
    assert secret.startswith("mc_")
    page.get_by_role("button", name="I have saved it").click()
    expect()(page.locator("#api-keys")).to_contain_text("Website")
    page.get_by_role("link", name="Revoke").click()
    page.get_by_role("button", name="Revoke key").click()
    expect()(page.locator(".flash-success")).to_contain_text("Revoked")
    # Nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto("/settings/members/")
    expect()(page.get_by_role("button", name="Send invitation")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
