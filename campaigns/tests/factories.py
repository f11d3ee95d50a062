"""Campaign test data: a draft campaign to a list of active contacts."""

from __future__ import annotations

from campaigns import services
from campaigns.models import Campaign
from contacts.models import ContactList
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory


def list_campaign(workspace, people: int) -> tuple[Campaign, ContactList]:
    """A draft campaign whose audience is a new list of ``people`` active contacts (its
    from-domain, acme.example, must be verified: the ``verified_domains`` fixture)."""
    newsletter = ContactListFactory(workspace=workspace)
    for contact in ContactFactory.create_batch(people, workspace=workspace, status="active"):
        ListMembershipFactory(contact=contact, contact_list=newsletter)
    campaign = services.campaign_create(
        workspace=workspace,
        name="News",
        subject="Hi",
        html="<p>Hi</p>",
        from_email="news@acme.example",
        audience={"lists": [str(newsletter.pk)]},
    )
    return campaign, newsletter
