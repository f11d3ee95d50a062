"""Bulk actions from the contacts list (ticked rows or everyone matching the filters, with a
confirmation for unsubscribe and delete), background bulk jobs, and the CSV export."""

import pytest
from django.urls import reverse

from contacts.models import BulkJob, Contact, ContactStatus, JobStatus
from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db

BULK = reverse("dashboard:contacts:contacts_bulk")
CONTACTS = reverse("dashboard:contacts:contacts")


@pytest.fixture
def people(workspace):
    return [
        ContactFactory(workspace=workspace, email=f"p{i}@example.com", lifecycle_stage="lead")
        for i in range(3)
    ]


def tags_of(contact):
    return sorted(contact.tags.values_list("name", flat=True))


def test_the_list_offers_the_bulk_bar_to_editors_only(client, dashboard, viewer, people):
    body = dashboard.get(CONTACTS).content.decode()
    assert 'id="bulk-form"' in body and f'value="{people[0].pk}"' in body
    client.force_login(viewer)
    body = client.get(CONTACTS).content.decode()
    assert 'id="bulk-form"' not in body and 'name="ids"' not in body


def test_tagging_the_ticked_contacts(dashboard, people):
    response = dashboard.post(
        BULK,
        {
            "action": "tag",
            "tag": "vip",
            "ids": [people[0].pk, people[1].pk],
            "filters": "status=active",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == CONTACTS + "?status=active"
    assert "Tag: 2 contacts changed." in response.content.decode()
    assert [tags_of(p) for p in people] == [["vip"], ["vip"], []]


def test_untag_list_and_stage_actions(dashboard, workspace, people):
    vip = TagFactory(workspace=workspace, name="vip")
    for person in people:
        ContactTagFactory(contact=person, tag=vip)
    newsletter = ContactListFactory(workspace=workspace, name="Newsletter")
    ids = [p.pk for p in people[:2]]
    dashboard.post(BULK, {"action": "untag", "tag": "vip", "ids": ids})
    dashboard.post(BULK, {"action": "add_to_list", "contact_list": newsletter.pk, "ids": ids})
    dashboard.post(BULK, {"action": "set_lifecycle_stage", "stage": "customer", "ids": ids})
    assert [tags_of(p) for p in people] == [[], [], ["vip"]]
    assert set(newsletter.contacts.values_list("pk", flat=True)) == set(ids)
    stages = dict(Contact.objects.values_list("email", "lifecycle_stage"))
    assert stages == {
        "p0@example.com": "customer",
        "p1@example.com": "customer",
        "p2@example.com": "lead",
    }
    dashboard.post(BULK, {"action": "remove_from_list", "contact_list": newsletter.pk, "ids": ids})
    assert not newsletter.contacts.exists()


def test_all_matching_follows_the_lists_filters(dashboard, workspace, people):
    other = ContactFactory(
        workspace=workspace, email="other@example.com", lifecycle_stage="customer"
    )
    dashboard.post(
        BULK,
        {
            "action": "tag",
            "tag": "leads",
            "all_matching": "true",
            "filters": "lifecycle_stage=lead",
        },
    )
    assert [tags_of(p) for p in people] == [["leads"]] * 3
    assert tags_of(other) == []


def test_all_matching_a_free_text_search_lists_the_ids(dashboard, workspace, people):
    dashboard.post(
        BULK, {"action": "tag", "tag": "found", "all_matching": "true", "filters": "q=p1%40example"}
    )
    assert [tags_of(p) for p in people] == [[], ["found"], []]


def test_all_matching_a_query_filter(dashboard, workspace, people):
    Contact.objects.filter(pk=people[2].pk).update(score=70)
    dashboard.post(
        BULK,
        {"action": "tag", "tag": "hot", "all_matching": "true", "filters": "query=score+%3E+50"},
    )
    assert [tags_of(p) for p in people] == [[], [], ["hot"]]


def test_delete_asks_for_confirmation_first(dashboard, people):
    ids = [people[0].pk, people[1].pk]
    response = dashboard.post(BULK, {"action": "delete", "ids": ids, "filters": "tag=x"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Delete 2 contacts?" in body and "cannot be undone" in body
    assert Contact.objects.count() == 3
    confirmed = {"action": "delete", "ids": ids, "filters": "tag=x", "confirmed": "true"}
    response = dashboard.post(BULK, confirmed)
    assert response.status_code == 302
    assert list(Contact.objects.values_list("email", flat=True)) == ["p2@example.com"]


def test_the_confirmation_page_carries_the_whole_request(dashboard, people):
    response = dashboard.post(BULK, {"action": "unsubscribe", "ids": [people[0].pk]})
    form = response.context["form"]
    hidden = {field.name: field.value() for field in form}
    assert hidden["confirmed"] == "true" and hidden["action"] == "unsubscribe"
    assert hidden["ids"] == [str(people[0].pk)]
    dashboard.post(BULK, {"action": "unsubscribe", "ids": [people[0].pk], "confirmed": "true"})
    people[0].refresh_from_db()
    assert people[0].status == ContactStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"action": "tag", "tag": "x"}, "Tick some contacts first"),
        ({"action": "tag", "ids": ["PK"]}, "Choose the tag"),
        ({"action": "add_to_list", "ids": ["PK"]}, "Choose the list"),
        ({"action": "set_lifecycle_stage", "ids": ["PK"], "stage": "boss"}, "valid choice"),
        ({"action": "explode", "ids": ["PK"]}, "valid choice"),
        ({"action": "tag", "tag": "x", "ids": ["not-a-uuid"]}, "Select contacts"),
        ({"action": "tag", "tag": "x" * 101, "ids": ["PK"]}, "at most 100"),
    ],
)
def test_bad_requests_change_nothing_and_say_why(dashboard, people, body, text):
    body = {k: ([str(people[0].pk)] if v == ["PK"] else v) for k, v in body.items()}
    response = dashboard.post(BULK, body, follow=True)
    assert text in response.content.decode()
    assert all(tags_of(p) == [] for p in people)
    assert set(Contact.objects.values_list("lifecycle_stage", flat=True)) == {"lead"}


