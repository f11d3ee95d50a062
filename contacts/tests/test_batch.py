"""POST /contacts/batch and contacts_batch_upsert: up to 1,000 contacts by email, one result
per item; bad items are reported while the good ones are kept."""

import pytest

from contacts.bulk import contacts_batch_upsert
from contacts.models import Activity, Contact, ContactTag, ListMembership, PropertyType
from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    PropertyDefinitionFactory,
    TagFactory,
)
from mailcrm.models import Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/batch"


@pytest.fixture
def plan(workspace):
    PropertyDefinitionFactory(workspace=workspace, key="plan", type=PropertyType.TEXT)
    PropertyDefinitionFactory(workspace=workspace, key="seats", type=PropertyType.NUMBER)


def test_it_creates_updates_and_reports_errors_in_order(api, workspace, plan):
    existing = ContactFactory(
        workspace=workspace, email="old@acme.example", first_name="Old", properties={"seats": 3}
    )
    vip = TagFactory(workspace=workspace, name="VIP")
    ContactTag.objects.create(contact=existing, tag=vip)
    newsletter = ContactListFactory(workspace=workspace)
    body = {
        "contacts": [
            {
                "email": "new@acme.example",
                "name": "Ann Lee",
                "properties": {"plan": "pro"},
                "tags": ["vip", "beta"],
                "lists": [str(newsletter.id)],
            },
            {"email": "OLD@acme.example", "first_name": "Olga", "properties": {"plan": "team"}},
            {"email": "not-an-email"},
            {"email": "x@acme.example", "properties": {"unknown": 1}},
            {"email": "y@acme.example", "lifecycle_stage": "wizard"},
            {"email": "z@acme.example", "lists": ["00000000-0000-0000-0000-000000000000"]},
            {"email": "new@ACME.example", "first_name": "Again"},
            {"first_name": "No email"},
        ]
    }
    response = api.post(URL, body, format="json")
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "created",
        "updated",
        "error",
        "error",
        "error",
        "error",
        "error",
        "error",
    ]
    assert results[1]["id"] == str(existing.id)
    assert results[0]["error"] is None and results[0]["id"]
    assert "email" in results[2]["error"]
    assert "properties.unknown" in results[3]["error"]
    assert "lifecycle_stage" in results[4]["error"]
    assert "lists" in results[5]["error"]
    assert "twice" in results[6]["error"]
    assert results[7]["email"] is None and "email" in results[7]["error"]

    created = Contact.objects.get(workspace=workspace, email="new@acme.example")
    assert (created.first_name, created.last_name, created.source) == ("Ann", "Lee", "api")
    assert created.properties == {"plan": "pro"}
    assert sorted(created.tags.values_list("name", flat=True)) == ["VIP", "beta"]
    assert list(created.lists.all()) == [newsletter]
    existing.refresh_from_db()
    assert existing.first_name == "Olga"
    assert existing.properties == {"seats": 3, "plan": "team"}  # merged
    assert list(existing.tags.all()) == [vip]  # nothing removed
    assert Contact.objects.filter(workspace=workspace).count() == 2

    kinds = set(Activity.objects.filter(contact=created).values_list("kind", flat=True))
    assert kinds == {"created", "tagged", "list_added"}
    assert Activity.objects.filter(contact=existing, kind="updated").count() == 1
    types = list(Event.objects.filter(workspace=workspace).values_list("type", "subject_id"))
    assert ("contact.created", created.id) in types
    assert ("contact.updated", existing.id) in types


def test_an_unchanged_contact_is_updated_without_noise(api, workspace):
    contact = ContactFactory(workspace=workspace, email="same@acme.example", first_name="Sam")
    response = api.post(
        URL, {"contacts": [{"email": "same@acme.example", "first_name": "Sam"}]}, format="json"
    )
    assert response.json()["results"][0]["status"] == "updated"
    assert not Activity.objects.filter(contact=contact).exists()
    assert not Event.objects.filter(workspace=workspace).exists()


