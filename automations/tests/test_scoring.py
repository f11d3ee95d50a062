"""Points given by a change_score step (scores_adjust) are part of the score a recompute
arrives at: recorded as adjustments on the timeline, summed with the engagement points."""

import pytest
from django.utils import timezone

from automations import engine, services
from automations.tracking import record_page_view
from campaigns.tracking import visitor_token
from contacts.models import Contact
from contacts.scoring import record_engagement, scores_adjust, scores_recompute, scoring_update
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def score_of(contact) -> int:
    return Contact.objects.get(pk=contact.pk).score


def test_a_change_score_steps_points_survive_a_recompute(workspace):
    automation = services.automation_create(workspace=workspace, name="Qualify")
    services.step_add(automation=automation, type="change_score", config={"points": 25})
    services.automation_activate(automation=automation)
    ann = ContactFactory(workspace=workspace)
    record_engagement(contact=ann, event="clicked")  # 5 points under the default rules
    now = timezone.now()
    engine.enroll(automation=automation, contact_ids=[ann.pk], now=now, wake=False)
    engine.run_due(now=now)
    assert score_of(ann) == 30

    scores_recompute(workspace)
    assert score_of(ann) == 30
    # New rules re-price the engagement, never the adjustment.
    scoring_update(workspace=workspace, rules={"clicked": 10}, hot_threshold=50, warm_threshold=20)
    scores_recompute(workspace)
    assert score_of(ann) == 35


def test_adjustments_before_an_unsubscribe_are_gone_like_the_rest(workspace):
    bob = ContactFactory(workspace=workspace)
    scores_adjust(workspace_id=workspace.pk, contact_ids=[bob.pk], points=40, reason="Manual")
    record_engagement(contact=bob, event="unsubscribed")
    scores_adjust(workspace_id=workspace.pk, contact_ids=[bob.pk], points=-3, reason="Manual")
    scores_recompute(workspace)
    assert score_of(bob) == -3


def test_a_contact_with_only_adjustments_keeps_its_score(workspace):
    cy = ContactFactory(workspace=workspace, score=12)  # imported
    scores_adjust(workspace_id=workspace.pk, contact_ids=[cy.pk], points=8, reason="Manual")
    scores_recompute(workspace)
    assert score_of(cy) == 20


def test_points_for_the_snippets_page_views_survive_a_recompute(workspace):
    scoring_update(
        workspace=workspace,
        rules={"clicked": 5, "page_view": 20},
        hot_threshold=50,
        warm_threshold=20,
        recompute=False,
    )
    dee = ContactFactory(workspace=workspace)
    record_engagement(contact=dee, event="clicked")
    record_page_view(token=visitor_token(dee.pk), url="https://acme.io/pricing")
    assert score_of(dee) == 25
    scores_recompute(workspace)
    assert score_of(dee) == 25
