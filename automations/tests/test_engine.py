"""The engine at its seams: a burst of enrolments advanced in batches with bounded queries,
exactly-once steps, pausing, goals, branches by query, waits until a weekday and time, and
the triggers fed by the outbox."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations import engine, services, triggers
from automations.flow import next_weekday_time, zone
from automations.models import Enrollment, EnrollmentHistory, StepPath
from contacts.models import Contact, ContactList, ContactTag, Segment
from contacts.segmentation import evaluate_changed_contacts
from contacts.services import (
    contact_create,
    contact_tag,
    contact_update,
    contacts_tag_bulk,
    list_add_contacts,
)
from contacts.tests.factories import ContactFactory, ContactListFactory
from mailcrm import outbox
from mailcrm.models import Event

pytestmark = pytest.mark.django_db


def active(workspace, trigger="manual", config=None, steps=(("add_tag", {"tag": "done"}),), **kw):
    automation = services.automation_create(
        workspace=workspace,
        name="Flow",
        trigger_type=trigger,
        trigger_config=config or {},
        **kw,
    )
    for step_type, step_config in steps:
        services.step_add(automation=automation, type=step_type, config=step_config)
    return services.automation_activate(automation=automation)


def tagged(name):
    return set(ContactTag.objects.filter(tag__name=name).values_list("contact__email", flat=True))


# Three batches of 1,000 (the outbox's and the engine's): the first measured alone, the other two
# must cost the same each; more batches would only repeat them.
JOINERS = 3_000


def test_a_burst_of_segment_joiners_is_enrolled_and_advanced_in_batches(
    workspace, django_capture_on_commit_callbacks
):
    segment = Segment.objects.create(workspace=workspace, name="VIPs", query="tag = vip")
    automation = active(
        workspace,
        "segment_joined",
        {"segment_id": str(segment.pk)},
        steps=[("change_score", {"points": 5}), ("wait", {"days": 1}), ("add_tag", {"tag": "x"})],
    )
    Contact.objects.bulk_create(
        [Contact(workspace=workspace, email=f"p{i}@example.com") for i in range(JOINERS)],
        batch_size=2000,
    )
    ids = list(Contact.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks():
        contacts_tag_bulk(workspace=workspace, contact_ids=ids, names=["vip"])
    evaluate_changed_contacts(workspace)
    assert Event.objects.filter(type="segment.joined").count() == JOINERS
    with django_capture_on_commit_callbacks() as wakes:
        outbox.dispatch_pending()
    assert Enrollment.objects.filter(automation=automation).count() == JOINERS
    assert len(wakes) <= JOINERS // 1000  # one wake per enrolling batch, not per contact

    now = timezone.now()
    step = automation.steps.get(type="change_score")
    # One batch of 1,000 contacts at one step: a fixed number of statements.
    with CaptureQueriesContext(connection) as one_batch:
        assert engine.advance_batch(automation.pk, step.pk, now=now) == engine.BATCH
    with CaptureQueriesContext(connection) as the_rest:
        assert engine.run_due(now=now) == JOINERS - engine.BATCH
    # A fixed number per batch (SQLite splits a bulk INSERT of 1,000 rows by its parameter
    # limit, so there it is about 50; PostgreSQL needs about 20).
    assert len(one_batch) <= 60
    assert len(the_rest) <= (JOINERS // engine.BATCH - 1) * len(one_batch) + 10
    assert Contact.objects.filter(score=5).count() == JOINERS
    assert Enrollment.objects.filter(status="waiting").count() == JOINERS
    # Nothing due: the scheduler asks one question.
    with CaptureQueriesContext(connection) as idle:
        assert engine.run_due(now=now) == 0
    assert len(idle) == 1


def test_each_step_runs_once_even_when_the_task_runs_twice(workspace):
    automation = active(workspace, steps=[("change_score", {"points": 10})])
    contact = ContactFactory(workspace=workspace)
    engine.enroll(automation=automation, contact_ids=[contact.pk], wake=False)
    now = timezone.now()
    step = automation.steps.get()
    assert engine.advance_batch(automation.pk, step.pk, now=now) == 1
    assert engine.advance_batch(automation.pk, step.pk, now=now) == 0
    engine.run_due(now=now)
    contact.refresh_from_db()
    assert contact.score == 10


def test_a_step_already_recorded_is_not_done_again(workspace):
    """Had a second worker done the step (its history row exists), the batch rolls back."""
    automation = active(workspace, steps=[("change_score", {"points": 10})])
    contact = ContactFactory(workspace=workspace)
    engine.enroll(automation=automation, contact_ids=[contact.pk], wake=False)
    enrollment = Enrollment.objects.get()
    step = automation.steps.get()
    EnrollmentHistory.objects.create(
        enrollment=enrollment, step=step, kind="step", at=timezone.now()
    )
    with pytest.raises(IntegrityError):
        engine.advance_batch(automation.pk, step.pk, now=timezone.now())
    contact.refresh_from_db()
    assert contact.score == 0


def test_pausing_holds_everyone_and_activating_resumes(workspace):
    automation = active(workspace, steps=[("wait", {"hours": 1}), ("add_tag", {"tag": "done"})])
    contact = ContactFactory(workspace=workspace, email="a@example.com")
    engine.enroll(automation=automation, contact_ids=[contact.pk], wake=False)
    engine.run_due()
    services.automation_pause(automation=automation)
    later = timezone.now() + timedelta(hours=2)
    assert engine.run_due(now=later) == 0
    assert tagged("done") == set()
    services.automation_activate(automation=automation)
    engine.run_due(now=later)
    assert tagged("done") == {"a@example.com"}


def test_reaching_the_goal_exits(workspace):
    automation = active(
        workspace,
        steps=[("wait", {"hours": 1}), ("add_tag", {"tag": "nudged"})],
        goal_query="lifecycle_stage = customer",
    )
    ann = ContactFactory(workspace=workspace, email="ann@example.com")
    bob = ContactFactory(workspace=workspace, email="bob@example.com")
    engine.enroll(automation=automation, contact_ids=[ann.pk, bob.pk], wake=False)
    engine.run_due()
    Contact.objects.filter(pk=ann.pk).update(lifecycle_stage="customer")
    engine.run_due(now=timezone.now() + timedelta(hours=2))
    assert tagged("nudged") == {"bob@example.com"}
    assert Enrollment.objects.get(contact=ann).exit_reason == "goal"


def test_a_branch_on_a_query_sends_each_contact_down_one_path(workspace):
    automation = services.automation_create(workspace=workspace, name="Split")
    branch = services.step_add(automation=automation, type="branch", config={"query": "score > 50"})
    services.step_add(
        automation=automation, type="add_tag", config={"tag": "hot"}, parent=branch, path="yes"
    )
    services.step_add(
        automation=automation, type="add_tag", config={"tag": "cold"}, parent=branch, path="no"
    )
    services.step_add(automation=automation, type="add_tag", config={"tag": "all"})
    services.automation_activate(automation=automation)
    ContactFactory(workspace=workspace, email="hot@example.com", score=80)
    ContactFactory(workspace=workspace, email="cold@example.com", score=5)
    services.enroll_contacts(automation=automation, query="email ENDS WITH example.com")
    engine.run_due()
    assert tagged("hot") == {"hot@example.com"}
    assert tagged("cold") == {"cold@example.com"}
    assert tagged("all") == {"hot@example.com", "cold@example.com"}
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"completed"}


def test_reentry_once_or_after_days(workspace):
    once = active(workspace)
    again = active(workspace, reentry="after_days", reentry_days=7)
    contact = ContactFactory(workspace=workspace)
    now = timezone.now()
    for automation in (once, again):
        assert engine.enroll(automation=automation, contact_ids=[contact.pk], now=now) == 1
        engine.run_due(now=now)
    later = now + timedelta(days=8)
    assert engine.enroll(automation=once, contact_ids=[contact.pk], now=later) == 0
    assert engine.enroll(automation=again, contact_ids=[contact.pk], now=now) == 0
    assert engine.enroll(automation=again, contact_ids=[contact.pk], now=later) == 1


def test_wait_until_a_weekday_and_time_in_the_contacts_time_zone(workspace):
    # Wednesday 2025-01-01 12:00 UTC; Monday 09:00 in Tokyo is Monday 00:00 UTC.
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert next_weekday_time(now, zone("Asia/Tokyo"), [0], datetime.min.time().replace(hour=9)) == (
        datetime(2025, 1, 6, 0, 0, tzinfo=UTC)
    )
    automation = active(
        workspace,
        steps=[("wait", {"until": {"weekdays": [0], "time": "09:00", "timezone": "UTC"}})],
    )
    tokyo = ContactFactory(workspace=workspace, properties={"timezone": "Asia/Tokyo"})
    plain = ContactFactory(workspace=workspace)
    engine.enroll(automation=automation, contact_ids=[tokyo.pk, plain.pk], now=now, wake=False)
    due = dict(Enrollment.objects.values_list("contact_id", "due_at"))
    assert due[tokyo.pk] == datetime(2025, 1, 6, 0, 0, tzinfo=UTC)
    assert due[plain.pk] == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def test_removing_a_step_moves_its_contacts_on(workspace):
    automation = active(workspace, steps=[("wait", {"days": 3}), ("add_tag", {"tag": "done"})])
    contact = ContactFactory(workspace=workspace, email="a@example.com")
    engine.enroll(automation=automation, contact_ids=[contact.pk])
    services.step_delete(step=automation.steps.get(type="wait"))
    engine.run_due()
    assert tagged("done") == {"a@example.com"}


def _new(ws):
    return ContactFactory(workspace=ws, email="n@example.com")


def _add_to_list(ws):
    the_list = ContactList.objects.get(workspace=ws, name="L")
    list_add_contacts(contact_list=the_list, contact_ids=[_new(ws).pk])


@pytest.mark.parametrize(
    ("trigger", "make_config", "act"),
    [
        ("contact_created", lambda ws: {}, lambda ws: contact_create(workspace=ws, email="n@x.io")),
        (
            "tag_added",
            lambda ws: {"tag": "VIP"},
            lambda ws: contact_tag(contact=_new(ws), names=["vip"]),
        ),
        (
            "list_added",
            lambda ws: {"list_id": str(ContactListFactory(workspace=ws, name="L").pk)},
            _add_to_list,
        ),
        (
            "property_changed",
            lambda ws: {"property": "lifecycle_stage", "value": "customer"},
            lambda ws: contact_update(contact=_new(ws), lifecycle_stage="customer"),
        ),
    ],
)
def test_triggers_enrol_from_the_outbox(workspace, outsider, trigger, make_config, act):
    automation = active(workspace, trigger, make_config(workspace))
    active(outsider.workspace, trigger, make_config(outsider.workspace))
    outbox.dispatch_pending()  # what happened before is not a trigger
    act(workspace)
    outbox.dispatch_pending()
    enrolled = Enrollment.objects.filter(automation=automation)
    assert enrolled.count() == 1
    assert enrolled.get().contact.email in ("n@example.com", "n@x.io")
    assert not Enrollment.objects.filter(workspace=outsider.workspace).exists()


def test_tracked_event_and_form_triggers(workspace):
    by_event = active(workspace, "event_tracked", {"event": "visited_pricing_page"})
    by_form = active(workspace, "form_submitted", {"form_id": "f1"})
    contact = ContactFactory(workspace=workspace)
    from django.db import transaction

    from mailcrm import events

    with transaction.atomic():
        events.emit(workspace, "event.tracked", subject_id=contact.pk, data={"event": "other"})
        events.emit(
            workspace,
            "event.tracked",
            subject_id=contact.pk,
            data={"event": "visited_pricing_page"},
        )
        events.emit(workspace, "form.submitted", subject_id=contact.pk, data={"form_id": "f1"})
    outbox.dispatch_pending()
    assert Enrollment.objects.filter(automation=by_event).count() == 1
    assert Enrollment.objects.filter(automation=by_form).count() == 1


def test_a_date_property_reached_enrols_by_a_periodic_scan(workspace):
    from contacts.services import property_definition_create

    property_definition_create(workspace=workspace, key="trial_ends_at", type="datetime")
    automation = active(workspace, "date_reached", {"property": "trial_ends_at", "offset_days": -3})
    now = timezone.now()
    soon = ContactFactory(
        workspace=workspace,
        properties={"trial_ends_at": (now + timedelta(days=3, hours=1)).isoformat()},
    )
    ContactFactory(
        workspace=workspace, properties={"trial_ends_at": (now + timedelta(days=9)).isoformat()}
    )
    assert triggers.scan_date_triggers(now=now + timedelta(hours=2)) == 1
    assert triggers.scan_date_triggers(now=now + timedelta(hours=3)) == 0
    assert list(
        Enrollment.objects.filter(automation=automation).values_list("contact", flat=True)
    ) == [soon.pk]


def test_a_branch_path_must_belong_to_a_branch(workspace):
    from django.core.exceptions import ValidationError

    automation = services.automation_create(workspace=workspace, name="Bad")
    tag = services.step_add(automation=automation, type="add_tag", config={"tag": "x"})
    with pytest.raises(ValidationError):
        services.step_add(
            automation=automation,
            type="add_tag",
            config={"tag": "y"},
            parent=tag,
            path=StepPath.YES,
        )
    with pytest.raises(ValidationError):
        services.step_add(automation=automation, type="wait", config={})
