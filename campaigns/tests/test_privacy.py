"""campaigns.privacy: what a privacy request reads from and forgets in the messages tables."""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns.models import Campaign, EventType, Message, MessageEvent, MessageKind
from campaigns.privacy import messages_export_for_contact, messages_forget_contact
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _message(workspace, contact, email, campaign=None):
    message = Message.objects.create(
        workspace=workspace,
        campaign=campaign,
        contact=contact,
        kind=MessageKind.CAMPAIGN if campaign else MessageKind.TRANSACTIONAL,
        email=email,
        status="sent",
        payload={"html": "<p>Hi Jane</p>"},
        metadata={"order": 1},
    )
    MessageEvent.objects.create(
        workspace=workspace,
        message=message,
        type=EventType.OPENED,
        occurred_at=timezone.now(),
        data={"user_agent": "Mozilla/5.0", "ip": "203.0.113.7"},
    )
    return message


def test_it_forgets_messages_to_the_contact_or_the_address_and_keeps_the_rows(workspace, outsider):
    jane = ContactFactory(workspace=workspace, email="jane@example.com")
    campaign = Campaign.objects.create(workspace=workspace, name="Spring", subject="Hi")
    by_contact = _message(workspace, jane, "jane@example.com", campaign)
    by_address = _message(workspace, None, "JANE@example.com")  # a transactional mail
    other = _message(workspace, None, "bob@example.com")
    elsewhere = _message(outsider.workspace, None, "jane@example.com")

    ids = messages_forget_contact(
        workspace_id=workspace.pk, contact_id=jane.pk, email="jane@example.com"
    )

    assert set(ids) == {by_contact.pk, by_address.pk}
    for message in (by_contact, by_address):
        message.refresh_from_db()
        assert (message.email, message.contact_id, message.payload, message.metadata) == (
            "erased",
            None,
            {},
            {},
        )
        assert MessageEvent.objects.get(message=message).data == {}
    assert Message.objects.filter(campaign=campaign).count() == 1  # the counts stay right
    for message in (other, elsewhere):
        message.refresh_from_db()
        assert message.email != "erased"
        assert MessageEvent.objects.get(message=message).data


def test_without_a_contact_it_forgets_only_the_address(workspace):
    other = _message(workspace, None, "bob@example.com")
    assert messages_forget_contact(workspace_id=workspace.pk, contact_id=None, email="x@y.z") == []
    other.refresh_from_db()
    assert other.email == "bob@example.com"


def test_the_export_lists_the_contacts_messages_with_their_events(
    workspace, django_assert_max_num_queries
):
    jane = ContactFactory(workspace=workspace, email="jane@example.com")
    campaign = Campaign.objects.create(workspace=workspace, name="Spring", subject="Hi")
    _message(workspace, jane, "jane@example.com", campaign)
    with django_assert_max_num_queries(2):
        (item,) = messages_export_for_contact(workspace_id=workspace.pk, contact_id=jane.pk)
    assert item["campaign"] == "Spring" and item["events"][0]["type"] == "opened"
