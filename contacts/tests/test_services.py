"""The contact services: rules, activities and events, at the seam below the API."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from contacts import services
from contacts.models import Activity, Contact, ContactTag, ListMembership
from contacts.tests.factories import ContactFactory, ContactListFactory, TagFactory
from mailcrm.exceptions import Conflict, LimitExceeded
from mailcrm.models import Event

pytestmark = pytest.mark.django_db


def test_it_trims_the_email_and_lowercases_its_domain(workspace):
    contact = services.contact_create(workspace=workspace, email="  Ann.Lee@EXAMPLE.org ")
    assert contact.email == "Ann.Lee@example.org"


def test_a_duplicate_email_is_refused_in_any_case(workspace):
    first = services.contact_create(workspace=workspace, email="ann@example.org")
    with pytest.raises(Conflict) as caught:
        services.contact_create(workspace=workspace, email="ANN@example.org")
    assert caught.value.extra["id"] == str(first.id)


def test_the_database_refuses_a_case_variant_duplicate(workspace):
    from django.db import IntegrityError

    ContactFactory(workspace=workspace, email="ann@example.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactFactory(workspace=workspace, email="Ann@Example.org")


def test_unknown_fields_are_refused(workspace):
    with pytest.raises(ValidationError) as caught:
        services.contact_create(workspace=workspace, email="a@example.org", favourite_colour="red")
    assert "favourite_colour" in caught.value.message_dict


def test_the_contact_limit_counts_every_contact(workspace):
    workspace.limit_contacts = 2
    workspace.save()
    services.contact_create(workspace=workspace, email="a@example.org")
    archived = services.contact_create(workspace=workspace, email="b@example.org")
    services.contact_archive(contact=archived)
    with pytest.raises(LimitExceeded) as caught:
        services.contact_create(workspace=workspace, email="c@example.org")
    assert caught.value.limit == "contacts"
    assert Contact.objects.count() == 2


def test_no_limit_means_unlimited(workspace):
    workspace.limit_contacts = None
    workspace.save()
    for n in range(3):
        services.contact_create(workspace=workspace, email=f"{n}@example.org")
    assert Contact.objects.count() == 3


def test_a_failed_change_leaves_no_event_behind(workspace):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.contact_create(workspace=workspace, email="a@example.org")
        raise RuntimeError("rolled back")
    assert not Event.objects.exists()
    assert not Contact.objects.exists()


def test_tags_resolve_case_insensitively_inside_the_workspace(workspace, outsider):
    existing = TagFactory(workspace=workspace, name="VIP")
    contact = ContactFactory(workspace=workspace)
    added = services.contact_tag(contact=contact, names=["vip", "outsider-tag"])
    assert existing in added
    new_tag = next(tag for tag in added if tag != existing)
    assert new_tag.workspace == workspace and new_tag != outsider.tag
    assert services.contact_tag(contact=contact, names=["Vip"]) == []
    assert ContactTag.objects.filter(contact=contact).count() == 2


def test_tag_events_and_activities(workspace):
    contact = ContactFactory(workspace=workspace)
    services.contact_tag(contact=contact, names=["vip"])
    services.contact_untag(contact=contact, name="VIP")
    kinds = list(Activity.objects.filter(contact=contact).values_list("kind", flat=True))
    assert sorted(kinds) == ["tagged", "untagged"]
    changes = [e.data["changed"]["tags"] for e in Event.objects.filter(type="contact.updated")]
    assert {"added": ["vip"]} in changes and {"removed": ["vip"]} in changes


def test_list_membership_is_added_once_and_logged(workspace):
    contact_list = ContactListFactory(workspace=workspace)
    contacts = ContactFactory.create_batch(3, workspace=workspace)
    ids = [c.id for c in contacts]
    assert services.list_add_contacts(contact_list=contact_list, contact_ids=ids) == 3
    assert services.list_add_contacts(contact_list=contact_list, contact_ids=ids) == 0
    assert ListMembership.objects.filter(contact_list=contact_list).count() == 3
    assert Activity.objects.filter(kind="list_added").count() == 3
    assert services.list_remove_contacts(contact_list=contact_list, contact_ids=ids[:1]) == 1
    assert Activity.objects.filter(kind="list_removed").count() == 1


def test_bulk_tagging_skips_other_workspaces(workspace, outsider):
    mine = ContactFactory.create_batch(2, workspace=workspace)
    ids = [c.id for c in mine] + [outsider.contact.id]
    assert services.contacts_tag_bulk(workspace=workspace, contact_ids=ids, names=["x"]) == 2
    assert not outsider.contact.tags.filter(name="x").exists()


def test_archived_contacts_are_not_subscribed(workspace):
    contact = ContactFactory(workspace=workspace)
    services.contact_archive(contact=contact)
    assert not Contact.objects.subscribed().filter(pk=contact.pk).exists()
    services.contact_restore(contact=contact)
    assert Contact.objects.subscribed().filter(pk=contact.pk).exists()
