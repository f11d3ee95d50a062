"""A three-step drip end to end, with time moved forward, into a real SMTP server: welcome
now, wait two days, a follow-up only to those who did not click the welcome."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from automations import engine, services
from automations.models import Enrollment, EnrollmentHistory, StepPath
from automations.tests.factories import template
from campaigns.models import Message
from contacts.models import Activity
from contacts.tests.factories import ContactFactory
from deliverability.services import unsubscribe_record

pytestmark = pytest.mark.django_db(transaction=True)

WELCOME = """<html><body><p>Welcome {{ contact.first_name }}!</p>
<p><a href="https://acme.io/start">Get started</a></p></body></html>"""


@pytest.fixture
def drip(workspace):
    automation = services.automation_create(workspace=workspace, name="Onboarding")
    welcome = template(workspace, "Welcome", "Welcome {{ contact.first_name }}", WELCOME)
    follow_up = template(workspace, "Nudge", "Did you get started?")
    first = services.step_add(
        automation=automation, type="send_email", config={"template_id": str(welcome.pk)}
    )
    services.step_add(automation=automation, type="wait", config={"days": 2})
    branch = services.step_add(
        automation=automation,
        type="branch",
        config={"engaged": {"step_id": str(first.pk), "event": "clicked"}},
    )
    services.step_add(
        automation=automation,
        type="send_email",
        config={"template_id": str(follow_up.pk)},
        parent=branch,
        path=StepPath.NO,
    )
    services.automation_activate(automation=automation)
    return automation


def people(workspace):
    return {
        name: ContactFactory(workspace=workspace, email=f"{name}@example.com", first_name=name)
        for name in ("ann", "bob", "cy")
    }


def subjects(smtp, address):
    return [r.message["Subject"] for r in smtp.handler.to(address)]


def test_the_drip_sends_the_right_mails_to_the_right_people_once(client, workspace, drip, smtp):
    contacts = people(workspace)
    start = timezone.now()
    assert (
        services.enroll_contacts(automation=drip, contact_ids=[c.pk for c in contacts.values()])
        == 3
    )
    # The wake after enrolment sent the welcome at once.
    assert sorted(subjects(smtp, "ann@example.com")) == ["Welcome ann"]
    assert len(smtp.received) == 3
    # Bob clicks the link in his welcome (a while after it arrived: not a scanner).
    Message.objects.update(sent_at=start - timedelta(minutes=5))
    html = smtp.handler.to("bob@example.com")[0].part("text/html")
    link = re.search(r'href="http://testserver(/t/c/[^"]+)"', html).group(1)
    assert client.get(link, HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux)").status_code == 302
    # Cy unsubscribes between the steps.
    unsubscribe_record(workspace=workspace, email="cy@example.com", source="link")

    engine.run_due(now=start + timedelta(days=1))
    assert len(smtp.received) == 3  # still waiting
    engine.run_due(now=start + timedelta(days=2, minutes=1))
    assert subjects(smtp, "ann@example.com") == ["Welcome ann", "Did you get started?"]
    assert subjects(smtp, "bob@example.com") == ["Welcome bob"]  # clicked: no nudge
    assert subjects(smtp, "cy@example.com") == ["Welcome cy"]  # unsubscribed: nothing more
    # Running again (a redelivered task) sends nothing new.
    engine.run_due(now=start + timedelta(days=5))
    assert len(smtp.received) == 4

    states = {
        e.contact.email: (e.status, e.exit_reason)
        for e in Enrollment.objects.select_related("contact")
    }
    assert states == {
        "ann@example.com": ("completed", ""),
        "bob@example.com": ("completed", ""),
        "cy@example.com": ("exited", "unsubscribed"),
    }
    ann = Enrollment.objects.get(contact=contacts["ann"])
    assert [h.kind for h in ann.history.all()] == [
        "entered",
        "step",
        "step",
        "step",
        "step",
        "completed",
    ]
    assert EnrollmentHistory.objects.filter(kind="step", message__isnull=False).count() == 4
    timeline = Activity.objects.filter(contact=contacts["ann"], kind="automation")
    assert timeline.filter(subject="Completed Onboarding").exists()
