"""Lead scoring: record_engagement moves counters, score, tier and the timeline; the rules
are validated; changing them recomputes scores and tiers."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts.models import Activity, ActivityKind, Contact, ScoringSettings
from contacts.scoring import (
    TrackedEvent,
    record_engagement,
    record_tracked_events,
    scores_recompute,
    scoring_settings,
    scoring_update,
)
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(workspace):
    return ContactFactory(workspace=workspace)


def test_settings_start_with_the_defaults(workspace):
    settings = scoring_settings(workspace)
    assert settings.rules == {
        "opened": 1,
        "clicked": 5,
        "replied": 10,
        "visited_page": 20,
        "bounced": -50,
    }
    assert (settings.hot_threshold, settings.warm_threshold) == (50, 20)
    assert scoring_settings(workspace.pk) == settings


def test_sent_counts_a_send_without_points(contact):
    record_engagement(contact=contact, event="sent", campaign_id=None)
    contact.refresh_from_db()
    assert (contact.sends, contact.score) == (1, 0)
    assert contact.last_sent_at is not None
    assert contact.activities.get().kind == ActivityKind.EMAIL_SENT


def test_opens_and_clicks_move_counters_score_tier_and_timeline(contact):
    for _ in range(3):
        record_engagement(contact=contact, event="clicked", campaign_id="c1")
    record_engagement(contact=contact, event="opened")
    contact.refresh_from_db()
    assert (contact.clicks, contact.opens, contact.score) == (3, 1, 16)
    assert contact.score_tier == "cold"
    assert contact.last_clicked_at and contact.last_opened_at
    kinds = list(contact.activities.values_list("kind", flat=True))
    assert sorted(kinds) == ["email_clicked"] * 3 + ["email_opened"]
    click = contact.activities.filter(kind="email_clicked").first()
    assert click.data["campaign_id"] == "c1" and click.data["points"] == 5

    record_engagement(contact=contact, event="visited_page", details={"url": "/pricing"})
    assert (contact.score, contact.score_tier) == (36, "warm")  # refreshed in place
    record_engagement(contact=contact, event="replied")
    record_engagement(contact=contact, event="clicked")
    assert (contact.score, contact.score_tier) == (51, "hot")
    visit = contact.activities.get(kind=ActivityKind.PAGE_VISITED)
    assert visit.data["url"] == "/pricing"


def test_last_engaged_times_never_go_back(contact):
    now = timezone.now()
    record_engagement(contact=contact, event="opened", at=now)
    record_engagement(contact=contact, event="opened", at=now - timedelta(days=3))
    contact.refresh_from_db()
    assert contact.last_opened_at == now
    assert contact.opens == 2


def test_bounce_takes_points_and_unsubscribe_resets_to_zero(contact):
    record_engagement(contact=contact, event="visited_page")
    record_engagement(contact=contact, event="bounced")
    assert contact.score == -30
    for _ in range(3):
        record_engagement(contact=contact, event="visited_page")
    assert (contact.score, contact.score_tier) == (30, "warm")
    record_engagement(contact=contact, event="unsubscribed")
    contact.refresh_from_db()
    assert (contact.score, contact.score_tier) == (0, "cold")
    assert contact.activities.filter(kind=ActivityKind.UNSUBSCRIBED).count() == 1


def test_unknown_event_is_refused(contact):
    with pytest.raises(ValidationError):
        record_engagement(contact=contact, event="teleported")


def test_the_rules_of_the_workspace_apply(workspace, contact):
    scoring_update(
        workspace=workspace,
        rules={"opened": 30},
        hot_threshold=60,
        warm_threshold=25,
        recompute=False,
    )
    record_engagement(contact=contact, event="opened")
    assert (contact.score, contact.score_tier) == (30, "warm")
    record_engagement(contact=contact, event="clicked")  # no longer worth anything
    assert contact.score == 30


@pytest.mark.parametrize(
    ("rules", "hot", "warm", "field"),
    [
        ({"tele ported!": 5}, 50, 20, "rules.tele ported!"),
        ({"opened": "5"}, 50, 20, "rules.opened"),
        ({"opened": True}, 50, 20, "rules.opened"),
        ({"opened": 10_000}, 50, 20, "rules.opened"),
        ({"unsubscribed": 3}, 50, 20, "rules.unsubscribed"),
        ([1, 2], 50, 20, "rules"),
        ({}, 20, 20, "hot_threshold"),
        ({}, 10, 20, "hot_threshold"),
        ({}, 50, -1, "warm_threshold"),
        ({}, "50", 20, "hot_threshold"),
    ],
)
def test_bad_settings_are_refused(workspace, rules, hot, warm, field):
    with pytest.raises(ValidationError) as exc:
        scoring_update(workspace=workspace, rules=rules, hot_threshold=hot, warm_threshold=warm)
    assert field in exc.value.message_dict
    assert scoring_settings(workspace).hot_threshold == 50


def test_a_rule_may_name_a_tracked_event(workspace, contact):
    scoring_update(
        workspace=workspace,
        rules={"visited_pricing_page": 20},
        hot_threshold=50,
        warm_threshold=20,
        recompute=False,
    )
    at = contact.created_at
    items = [TrackedEvent(contact.pk, "visited_pricing_page", at, {})] * 2
    assert record_tracked_events(workspace_id=workspace.pk, items=items) == 2
    contact.refresh_from_db()
    assert (contact.score, contact.score_tier) == (40, "warm")
    assert scores_recompute(workspace) == 1
    contact.refresh_from_db()
    assert contact.score == 40


def test_recompute_replays_the_timeline_since_the_last_unsubscribe(workspace, contact):
    record_engagement(contact=contact, event="clicked")
    record_engagement(contact=contact, event="unsubscribed")
    record_engagement(contact=contact, event="opened")
    record_engagement(contact=contact, event="opened")
    imported = ContactFactory(workspace=workspace, score=70, score_tier="cold")
    settings = ScoringSettings.objects.get(workspace=workspace)
    settings.rules = {"opened": 15, "clicked": 100}
    settings.warm_threshold = 10
    settings.save()

    assert scores_recompute(workspace) == 1
    contact.refresh_from_db()
    imported.refresh_from_db()
    assert (contact.score, contact.score_tier) == (30, "warm")
    # No engagement on its timeline: the score stays, the tier follows the thresholds.
    assert (imported.score, imported.score_tier) == (70, "hot")


def test_scoring_update_recomputes_in_the_background(
    workspace, contact, django_capture_on_commit_callbacks
):
    record_engagement(contact=contact, event="opened")
    with django_capture_on_commit_callbacks(execute=True):
        scoring_update(
            workspace=workspace, rules={"opened": 60}, hot_threshold=50, warm_threshold=20
        )
    contact.refresh_from_db()
    assert (contact.score, contact.score_tier) == (60, "hot")


def test_recompute_leaves_other_workspaces_alone(workspace, outsider):
    foreign = outsider.contact
    Contact.objects.filter(pk=foreign.pk).update(score=99, score_tier="cold")
    Activity.objects.create(
        workspace=outsider.workspace,
        contact=foreign,
        kind=ActivityKind.EMAIL_OPENED,
        occurred_at=timezone.now(),
    )
    scores_recompute(workspace)
    foreign.refresh_from_db()
    assert (foreign.score, foreign.score_tier) == (99, "cold")


# --- GET/PUT /scoring --------------------------------------------------------------------------


def test_get_scoring_shows_the_defaults(api):
    response = api.get("/api/v1/scoring")
    assert response.status_code == 200
    body = response.json()
    assert body["rules"]["clicked"] == 5 and body["rules"]["bounced"] == -50
    assert (body["hot_threshold"], body["warm_threshold"]) == (50, 20)
    assert "recompute" not in body


def test_put_scoring_saves_and_recomputes(
    api, workspace, contact, outsider, django_capture_on_commit_callbacks
):
    record_engagement(contact=contact, event="clicked")
    body = {"rules": {"clicked": 25, "opened": 2}, "hot_threshold": 40, "warm_threshold": 10}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.put("/api/v1/scoring", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["rules"] == {"clicked": 25, "opened": 2}
    contact.refresh_from_db()
    assert (contact.score, contact.score_tier) == (25, "warm")
    assert scoring_settings(outsider.workspace).hot_threshold == 50


def test_put_scoring_without_recompute_keeps_scores(api, contact):
    record_engagement(contact=contact, event="clicked")
    body = {"rules": {"clicked": 25}, "hot_threshold": 40, "warm_threshold": 10, "recompute": False}
    assert api.put("/api/v1/scoring", body, format="json").status_code == 200
    contact.refresh_from_db()
    assert contact.score == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"rules": {"no such name!": 1}, "hot_threshold": 50, "warm_threshold": 20},
            "rules.no such name!",
        ),
        ({"rules": {"opened": "lots"}, "hot_threshold": 50, "warm_threshold": 20}, "rules.opened"),
        ({"rules": {}, "hot_threshold": 10, "warm_threshold": 20}, "hot_threshold"),
        ({"rules": {}, "hot_threshold": 50, "warm_threshold": -5}, "warm_threshold"),
        ({"hot_threshold": 50, "warm_threshold": 20}, "rules"),
        ({"rules": [], "hot_threshold": 50, "warm_threshold": 20}, "rules"),
    ],
)
def test_put_scoring_refuses_bad_settings(api, workspace, body, field):
    response = api.put("/api/v1/scoring", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert scoring_settings(workspace).rules["opened"] == 1


def test_scoring_needs_a_key(anon_api):
    assert anon_api.get("/api/v1/scoring").status_code == 401
    assert anon_api.put("/api/v1/scoring", {}, format="json").status_code == 401
