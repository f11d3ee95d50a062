"""Dashboard journeys in a real browser (chromium over playwright, against a live server):
build a segment with the row builder and watch the live count, bulk-tag contacts from the
list, import a CSV through the wizard and watch it finish."""

from __future__ import annotations

import re

import pytest

from contacts.models import Segment
from contacts.tests.factories import ContactFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def people(workspace):
    return [
        ContactFactory(workspace=workspace, email="ada@example.com", first_name="Ada", score=90),
        ContactFactory(workspace=workspace, email="bob@example.com", first_name="Bob", score=30),
        ContactFactory(workspace=workspace, email="cy@example.com", first_name="Cy", score=5),
    ]


def test_building_a_segment_with_rows_shows_the_live_count(sign_in, owner, workspace, people):
    page = sign_in(owner, workspace)
    page.goto("/segments/new/")
    count = page.locator(".preview-count")
    page.get_by_label("Name").fill("Engaged")
    page.get_by_role("button", name="Add a condition").click()
    row = page.locator(".builder-row").first
    row.get_by_label("Field").select_option("score")
    row.get_by_label("Operator").select_option(">")
    row.get_by_label("Value").fill("50")
    expect()(page.locator("#id_query")).to_have_value("score > 50")
    expect()(count).to_have_attribute("data-count", "1")

    row.get_by_label("Value").fill("10")
    expect()(count).to_have_attribute("data-count", "2")

    page.get_by_role("button", name="Add a condition").click()
    second = page.locator(".builder-row").nth(1)
    second.get_by_label("Field").select_option("first_name")
    second.get_by_label("Operator").select_option("in")
    second.get_by_label("Value").fill("Ada, Cy")
    expect()(page.locator("#id_query")).to_have_value("score > 10 AND first_name IN (Ada, Cy)")
    expect()(count).to_have_attribute("data-count", "1")

    page.get_by_label("Match all or any").select_option("OR")
    expect()(count).to_have_attribute("data-count", "3")

    page.get_by_role("button", name="Create segment").click()
    expect()(page.get_by_role("heading", name="Engaged")).to_be_visible()
    members = page.locator("#main table")
    for person in people:
        expect()(members).to_contain_text(person.email)
    assert Segment.objects.get(workspace=workspace).query == (
        "score > 10 OR first_name IN (Ada, Cy)"
    )


def test_a_typed_query_shows_its_error_then_its_count(sign_in, owner, workspace, people):
    page = sign_in(owner, workspace)
    page.goto("/segments/new/")
    page.locator("#id_query").fill("score >")
    expect()(page.locator(".preview-error")).to_contain_text("position")
    page.locator("#id_query").fill("score > 20")
    expect()(page.locator(".preview-count")).to_have_attribute("data-count", "2")


def test_editing_a_segment_loads_its_query_into_rows(sign_in, owner, workspace, people):
    segment = Segment.objects.create(workspace=workspace, name="Hot", query="score >= 90")
    page = sign_in(owner, workspace)
    page.goto(f"/segments/{segment.pk}/edit/")
    row = page.locator(".builder-row").first
    expect()(row.get_by_label("Field")).to_have_value("score")
    expect()(row.get_by_label("Operator")).to_have_value(">=")
    expect()(row.get_by_label("Value")).to_have_value("90")
    expect()(page.locator(".preview-count")).to_have_attribute("data-count", "1")
    page.get_by_role("button", name="Remove condition").click()
    expect()(page.locator("#id_query")).to_have_value("")
    expect()(page.locator(".preview")).to_contain_text(re.compile("Write a query"))
