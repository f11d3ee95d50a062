"""Unsubscribes in three layers — global, per sending domain (brand), per list (newsletter) —
with typed reasons, and the campaign snapshot honouring them set-based: a list unsubscribe
drops the contact only from the lists they left, never from the others."""

from __future__ import annotations

import pytest

from campaigns import pipeline
from campaigns.audience import audience_contacts
from campaigns.models import Campaign, Message
from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    TagFactory,
)
from deliverability import services
from deliverability.models import SendingDomain, Unsubscribe
from mailcrm.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(workspace):
    """Two newsletters, two brands and three contacts on both newsletters."""
    weekly = ContactListFactory(workspace=workspace, name="Weekly")
    offers = ContactListFactory(workspace=workspace, name="Offers")
    brand_a = SendingDomain.objects.create(workspace=workspace, domain="brand-a.example")
    brand_b = SendingDomain.objects.create(workspace=workspace, domain="brand-b.example")
    people = [ContactFactory(workspace=workspace, email=f"P{n}@Example.com") for n in range(3)]
    for person in people:
        ListMembershipFactory(contact=person, contact_list=weekly)
        ListMembershipFactory(contact=person, contact_list=offers)
    return {
        "weekly": weekly,
        "offers": offers,
        "a": brand_a,
        "b": brand_b,
        "people": people,
        "workspace": workspace,
    }


def _campaign(world, *lists, tags=(), brand=None) -> Campaign:
    return Campaign.objects.create(
        workspace=world["workspace"],
        name="c",
        audience={
            "lists": [str(item.id) for item in lists],
            "segments": [],
            "tags": [str(tag.id) for tag in tags],
            "exclude_segments": [],
        },
        sending_domain=brand or world["a"],
    )


def _emails(campaign) -> set[str]:
    return {c.email.lower() for c in audience_contacts(campaign)}


def test_leaving_one_list_keeps_the_others(world):
    leaver = world["people"][0]
    services.unsubscribe_record(
        workspace=world["workspace"],
        email=leaver.email,
        source="api",
        contact_list=world["weekly"],
        reason="too_frequent",
    )
    assert "p0@example.com" not in _emails(_campaign(world, world["weekly"]))
    assert "p0@example.com" in _emails(_campaign(world, world["offers"]))
    # Audience of both lists: still reached through the list not left.
    assert "p0@example.com" in _emails(_campaign(world, world["weekly"], world["offers"]))
    leaver.refresh_from_db()
    assert leaver.status == "active"
    assert not services.is_unsubscribed(world["workspace"], leaver.email)
    # Transactional mail and the send-time check are not affected by a list layer.
    assert not services.blocked_addresses(world["workspace"], [leaver.email])


def test_a_contact_left_every_list_of_the_campaign_is_skipped_unless_reached_otherwise(world):
    leaver = world["people"][1]
    for newsletter in (world["weekly"], world["offers"]):
        services.unsubscribe_record(
            workspace=world["workspace"],
            email=leaver.email,
            source="api",
            contact_list=newsletter,
        )
    both = _campaign(world, world["weekly"], world["offers"])
    assert "p1@example.com" not in _emails(both)
    vip = TagFactory(workspace=world["workspace"], name="vip")
    ContactTagFactory(contact=leaver, tag=vip)
    assert "p1@example.com" in _emails(_campaign(world, world["weekly"], tags=[vip]))


def test_the_snapshot_inserts_no_message_for_a_list_leaver(world):
    services.unsubscribe_record(
        workspace=world["workspace"],
        email=world["people"][2].email,
        source="api",
        contact_list=world["weekly"],
    )
    campaign = _campaign(world, world["weekly"])
    assert pipeline.snapshot(campaign) == 2
    emails = set(Message.objects.filter(campaign=campaign).values_list("email", flat=True))
    assert {e.lower() for e in emails} == {"p0@example.com", "p1@example.com"}


def test_a_brand_unsubscribe_stops_that_brand_only(world):
    person = world["people"][0]
    services.unsubscribe_record(
        workspace=world["workspace"],
        email=person.email,
        source="api",
        domain=world["a"],
        reason="not_relevant",
    )
    assert "p0@example.com" not in _emails(_campaign(world, world["weekly"], brand=world["a"]))
    assert "p0@example.com" in _emails(_campaign(world, world["weekly"], brand=world["b"]))


def test_a_global_unsubscribe_wins_over_every_layer(world):
    person = world["people"][0]
    services.unsubscribe_record(
        workspace=world["workspace"], email=person.email, source="api", reason="never_signed_up"
    )
    for brand in (world["a"], world["b"]):
        assert "p0@example.com" not in _emails(_campaign(world, world["offers"], brand=brand))
    person.refresh_from_db()
    assert person.status == "unsubscribed"


def test_a_list_and_a_global_unsubscribe_of_one_address_coexist(world):
    email = world["people"][0].email
    services.unsubscribe_record(
        workspace=world["workspace"], email=email, source="api", contact_list=world["weekly"]
    )
    services.unsubscribe_record(workspace=world["workspace"], email=email, source="api")
    services.unsubscribe_record(  # a replay changes nothing
        workspace=world["workspace"], email=email, source="api", contact_list=world["weekly"]
    )
    layers = [layer["scope"] for layer in services.layers_in_force(world["workspace"], email)]
    assert layers == ["global", "list"]
    assert Unsubscribe.objects.filter(workspace=world["workspace"]).count() == 2


def test_a_list_unsubscribe_is_announced_with_its_scope_and_reason(world):
    services.unsubscribe_record(
        workspace=world["workspace"],
        email=world["people"][0].email,
        source="preferences",
        contact_list=world["weekly"],
        reason="too_frequent",
        reason_text="Daily is too much",
    )
    event = Event.objects.filter(type="contact.unsubscribed").get()
    assert event.data["scope"] == "list"
    assert event.data["list_id"] == str(world["weekly"].id)
    assert event.data["reason"] == "too_frequent"
    assert event.subject_id == world["people"][0].id


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"reason": "bored"}, "reason"),
        ({"contact_list": "weekly", "domain": "a"}, "list_id"),
    ],
)
def test_bad_layers_and_reasons_are_refused(world, kwargs, field):
    from django.core.exceptions import ValidationError

    resolved = {k: world[v] if k in ("contact_list", "domain") else v for k, v in kwargs.items()}
    with pytest.raises(ValidationError) as error:
        services.unsubscribe_record(
            workspace=world["workspace"], email="x@example.com", source="api", **resolved
        )
    assert field in error.value.message_dict


def test_another_workspaces_list_is_refused(world, outsider):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.unsubscribe_record(
            workspace=world["workspace"],
            email="x@example.com",
            source="api",
            contact_list=outsider.list,
        )


def test_signing_up_to_a_list_again_lifts_that_list_unsubscribe_only(world):
    from subscriptions.models import SubscriptionForm
    from subscriptions.services import form_submit

    email = world["people"][0].email
    for newsletter in (world["weekly"], world["offers"]):
        services.unsubscribe_record(
            workspace=world["workspace"], email=email, source="api", contact_list=newsletter
        )
    form = SubscriptionForm.objects.create(
        workspace=world["workspace"], name="Footer", contact_list=world["weekly"]
    )
    form_submit(form=form, data={"email": email})
    assert services.left_lists(world["workspace"], email) == {world["offers"].id}
