"""Enrichment: contacts on a company domain are linked to that company, created if missing;
free and disposable providers are skipped; company.domain is queryable."""

import pytest

from contacts import services
from contacts.enrichment import company_domain, enrich_contacts
from contacts.models import Company, CompanyRole, Contact
from contacts.query import compile_query
from contacts.tests.factories import CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("jane@Acme.COM", "acme.com"),
        ("bob@sub.acme.io", "sub.acme.io"),
        ("me@gmail.com", None),
        ("me@outlook.com", None),
        ("me@mailinator.com", None),  # disposable
        ("broken", None),
        ("x@localhost", None),
    ],
)
def test_company_domain(email, domain):
    assert company_domain(email) == domain


def test_it_links_contacts_to_a_new_company_per_domain(workspace):
    a = ContactFactory(workspace=workspace, email="a@acme-corp.com", company="Acme Corp")
    b = ContactFactory(workspace=workspace, email="b@acme-corp.com")
    free = ContactFactory(workspace=workspace, email="c@gmail.com")
    throwaway = ContactFactory(workspace=workspace, email="d@mailinator.com")
    added = enrich_contacts(workspace, [a.id, b.id, free.id, throwaway.id])
    assert added == 2
    company = Company.objects.get(workspace=workspace, domain="acme-corp.com")
    assert company.name == "Acme Corp"
    assert set(company.contacts.all()) == {a, b}
    assert not CompanyRole.objects.filter(contact__in=[free, throwaway]).exists()
    # Running it again changes nothing and creates no second company.
    assert enrich_contacts(workspace, [a.id, b.id]) == 0
    assert Company.objects.filter(workspace=workspace).count() == 1


def test_it_reuses_the_existing_company_of_the_domain(workspace):
    existing = CompanyFactory(workspace=workspace, name="Globex", domain="Globex.com")
    contact = ContactFactory(workspace=workspace, email="hank@globex.com")
    assert enrich_contacts(workspace, [contact.id]) == 1
    assert list(contact.companies.all()) == [existing]
    assert Company.objects.filter(workspace=workspace).count() == 1


def test_it_never_touches_another_workspace(workspace, outsider):
    CompanyFactory(workspace=outsider.workspace, domain="initech.com")
    foreign = ContactFactory(workspace=outsider.workspace, email="p@initech.com")
    assert enrich_contacts(workspace, [foreign.id]) == 0
    assert not CompanyRole.objects.filter(contact=foreign).exists()
    assert not Company.objects.filter(workspace=workspace).exists()


def test_contact_create_enriches_and_company_domain_is_queryable(workspace):
    contact = services.contact_create(workspace=workspace, email="joan@umbrella.example")
    services.contact_create(workspace=workspace, email="joan@yahoo.com")
    assert contact.companies.get().domain == "umbrella.example"
    matched = Contact.objects.for_workspace(workspace).filter(
        compile_query('company.domain = "UMBRELLA.example"', workspace)
    )
    assert list(matched) == [contact]


def test_an_email_change_links_the_new_domain(workspace):
    contact = services.contact_create(workspace=workspace, email="sam@gmail.com")
    assert not contact.companies.exists()
    services.contact_update(contact=contact, email="sam@wayne.example")
    assert contact.companies.get().domain == "wayne.example"


def test_it_works_in_bulk(workspace, django_assert_max_num_queries):
    contacts = [
        ContactFactory(workspace=workspace, email=f"p{i}@firm{i % 7}.example") for i in range(60)
    ]
    with django_assert_max_num_queries(12):
        assert enrich_contacts(workspace, [c.id for c in contacts]) == 60
    assert Company.objects.filter(workspace=workspace).count() == 7


def test_the_admin_action_links_the_selected_contacts(admin_client, workspace, outsider):
    mine = ContactFactory(workspace=workspace, email="a@hooli.example")
    theirs = ContactFactory(workspace=outsider.workspace, email="b@hooli.example")
    response = admin_client.post(
        "/admin/contacts/contact/",
        {"action": "link_companies", "_selected_action": [mine.pk, theirs.pk]},
    )
    assert response.status_code == 302
    assert mine.companies.get().workspace == workspace
    assert theirs.companies.get().workspace == outsider.workspace
