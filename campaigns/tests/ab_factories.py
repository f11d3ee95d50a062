"""Builders for the A/B test tests: an audience of many contacts on one list, and a campaign
with an A/B test through the services (no fixture files)."""

from __future__ import annotations

import factory

from campaigns import ab, services
from campaigns.models import Campaign
from contacts.models import ListMembership
from contacts.tests.factories import ContactFactory, ContactListFactory

HTML = (
    "<html><body><p>Hello {{ contact.first_name }}</p>"
    '<a href="https://example.org/a">A link</a></body></html>'
)


def audience_list(workspace, size: int, *, prefix: str = "p"):
    """A list of ``size`` active contacts ``{prefix}<n>@example.com``."""
    contact_list = ContactListFactory(workspace=workspace, name=f"List of {size} ({prefix})")
    contacts = ContactFactory.create_batch(
        size,
        workspace=workspace,
        email=factory.Sequence(lambda n: f"{prefix}{n}@example.com"),
        first_name="Pat",
    )
    ListMembership.objects.bulk_create(
        [ListMembership(contact=contact, contact_list=contact_list) for contact in contacts]
    )
    return contact_list


def ab_campaign(
    workspace,
    contact_list,
    *,
    share: int = 50,
    criterion: str = "open",
    wait_minutes: int = 240,
    variants: list[dict] | None = None,
    **fields,
) -> Campaign:
    campaign = services.campaign_create(
        workspace=workspace,
        **{
            "name": "A/B news",
            "subject": "Base subject",
            "html": HTML,
            "from_email": "news@acme.io",
            "from_name": "Acme",
            "audience": {"lists": [str(contact_list.id)]},
        }
        | fields,
    )
    ab.ab_configure(
        campaign=campaign,
        share=share,
        criterion=criterion,
        wait_minutes=wait_minutes,
        variants=variants
        or [{"subject": "Subject A"}, {"subject": "Subject B", "from_name": "Acme B"}],
    )
    return campaign
