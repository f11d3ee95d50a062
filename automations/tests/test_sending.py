"""An automation's mail and the sending pipeline: the step's campaign is never finished under
the engine's feet, and the workspace's sending rules (monthly sends, verified domain) hold."""

import pytest

from automations import engine, services
from automations.models import Automation
from automations.tests.factories import template
from campaigns import pipeline
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def mailing(workspace) -> Automation:
    automation = services.automation_create(workspace=workspace, name="Welcome")
    welcome = template(workspace, "Welcome", "Welcome!")
    services.step_add(
        automation=automation, type="send_email", config={"template_id": str(welcome.pk)}
    )
    return services.automation_activate(automation=automation)


def test_the_pipeline_finishing_the_campaign_while_the_engine_queues_strands_nothing(
    workspace, smtp, monkeypatch, django_capture_on_commit_callbacks
):
    """The interleaving: finish_if_done finds nothing unfinished; the engine's transaction
    then queues a message of the step's campaign and commits; finish_if_done's UPDATE runs.
    The campaign must stay sending and the message go out."""
    automation = mailing(workspace)
    step = automation.steps.get()
    bob = ContactFactory(workspace=workspace, email="bob@example.com")
    engine.enroll(automation=automation, contact_ids=[bob.pk], wake=False)
    Campaign.objects.filter(pk=step.campaign_id).update(status=CampaignStatus.SENDING)

    real_filter = Campaign.objects.filter
    engine_commit: list = []
    checked: list = []

    def engine_queues_between_check_and_update(*args, **kwargs):
        if not checked:
            checked.append(True)
            with django_capture_on_commit_callbacks() as callbacks:
                assert engine.advance_batch(automation.pk, step.pk) == 1
            engine_commit.extend(callbacks)
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Campaign.objects, "filter", engine_queues_between_check_and_update)
    assert pipeline.finish_if_done(step.campaign_id) is False
    monkeypatch.undo()
    assert Message.objects.get(contact=bob).status == MessageStatus.QUEUED
    for callback in engine_commit:  # the engine's kick of the sending chain, after commit
        callback()

    assert Campaign.objects.get(pk=step.campaign_id).status == CampaignStatus.SENDING
    assert Message.objects.get(contact=bob).status == MessageStatus.SENT
    assert [r.message["Subject"] for r in smtp.handler.to("bob@example.com")] == ["Welcome!"]


def test_housekeeping_never_finishes_an_automations_campaign(
    workspace, smtp, django_capture_on_commit_callbacks
):
    automation = mailing(workspace)
    ann = ContactFactory(workspace=workspace, email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        services.enroll_contacts(automation=automation, contact_ids=[ann.pk])
    campaign = Campaign.objects.get(pk=automation.steps.get().campaign_id)
    assert campaign.status == CampaignStatus.SENDING
    assert Message.objects.get(contact=ann).status == MessageStatus.SENT
    assert pipeline.finish_if_done(campaign.pk) is False
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING


def test_an_ordinary_campaign_is_still_finished(workspace):
    campaign = Campaign.objects.create(
        workspace=workspace, name="News", status=CampaignStatus.SENDING
    )
    assert pipeline.finish_if_done(campaign.pk) is True
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT
