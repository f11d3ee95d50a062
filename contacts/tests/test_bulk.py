"""POST /contacts/bulk and bulk_start: every action by ids and by query, the background path
with progress, and another workspace's contacts never touched."""

import pytest
from django.core.exceptions import ValidationError

from contacts.bulk import bulk_job_run, bulk_start
from contacts.models import (
    Activity,
    BulkJob,
    Contact,
    ContactTag,
    JobStatus,
    ListMembership,
    Tag,
)
from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    TagFactory,
)
from deliverability.models import Unsubscribe
from mailcrm.models import Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/bulk"


@pytest.fixture
def people(workspace):
    """Three leads at Acme and one customer elsewhere."""
    leads = [
        ContactFactory(workspace=workspace, email=f"lead{i}@acme.example", lifecycle_stage="lead")
        for i in range(3)
    ]
    customer = ContactFactory(
        workspace=workspace, email="buyer@other.example", lifecycle_stage="customer"
    )
    return leads, customer


def _ids(contacts):
    return [str(c.id) for c in contacts]


def _post(api, body, status=200):
    response = api.post(URL, body, format="json")
    assert response.status_code == status, response.json()
    return response.json()


def test_tag_by_ids_creates_the_tag_and_announces(api, workspace, people, outsider):
    leads, _ = people
    ContactTagFactory(contact=leads[0], tag=TagFactory(workspace=workspace, name="VIP"))
    ids = [*_ids(leads), str(outsider.contact.id), "not-a-uuid"]
    body = _post(api, {"action": "tag", "ids": ids, "value": ["vip", "q3"]})
    assert body == {"action": "tag", "count": 3}
    assert ContactTag.objects.filter(tag__name="VIP").count() == 3
    assert ContactTag.objects.filter(tag__name="q3").count() == 3
    assert Activity.objects.filter(kind="tagged", contact__in=leads).count() == 5
    updated = Event.objects.filter(workspace=workspace, type="contact.updated")
    assert updated.count() == 3
    assert not ContactTag.objects.filter(contact=outsider.contact, tag__workspace=workspace)
    assert not Tag.objects.filter(workspace=outsider.workspace, name="q3").exists()


def test_untag_by_query(api, workspace, people):
    leads, customer = people
    vip = TagFactory(workspace=workspace, name="vip")
    for contact in [*leads, customer]:
        ContactTagFactory(contact=contact, tag=vip)
    body = _post(api, {"action": "untag", "query": "lifecycle_stage = lead", "value": "VIP"})
    assert body["count"] == 3
    assert list(Contact.objects.filter(tags=vip)) == [customer]
    assert Activity.objects.filter(kind="untagged").count() == 3


def test_add_to_and_remove_from_a_list_by_name_or_id(api, workspace, people, outsider):
    leads, customer = people
    newsletter = ContactListFactory(workspace=workspace, name="Newsletter")
    body = _post(
        api,
        {"action": "add_to_list", "query": "email ENDS WITH acme.example", "value": "Newsletter"},
    )
    assert body["count"] == 3
    assert set(newsletter.contacts.all()) == set(leads)
    body = _post(
        api,
        {"action": "remove_from_list", "ids": _ids(leads[:2]), "value": str(newsletter.id)},
    )
    assert body["count"] == 2
    assert list(newsletter.contacts.all()) == [leads[2]]
    # Another workspace's list is not found by id or by name.
    for value in (str(outsider.list.id), outsider.list.name):
        error = _post(api, {"action": "add_to_list", "ids": _ids(leads), "value": value}, 400)
        assert "value" in error["error"]["fields"]
    assert ListMembership.objects.filter(contact_list=outsider.list).count() == 1


def test_set_lifecycle_stage(api, workspace, people):
    leads, customer = people
    body = _post(
        api,
        {"action": "set_lifecycle_stage", "ids": _ids([*leads, customer]), "value": "customer"},
    )
    assert body["count"] == 3  # the customer was one already
    assert set(Contact.objects.values_list("lifecycle_stage", flat=True)) == {"customer"}
    event = Event.objects.filter(type="contact.updated").first()
    assert event.data["changed"] == {"lifecycle_stage": ["lead", "customer"]}


def test_unsubscribe_goes_through_deliverability(api, workspace, people):
    leads, customer = people
    body = _post(api, {"action": "unsubscribe", "query": "lifecycle_stage = lead"})
    assert body["count"] == 3
    assert Unsubscribe.objects.filter(workspace=workspace, domain__isnull=True).count() == 3
    assert set(
        Contact.objects.filter(pk__in=[c.pk for c in leads]).values_list("status", flat=True)
    ) == {"unsubscribed"}
    customer.refresh_from_db()
    assert customer.status == "active"
    # Again: already unsubscribed, nothing changes.
    assert _post(api, {"action": "unsubscribe", "ids": _ids(leads)})["count"] == 0


