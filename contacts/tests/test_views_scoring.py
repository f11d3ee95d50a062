"""The lead scoring page: points per event and tier thresholds, saved through
``scoring_update``; bad numbers are form errors; viewers read only."""

import pytest
from django.urls import reverse

from contacts.models import ActivityKind, Contact, ScoringSettings
from contacts.scoring import scoring_settings
from contacts.tests.factories import ActivityFactory, ContactFactory

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:contacts:scoring")


def body(**changes):
    data = {
        "points_sent": "0",
        "points_opened": "2",
        "points_clicked": "5",
        "points_replied": "10",
        "points_visited_page": "20",
        "points_bounced": "-50",
        "points_complained": "-100",
        "hot_threshold": "40",
        "warm_threshold": "10",
        "recompute": "on",
    }
    return data | changes


def test_the_page_shows_the_current_rules_and_tiers(dashboard, workspace):
    ContactFactory(workspace=workspace, score_tier="hot")
    response = dashboard.get(URL)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["points_clicked"] == 5
    assert form.initial["hot_threshold"] == 50
    assert dict((tier.value, n) for tier, n in response.context["tiers"])["hot"] == 1
    assert "Save scoring" in response.content.decode()


def test_saving_changes_the_rules_and_recomputes(
    dashboard, workspace, django_capture_on_commit_callbacks
):
    contact = ContactFactory(workspace=workspace, score=0)
    ActivityFactory(contact=contact, kind=ActivityKind.EMAIL_OPENED)
    ActivityFactory(contact=contact, kind=ActivityKind.EMAIL_CLICKED)
    with django_capture_on_commit_callbacks(execute=True):
        response = dashboard.post(URL, body())
    assert response.status_code == 302
    settings = ScoringSettings.objects.get(workspace=workspace)
    assert settings.rules["opened"] == 2 and "sent" not in settings.rules
    assert (settings.hot_threshold, settings.warm_threshold) == (40, 10)
    contact.refresh_from_db()
    assert (contact.score, contact.score_tier) == (7, "cold")


def test_saving_without_recompute_leaves_scores(
    dashboard, workspace, django_capture_on_commit_callbacks
):
    contact = ContactFactory(workspace=workspace, score=3)
    ActivityFactory(contact=contact, kind=ActivityKind.EMAIL_CLICKED)
    data = body()
    del data["recompute"]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        dashboard.post(URL, data)
    assert callbacks == []
    contact.refresh_from_db()
    assert contact.score == 3


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"hot_threshold": "5", "warm_threshold": "10"}, "hot_threshold", "greater than"),
        ({"points_opened": "5000"}, "points_opened", "between"),
        ({"points_opened": "lots"}, "points_opened", "whole number"),
        ({"warm_threshold": "-1"}, "warm_threshold", "between"),
        ({"hot_threshold": ""}, "hot_threshold", "required"),
    ],
)
def test_bad_numbers_are_form_errors(dashboard, workspace, changes, field, text):
    before = scoring_settings(workspace).rules
    response = dashboard.post(URL, body(**changes))
    assert response.status_code == 200
    assert text in " ".join(response.context["form"].errors[field])
    assert ScoringSettings.objects.get(workspace=workspace).rules == before


def test_viewers_read_but_cannot_save(client, viewer, workspace):
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    assert "Save scoring" not in response.content.decode()
    assert client.post(URL, body()).status_code == 403
    assert scoring_settings(workspace).hot_threshold == 50


def test_each_workspace_saves_its_own_rules(dashboard, workspace, outsider):
    theirs = scoring_settings(outsider.workspace)
    dashboard.post(URL, body(hot_threshold="77"))
    theirs.refresh_from_db()
    assert theirs.hot_threshold == 50
    assert scoring_settings(workspace).hot_threshold == 77
    assert Contact.objects.filter(workspace=outsider.workspace).exists()
