"""A/B tests in the admin: listed, and shown (read-only) with their variants on the campaign."""

import pytest
from django.urls import reverse

from campaigns.tests.ab_factories import ab_campaign, audience_list

pytestmark = pytest.mark.django_db


def test_the_campaign_page_shows_its_test_and_variants(admin_client, workspace):
    campaign = ab_campaign(workspace, audience_list(workspace, 2), share=30, criterion="click")
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Subject A" in html and "Subject B" in html and "Human click rate" in html
    listing = admin_client.get(reverse("admin:campaigns_abtest_changelist"))
    assert listing.status_code == 200 and campaign.name in listing.content.decode()
    # Read-only: the tests are set up through the dashboard or the API.
    assert admin_client.get(reverse("admin:campaigns_abtest_add")).status_code == 403
