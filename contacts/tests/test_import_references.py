"""The references an import writes in bulk carry no database constraint (contact -> workspace,
tag, list and company links; migration 0015): every delete path must still leave no row
pointing at nothing, and touch no other workspace."""

import pytest

from contacts.bulk import bulk_start
from contacts.imports import import_run, import_start
from contacts.merge import contacts_merge
from contacts.models import Company, CompanyRole, Contact, ContactList, ContactTag, ListMembership
from contacts.models import Tag as TagModel
from contacts.tests.factories import ContactListFactory
from mailcrm.models import Workspace
from privacy.services import contact_erase

CSV = (
    "email,first_name,company\n"
    "ann@initech.example,Ann,Initech\n"
    "bob@initech.example,Bob,\n"
    "cat@globex.example,Cat,Globex\n"
)


@pytest.fixture
def imported(workspace):
    contact_list = ContactListFactory(workspace=workspace, name="Imported")
    job = import_start(
        workspace=workspace,
        data=CSV.encode(),
        filename="people.csv",
        mapping=None,
        tags=["fair"],
        contact_list=contact_list,
    )
    job = import_run(job.pk)
    assert job.created == 3
    contacts = {c.email: c for c in Contact.objects.for_workspace(workspace)}
    assert ContactTag.objects.filter(contact__in=contacts.values()).count() == 3
    assert ListMembership.objects.filter(contact_list=contact_list).count() == 3
    assert CompanyRole.objects.filter(contact__in=contacts.values()).count() == 3
    return contacts


def _orphans() -> dict[str, int]:
    contacts = Contact.objects.values("pk")
    return {
        "contact_without_workspace": Contact.objects.exclude(
            workspace_id__in=Workspace.objects.values("pk")
        ).count(),
        "tag_link": ContactTag.objects.exclude(contact_id__in=contacts).count()
        + ContactTag.objects.exclude(tag_id__in=TagModel.objects.values("pk")).count(),
        "list_link": ListMembership.objects.exclude(contact_id__in=contacts).count()
        + ListMembership.objects.exclude(
            contact_list_id__in=ContactList.objects.values("pk")
        ).count(),
        "company_link": CompanyRole.objects.exclude(contact_id__in=contacts).count()
        + CompanyRole.objects.exclude(company_id__in=Company.objects.values("pk")).count(),
    }


NONE = {"contact_without_workspace": 0, "tag_link": 0, "list_link": 0, "company_link": 0}


def _outsider_intact(outsider):
    assert Contact.objects.filter(pk=outsider.contact.pk).exists()
    assert ContactTag.objects.filter(contact=outsider.contact, tag=outsider.tag).exists()
    assert ListMembership.objects.filter(contact=outsider.contact).exists()


def test_bulk_delete_removes_the_links_of_imported_contacts(workspace, imported, outsider):
    ids = [imported["ann@initech.example"].pk, imported["cat@globex.example"].pk]
    result = bulk_start(workspace=workspace, action="delete", ids=ids)
    assert result.count == 2
    assert _orphans() == NONE
    assert CompanyRole.objects.count() == 1  # bob's
    _outsider_intact(outsider)


def test_bulk_delete_of_another_workspaces_contact_touches_nothing(workspace, imported, outsider):
    result = bulk_start(workspace=workspace, action="delete", ids=[outsider.contact.pk])
    assert result.count == 0
    assert Contact.objects.for_workspace(workspace).count() == 3
    _outsider_intact(outsider)


def test_merge_moves_the_links_and_leaves_none_behind(workspace, imported, outsider):
    primary = imported["ann@initech.example"]
    duplicate = imported["bob@initech.example"]
    contacts_merge(workspace=workspace, primary=primary, duplicates=[duplicate])
    assert not Contact.objects.filter(pk=duplicate.pk).exists()
    assert _orphans() == NONE
    assert ContactTag.objects.filter(contact=primary).count() == 1
    assert CompanyRole.objects.filter(contact=primary).count() == 1
    _outsider_intact(outsider)


def test_privacy_erasure_removes_the_links(workspace, imported, outsider):
    contact_erase(contact=imported["cat@globex.example"])
    assert _orphans() == NONE
    assert not CompanyRole.objects.filter(company__name="Globex").exists()
    _outsider_intact(outsider)


def test_deleting_tag_list_and_company_removes_their_links(workspace, imported):
    TagModel.objects.for_workspace(workspace).get(name="fair").delete()
    ContactList.objects.for_workspace(workspace).get(name="Imported").delete()
    Company.objects.for_workspace(workspace).get(name="Initech").delete()
    assert _orphans() == NONE
    assert CompanyRole.objects.count() == 1  # cat at Globex


def test_deleting_a_workspace_removes_its_contacts_and_links(workspace, imported, outsider):
    Workspace.objects.filter(pk=workspace.pk).delete()
    assert _orphans() == NONE
    assert not Contact.objects.filter(pk__in=[c.pk for c in imported.values()]).exists()
    _outsider_intact(outsider)
