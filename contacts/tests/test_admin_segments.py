"""The admin pages for segments, imports and bulk jobs."""

import pytest
from django.urls import reverse

from contacts.models import BulkJob, ImportJob, Segment
from contacts.tests.factories import ContactFactory, SegmentFactory

pytestmark = pytest.mark.django_db


def test_segment_pages_render(admin_client, workspace):
    segment = SegmentFactory(workspace=workspace)
    ImportJob.objects.create(
        workspace=workspace, filename="people.csv", errors=[{"row": 3, "reason": "bad email"}]
    )
    job = ImportJob.objects.get()
    BulkJob.objects.create(workspace=workspace, action="tag", value=["vip"])
    for url in [
        reverse("admin:contacts_segment_changelist"),
        reverse("admin:contacts_segment_change", args=[segment.pk]),
        reverse("admin:contacts_segment_add"),
        reverse("admin:contacts_importjob_changelist"),
        reverse("admin:contacts_importjob_change", args=[job.pk]),
        reverse("admin:contacts_bulkjob_changelist"),
    ]:
        assert admin_client.get(url).status_code == 200, url
    assert (
        b"row 3: bad email"
        in admin_client.get(reverse("admin:contacts_importjob_change", args=[job.pk])).content
    )


def test_a_bad_query_is_a_form_error(admin_client, workspace):
    data = {
        "workspace": workspace.pk,
        "name": "Broken",
        "kind": "dynamic",
        "query": "score >",
        "description": "",
    }
    response = admin_client.post(reverse("admin:contacts_segment_add"), data)
    assert response.status_code == 200
    assert "ends too early" in str(response.context["adminform"].form.errors["query"])
    assert not Segment.objects.exists()


def test_adding_and_refreshing_a_segment(
    admin_client, workspace, django_capture_on_commit_callbacks
):
    ContactFactory(workspace=workspace, score=80)
    data = {
        "workspace": workspace.pk,
        "name": "Hot",
        "kind": "dynamic",
        "query": "score > 50",
        "description": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(reverse("admin:contacts_segment_add"), data).status_code == 302
    segment = Segment.objects.get(name="Hot")
    assert segment.count == 1
    ContactFactory(workspace=workspace, score=90)
    response = admin_client.post(
        reverse("admin:contacts_segment_changelist"),
        {"action": "refresh_now", "_selected_action": [segment.pk]},
    )
    assert response.status_code == 302
    assert Segment.objects.get(pk=segment.pk).count == 2
