"""The merge screen: suggested groups of likely duplicates, pick the contact to keep, merge."""

import pytest
from django.urls import reverse

from contacts.models import Contact
from contacts.tests.factories import ContactFactory, ContactTagFactory

pytestmark = pytest.mark.django_db

MERGE = reverse("dashboard:contacts:merge")


@pytest.fixture
def twins(workspace):
    first = ContactFactory(workspace=workspace, email="jane.doe@gmail.com", first_name="")
    second = ContactFactory(workspace=workspace, email="janedoe+news@gmail.com", first_name="Jane")
    ContactTagFactory(contact=second, tag__workspace=workspace, tag__name="vip")
    ContactFactory(workspace=workspace, email="someone@else.example")
    return first, second


def test_the_page_suggests_groups(dashboard, twins):
    response = dashboard.get(MERGE)
    assert response.status_code == 200
    groups = response.context["groups"]
    assert [{c.email for c in group} for group in groups] == [
        {"jane.doe@gmail.com", "janedoe+news@gmail.com"}
    ]
    assert "someone@else.example" not in response.content.decode()


def test_nothing_to_merge_says_so(dashboard, workspace):
    ContactFactory(workspace=workspace)
    assert "No likely duplicates" in dashboard.get(MERGE).content.decode()


def test_merging_keeps_the_primary_and_takes_what_it_lacks(dashboard, workspace, twins):
    first, second = twins
    response = dashboard.post(MERGE, {"primary": first.pk, "duplicates": [first.pk, second.pk]})
    assert response.status_code == 302 and response.url == MERGE
    first.refresh_from_db()
    assert first.first_name == "Jane"
    assert list(first.tags.values_list("name", flat=True)) == ["vip"]
    assert not Contact.objects.filter(pk=second.pk).exists()
    assert (
        "Merged janedoe+news@gmail.com into jane.doe@gmail.com"
        in dashboard.get(MERGE).content.decode()
    )


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"duplicates": ["SECOND"]}, "Choose the contact to keep"),
        ({"primary": "FIRST"}, "Tick at least one"),
        ({"primary": "FIRST", "duplicates": ["FIRST"]}, "Tick at least one"),
        ({"primary": "nope", "duplicates": ["SECOND"]}, "valid UUID"),
    ],
)
def test_bad_choices_merge_nothing(dashboard, twins, body, text):
    ids = {"FIRST": str(twins[0].pk), "SECOND": str(twins[1].pk)}
    body = {
        k: [ids[x] for x in v] if isinstance(v, list) else ids.get(v, v) for k, v in body.items()
    }
    response = dashboard.post(MERGE, body, follow=True)
    assert text in response.content.decode()
    assert Contact.objects.count() == 3


def test_another_workspaces_contacts_cannot_be_merged(dashboard, twins, outsider):
    first, _ = twins
    response = dashboard.post(MERGE, {"primary": first.pk, "duplicates": [outsider.contact.pk]})
    assert response.status_code == 404
    response = dashboard.post(MERGE, {"primary": outsider.contact.pk, "duplicates": [first.pk]})
    assert response.status_code == 404
    assert Contact.objects.filter(pk=outsider.contact.pk).exists()
    assert Contact.objects.count() == 4


def test_viewers_cannot_merge(client, viewer, twins):
    client.force_login(viewer)
    assert client.get(MERGE).status_code == 403
    assert (
        client.post(MERGE, {"primary": twins[0].pk, "duplicates": [twins[1].pk]}).status_code == 403
    )
    assert Contact.objects.count() == 3
