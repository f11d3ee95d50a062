"""Message's references stay valid without database-level foreign keys (migration 0008): every
path that deletes a contact, a campaign or a workspace leaves no Message pointing at a row that
is gone, and touches no other workspace's messages."""

from __future__ import annotations

import pytest

from campaigns import services
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Message,
    MessageKind,
    MessageStatus,
    to_contacts,
)
from contacts.merge import contacts_merge
from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from mailcrm.models import Workspace
from privacy.services import contact_erase

pytestmark = pytest.mark.django_db


def _sent(workspace, contact, campaign=None) -> Message:
    return Message.objects.create(
        workspace=workspace,
        campaign=campaign,
        contact=contact,
        kind=MessageKind.CAMPAIGN if campaign else MessageKind.TRANSACTIONAL,
        email=contact.email,
        status=MessageStatus.SENT,
    )


def _orphans() -> list[Message]:
    """Messages naming a workspace, campaign or contact that does not exist."""
    return list(
        Message.objects.exclude(workspace_id__in=Workspace.objects.values("pk"))
        | Message.objects.filter(campaign__isnull=False).exclude(
            campaign_id__in=Campaign.objects.values("pk")
        )
        | Message.objects.filter(contact__isnull=False).exclude(
            contact_id__in=Contact.objects.values("pk")
        )
    )


@pytest.fixture
def spring(workspace) -> Campaign:
    return Campaign.objects.create(
        workspace=workspace, name="Spring", subject="Hi", status=CampaignStatus.SENT
    )


@pytest.fixture
def elsewhere(outsider) -> Message:
    """A message of another workspace, which no deletion here may touch."""
    campaign = Campaign.objects.create(workspace=outsider.workspace, name="Theirs", subject="Hi")
    return _sent(outsider.workspace, outsider.contact, campaign)


def _untouched(message: Message) -> None:
    before = (message.workspace_id, message.campaign_id, message.contact_id)
    message.refresh_from_db()
    assert (message.workspace_id, message.campaign_id, message.contact_id) == before


def test_there_is_no_database_constraint_to_rely_on(workspace, spring):
    # The premise of this module: a row naming a missing contact is accepted by the database.
    ghost = ContactFactory(workspace=workspace)
    message = _sent(workspace, ghost, spring)
    Contact.objects.filter(pk=ghost.pk)._raw_delete(Contact.objects.db)
    message.refresh_from_db()
    assert message.contact_id == ghost.pk
    assert _orphans() == [message]


def test_deleting_a_contact_through_the_api_keeps_its_messages_without_the_contact(
    api, workspace, spring, elsewhere
):
    jane = ContactFactory(workspace=workspace)
    message = _sent(workspace, jane, spring)
    receipt = _sent(workspace, jane)  # a direct send: found through another index

    assert api.delete(f"/api/v1/contacts/{jane.pk}").status_code == 204

    message.refresh_from_db()
    receipt.refresh_from_db()
    assert message.contact_id is None and message.campaign_id == spring.pk
    assert receipt.contact_id is None
    assert _orphans() == []
    _untouched(elsewhere)


def test_to_contacts_finds_campaign_and_direct_messages_of_those_contacts_only(
    workspace, spring, elsewhere
):
    jane, john, other = ContactFactory.create_batch(3, workspace=workspace)
    theirs = {
        _sent(workspace, jane, spring).pk,
        _sent(workspace, jane).pk,
        _sent(workspace, john).pk,
    }
    _sent(workspace, other, spring)

    assert (
        set(Message.objects.filter(to_contacts([jane.pk, john.pk])).values_list("pk", flat=True))
        == theirs
    )


def test_deleting_another_workspaces_contact_is_404_and_keeps_its_messages(
    api, outsider, elsewhere
):
    assert api.delete(f"/api/v1/contacts/{outsider.contact.pk}").status_code == 404
    _untouched(elsewhere)


def test_bulk_delete_nulls_the_contact_of_every_message(api, workspace, spring, elsewhere):
    doomed = ContactFactory.create_batch(3, workspace=workspace)
    messages = [_sent(workspace, contact, spring) for contact in doomed]

    response = api.post(
        "/api/v1/contacts/bulk",
        {"action": "delete", "ids": [str(c.pk) for c in doomed]},
        format="json",
    )

    assert response.status_code in (200, 202), response.content
    assert not Message.objects.filter(pk__in=[m.pk for m in messages], contact__isnull=False)
    assert _orphans() == []
    _untouched(elsewhere)


def test_bulk_delete_with_ids_of_another_workspace_touches_nothing(api, outsider, elsewhere):
    response = api.post(
        "/api/v1/contacts/bulk",
        {"action": "delete", "ids": [str(outsider.contact.pk)]},
        format="json",
    )
    assert response.status_code < 500
    assert Contact.objects.filter(pk=outsider.contact.pk).exists()
    _untouched(elsewhere)


def test_a_merge_moves_the_duplicates_messages_to_the_primary(workspace, spring, elsewhere):
    primary = ContactFactory(workspace=workspace)
    duplicate = ContactFactory(workspace=workspace)
    campaign_message = _sent(workspace, duplicate, spring)
    transactional = _sent(workspace, duplicate)

    contacts_merge(workspace=workspace, primary=primary, duplicates=[duplicate])

    for message in (campaign_message, transactional):
        message.refresh_from_db()
        assert message.contact_id == primary.pk
    assert _orphans() == []
    _untouched(elsewhere)


def test_an_erasure_leaves_no_message_naming_the_contact(workspace, spring, elsewhere):
    jane = ContactFactory(workspace=workspace)
    message = _sent(workspace, jane, spring)

    contact_erase(contact=jane)

    message.refresh_from_db()
    assert message.contact_id is None
    assert _orphans() == []
    _untouched(elsewhere)


def test_deleting_a_campaign_deletes_its_messages(api, workspace, spring, elsewhere):
    jane = ContactFactory(workspace=workspace)
    _sent(workspace, jane, spring)
    transactional = _sent(workspace, jane)

    assert api.delete(f"/api/v1/campaigns/{spring.pk}").status_code == 204

    assert not Message.objects.filter(campaign_id=spring.pk).exists()
    assert Message.objects.filter(pk=transactional.pk).exists()
    assert _orphans() == []
    _untouched(elsewhere)


def test_a_sending_campaign_is_not_deleted_and_keeps_its_messages(workspace, spring):
    Campaign.objects.filter(pk=spring.pk).update(status=CampaignStatus.SENDING)
    spring.refresh_from_db()
    message = _sent(workspace, ContactFactory(workspace=workspace), spring)

    with pytest.raises(services.CampaignStateError):
        services.campaign_delete(campaign=spring)

    assert Message.objects.filter(pk=message.pk).exists()


def test_another_workspaces_campaign_cannot_be_deleted(api, elsewhere):
    assert api.delete(f"/api/v1/campaigns/{elsewhere.campaign_id}").status_code == 404
    _untouched(elsewhere)


def test_deleting_a_workspace_deletes_its_messages(workspace, spring, elsewhere):
    jane = ContactFactory(workspace=workspace)
    _sent(workspace, jane, spring)
    _sent(workspace, jane)

    Workspace.objects.filter(pk=workspace.pk).delete()

    assert not Message.objects.filter(workspace_id=workspace.pk).exists()
    assert _orphans() == []
    _untouched(elsewhere)
