"""Webhooks in a real browser: an owner adds an endpoint from the account menu, copies the
secret shown once, sends a test event to a real receiver, sees it in the delivery log and
retries it."""

from __future__ import annotations

import re

import pytest
from standardwebhooks.webhooks import Webhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_an_owner_adds_an_endpoint_tests_it_and_retries(sign_in, owner, workspace, receiver):
    from playwright.sync_api import expect

    page = sign_in(owner, workspace)
    page.goto("/")
    page.get_by_label("Account").click()
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()
    page.get_by_role("button", name="New endpoint").first.click()

    page.get_by_label("Name").fill("Our CRM")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("contact.created").check()
    page.get_by_role("button", name="Create endpoint").click()

    expect(page.get_by_role("heading", name="Endpoint created")).to_be_visible()
    secret = page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="I have saved it").click()
    expect(page.get_by_role("heading", name="Our CRM")).to_be_visible()
    assert secret not in page.content()

    page.get_by_role("button", name="Send a test event").click()
    expect(page.get_by_text("A test event is on its way")).to_be_visible()
    expect(page.locator("#deliveries")).to_contain_text("webhook.test")
    expect(page.locator("#deliveries")).to_contain_text("Succeeded")
    [request] = receiver.requests
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert Webhook(secret).verify(request.body, headers)["event"] == "webhook.test"

    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_text(re.compile("Sending webhook.test again"))).to_be_visible()
    page.locator("#deliveries summary").click()
    expect(page.locator("#deliveries")).to_contain_text("2 attempts")
    assert len(receiver.requests) == 2
