"""Domain journeys in a real browser (chromium over playwright, against a live server), with
DNS answered by a real server on loopback: add a sending domain, copy a record, publish the
records, verify and read each record's status; add a tracking domain, read its CNAME
instructions, verify it, choose it for the sending domain, delete it."""

from __future__ import annotations

import pytest

from deliverability.dkim import dkim_txt_record
from deliverability.models import SendingDomain, TrackingDomain

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

OUR_INCLUDE = "_spf.mailcrm.test"


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture(autouse=True)
def our_settings(settings):
    settings.SPF_INCLUDES = [OUR_INCLUDE]
    settings.SPF_IPS = []
    settings.DMARC_REPORT_EMAIL = ""
    settings.BOUNCE_DOMAIN = ""
    settings.TRACKING_CNAME_TARGET = "track.mailcrm.test"


def test_add_copy_publish_and_verify_a_sending_domain(sign_in, owner, workspace, dns_zone):
    page = sign_in(owner, workspace)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Domains", exact=True
    ).click()
    expect()(page.get_by_text("No sending domains yet.")).to_be_visible()

    page.get_by_role("textbox", name="Domain").fill("Acme.test")
    page.get_by_role("button", name="Add domain").click()
    expect()(page.locator(".flash-success")).to_contain_text("Added acme.test")
    expect()(page.locator("#domain-status")).to_have_text("Not verified")
    domain = SendingDomain.objects.get(workspace=workspace)
    host, value = dkim_txt_record(domain)
    expect()(page.locator("#value-dkim")).to_have_text(value)
    expect()(page.locator("#records tbody tr")).to_have_count(3)

    page.get_by_role("button", name="Copy the dkim value").click()
    expect()(page.get_by_role("button", name="Copy the dkim value")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == value

    dns_zone.txt(OUR_INCLUDE, "v=spf1 ip4:203.0.113.0/24 -all")
    dns_zone.txt("acme.test", f"v=spf1 include:{OUR_INCLUDE} ~all")
    dns_zone.txt(host, value)
    dns_zone.txt("_dmarc.acme.test", "v=DMARC1; p=none")
    page.get_by_role("button", name="Verify now").click()

    expect()(page.locator("#domain-status")).to_have_text("Verified")
    expect()(page.locator("#record-spf .badge")).to_have_text("Valid")
    expect()(page.locator("#record-dkim .badge")).to_have_text("Valid")
    expect()(page.locator("#record-dmarc")).to_contain_text("p=none only monitors")
    expect()(page.locator("#changes li")).to_have_count(3)
    assert SendingDomain.objects.get(pk=domain.pk).is_verified


def test_a_missing_record_is_explained_on_the_page(sign_in, owner, workspace, dns_zone):
    page = sign_in(owner, workspace)
    page.goto("/domains/")
    page.get_by_role("textbox", name="Domain").fill("acme.test")
    page.get_by_role("button", name="Add domain").click()
    dns_zone.txt("acme.test", "v=spf1 -all", "v=spf1 include:other.test -all")

    page.get_by_role("button", name="Verify now").click()

    expect()(page.locator(".flash-warning")).to_contain_text("acme.test is not verified yet")
    expect()(page.locator("#record-spf")).to_contain_text("2 SPF records")
    expect()(page.locator("#record-dkim .badge")).to_have_text("Invalid")
    expect()(page.locator("#record-dkim")).to_contain_text("No DKIM record found")


def test_add_verify_choose_and_delete_a_tracking_domain(sign_in, owner, workspace, dns_zone):
    sending = SendingDomain.objects.create(workspace=workspace, domain="acme.test")
    page = sign_in(owner, workspace)
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tracking domains").click()

    page.get_by_label("Hostname").fill("links.acme.test")
    page.get_by_role("button", name="Add tracking domain").click()
    card = page.locator("article.tracking-domain")
    expect()(card).to_contain_text("add a CNAME record for links.acme.test")
    expect()(card.locator("code").nth(1)).to_have_text("track.mailcrm.test")

    card.get_by_role("button", name="Verify now").click()
    expect()(page.locator(".flash-warning")).to_contain_text("does not exist in DNS")

    dns_zone.add("links.acme.test. 300 IN CNAME track.mailcrm.test.")
    page.locator("article.tracking-domain").get_by_role("button", name="Verify now").click()
    expect()(page.locator(".flash-success")).to_contain_text("links.acme.test is verified")
    expect()(page.locator("article.tracking-domain .badge").first).to_have_text("Verified")

    page.goto(f"/domains/{sending.pk}/")
    page.get_by_label("Tracking domain", exact=True).select_option(label="links.acme.test")
    page.get_by_role("button", name="Save tracking domain").click()
    expect()(page.locator(".flash-success")).to_contain_text("use links.acme.test")
    assert SendingDomain.objects.get(pk=sending.pk).tracking_domain.domain == "links.acme.test"

    page.goto("/tracking-domains/")
    page.locator("article.tracking-domain").get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete").click()
    expect()(page.get_by_text("No tracking domains yet.")).to_be_visible()
    assert not TrackingDomain.objects.exists()
    assert SendingDomain.objects.get(pk=sending.pk).tracking_domain is None
