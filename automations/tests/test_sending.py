"""An automation's mail and the sending pipeline: the step's campaign is never finished under
the engine's feet, and the workspace's sending rules (monthly sends, verified domain) hold."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from automations import engine, services
from automations.models import Automation, AutomationStatus, Enrollment, EnrollmentStatus
from automations.tests.factories import template
from campaigns import pipeline
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from contacts.tests.factories import ContactFactory
from deliverability.domains import DomainNotVerified
from deliverability.models import DeliverabilitySettings, SendingDomain
from templates.models import EmailTemplate

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


def unverified(domain) -> None:
    type(domain).objects.filter(pk=domain.pk).update(is_verified=False)


def draft_with_mail(workspace) -> Automation:
    automation = services.automation_create(workspace=workspace, name="Welcome")
    welcome = template(workspace, "Welcome", "Welcome!")
    services.step_add(
        automation=automation, type="send_email", config={"template_id": str(welcome.pk)}
    )
    return automation


def test_activation_is_refused_when_the_from_domain_is_not_verified(
    workspace, verified_from_domain
):
    unverified(verified_from_domain)
    automation = draft_with_mail(workspace)
    with pytest.raises(DomainNotVerified, match="acme.io is not verified"):
        services.automation_activate(automation=automation)
    assert Automation.objects.get(pk=automation.pk).status == AutomationStatus.DRAFT


def test_the_api_answers_422_for_an_unverified_from_domain(api, workspace, verified_from_domain):
    SendingDomain.objects.filter(pk=verified_from_domain.pk).delete()
    automation = draft_with_mail(workspace)
    response = api.post(f"/api/v1/automations/{automation.pk}/activate")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "domain_not_verified"


def test_a_workspace_that_relaxed_the_rule_may_activate(workspace, verified_from_domain):
    unverified(verified_from_domain)
    DeliverabilitySettings.objects.update_or_create(
        workspace=workspace, defaults={"require_verified_domain": False}
    )
    automation = services.automation_activate(automation=draft_with_mail(workspace))
    assert automation.status == AutomationStatus.ACTIVE


def test_a_send_step_added_to_a_live_automation_needs_a_verified_domain(workspace):
    automation = mailing(workspace)
    other = template(workspace, "Other", "Hi")
    EmailTemplate.objects.filter(pk=other.pk).update(from_email="hi@elsewhere.example")
    with pytest.raises(DomainNotVerified):
        services.step_add(
            automation=automation, type="send_email", config={"template_id": str(other.pk)}
        )


def test_mail_past_the_monthly_limit_is_held_at_the_step_with_a_reason(
    workspace, smtp, django_capture_on_commit_callbacks
):
    automation = mailing(workspace)
    step = automation.steps.get()
    contacts = [ContactFactory(workspace=workspace) for _ in range(3)]
    workspace.limit_monthly_sends = 2
    workspace.save(update_fields=["limit_monthly_sends"])
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        engine.enroll(
            automation=automation, contact_ids=[c.pk for c in contacts], now=now, wake=False
        )
        engine.run_due(now=now)

    assert len(smtp.received) == 2
    held = Enrollment.objects.get(status=EnrollmentStatus.ACTIVE)
    assert held.step_id == step.pk and held.due_at == now + engine.HOLD_RETRY
    assert not held.history.filter(kind="step").exists()
    automation.refresh_from_db()
    assert "2 monthly sends" in automation.status_reason
    # Still held an hour later: the limit has not moved.
    with django_capture_on_commit_callbacks(execute=True):
        engine.run_due(now=now + engine.HOLD_RETRY)
    assert len(smtp.received) == 2
    # A larger plan: the held contact gets the mail, once, and the reason goes.
    workspace.limit_monthly_sends = 10
    workspace.save(update_fields=["limit_monthly_sends"])
    with django_capture_on_commit_callbacks(execute=True):
        engine.run_due(now=now + 2 * engine.HOLD_RETRY)
    assert len(smtp.received) == 3
    assert Enrollment.objects.filter(status=EnrollmentStatus.COMPLETED).count() == 3
    assert Automation.objects.get(pk=automation.pk).status_reason == ""


def test_mail_is_held_when_the_domain_lost_its_verification(
    workspace, smtp, verified_from_domain, django_capture_on_commit_callbacks
):
    automation = mailing(workspace)
    unverified(verified_from_domain)
    ann = ContactFactory(workspace=workspace)
    with django_capture_on_commit_callbacks(execute=True):
        services.enroll_contacts(automation=automation, contact_ids=[ann.pk])
    assert smtp.received == []
    assert Enrollment.objects.get().status == EnrollmentStatus.ACTIVE
    assert not Message.objects.exists()
    assert "not verified" in Automation.objects.get(pk=automation.pk).status_reason


@pytest.mark.django_db(transaction=True)
def test_the_race_with_real_transactions_on_postgresql(workspace, smtp, monkeypatch):
    """The same interleaving with two connections: the engine's transaction has inserted the
    queued message and not committed when finish_if_done runs (PostgreSQL's MVCC hides the
    row from it, as in production)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs two concurrent transactions (SQLite has one writer)")
    automation = mailing(workspace)
    step = automation.steps.get()
    bob = ContactFactory(workspace=workspace, email="bob@example.com")
    engine.enroll(automation=automation, contact_ids=[bob.pk], wake=False)
    Campaign.objects.filter(pk=step.campaign_id).update(status=CampaignStatus.SENDING)

    inserted, release = threading.Event(), threading.Event()
    real_bulk_create = Message.objects.bulk_create

    def bulk_create_then_wait(*args, **kwargs):
        created = real_bulk_create(*args, **kwargs)
        inserted.set()
        release.wait(30)
        return created

    monkeypatch.setattr(Message.objects, "bulk_create", bulk_create_then_wait)
    errors: list[BaseException] = []

    def engine_worker():
        try:
            engine.advance_batch(automation.pk, step.pk)  # commits, then kicks the chain
        except BaseException as exc:  # noqa: BLE001 (reported by the test below)
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=engine_worker)
    worker.start()
    try:
        assert inserted.wait(30)
        assert not Message.objects.filter(contact=bob).exists()  # not committed yet
        finished = pipeline.finish_if_done(step.campaign_id)
    finally:
        release.set()
        worker.join(60)
    assert errors == []
    assert finished is False
    assert Campaign.objects.get(pk=step.campaign_id).status == CampaignStatus.SENDING
    assert Message.objects.get(contact=bob).status == MessageStatus.SENT
    assert len(smtp.handler.to("bob@example.com")) == 1
