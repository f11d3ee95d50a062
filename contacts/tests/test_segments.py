"""Segments: the API, set-based refresh, incremental membership, previews and search."""

import pytest
from django.db import connection
from django_q.models import Schedule

from contacts import segmentation, services
from contacts.models import Segment, SegmentDirtyContact, SegmentKind, SegmentMembership
from contacts.tests.factories import ContactFactory, SegmentFactory, TagFactory
from mailcrm.workspace_reads import random_page_cost
from tests.planner import random_page_cost_seen

pytestmark = pytest.mark.django_db


def member_emails(segment):
    return set(segmentation.segment_members(segment).values_list("email", flat=True))


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run on-commit work (background tasks run inline in tests) when the block ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_creating_a_dynamic_segment_fills_it_in_the_background(api, workspace, run_on_commit):
    ContactFactory(workspace=workspace, email="a@example.com", score=80)
    ContactFactory(workspace=workspace, email="b@example.com", score=10)
    with run_on_commit():
        response = api.post(
            "/api/v1/segments", {"name": "Hot", "query": "score >= 50"}, format="json"
        )
    assert response.status_code == 201, response.json()
    segment = Segment.objects.get(pk=response.json()["id"])
    assert member_emails(segment) == {"a@example.com"}
    body = api.get(f"/api/v1/segments/{segment.id}").json()
    assert body["count"] == 1 and body["refreshed_at"]
    members = api.get(f"/api/v1/segments/{segment.id}/contacts").json()["results"]
    assert [m["email"] for m in members] == ["a@example.com"]
    assert api.get("/api/v1/contacts?segment=Hot").json()["results"][0]["email"] == "a@example.com"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "X", "query": "score >"}, "query"),
        ({"name": "X", "query": "tag = nope"}, "query"),
        ({"name": "X"}, "query"),
        ({"name": "", "query": "score > 1"}, "name"),
        ({"name": "X", "kind": "smart", "query": "score > 1"}, "kind"),
    ],
)
def test_bad_segments_are_refused_with_reasons(api, body, field):
    response = api.post("/api/v1/segments", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Segment.objects.exists()


def test_a_bad_query_reports_its_position(api):
    response = api.post("/api/v1/segments", {"name": "X", "query": "(score > 1"}, format="json")
    error = response.json()["error"]
    assert error["position"] == 10
    assert "missing ')'" in error["fields"]["query"][0]


def test_duplicate_segment_names_conflict(api, workspace):
    SegmentFactory(workspace=workspace, name="Hot")
    assert (
        api.post(
            "/api/v1/segments", {"name": "Hot", "query": "score > 1"}, format="json"
        ).status_code
        == 409
    )


def test_cycles_between_segments_are_refused(api, workspace):
    a = SegmentFactory(workspace=workspace, name="A", query="score > 1")
    SegmentFactory(workspace=workspace, name="B", query="segment = A")
    response = api.patch(f"/api/v1/segments/{a.id}", {"query": "segment = B"}, format="json")
    assert response.status_code == 400
    assert "refers back to itself" in response.json()["error"]["fields"]["query"][0]
    response = api.patch(f"/api/v1/segments/{a.id}", {"query": "segment = A"}, format="json")
    assert response.status_code == 400


def test_a_segment_used_by_another_cannot_be_deleted(api, workspace):
    a = SegmentFactory(workspace=workspace, name="A", query="score > 1")
    SegmentFactory(workspace=workspace, name="B", query="segment = a")
    assert api.delete(f"/api/v1/segments/{a.id}").status_code == 409
    assert Segment.objects.filter(pk=a.pk).exists()


def test_refresh_adds_and_removes_members_with_set_based_sql(
    workspace, django_assert_max_num_queries
):
    keep = ContactFactory(workspace=workspace, email="keep@example.com", score=90)
    gone = ContactFactory(workspace=workspace, email="gone@example.com", score=10)
    ContactFactory.create_batch(30, workspace=workspace, score=70)
    segment = SegmentFactory(workspace=workspace, query="score >= 50")
    SegmentMembership.objects.create(segment=segment, contact=gone)
    # 10: two more than the refresh itself: the leavers' ids and their announcement.
    with django_assert_max_num_queries(10):
        segmentation.segment_refresh(segment=segment)
    emails = member_emails(segment)
    assert keep.email in emails and gone.email not in emails
    assert segment.count == 31 == Segment.objects.get(pk=segment.pk).count


def test_archived_contacts_are_never_members(workspace):
    contact = ContactFactory(workspace=workspace, score=90)
    segment = SegmentFactory(workspace=workspace, query="score >= 50")
    services.contact_archive(contact=contact)
    segmentation.segment_refresh(segment=segment)
    assert member_emails(segment) == set()


def test_membership_follows_a_contacts_change(workspace, run_on_commit):
    segment = SegmentFactory(workspace=workspace, query="tag = vip AND lifecycle_stage = customer")
    TagFactory(workspace=workspace, name="vip")
    contact = ContactFactory(workspace=workspace, lifecycle_stage="customer")
    segmentation.segment_refresh(segment=segment)
    assert member_emails(segment) == set()
    with run_on_commit():
        services.contact_tag(contact=contact, names=["vip"])
    assert member_emails(segment) == {contact.email}
    assert Segment.objects.get(pk=segment.pk).count == 1
    with run_on_commit():
        services.contact_update(contact=contact, lifecycle_stage="lead")
    assert member_emails(segment) == set()
    assert not SegmentDirtyContact.objects.exists()


def test_a_burst_of_changes_is_evaluated_in_one_pass(workspace, django_capture_on_commit_callbacks):
    SegmentFactory(workspace=workspace, query="score > 5")
    contacts = ContactFactory.create_batch(5, workspace=workspace)
    with django_capture_on_commit_callbacks() as callbacks:
        for contact in contacts:
            services.contact_update(contact=contact, first_name="New")
    assert SegmentDirtyContact.objects.count() == 5
    for callback in callbacks:
        callback()
    assert not SegmentDirtyContact.objects.exists()


def test_nothing_is_queued_without_dynamic_segments(workspace):
    contact = ContactFactory(workspace=workspace)
    services.contact_update(contact=contact, first_name="New")
    assert not SegmentDirtyContact.objects.exists()


def test_static_segments_are_managed_by_hand(api, workspace):
    a, b = ContactFactory(workspace=workspace), ContactFactory(workspace=workspace)
    segment_id = api.post(
        "/api/v1/segments", {"name": "Picked", "kind": "static"}, format="json"
    ).json()["id"]
    response = api.post(
        f"/api/v1/segments/{segment_id}/contacts",
        {"ids": [str(a.id)], "emails": [b.email]},
        format="json",
    )
    assert response.json() == {"changed": 2, "not_found": []}
    assert api.get(f"/api/v1/segments/{segment_id}").json()["count"] == 2
    api.delete(f"/api/v1/segments/{segment_id}/contacts", {"ids": [str(a.id)]}, format="json")
    assert member_emails(Segment.objects.get(pk=segment_id)) == {b.email}


def test_dynamic_segments_refuse_hand_picked_members(api, workspace):
    segment = SegmentFactory(workspace=workspace)
    contact = ContactFactory(workspace=workspace)
    response = api.post(
        f"/api/v1/segments/{segment.id}/contacts", {"ids": [str(contact.id)]}, format="json"
    )
    assert response.status_code == 400


def test_the_refresh_endpoint_queues_a_refresh(api, workspace, run_on_commit):
    segment = SegmentFactory(workspace=workspace, query="score > 5")
    ContactFactory(workspace=workspace, score=9)
    with run_on_commit():
        response = api.post(f"/api/v1/segments/{segment.id}/refresh")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert Segment.objects.get(pk=segment.pk).count == 1


def test_preview_counts_and_samples(api, workspace, outsider):
    ContactFactory.create_batch(12, workspace=workspace, score=60)
    ContactFactory(workspace=workspace, score=1)
    ContactFactory(workspace=outsider.workspace, score=99)
    response = api.post("/api/v1/segments/preview", {"query": "score > 50"}, format="json")
    assert response.status_code == 200
    assert response.json()["count"] == 12
    assert len(response.json()["sample"]) == 10


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_the_preview_count_reads_the_workspace_through_its_indexes(workspace):
    """Random reads priced as on an SSD for the count alone (mailcrm.workspace_reads)."""
    ContactFactory.create_batch(3, workspace=workspace, score=60)
    with random_page_cost_seen("SELECT COUNT(*)") as seen:
        count, _ = segmentation.segment_preview(workspace=workspace, query="score > 50")
    assert (count, seen) == (3, [1.1])
    assert random_page_cost() == 4


def test_preview_of_a_bad_query_is_a_400_with_position(api):
    response = api.post("/api/v1/segments/preview", {"query": "score >> 5"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["position"] == 7


def test_search_takes_the_language_and_the_shorthand(api, workspace, run_on_commit):
    api.post("/api/v1/properties", {"key": "industry"}, format="json")
    with run_on_commit():
        api.post(
            "/api/v1/contacts",
            {"email": "s@example.com", "properties": {"industry": "SaaS"}},
            format="json",
        )
        api.post(
            "/api/v1/contacts",
            {"email": "r@example.com", "properties": {"industry": "Retail"}},
            format="json",
        )

    def found(query):
        response = api.get("/api/v1/contacts/search", {"query": query})
        assert response.status_code == 200, response.json()
        return [c["email"] for c in response.json()["results"]]

    assert found("industry:SaaS") == ["s@example.com"]
    assert found('properties.industry = "Retail"') == ["r@example.com"]
    response = api.get("/api/v1/contacts/search", {"query": "industry = "})
    assert response.status_code == 400
    assert "position" in response.json()["error"]


def test_the_contacts_list_takes_a_query(api, workspace):
    ContactFactory(workspace=workspace, email="hot@example.com", score=70)
    ContactFactory(workspace=workspace, score=1)
    results = api.get("/api/v1/contacts", {"query": "score > 50"}).json()["results"]
    assert [c["email"] for c in results] == ["hot@example.com"]
    assert api.get("/api/v1/contacts", {"query": "score >"}).status_code == 400


def test_segments_of_another_workspace_are_invisible(api, outsider):
    SegmentFactory(workspace=outsider.workspace, name="Theirs")
    response = api.post("/api/v1/segments/preview", {"query": "segment = Theirs"}, format="json")
    assert response.status_code == 400
    assert api.get("/api/v1/contacts?segment=Theirs").status_code == 404


def test_segments_are_refreshed_on_a_schedule():
    assert Schedule.objects.filter(func="contacts.tasks.refresh_all_segments").exists()


def test_the_scheduled_refresh_survives_a_broken_segment(workspace):
    from contacts.tasks import refresh_all_segments

    tag = TagFactory(workspace=workspace, name="gone")
    SegmentFactory(workspace=workspace, name="Broken", query="tag = gone")
    services.tag_delete(tag=tag)
    ok = SegmentFactory(
        workspace=workspace, name="Fine", query="score >= 0", kind=SegmentKind.DYNAMIC
    )
    ContactFactory(workspace=workspace)
    assert refresh_all_segments() >= 1
    assert Segment.objects.get(pk=ok.pk).count == 1
