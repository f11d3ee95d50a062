"""The home page: figures from aggregates and LIMITed queries, so its query count does not
grow with the data; the live feed as an htmx partial; text from users shown escaped."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, EventType, Message, MessageEvent, MessageKind
from contacts.tests.factories import ContactFactory
from mailcrm.dashboard import insights

pytestmark = pytest.mark.django_db


def _engagement(workspace, n: int, name: str) -> None:
    campaign = Campaign.objects.create(workspace=workspace, name=name, status="sending")
    now = timezone.now()
    for i in range(n):
        contact = ContactFactory(workspace=workspace, email=f"{name}{i}@example.com")
        message = Message.objects.create(
            workspace=workspace,
            campaign=campaign,
            contact=contact,
            kind=MessageKind.CAMPAIGN,
            email=contact.email,
            status="sent",
        )
        for kind in (EventType.SENT, EventType.OPENED, EventType.CLICKED):
            MessageEvent.objects.create(
                workspace=workspace,
                message=message,
                type=kind,
                occurred_at=now,
                url="https://x.example/",
            )


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("dashboard:home")).status_code == 200
    return len(captured)


def test_the_query_count_does_not_grow_with_the_data(
    dashboard, workspace, django_assert_max_num_queries
):
    _engagement(workspace, 2, "small")
    few = _queries(dashboard)
    _engagement(workspace, 12, "big")
    assert _queries(dashboard) == few
    with django_assert_max_num_queries(40):
        dashboard.get(reverse("dashboard:home"))


def test_the_home_page_shows_rates_campaigns_and_the_feed(dashboard, workspace):
    _engagement(workspace, 3, "<b>spring</b>")
    page = dashboard.get(reverse("dashboard:home")).content.decode()
    assert "3 messages sent in 30 days" in page
    assert "&lt;b&gt;spring&lt;/b&gt;" in page and "<b>spring</b>" not in page
    assert 'id="activity-feed"' in page and 'hx-trigger="every 15s"' in page
    feed = dashboard.get(reverse("dashboard:home_feed")).content.decode()
    assert feed.count('data-kind="clicked"') == 3


def test_the_daily_series_counts_human_rates(workspace):
    _engagement(workspace, 2, "a")
    today = insights.daily_series(workspace)["days"][-1]
    assert (today["sent"], today["open_rate"], today["click_rate"]) == (2, 1.0, 1.0)


def test_an_empty_workspace_says_what_to_do(dashboard):
    page = dashboard.get(reverse("dashboard:home")).content.decode()
    assert "No campaigns yet" in page and "Nothing yet" in page


def test_the_contact_page_shows_the_engagement_summary(dashboard, workspace):
    _engagement(workspace, 1, "news")
    contact = Message.objects.get().contact
    page = dashboard.get(reverse("dashboard:contacts:contact", args=[contact.pk])).content.decode()
    assert "Recent clicks" in page and "https://x.example/" in page
    assert "Campaigns they engage with most" in page
