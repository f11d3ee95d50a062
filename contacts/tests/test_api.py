"""The contacts API of API.md: contacts, tags, lists and members, properties, companies and
activities — the contract, field errors and workspace isolation."""

import pytest

from contacts.models import Activity, Contact, ContactList, PropertyType, Tag
from contacts.tests.factories import (
    CompanyFactory,
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    PropertyDefinitionFactory,
    TagFactory,
)
from mailcrm.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def props(workspace):
    PropertyDefinitionFactory(workspace=workspace, key="industry", type=PropertyType.TEXT)
    PropertyDefinitionFactory(workspace=workspace, key="lifetime_value", type=PropertyType.NUMBER)
    PropertyDefinitionFactory(
        workspace=workspace,
        key="product_interests",
        type=PropertyType.MULTI_SELECT,
        options=["analytics", "crm", "email"],
    )
    PropertyDefinitionFactory(workspace=workspace, key="signup_date", type=PropertyType.DATE)


# --- create ------------------------------------------------------------------------------------


def test_it_creates_a_contact_with_the_documented_body(api, workspace, props):
    payload = {
        "email": "  Jane@Example.COM ",
        "first_name": "Jane",
        "last_name": "Smith",
        "phone": "+1 555 0100",
        "company": "Acme",
        "job_title": "CTO",
        "lifecycle_stage": "lead",
        "properties": {"industry": "SaaS", "lifetime_value": "2500"},
        "tags": ["vip", "beta"],
    }
    response = api.post("/api/v1/contacts", payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    expected = {
        "id",
        "email",
        "first_name",
        "last_name",
        "name",
        "phone",
        "company",
        "job_title",
        "status",
        "lifecycle_stage",
        "source",
        "properties",
        "tags",
        "lists",
        "score",
        "score_tier",
        "stats",
        "created_at",
        "updated_at",
    }
    assert expected <= set(body)
    assert body["email"] == "Jane@example.com"
    assert body["name"] == "Jane Smith"
    assert body["status"] == "active"
    assert body["source"] == "api"
    assert body["properties"] == {"industry": "SaaS", "lifetime_value": 2500}
    assert body["tags"] == ["beta", "vip"]
    assert body["stats"] == {
        "sends": 0,
        "opens": 0,
        "clicks": 0,
        "last_sent_at": None,
        "last_opened_at": None,
        "last_clicked_at": None,
        "last_engaged_at": None,
    }
    assert Contact.objects.for_workspace(workspace).count() == 1


def test_custom_properties_is_an_alias_of_properties(api, props):
    response = api.post(
        "/api/v1/contacts",
        {"email": "a@example.com", "custom_properties": {"industry": "Retail"}},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["properties"] == {"industry": "Retail"}


@pytest.mark.parametrize("email", ["jane@example.com", "JANE@EXAMPLE.COM", " Jane@example.com "])
def test_a_duplicate_email_in_any_case_is_a_conflict_with_the_existing_id(api, workspace, email):
    existing = ContactFactory(workspace=workspace, email="Jane@example.com")
    response = api.post("/api/v1/contacts", {"email": email}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert error["id"] == str(existing.id)
    assert Contact.objects.for_workspace(workspace).count() == 1


def test_the_same_email_may_live_in_two_workspaces(api, outsider):
    response = api.post("/api/v1/contacts", {"email": outsider.contact.email}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("email", ["", "not-an-email", "a@", "@b.com", "a b@c.com", None, 42])
def test_a_bad_email_is_a_400_naming_the_field(api, email):
    response = api.post("/api/v1/contacts", {"email": email}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["fields"]
    assert not Contact.objects.exists()


def test_an_unknown_property_is_a_400_naming_it(api, props):
    response = api.post(
        "/api/v1/contacts",
        {"email": "a@example.com", "properties": {"shoe_size": 42}},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert "properties.shoe_size" in fields
    assert "unknown property" in fields["properties.shoe_size"][0]
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    "key,value",
    [
        ("lifetime_value", "lots"),
        ("lifetime_value", True),
        ("product_interests", ["analytics", "golf"]),
        ("signup_date", "yesterday"),
    ],
)
def test_a_property_of_the_wrong_type_is_a_400_saying_why(api, props, key, value):
    response = api.post(
        "/api/v1/contacts", {"email": "a@example.com", "properties": {key: value}}, format="json"
    )
    assert response.status_code == 400
    reason = response.json()["error"]["fields"][f"properties.{key}"][0]
    assert key in reason and "must" in reason


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"status": "deleted"}, "status"),
        ({"lifecycle_stage": "prospect"}, "lifecycle_stage"),
        ({"source": "carrier-pigeon"}, "source"),
        ({"tags": "vip"}, "tags"),
        ({"properties": ["x"]}, "properties"),
        ({"lists": ["not-a-uuid"]}, "lists[0]"),
    ],
)
def test_bad_standard_fields_are_400s_naming_them(api, payload, field):
    response = api.post("/api/v1/contacts", {"email": "a@example.com", **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_list_of_another_workspace_cannot_be_joined(api, outsider):
    response = api.post(
        "/api/v1/contacts",
        {"email": "a@example.com", "lists": [str(outsider.list.id)]},
        format="json",
    )
    assert response.status_code == 400
    assert "lists" in response.json()["error"]["fields"]
    assert not outsider.list.contacts.exclude(pk=outsider.contact.pk).exists()


def test_the_contact_limit_of_the_plan_is_enforced_with_a_422(api, workspace):
    workspace.limit_contacts = 1
    workspace.save()
    assert (
        api.post("/api/v1/contacts", {"email": "a@example.com"}, format="json").status_code == 201
    )
    response = api.post("/api/v1/contacts", {"email": "b@example.com"}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "limit_exceeded"
    assert "contacts" in response.json()["error"]["message"]
    assert Contact.objects.count() == 1


def test_creating_records_an_event_and_an_activity(api, workspace):
    body = api.post("/api/v1/contacts", {"email": "a@example.com"}, format="json").json()
    event = Event.objects.get(workspace=workspace, type="contact.created")
    assert event.data["email"] == "a@example.com"
    assert str(event.subject_id) == body["id"]
    assert Activity.objects.filter(contact_id=body["id"], kind="created").exists()


def test_a_malformed_json_body_is_a_400(api):
    response = api.generic("POST", "/api/v1/contacts", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


# --- read, update, delete ----------------------------------------------------------------------


def test_it_reads_one_contact(api, workspace):
    contact = ContactFactory(workspace=workspace)
    ContactTagFactory(contact=contact, tag=TagFactory(workspace=workspace, name="vip"))
    body = api.get(f"/api/v1/contacts/{contact.id}").json()
    assert body["email"] == contact.email
    assert body["tags"] == ["vip"]


def test_patch_merges_properties_and_records_the_changed_fields(api, workspace, props):
    contact = ContactFactory(
        workspace=workspace, properties={"industry": "SaaS", "lifetime_value": 5}
    )
    response = api.patch(
        f"/api/v1/contacts/{contact.id}",
        {"job_title": "CEO", "properties": {"lifetime_value": 10, "industry": None}},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["properties"] == {"lifetime_value": 10}
    assert response.json()["job_title"] == "CEO"
    event = Event.objects.get(type="contact.updated", subject_id=contact.id)
    assert set(event.data["changed"]) == {"job_title", "properties"}
    assert event.data["changed"]["job_title"] == ["", "CEO"]
    activity = Activity.objects.get(contact=contact, kind="updated")
    assert activity.data["changed"] == ["job_title", "properties"]


def test_put_replaces_properties_and_tags(api, workspace, props):
    contact = ContactFactory(workspace=workspace, properties={"industry": "SaaS"})
    ContactTagFactory(contact=contact, tag=TagFactory(workspace=workspace, name="old"))
    response = api.put(
        f"/api/v1/contacts/{contact.id}",
        {"email": contact.email, "properties": {"lifetime_value": 1}, "tags": ["new"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["properties"] == {"lifetime_value": 1}
    assert response.json()["tags"] == ["new"]
    assert set(Activity.objects.filter(contact=contact).values_list("kind", "subject")) >= {
        ("tagged", "new"),
        ("untagged", "old"),
    }


def test_an_update_that_changes_nothing_announces_nothing(api, workspace):
    contact = ContactFactory(workspace=workspace, first_name="Ann")
    api.patch(f"/api/v1/contacts/{contact.id}", {"first_name": "Ann"}, format="json")
    assert not Event.objects.filter(type="contact.updated").exists()


def test_changing_the_email_to_another_contacts_is_a_conflict(api, workspace):
    ContactFactory(workspace=workspace, email="taken@example.com")
    contact = ContactFactory(workspace=workspace)
    response = api.patch(
        f"/api/v1/contacts/{contact.id}", {"email": "TAKEN@example.com"}, format="json"
    )
    assert response.status_code == 409


def test_a_bad_property_on_update_changes_nothing(api, workspace, props):
    contact = ContactFactory(workspace=workspace, first_name="Ann")
    response = api.patch(
        f"/api/v1/contacts/{contact.id}",
        {"first_name": "Bob", "properties": {"lifetime_value": "x"}},
        format="json",
    )
    assert response.status_code == 400
    contact.refresh_from_db()
    assert contact.first_name == "Ann"


def test_delete_removes_the_contact_and_announces_it(api, workspace):
    contact = ContactFactory(workspace=workspace)
    assert api.delete(f"/api/v1/contacts/{contact.id}").status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert Event.objects.filter(type="contact.deleted", subject_id=contact.id).exists()


def test_archive_hides_and_restore_brings_back(api, workspace):
    contact = ContactFactory(workspace=workspace)
    assert api.post(f"/api/v1/contacts/{contact.id}/archive").json()["archived"] is True
    ids = [c["id"] for c in api.get("/api/v1/contacts").json()["results"]]
    assert str(contact.id) not in ids
    archived = api.get("/api/v1/contacts?archived=true").json()["results"]
    assert [c["id"] for c in archived] == [str(contact.id)]
    assert api.post(f"/api/v1/contacts/{contact.id}/restore").json()["archived"] is False
    assert str(contact.id) in [c["id"] for c in api.get("/api/v1/contacts").json()["results"]]


@pytest.mark.parametrize("bad_id", ["nope", "123", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_id_is_a_404(api, bad_id):
    response = api.get(f"/api/v1/contacts/{bad_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- listing, filters, pagination --------------------------------------------------------------


def test_the_list_filters_by_status_stage_source_tag_and_list(api, workspace):
    vip = TagFactory(workspace=workspace, name="VIP")
    newsletter = ContactListFactory(workspace=workspace, name="Newsletter")
    a = ContactFactory(workspace=workspace, status="active", lifecycle_stage="lead", source="form")
    b = ContactFactory(workspace=workspace, status="unsubscribed", lifecycle_stage="customer")
    ContactTagFactory(contact=a, tag=vip)
    ListMembershipFactory(contact=b, contact_list=newsletter)

    def ids(query):
        response = api.get(f"/api/v1/contacts?{query}")
        assert response.status_code == 200, response.json()
        return {c["id"] for c in response.json()["results"]}

    assert ids("status=active") == {str(a.id)}
    assert ids("lifecycle_stage=customer") == {str(b.id)}
    assert ids("source=form") == {str(a.id)}
    assert ids("tag=vip") == {str(a.id)}
    assert ids(f"tag={vip.id}") == {str(a.id)}
    assert ids("list=Newsletter") == {str(b.id)}
    assert ids(f"list={newsletter.id}") == {str(b.id)}
    assert ids(f"q={a.email}") == {str(a.id)}
    assert ids("created_after=2000-01-01T00:00:00Z") == {str(a.id), str(b.id)}
    assert ids("created_before=2000-01-01T00:00:00Z") == set()


def test_a_bad_filter_value_is_a_400(api):
    response = api.get("/api/v1/contacts?status=deleted")
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_filtering_by_another_workspaces_tag_or_list_is_a_404(api, outsider):
    for query in [
        f"tag={outsider.tag.id}",
        f"tag={outsider.tag.name}",
        f"list={outsider.list.id}",
        f"list={outsider.list.name}",
    ]:
        assert api.get(f"/api/v1/contacts?{query}").status_code == 404, query


def test_pages_follow_the_cursor_without_gaps_or_repeats(api, workspace):
    ContactFactory.create_batch(7, workspace=workspace)
    seen, url = [], "/api/v1/contacts?page_size=3&count=true&ordering=email"
    while url:
        body = api.get(url).json()
        assert body["count"] == 7
        seen += [c["email"] for c in body["results"]]
        url = body["next"]
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 7


def test_ordering_by_a_non_unique_field_pages_through_ties(api, workspace):
    ContactFactory.create_batch(5, workspace=workspace, score=7)
    seen, url = [], "/api/v1/contacts?page_size=2&ordering=-score"
    while url:
        body = api.get(url).json()
        seen += [c["id"] for c in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize(
    "query,field",
    [
        ("page_size=0", "page_size"),
        ("page_size=x", "page_size"),
        ("ordering=password", "ordering"),
        ("cursor=%%%", "cursor"),
        ("cursor=WyJ4Il0", "cursor"),
    ],
)
def test_bad_pagination_parameters_are_400s(api, query, field):
    response = api.get(f"/api/v1/contacts?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_page_size_is_capped_at_500(api, workspace):
    ContactFactory.create_batch(3, workspace=workspace)
    assert len(api.get("/api/v1/contacts?page_size=100000").json()["results"]) == 3


def test_listing_contacts_takes_a_bounded_number_of_queries(
    api, workspace, django_assert_max_num_queries
):
    tag = TagFactory(workspace=workspace)
    for contact in ContactFactory.create_batch(30, workspace=workspace):
        ContactTagFactory(contact=contact, tag=tag)
        CompanyFactory(workspace=workspace)
    with django_assert_max_num_queries(8):
        response = api.get("/api/v1/contacts?page_size=30")
    assert len(response.json()["results"]) == 30


# --- tags on a contact -------------------------------------------------------------------------


def test_tagging_creates_unknown_tags_and_untagging_removes(api, workspace):
    contact = ContactFactory(workspace=workspace)
    response = api.post(
        f"/api/v1/contacts/{contact.id}/tags", {"tags": ["vip", "VIP", "beta"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["tags"] == ["beta", "vip"]
    assert Tag.objects.for_workspace(workspace).count() == 2
    response = api.delete(f"/api/v1/contacts/{contact.id}/tags/Vip")
    assert response.status_code == 200
    assert response.json()["tags"] == ["beta"]
    assert api.delete(f"/api/v1/contacts/{contact.id}/tags/vip").status_code == 404


def test_tagging_needs_a_list_of_names(api, workspace):
    contact = ContactFactory(workspace=workspace)
    for body in [{}, {"tags": []}, {"tags": "vip"}, {"tags": [""]}]:
        assert (
            api.post(f"/api/v1/contacts/{contact.id}/tags", body, format="json").status_code == 400
        )


# --- activities --------------------------------------------------------------------------------


def test_logging_and_listing_activities(api, workspace):
    contact = ContactFactory(workspace=workspace)
    response = api.post(
        f"/api/v1/contacts/{contact.id}/activities",
        {"kind": "call", "subject": "Renewal", "body": "Wants a quote"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "call"
    kinds = [
        a["kind"] for a in api.get(f"/api/v1/contacts/{contact.id}/activities").json()["results"]
    ]
    assert kinds == ["call"]


@pytest.mark.parametrize(
    "body", [{"kind": "tagged", "body": "x"}, {"kind": "note"}, {"kind": "lunch", "body": "x"}]
)
def test_only_manual_activities_with_content_can_be_logged(api, workspace, body):
    contact = ContactFactory(workspace=workspace)
    assert (
        api.post(f"/api/v1/contacts/{contact.id}/activities", body, format="json").status_code
        == 400
    )


# --- properties --------------------------------------------------------------------------------


def test_property_definitions_crud(api, workspace):
    response = api.post(
        "/api/v1/properties",
        {"key": "plan", "label": "Plan", "type": "select", "options": ["free", "pro"]},
        format="json",
    )
    assert response.status_code == 201
    assert api.get("/api/v1/properties/plan").json()["options"] == ["free", "pro"]
    assert (
        api.patch("/api/v1/properties/plan", {"label": "Tier"}, format="json").json()["label"]
        == "Tier"
    )
    assert api.post("/api/v1/properties", {"key": "plan"}, format="json").status_code == 409
    assert api.delete("/api/v1/properties/plan").status_code == 204
    assert api.get("/api/v1/properties/plan").status_code == 404


@pytest.mark.parametrize(
    "body,field",
    [
        ({"key": "bad key!"}, "key"),
        ({"key": "x", "type": "colour"}, "type"),
        ({"key": "x", "type": "select"}, "options"),
        ({"key": "x", "type": "number", "options": ["a"]}, "options"),
    ],
)
def test_bad_property_definitions_are_400s(api, body, field):
    response = api.post("/api/v1/properties", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_deleting_a_property_removes_its_values(api, workspace, props):
    contact = ContactFactory(
        workspace=workspace, properties={"industry": "SaaS", "lifetime_value": 3}
    )
    other = ContactFactory(workspace=workspace, properties={"lifetime_value": 4})
    assert api.delete("/api/v1/properties/industry").status_code == 204
    contact.refresh_from_db()
    other.refresh_from_db()
    assert contact.properties == {"lifetime_value": 3}
    assert other.properties == {"lifetime_value": 4}


# --- tags and lists ----------------------------------------------------------------------------


def test_tags_crud_with_counts(api, workspace):
    tag_id = api.post("/api/v1/tags", {"name": "vip"}, format="json").json()["id"]
    contact = ContactFactory(workspace=workspace)
    ContactTagFactory(contact=contact, tag=Tag.objects.get(pk=tag_id))
    assert api.get(f"/api/v1/tags/{tag_id}").json()["contact_count"] == 1
    assert api.post("/api/v1/tags", {"name": "VIP"}, format="json").status_code == 409
    assert (
        api.patch(f"/api/v1/tags/{tag_id}", {"name": "gold"}, format="json").json()["name"]
        == "gold"
    )
    assert api.delete(f"/api/v1/tags/{tag_id}").status_code == 204
    assert not Tag.objects.filter(pk=tag_id).exists()


def test_lists_crud_and_members_by_ids_and_emails(api, workspace):
    list_id = api.post(
        "/api/v1/lists", {"name": "Newsletter", "double_opt_in": True}, format="json"
    ).json()["id"]
    a, b = ContactFactory(workspace=workspace), ContactFactory(workspace=workspace)
    response = api.post(
        f"/api/v1/lists/{list_id}/contacts",
        {"ids": [str(a.id)], "emails": [b.email.upper(), "nobody@example.com"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {"changed": 2, "not_found": ["nobody@example.com"]}
    members = api.get(f"/api/v1/lists/{list_id}/contacts").json()["results"]
    assert {m["id"] for m in members} == {str(a.id), str(b.id)}
    assert api.get(f"/api/v1/lists/{list_id}").json()["contact_count"] == 2
    response = api.delete(f"/api/v1/lists/{list_id}/contacts", {"ids": [str(a.id)]}, format="json")
    assert response.json()["changed"] == 1
    assert ContactList.objects.get(pk=list_id).contacts.get() == b
    assert api.post("/api/v1/lists", {"name": "Newsletter"}, format="json").status_code == 409
    assert api.delete(f"/api/v1/lists/{list_id}").status_code == 204


def test_list_members_of_another_workspace_are_not_found(api, workspace, outsider):
    contact_list = ContactListFactory(workspace=workspace)
    response = api.post(
        f"/api/v1/lists/{contact_list.id}/contacts",
        {"ids": [str(outsider.contact.id)], "emails": [outsider.contact.email]},
        format="json",
    )
    assert response.json()["changed"] == 0
    assert len(response.json()["not_found"]) == 2
    assert not contact_list.contacts.exists()


def test_list_members_need_ids_or_emails(api, workspace):
    contact_list = ContactListFactory(workspace=workspace)
    assert (
        api.post(f"/api/v1/lists/{contact_list.id}/contacts", {}, format="json").status_code == 400
    )


# --- companies ---------------------------------------------------------------------------------


def test_companies_crud_with_contact_roles(api, workspace):
    contact = ContactFactory(workspace=workspace)
    response = api.post(
        "/api/v1/companies",
        {
            "name": "Acme",
            "domain": "acme.example",
            "industry": "SaaS",
            "spend": "1200.50",
            "contacts": [{"id": str(contact.id), "role": "Decision Maker"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    company = response.json()
    assert company["contacts"] == [{"id": str(contact.id), "role": "Decision Maker"}]
    assert company["contact_count"] == 1
    detail = api.get(f"/api/v1/contacts/{contact.id}").json()
    assert detail["companies"] == [{"id": company["id"], "name": "Acme", "role": "Decision Maker"}]
    updated = api.patch(
        f"/api/v1/companies/{company['id']}",
        {"contacts": [{"id": str(contact.id), "role": "Billing"}]},
        format="json",
    ).json()
    assert updated["contacts"][0]["role"] == "Billing"
    assert api.delete(f"/api/v1/companies/{company['id']}").status_code == 204


def test_a_company_cannot_take_another_workspaces_contact(api, outsider):
    response = api.post(
        "/api/v1/companies",
        {"name": "Acme", "contacts": [{"id": str(outsider.contact.id)}]},
        format="json",
    )
    assert response.status_code == 400
    assert "contacts" in response.json()["error"]["fields"]


def test_company_spend_must_be_a_number(api):
    response = api.post("/api/v1/companies", {"name": "Acme", "spend": "lots"}, format="json")
    assert response.status_code == 400
    assert "spend" in response.json()["error"]["fields"]