def test_a_bad_query_in_the_filters_is_reported(dashboard, people):
    response = dashboard.post(
        BULK,
        {"action": "tag", "tag": "x", "all_matching": "true", "filters": "query=score+%3E"},
        follow=True,
    )
    assert "Fix the filters first" in response.content.decode()
    assert all(tags_of(p) == [] for p in people)


def test_viewers_cannot_run_bulk_actions(client, viewer, people):
    client.force_login(viewer)
    assert (
        client.post(
            BULK, {"action": "delete", "ids": [people[0].pk], "confirmed": "true"}
        ).status_code
        == 403
    )
    assert Contact.objects.count() == 3


def test_another_workspaces_contacts_and_lists_are_untouchable(dashboard, people, outsider):
    dashboard.post(BULK, {"action": "delete", "ids": [outsider.contact.pk], "confirmed": "true"})
    assert Contact.objects.filter(pk=outsider.contact.pk).exists()
    response = dashboard.post(
        BULK, {"action": "add_to_list", "contact_list": outsider.list.pk, "ids": [people[0].pk]}
    )
    assert response.status_code == 302
    assert not people[0].lists.exists()
    dashboard.post(BULK, {"action": "tag", "tag": "x", "all_matching": "true", "filters": ""})
    assert tags_of(outsider.contact) == ["outsider-tag"]


def test_a_large_action_runs_in_the_background_with_a_progress_page(
    dashboard, settings, people, django_capture_on_commit_callbacks
):
    settings.BULK_BACKGROUND_THRESHOLD = 1
    with django_capture_on_commit_callbacks(execute=True):
        response = dashboard.post(BULK, {"action": "tag", "tag": "vip", "all_matching": "true"})
    job = BulkJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("dashboard:contacts:bulk_job", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.changed) == (JobStatus.DONE, 3)
    body = dashboard.get(response.url).content.decode()
    assert "3 of 3 contacts processed" in body and "hx-trigger" not in body


def test_a_running_job_polls(dashboard, workspace, outsider):
    job = BulkJob.objects.create(
        workspace=workspace, action="tag", value=["vip"], status=JobStatus.RUNNING, total=10
    )
    body = dashboard.get(reverse("dashboard:contacts:bulk_job", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in body and "Tag: vip" in body
    theirs = BulkJob.objects.create(workspace=outsider.workspace, action="delete")
    url = reverse("dashboard:contacts:bulk_job", args=[theirs.pk])
    assert dashboard.get(url).status_code == 404


# --- export ------------------------------------------------------------------------------------


def test_export_follows_the_filters_and_stays_in_the_workspace(dashboard, people, outsider):
    Contact.objects.filter(pk=people[0].pk).update(lifecycle_stage="customer")
    response = dashboard.get(
        reverse("dashboard:contacts:contacts_export"), {"lifecycle_stage": "lead"}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="contacts.csv"'
    body = b"".join(response.streaming_content).decode()
    assert "p1@example.com" in body and "p2@example.com" in body
    assert "p0@example.com" not in body and "outsider" not in body


def test_export_with_bad_filters_goes_back(dashboard):
    response = dashboard.get(reverse("dashboard:contacts:contacts_export"), {"query": "score >"})
    assert response.status_code == 302