def test_more_than_1000_is_a_400(api, workspace):
    body = {"contacts": [{"email": f"p{i}@acme.example"} for i in range(1001)]}
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert "contacts" in response.json()["error"]["fields"]
    assert not Contact.objects.filter(workspace=workspace).exists()


@pytest.mark.parametrize("body", [{}, {"contacts": []}, {"contacts": "x"}, {"contacts": [1]}])
def test_a_malformed_body_is_a_400(api, body):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_1000_contacts_in_a_bounded_number_of_queries(
    api, workspace, django_assert_max_num_queries
):
    ContactFactory(workspace=workspace, email="p0@acme.example")
    body = {"contacts": [{"email": f"p{i}@acme.example", "tags": ["t"]} for i in range(1000)]}
    # SQLite caps the parameters of one statement, so its inserts come in more batches.
    with django_assert_max_num_queries(100):
        response = api.post(URL, body, format="json")
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses.count("created") == 999 and statuses.count("updated") == 1
    assert ContactTag.objects.filter(tag__name="t").count() == 1000


def test_it_enriches_created_contacts(workspace):
    results = contacts_batch_upsert(
        workspace=workspace,
        items=[{"email": "a@initech.example"}, {"email": "b@gmail.com"}],
    )
    first = Contact.objects.get(pk=results[0]["id"])
    assert first.companies.get().domain == "initech.example"
    assert not Contact.objects.get(pk=results[1]["id"]).companies.exists()


def test_the_plan_limit_is_reported_per_item(workspace):
    workspace.limit_contacts = 2
    workspace.save()
    ContactFactory(workspace=workspace)
    results = contacts_batch_upsert(
        workspace=workspace, items=[{"email": "a@x.example"}, {"email": "b@x.example"}]
    )
    assert [r["status"] for r in results] == ["created", "error"]
    assert "plan" in results[1]["error"]
    assert Contact.objects.filter(workspace=workspace).count() == 2


def test_it_never_touches_another_workspace(api, workspace, outsider):
    foreign = outsider.list
    response = api.post(
        URL,
        {"contacts": [{"email": outsider.contact.email, "lists": [str(foreign.id)]}]},
        format="json",
    )
    result = response.json()["results"][0]
    assert result["status"] == "error" and "lists" in result["error"]
    response = api.post(
        URL, {"contacts": [{"email": outsider.contact.email, "first_name": "Mine"}]}, format="json"
    )
    result = response.json()["results"][0]
    assert result["status"] == "created"
    assert result["id"] != str(outsider.contact.id)
    outsider.contact.refresh_from_db()
    assert outsider.contact.first_name != "Mine"
    assert ListMembership.objects.filter(contact_list=foreign).count() == 1


def test_it_needs_a_key(anon_api):
    assert anon_api.post(URL, {"contacts": []}, format="json").status_code == 401


def test_list_ids_in_any_spelling_and_updated_contacts_are_enriched(workspace):
    newsletter = ContactListFactory(workspace=workspace)
    old = ContactFactory(workspace=workspace, email="old@hooli.example")
    results = contacts_batch_upsert(
        workspace=workspace,
        items=[{"email": "old@hooli.example", "list_ids": [str(newsletter.id).upper()]}],
    )
    assert results[0]["status"] == "updated"
    assert list(old.lists.all()) == [newsletter]
    assert old.companies.get().domain == "hooli.example"


def test_a_racing_insert_of_the_same_address_is_a_409(api, workspace, monkeypatch):
    from django.db import IntegrityError

    def racing(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(Contact.objects, "bulk_create", racing)
    response = api.post(URL, {"contacts": [{"email": "race@acme.example"}]}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


@pytest.mark.django_db(transaction=True)
def test_it_works_outside_a_test_transaction(api, workspace):
    # Found by the API fuzzing on a live server: with no transaction around the request (as in
    # production), announcing the batch was a 500; now it is one transaction of its own.
    response = api.post(URL, {"contacts": [{"email": "live@acme.example"}]}, format="json")
    assert response.status_code == 200, response.content
    contact = Contact.objects.get(workspace=workspace, email="live@acme.example")
    assert Event.objects.filter(workspace=workspace, subject_id=contact.pk).exists()
