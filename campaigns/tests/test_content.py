"""Link tracking in rendered HTML: which links are rewritten, which are left alone, and a
hostile document is handled in linear time."""

import time

import pytest
from django.test import override_settings

from campaigns.content import LinkBook, track
from campaigns.models import Campaign, Link, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(workspace):
    campaign = Campaign.objects.create(workspace=workspace, name="C")
    return Message.objects.create(
        workspace=workspace, campaign=campaign, kind="campaign", email="ann@example.com"
    )


def _links(message):
    return LinkBook(message.workspace_id, campaign_id=message.campaign_id)


@override_settings(PUBLIC_BASE_URL="http://testserver")
def test_http_links_are_tracked_and_others_left_alone(message):
    html = (
        '<a href="https://example.org/a?x=1&amp;y=2">A</a>'
        "<A class='b' HREF='http://example.org/b'>B</A>"
        '<a href="mailto:ann@example.com">mail</a>'
        '<a data-href="https://example.org/data" href="#top">top</a>'
        '<abbr title="https://example.org/abbr">abbr</abbr>'
    )
    tracked = track(html, message, _links(message), opens=False)
    assert tracked.count("http://testserver/t/c/") == 2
    assert "https://example.org/a?" not in tracked and "http://example.org/b" not in tracked
    assert "<A class='b' HREF='http://testserver/t/c/" in tracked
    assert 'href="mailto:ann@example.com"' in tracked
    assert 'data-href="https://example.org/data" href="#top"' in tracked
    assert '<abbr title="https://example.org/abbr">' in tracked
    urls = set(Link.objects.values_list("url", flat=True))
    assert urls == {"https://example.org/a?x=1&y=2", "http://example.org/b"}


def test_without_click_tracking_only_the_pixel_is_added(message):
    html = '<html><body><a href="https://example.org">x</a></body></html>'
    tracked = track(html, message, None, opens=True)
    assert 'href="https://example.org"' in tracked
    assert tracked.endswith('style="display:block;border:0"></body></html>')


@pytest.mark.parametrize(
    "html",
    [
        "<a " * 300_000,
        '<a href="' * 100_000,
        "<a " + "x" * 900_000,
        '<a href="https://example.org/x">' * 20_000 + "<a " * 100_000,
    ],
)
def test_a_hostile_document_is_handled_in_linear_time(message, html):
    started = time.monotonic()
    track(html, message, _links(message), opens=False)
    assert time.monotonic() - started < 3
