"""Suppression and health journeys in a real browser (chromium over playwright, against a live
server): add a suppression, find it with the live search, remove it after confirming; the
health page shows the score, insights and the trend chart of the daily snapshots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deliverability.models import Suppression
from deliverability.services import suppression_add
from deliverability.tests.factories import HealthSnapshotFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_add_search_and_remove_a_suppression(sign_in, owner, workspace):
    suppression_add(workspace=workspace, email="someone@else.example", type="hard_bounce")
    page = sign_in(owner, workspace)
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Suppressions").click()
    expect()(page.get_by_role("heading", name="Suppressions", exact=True)).to_be_visible()

    page.get_by_role("button", name="Add suppression").click()
    page.get_by_label("Email").fill("Pat@Example.com")
    page.get_by_label("Type").select_option("complaint")
    page.get_by_label("Reason").fill("Asked on the phone")
    page.get_by_role("button", name="Suppress").click()
    expect()(page.locator(".flash-success")).to_contain_text("Suppressed pat@example.com.")
    expect()(page.locator("#results tbody tr")).to_have_count(2)

    # The search narrows the list as you type (htmx), and the URL keeps the filter.
    page.get_by_label("Search").fill("pat@")
    expect()(page.locator("#results tbody tr")).to_have_count(1)
    expect()(page.locator("#results tbody tr")).to_contain_text("pat@example.com")
    expect()(page.locator("#results tbody tr")).to_contain_text("Complaint")
    expect()(page.locator("#results tbody tr")).to_contain_text("Manual")
    assert "q=pat" in page.url

    page.get_by_role("link", name="Remove the suppression of pat@example.com").click()
    expect()(page.get_by_role("heading", level=1)).to_contain_text("pat@example.com")
    assert Suppression.objects.filter(email="pat@example.com").exists()
    page.get_by_role("button", name="Delete").click()
    expect()(page.locator(".flash-success")).to_contain_text("Removed the suppression")
    expect()(page.locator("#results tbody tr")).to_have_count(1)
    expect()(page.locator("#results")).not_to_contain_text("pat@example.com")
    assert not Suppression.objects.filter(email="pat@example.com").exists()


def test_the_health_page_shows_the_score_and_the_trend_chart(sign_in, owner, workspace):
    today = timezone.now().date()
    for days, score in ((3, 58), (2, 66), (1, 74), (0, 81)):
        HealthSnapshotFactory(workspace=workspace, day=today - timedelta(days=days), score=score)
    page = sign_in(owner, workspace)
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Health").click()
    expect()(page.get_by_role("heading", name="Deliverability health")).to_be_visible()
    expect()(page.locator("#health-score")).to_be_visible()
    expect()(page.locator("#insights")).to_contain_text("No sending domain yet")
    chart = page.locator("#health-trend svg")
    expect()(chart).to_be_visible()
    expect()(chart.locator("circle")).to_have_count(4)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 50
    page.get_by_text("As a table").click()
    expect()(page.locator("#health-trend + details tbody tr")).to_have_count(4)