def test_delete_by_ids_announces_each_contact(api, workspace, people, outsider):
    leads, customer = people
    body = _post(api, {"action": "delete", "ids": [*_ids(leads), str(outsider.contact.id)]})
    assert body["count"] == 3
    assert list(Contact.objects.filter(workspace=workspace)) == [customer]
    deleted = Event.objects.filter(workspace=workspace, type="contact.deleted")
    assert sorted(e.data["email"] for e in deleted) == sorted(c.email for c in leads)
    assert Contact.objects.filter(pk=outsider.contact.pk).exists()


def test_a_query_only_reaches_the_own_workspace(api, workspace, people, outsider):
    body = _post(api, {"action": "delete", "query": 'email ENDS WITH "example"'})
    assert body["count"] == 4
    assert Contact.objects.filter(pk=outsider.contact.pk).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "explode", "ids": ["x"]}, "action"),
        ({"action": "tag"}, "ids"),
        ({"action": "tag", "ids": ["x"], "query": "status = active", "value": "a"}, "ids"),
        ({"action": "tag", "ids": ["x"]}, "value"),
        ({"action": "tag", "ids": ["x"], "value": [""]}, "value"),
        ({"action": "set_lifecycle_stage", "ids": ["x"], "value": "wizard"}, "value"),
        ({"action": "add_to_list", "ids": ["x"], "value": "No such list"}, "value"),
        ({"action": "delete", "ids": "x"}, "ids"),
    ],
)
def test_bad_requests_are_400_naming_the_field(api, people, body, field):
    error = _post(api, body, 400)["error"]
    assert field in error["fields"]
    assert Contact.objects.count() == 4


def test_a_bad_query_is_400_with_its_position(api, people):
    error = _post(api, {"action": "delete", "query": "status = active AND nonsense = 1"}, 400)
    assert error["error"]["position"] == 20  # 0-based, at "nonsense"
    assert "query" in error["error"]["fields"]
    assert Contact.objects.count() == 4


def test_large_sets_run_in_the_background_with_progress(
    api, workspace, people, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.BULK_BACKGROUND_THRESHOLD = 2
    monkeypatch.setattr("contacts.bulk.CHUNK", 2)
    with django_capture_on_commit_callbacks(execute=True):
        body = _post(
            api, {"action": "tag", "query": "status = active", "value": "later"}, status=202
        )
    job = BulkJob.objects.get(pk=body["id"])
    assert job.workspace == workspace
    progress = api.get(f"{URL}/{job.id}").json()
    assert progress["status"] == "done"
    assert (progress["total"], progress["processed"], progress["changed"]) == (4, 4, 4)
    assert progress["finished_at"]
    assert ContactTag.objects.filter(tag__name="later").count() == 4


def test_a_background_job_runs_once(workspace, people, settings):
    settings.BULK_BACKGROUND_THRESHOLD = 1
    leads, _ = people
    result = bulk_start(workspace=workspace, action="delete", ids=_ids(leads))
    assert result.count is None and result.job.status == JobStatus.QUEUED
    assert bulk_job_run(result.job.id).status == JobStatus.DONE
    assert bulk_job_run(result.job.id).changed == 3  # a redelivery does nothing new
    assert Event.objects.filter(type="contact.deleted").count() == 3


def test_a_failing_job_is_marked_failed(workspace, people, settings, monkeypatch):
    settings.BULK_BACKGROUND_THRESHOLD = 1
    result = bulk_start(workspace=workspace, action="delete", query="status = active")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("contacts.bulk._delete", boom)
    job = bulk_job_run(result.job.id)
    assert job.status == JobStatus.FAILED and "disk full" in job.failure_reason
    assert Contact.objects.count() == 4


def test_another_workspaces_job_is_404(api, outsider, settings):
    settings.BULK_BACKGROUND_THRESHOLD = 0
    job = bulk_start(workspace=outsider.workspace, action="delete", ids=[outsider.contact.id]).job
    assert api.get(f"{URL}/{job.id}").status_code == 404
    assert api.get(f"{URL}/nonsense").status_code == 404
    assert outsider.api.get(f"{URL}/{job.id}").status_code == 200


def test_bulk_start_raises_field_errors(workspace):
    with pytest.raises(ValidationError) as exc:
        bulk_start(workspace=workspace, action="tag", ids=None, query=None, value="x")
    assert "ids" in exc.value.message_dict


def test_archived_contacts_are_left_out_of_queries_but_reachable_by_id(api, workspace):
    from django.utils import timezone

    archived = ContactFactory(workspace=workspace, archived_at=timezone.now())
    assert _post(api, {"action": "tag", "query": "status = active", "value": "x"})["count"] == 0
    assert _post(api, {"action": "tag", "ids": [str(archived.id)], "value": "x"})["count"] == 1


def test_list_membership_changes_are_logged(workspace, people):
    leads, _ = people
    other = ContactListFactory(workspace=workspace)
    ListMembershipFactory(contact=leads[0], contact_list=other)
    result = bulk_start(
        workspace=workspace, action="add_to_list", ids=_ids(leads), value=str(other.id)
    )
    assert result.count == 2
    assert Activity.objects.filter(kind="list_added").count() == 2
