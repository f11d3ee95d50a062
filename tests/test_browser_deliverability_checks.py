"""Deliverability checks in a real browser: validate a pasted list over real DNS in the
validation tool, and watch the composer's content score follow the subject as it is typed."""

from __future__ import annotations

import pytest
from django.core.cache import cache

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_validate_a_pasted_list(sign_in, owner, workspace, dns_zone):
    dns_zone.add(
        "acme-mail.example. 300 IN MX 10 mx.acme-mail.example.",
        "gmial.com. 300 IN MX 10 mx.gmial.com.",
    )
    page = sign_in(owner, workspace)
    page.goto("/")
    page.get_by_role("link", name="Validation").click()
    expect()(page.get_by_role("heading", name="Email validation")).to_be_visible()

    page.get_by_label("Addresses").fill(
        "jane@acme-mail.example\nbob@gmial.com, nobody@nowhere.example\nnot-an-email"
    )
    page.get_by_role("button", name="Validate").click()

    results = page.locator("#validation-results")
    expect()(results).to_contain_text("1 valid · 1 risky · 2 invalid · 0 unknown")
    risky = results.locator("tr[data-result=risky]")
    expect()(risky).to_contain_text("bob@gmial.com")
    expect()(risky.locator(".suggestion")).to_have_text("bob@gmail.com")
    expect()(results.locator("tr", has_text="nobody@nowhere.example")).to_contain_text(
        "does not exist"
    )
    expect()(results.locator("tr", has_text="not-an-email")).to_contain_text("Syntax")


def test_the_composer_scores_content_as_it_is_typed(sign_in, owner, workspace):
    page = sign_in(owner, workspace)
    page.goto("/campaigns/new/")
    score = page.locator("#content-score")
    expect()(score).to_contain_text("/100")

    page.locator("#id_subject").fill("FREE MONEY FOR EVERYONE!!!")

    expect()(score.locator("[data-code=subject_all_caps]")).to_be_visible()
    expect()(score.locator("[data-code=spam_phrases]")).to_contain_text("free money")
    page.locator("#id_subject").fill("Our October update")
    expect()(score.locator("[data-code=subject_all_caps]")).to_have_count(0)
