"""Manual enrolment from the contacts list's bulk bar: "Enrol in automation…" on the ticked
contacts or on everyone matching the list's filters, through the API's enrolment service."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from automations import services
from automations.models import Enrollment
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

BULK = reverse("dashboard:contacts:contacts_bulk")
CONTACTS = reverse("dashboard:contacts:contacts")


def flow(workspace, name="Nurture", activate=True):
    automation = services.automation_create(workspace=workspace, name=name)
    services.step_add(automation=automation, type="add_tag", config={"tag": "nurtured"})
    if activate:
        services.automation_activate(automation=automation)
    return automation


@pytest.fixture
def people(workspace):
    return [
        ContactFactory(workspace=workspace, email=f"p{i}@example.com", lifecycle_stage="lead")
        for i in range(3)
    ]


def enrolled(automation) -> set[str]:
    return set(
        Enrollment.objects.filter(automation=automation).values_list("contact__email", flat=True)
    )


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_bar_offers_the_workspaces_activated_automations(dashboard, workspace, outsider):
    live = flow(workspace)
    draft = flow(workspace, "Draft flow", activate=False)
    theirs = flow(outsider.workspace, "Theirs")
    ContactFactory(workspace=workspace)
    body = dashboard.get(CONTACTS).content.decode()
    assert '<option value="enroll_automation">Enrol in automation…</option>' in body
    assert f'<option value="{live.pk}">Nurture</option>' in body
    assert str(draft.pk) not in body and str(theirs.pk) not in body


def test_enrolling_the_ticked_contacts(dashboard, workspace, people):
    automation = flow(workspace)
    response = dashboard.post(
        BULK,
        {
            "action": "enroll_automation",
            "automation": automation.pk,
            "ids": [people[0].pk, people[2].pk],
            "filters": "status=active",
        },
    )
    assert response.status_code == 302 and response.url == CONTACTS + "?status=active"
    assert enrolled(automation) == {"p0@example.com", "p2@example.com"}
    assert set(Enrollment.objects.values_list("source", flat=True)) == {"manual"}
    assert said(response) == ["2 contacts enrolled in Nurture."]


def test_enrolling_all_matching_follows_the_lists_filters(dashboard, workspace, people):
    ContactFactory(workspace=workspace, email="other@example.com", lifecycle_stage="customer")
    automation = flow(workspace)
    dashboard.post(
        BULK,
        {
            "action": "enroll_automation",
            "automation": automation.pk,
            "all_matching": "true",
            "filters": "lifecycle_stage=lead",
        },
    )
    assert enrolled(automation) == {p.email for p in people}


def test_an_automation_must_be_chosen_and_be_the_workspaces(dashboard, outsider, people):
    theirs = flow(outsider.workspace, "Theirs")
    ids = [people[0].pk]
    response = dashboard.post(BULK, {"action": "enroll_automation", "ids": ids})
    assert said(response) == ["Choose the automation."]
    response = dashboard.post(
        BULK, {"action": "enroll_automation", "automation": theirs.pk, "ids": ids}
    )
    assert said(response)[-1] == "No such automation."
    assert not Enrollment.objects.exists()


def test_viewers_cannot_enrol(client, viewer, workspace, people):
    automation = flow(workspace)
    client.force_login(viewer)
    response = client.post(
        BULK, {"action": "enroll_automation", "automation": automation.pk, "ids": [people[0].pk]}
    )
    assert response.status_code == 403
    assert not Enrollment.objects.exists()
