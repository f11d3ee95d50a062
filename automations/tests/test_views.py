"""Dashboard pages: list, create, the builder (flow top to bottom with counts), steps added
to a branch's path and removed, activate and pause; viewers look only; another workspace 404."""

import pytest

from automations import engine, services
from automations.models import Automation, Step
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_build_an_automation_in_the_dashboard(dashboard, workspace):
    response = dashboard.post(
        "/automations/new/",
        {"name": "Welcome", "trigger_type": "manual", "trigger_config": "", "reentry": "once"},
    )
    automation = Automation.objects.get()
    assert response.status_code == 302
    url = f"/automations/{automation.pk}/"
    dashboard.post(f"{url}steps/", {"type": "branch", "config": '{"query": "score > 5"}'})
    branch = Step.objects.get()
    dashboard.post(
        f"{url}steps/",
        {"type": "add_tag", "config": '{"tag": "hot"}', "parent_id": branch.pk, "path": "yes"},
    )
    dashboard.post(f"{url}steps/", {"type": "wait", "config": '{"days": 1}'})
    assert Step.objects.count() == 3
    assert dashboard.post(f"{url}activate/").status_code == 302
    ContactFactory(workspace=workspace, score=10)
    automation.refresh_from_db()
    services.enroll_contacts(automation=automation, query="score > 0")
    engine.run_due()
    page = dashboard.get(url).content.decode()
    order = [page.index(f"<strong>{label}") for label in ("Branch", "Add a tag", "Wait")]
    assert order == sorted(order)
    assert "1 here" in page and "1 passed" in page
    dashboard.post(f"{url}pause/")
    automation.refresh_from_db()
    assert automation.status == "paused"
    wait = Step.objects.get(type="wait")
    dashboard.post(f"{url}steps/{wait.pk}/delete/")
    assert not Step.objects.filter(pk=wait.pk).exists()
    assert "Automations" in dashboard.get("/automations/").content.decode()


def test_a_bad_step_is_a_message_not_an_error(dashboard, workspace):
    automation = services.automation_create(workspace=workspace, name="A")
    response = dashboard.post(
        f"/automations/{automation.pk}/steps/", {"type": "wait", "config": "{}"}, follow=True
    )
    assert response.status_code == 200
    assert not Step.objects.exists()


def test_viewers_look_and_outsiders_are_not_found(client, viewer, workspace, outsider):
    automation = services.automation_create(workspace=workspace, name="A")
    theirs = services.automation_create(workspace=outsider.workspace, name="B")
    client.force_login(viewer)
    assert client.get(f"/automations/{automation.pk}/").status_code == 200
    assert client.post(f"/automations/{automation.pk}/activate/").status_code == 403
    assert client.get(f"/automations/{theirs.pk}/").status_code == 404
