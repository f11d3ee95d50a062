"""A contact's tags, lists and companies in the API: prefetched as plain lists for a page of
contacts (no queryset per contact pointing back at it, a reference cycle), read from the
managers for a contact fetched any other way; both render the same body."""

import pytest

from contacts.api.serializers import ContactSerializer
from contacts.api.views import _contact_queryset
from contacts.models import Contact
from contacts.tests.factories import (
    CompanyRoleFactory,
    ContactFactory,
    ListMembershipFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def related(workspace):
    contact = ContactFactory(workspace=workspace, email="ada@example.com")
    contact.tags.add(TagFactory(workspace=workspace, name="vip"), TagFactory(workspace=workspace))
    ListMembershipFactory(contact=contact)
    CompanyRoleFactory(contact=contact, role="Decision Maker")
    ContactFactory(workspace=workspace, email="bare@example.com")  # no relation at all
    return contact


def test_a_page_of_contacts_holds_its_relations_as_lists_not_querysets(workspace, related):
    for contact in _contact_queryset(workspace):
        assert contact._prefetched_objects_cache == {}
        for relation in ("tags", "lists", "company_roles"):
            assert isinstance(getattr(contact, f"prefetched_{relation}"), list)


def test_prefetched_and_plain_contacts_render_the_same(
    workspace, related, django_assert_num_queries
):
    contacts = list(_contact_queryset(workspace).order_by("email"))
    with django_assert_num_queries(0):
        prefetched = ContactSerializer(contacts, many=True).data
    plain = ContactSerializer(
        Contact.objects.for_workspace(workspace).order_by("email"), many=True
    ).data
    assert prefetched == plain
    ada = prefetched[0]
    assert "vip" in ada["tags"] and len(ada["tags"]) == 2
    assert len(ada["lists"]) == 1
    assert [company["role"] for company in ada["companies"]] == ["Decision Maker"]
    assert prefetched[1]["tags"] == [] and prefetched[1]["companies"] == []


def test_the_api_lists_a_contacts_relations(api, related):
    response = api.get("/api/v1/contacts?q=ada@example.com")
    assert response.status_code == 200
    (body,) = response.json()["results"]
    assert len(body["tags"]) == 2 and len(body["lists"]) == 1
    assert body["companies"][0]["name"] == related.company_roles.get().company.name
