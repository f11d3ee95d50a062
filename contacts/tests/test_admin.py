"""The contacts admin: pages render, search, bulk actions through the services, property
validation on the form, bounded query counts."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from contacts.models import (
    Activity,
    ActivityKind,
    Company,
    CompanyRole,
    Contact,
    ContactList,
    ContactTag,
    ListMembership,
    PropertyDefinition,
    PropertyType,
    Tag,
)
from contacts.services import STANDARD_FIELDS
from contacts.tests.factories import (
    ActivityFactory,
    CompanyFactory,
    CompanyRoleFactory,
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    PropertyDefinitionFactory,
    TagFactory,
)
from mailcrm.models import Event

pytestmark = pytest.mark.django_db

MODELS = [Contact, Company, Tag, ContactList, PropertyDefinition, Activity]
CONTACT_INLINES = ("contacttag_set", "listmembership_set", "company_roles", "activities")


@pytest.fixture
def contact(workspace):
    contact = ContactFactory(
        workspace=workspace, email="ada@acme.example", first_name="Ada", last_name="Lovelace"
    )
    ContactTagFactory(contact=contact, tag=TagFactory(workspace=workspace, name="vip"))
    ListMembershipFactory(
        contact=contact, contact_list=ContactListFactory(workspace=workspace, name="News")
    )
    CompanyRoleFactory(contact=contact, company=CompanyFactory(workspace=workspace, name="Acme"))
    ActivityFactory(contact=contact, subject="Renewal call", kind=ActivityKind.CALL)
    PropertyDefinitionFactory(
        workspace=workspace, key="plan", type=PropertyType.SELECT, options=["free", "pro"]
    )
    PropertyDefinitionFactory(workspace=workspace, key="seats", type=PropertyType.NUMBER)
    return contact


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _management(*prefixes: str, **counts: int) -> dict[str, str]:
    data = {}
    for prefix in prefixes:
        data[f"{prefix}-TOTAL_FORMS"] = str(counts.get(prefix, 0))
        data[f"{prefix}-INITIAL_FORMS"] = "0"
    return data


def _contact_data(contact: Contact, **changes) -> dict[str, str]:
    data = {name: getattr(contact, name) for name in STANDARD_FIELDS}
    data |= {"properties": json.dumps(contact.properties)} | changes
    if not data.pop("tracking_opt_out"):
        data.pop("tracking_opt_out", None)
    return data | _management(*CONTACT_INLINES)


def _action(client, action: str, contacts, **form) -> object:
    data = {"action": action, "_selected_action": [c.pk for c in contacts]} | form
    return client.post(_url(Contact, "changelist"), data)


# --- pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_changelist_and_change_page_renders(admin_client, contact, model):
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    obj = model.objects.first()
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200
    assert admin_client.get(_url(model, "add")).status_code == 200


def test_contact_page_shows_inlines_and_engagement(admin_client, contact):
    Contact.objects.filter(pk=contact.pk).update(sends=10, opens=4, clicks=1, score=42)
    page = admin_client.get(_url(Contact, "change", contact.pk)).content.decode()
    timeline = f"/admin/contacts/activity/?contact__id__exact={contact.pk}"
    for text in ("vip", "News", "Acme", "Renewal call", "40%", "42", "<code>plan</code>", timeline):
        assert text in page


@pytest.mark.parametrize("query", ["ada@acme", "Lovelace", "Acme"])
def test_contact_search_by_email_name_and_company(admin_client, contact, query):
    ContactFactory(workspace=contact.workspace, email="other@else.example", last_name="Other")
    page = admin_client.get(_url(Contact, "changelist"), {"q": query})
    assert [c.pk for c in page.context["cl"].result_list] == [contact.pk]


def test_contact_filters(admin_client, contact, outsider):
    ContactFactory(workspace=contact.workspace, status="bounced")
    page = admin_client.get(_url(Contact, "changelist"), {"status__exact": "bounced"})
    assert page.context["cl"].result_count == 1
    page = admin_client.get(
        _url(Contact, "changelist"), {"workspace__id__exact": outsider.workspace.pk}
    )
    assert [c.pk for c in page.context["cl"].result_list] == [outsider.contact.pk]


def test_tags_and_lists_show_contact_counts(admin_client, contact):
    page = admin_client.get(_url(Tag, "changelist"))
    assert [(t.name, t.contact_count) for t in page.context["cl"].result_list] == [("vip", 1)]
    page = admin_client.get(_url(ContactList, "changelist"))
    assert [(cl.name, cl.contact_count) for cl in page.context["cl"].result_list] == [("News", 1)]
    page = admin_client.get(_url(Company, "changelist"))
    assert [(c.name, c.contact_count) for c in page.context["cl"].result_list] == [("Acme", 1)]


def test_contact_changelist_query_count_is_bounded(
    admin_client, workspace, django_assert_max_num_queries
):
    tags = TagFactory.create_batch(3, workspace=workspace)
    for contact in ContactFactory.create_batch(40, workspace=workspace):
        for tag in tags:
            ContactTagFactory(contact=contact, tag=tag)
    with django_assert_max_num_queries(12):
        page = admin_client.get(_url(Contact, "changelist"))
    assert page.status_code == 200 and page.context["cl"].result_count == 40
    with django_assert_max_num_queries(12):
        assert admin_client.get(_url(Contact, "changelist"), {"q": "contact"}).status_code == 200


@pytest.mark.parametrize("model", [Company, Tag, ContactList, PropertyDefinition, Activity])
def test_other_changelists_query_count_is_bounded(
    admin_client, workspace, model, django_assert_max_num_queries
):
    for n in range(20):
        contact = ContactFactory(workspace=workspace)
        CompanyRoleFactory(contact=contact)
        ContactTagFactory(contact=contact)
        ListMembershipFactory(contact=contact)
        PropertyDefinitionFactory(workspace=workspace, key=f"p{n}")
        ActivityFactory(contact=contact)
    with django_assert_max_num_queries(12):
        assert admin_client.get(_url(model, "changelist")).status_code == 200


# --- contact writes go through the services ----------------------------------------------------


def test_adding_a_contact_records_the_event_and_activity(admin_client, workspace, contact):
    data = {
        "workspace": workspace.pk,
        "email": "  grace@Hopper.Example ",
        "first_name": "Grace",
        "status": "active",
        "lifecycle_stage": "lead",
        "source": "manual",
        "properties": json.dumps({"plan": "pro", "seats": "12"}),
    }
    response = admin_client.post(_url(Contact, "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    grace = Contact.objects.get(email="grace@hopper.example")
    assert grace.properties == {"plan": "pro", "seats": 12}
    assert Event.objects.filter(type="contact.created", subject_id=grace.pk).exists()
    assert grace.activities.filter(kind=ActivityKind.CREATED).exists()


def test_changing_a_contact_goes_through_contact_update(admin_client, contact):
    data = _contact_data(contact, job_title="Analyst", properties=json.dumps({"plan": "free"}))
    response = admin_client.post(_url(Contact, "change", contact.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    contact.refresh_from_db()
    assert (contact.job_title, contact.properties) == ("Analyst", {"plan": "free"})
    event = Event.objects.get(type="contact.updated", subject_id=contact.pk)
    assert set(event.data["changed"]) == {"job_title", "properties"}
    assert contact.activities.filter(kind=ActivityKind.UPDATED).exists()
    # The inlines sent no rows: what the contact already had stays.
    assert contact.tags.count() == contact.lists.count() == contact.companies.count() == 1


def test_bad_properties_show_on_the_form(admin_client, contact):
    bad = json.dumps({"plan": "platinum", "seats": "many", "shoe_size": 44})
    response = admin_client.post(
        _url(Contact, "change", contact.pk), _contact_data(contact, properties=bad)
    )
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["properties"])
    assert "plan (select) must be one of: free, pro" in errors
    assert "seats (number) must be a number" in errors
    assert "unknown property 'shoe_size'" in errors
    contact.refresh_from_db()
    assert contact.properties == {}


def test_duplicate_email_shows_on_the_form(admin_client, contact):
    data = {
        "workspace": contact.workspace.pk,
        "email": "ADA@acme.example",
        "status": "active",
        "lifecycle_stage": "lead",
        "source": "manual",
        "properties": "{}",
    }
    response = admin_client.post(_url(Contact, "add"), data)
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors["email"])


def test_contact_limit_shows_on_the_form(admin_client, contact):
    contact.workspace.limit_contacts = 1
    contact.workspace.save()
    data = {
        "workspace": contact.workspace.pk,
        "email": "new@acme.example",
        "status": "active",
        "lifecycle_stage": "lead",
        "source": "manual",
        "properties": "{}",
    }
    response = admin_client.post(_url(Contact, "add"), data)
    assert response.status_code == 200
    assert "allows 1 contacts" in str(response.context["adminform"].form.non_field_errors())


def test_tag_inline_adds_and_removes_through_the_services(admin_client, contact):
    workspace = contact.workspace
    vip_link = ContactTag.objects.get(contact=contact)
    beta = TagFactory(workspace=workspace, name="beta")
    data = _contact_data(contact) | {
        "contacttag_set-TOTAL_FORMS": "2",
        "contacttag_set-INITIAL_FORMS": "1",
        "contacttag_set-0-id": vip_link.pk,
        "contacttag_set-0-contact": contact.pk,
        "contacttag_set-0-tag": vip_link.tag_id,
        "contacttag_set-0-DELETE": "on",
        "contacttag_set-1-contact": contact.pk,
        "contacttag_set-1-tag": beta.pk,
    }
    response = admin_client.post(_url(Contact, "change", contact.pk), data)
    assert response.status_code == 302, response.context["inline_admin_formsets"]
    assert [t.name for t in contact.tags.all()] == ["beta"]
    kinds = set(contact.activities.values_list("kind", "subject"))
    assert {(ActivityKind.TAGGED, "beta"), (ActivityKind.UNTAGGED, "vip")} <= kinds


def test_inline_refuses_a_tag_of_another_workspace(admin_client, contact, outsider):
    data = _contact_data(contact) | {
        "contacttag_set-TOTAL_FORMS": "1",
        "contacttag_set-0-contact": contact.pk,
        "contacttag_set-0-tag": outsider.tag.pk,
    }
    response = admin_client.post(_url(Contact, "change", contact.pk), data)
    assert response.status_code == 200
    [formset] = [
        f for f in response.context["inline_admin_formsets"] if f.formset.prefix == "contacttag_set"
    ]
    assert "Select a valid choice" in str(formset.formset.errors)
    assert not ContactTag.objects.filter(contact=contact, tag=outsider.tag).exists()


def test_list_and_company_inlines_save_through_the_services(admin_client, contact):
    other_list = ContactListFactory(workspace=contact.workspace, name="Customers")
    other_company = CompanyFactory(workspace=contact.workspace, name="Initech")
    role = CompanyRole.objects.get(contact=contact)
    data = _contact_data(contact) | {
        "listmembership_set-TOTAL_FORMS": "1",
        "listmembership_set-0-contact_list": other_list.pk,
        "company_roles-TOTAL_FORMS": "2",
        "company_roles-INITIAL_FORMS": "1",
        "company_roles-0-id": role.pk,
        "company_roles-0-contact": contact.pk,
        "company_roles-0-company": role.company_id,
        "company_roles-0-role": "Billing",
        "company_roles-1-contact": contact.pk,
        "company_roles-1-company": other_company.pk,
        "company_roles-1-role": "Technical Contact",
    }
    response = admin_client.post(_url(Contact, "change", contact.pk), data)
    assert response.status_code == 302, response.context["inline_admin_formsets"]
    assert set(contact.lists.values_list("name", flat=True)) == {"News", "Customers"}
    assert contact.activities.filter(kind=ActivityKind.LIST_ADDED, subject="Customers").exists()
    roles = dict(CompanyRole.objects.filter(contact=contact).values_list("company__name", "role"))
    assert roles == {"Acme": "Billing", "Initech": "Technical Contact"}


def test_deleting_a_contact_records_the_event(admin_client, contact):
    response = admin_client.post(_url(Contact, "delete", contact.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert Event.objects.filter(type="contact.deleted", subject_id=contact.pk).exists()


# --- bulk actions ------------------------------------------------------------------------------


def test_tag_action_asks_for_tags_then_tags_through_the_service(admin_client, contact, outsider):
    second = ContactFactory(workspace=contact.workspace)
    chosen = [contact, second, outsider.contact]
    page = _action(admin_client, "tag_contacts", chosen)
    assert page.status_code == 200
    assert page.templates[0].name == "admin/mailcrm/action_form.html"
    assert 'name="names"' in page.content.decode()

    response = _action(admin_client, "tag_contacts", chosen, apply="1", names="vip, Webinar-2025")
    assert response.status_code == 302
    for c in chosen:
        assert {"vip", "webinar-2025"} <= {t.name.lower() for t in c.tags.all()}
    # Tags are made per workspace, never shared across tenants.
    assert Tag.objects.get(workspace=outsider.workspace, name="Webinar-2025")
    assert ContactTag.objects.filter(tag__workspace=outsider.workspace).count() == 3
    assert second.activities.filter(kind=ActivityKind.TAGGED).count() == 2


def test_tag_action_with_no_names_shows_the_form_again(admin_client, contact):
    page = _action(admin_client, "tag_contacts", [contact], apply="1", names=" , ")
    assert page.status_code == 200
    assert "Give at least one tag." in page.content.decode()


def test_add_to_list_action(admin_client, contact):
    second = ContactFactory(workspace=contact.workspace)
    customers = ContactListFactory(workspace=contact.workspace, name="Customers")
    page = _action(admin_client, "add_to_list", [contact, second])
    assert page.status_code == 200 and "Customers" in page.content.decode()

    response = _action(
        admin_client, "add_to_list", [contact, second], apply="1", contact_list=customers.pk
    )
    assert response.status_code == 302
    assert set(customers.contacts.all()) == {contact, second}
    assert second.activities.filter(kind=ActivityKind.LIST_ADDED).exists()


def test_add_to_list_action_can_make_a_new_list(admin_client, contact):
    response = _action(admin_client, "add_to_list", [contact], apply="1", new_list="Fresh")
    assert response.status_code == 302
    fresh = ContactList.objects.get(workspace=contact.workspace, name="Fresh")
    assert ListMembership.objects.filter(contact_list=fresh, contact=contact).exists()


def test_add_to_list_refuses_contacts_of_several_workspaces(admin_client, contact, outsider):
    data = {"action": "add_to_list", "_selected_action": [contact.pk, outsider.contact.pk]}
    page = admin_client.post(_url(Contact, "changelist"), data, follow=True)
    assert "Select contacts of one workspace" in page.content.decode()
    assert ListMembership.objects.filter(contact=contact).count() == 1


def test_add_to_list_applies_to_all_matching_when_selected_across(admin_client, contact):
    ContactFactory.create_batch(3, workspace=contact.workspace)
    customers = ContactListFactory(workspace=contact.workspace, name="Customers")
    response = _action(
        admin_client,
        "add_to_list",
        [contact],
        apply="1",
        select_across="1",
        contact_list=customers.pk,
    )
    assert response.status_code == 302
    assert customers.contacts.count() == 4


def test_archive_and_restore_actions(admin_client, contact):
    response = _action(admin_client, "archive", [contact], index="0")
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.archived_at is not None
    assert contact.activities.filter(kind=ActivityKind.ARCHIVED).exists()
    page = admin_client.get(_url(Contact, "changelist"), {"archived": "yes"})
    assert [c.pk for c in page.context["cl"].result_list] == [contact.pk]

    _action(admin_client, "restore", [contact], index="0")
    contact.refresh_from_db()
    assert contact.archived_at is None
    assert contact.activities.filter(kind=ActivityKind.RESTORED).exists()


# --- companies, tags, lists, properties, activities --------------------------------------------


def test_company_properties_are_free_form_json(admin_client, contact):
    company = Company.objects.get(name="Acme")
    data = {
        "name": "Acme",
        "domain": "acme.example",
        "properties": "{not json",
    } | _management("contact_roles")
    response = admin_client.post(_url(Company, "change", company.pk), data)
    assert response.status_code == 200
    assert "properties" in response.context["adminform"].form.errors

    data["properties"] = json.dumps({"plan": "gold", "seats": "5"})
    response = admin_client.post(_url(Company, "change", company.pk), data)
    assert response.status_code == 302
    company.refresh_from_db()
    assert company.properties == {"plan": "gold", "seats": "5"}
    assert company.contacts.count() == 1


def test_company_roles_inline_sets_roles(admin_client, contact):
    company = CompanyFactory(workspace=contact.workspace, name="Initech")
    data = {"name": "Initech", "properties": "{}"} | _management("contact_roles")
    data |= {
        "contact_roles-TOTAL_FORMS": "1",
        "contact_roles-0-contact": contact.pk,
        "contact_roles-0-role": "Decision Maker",
    }
    response = admin_client.post(_url(Company, "change", company.pk), data)
    assert response.status_code == 302, response.context["inline_admin_formsets"]
    assert CompanyRole.objects.get(company=company, contact=contact).role == "Decision Maker"


def test_tag_admin_goes_through_the_services_and_checks_names(admin_client, contact):
    workspace = contact.workspace
    response = admin_client.post(_url(Tag, "add"), {"workspace": workspace.pk, "name": "VIP"})
    assert response.status_code == 200
    assert "exists" in str(response.context["adminform"].form.errors["name"])
    response = admin_client.post(_url(Tag, "add"), {"workspace": workspace.pk, "name": "beta"})
    assert response.status_code == 302
    assert Tag.objects.filter(workspace=workspace, name="beta").exists()


def test_list_admin_creates_and_renames(admin_client, contact):
    workspace = contact.workspace
    response = admin_client.post(
        _url(ContactList, "add"), {"workspace": workspace.pk, "name": "News"}
    )
    assert response.status_code == 200
    news = ContactList.objects.get(name="News")
    response = admin_client.post(
        _url(ContactList, "change", news.pk), {"name": "Newsletter", "double_opt_in": "on"}
    )
    assert response.status_code == 302
    news.refresh_from_db()
    assert (news.name, news.double_opt_in) == ("Newsletter", True)


def test_property_definition_admin_checks_options(admin_client, workspace):
    url = _url(PropertyDefinition, "add")
    data = {"workspace": workspace.pk, "key": "tier", "type": "select", "options": "[]"}
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "options" in response.context["adminform"].form.errors
    response = admin_client.post(url, data | {"options": '["gold", "silver"]'})
    assert response.status_code == 302
    assert PropertyDefinition.objects.get(key="tier").options == ["gold", "silver"]


def test_deleting_a_property_definition_removes_its_values(admin_client, contact):
    Contact.objects.filter(pk=contact.pk).update(properties={"plan": "pro", "seats": 3})
    definition = PropertyDefinition.objects.get(key="plan")
    response = admin_client.post(_url(PropertyDefinition, "delete", definition.pk), {"post": "yes"})
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.properties == {"seats": 3}


def test_activity_changelist_filters_by_contact(admin_client, contact):
    ActivityFactory(contact=ContactFactory(workspace=contact.workspace))
    page = admin_client.get(_url(Activity, "changelist"), {"contact__id__exact": contact.pk})
    assert [a.contact_id for a in page.context["cl"].result_list] == [contact.pk]


def test_activity_admin_logs_manual_entries_only(admin_client, contact):
    data = {
        "contact": contact.pk,
        "kind": "note",
        "subject": "Met at the fair",
        "occurred_at_0": "2025-05-01",
        "occurred_at_1": "10:00:00",
    }
    response = admin_client.post(_url(Activity, "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    note = contact.activities.get(subject="Met at the fair")
    assert note.workspace_id == contact.workspace_id
    response = admin_client.post(_url(Activity, "add"), data | {"kind": "created"})
    assert response.status_code == 200
    activity = contact.activities.first()
    page = admin_client.get(_url(Activity, "change", activity.pk)).content.decode()
    assert 'name="_save"' not in page


@pytest.mark.parametrize(
    ("model_name", "field_name", "term"),
    [
        ("companyrole", "contact", "ada"),
        ("companyrole", "company", "acm"),
        ("contact", "workspace", ""),
    ],
)
def test_autocomplete_lookups_work(admin_client, contact, model_name, field_name, term):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "contacts", "model_name": model_name, "field_name": field_name, "term": term},
    )
    assert response.status_code == 200
    assert response.json()["results"]
