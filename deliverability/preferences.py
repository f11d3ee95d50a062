"""The preference centre's one write: a person sets, in one form, which lists they receive,
whether they receive mail from the sending domain (brand) of the message they came from, and
why they leave (typed reason and free text). Each change goes through the unsubscribe
services, layer by layer (see docs/deliverability.md, "Unsubscribe layers")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from contacts import services as contact_services
from contacts.models import Contact, ContactList
from deliverability import services
from deliverability.models import SendingDomain, Unsubscribe, UnsubscribeSource
from mailcrm.models import Workspace


@dataclass
class PreferenceState:
    """What the page shows: each list with whether it is received, the brand's layer and
    the global one."""

    lists: list[tuple[ContactList, bool]] = field(default_factory=list)
    brand: SendingDomain | None = None
    brand_unsubscribed: bool = False
    unsubscribed: bool = False


def preference_state(
    *, workspace: Workspace, email: str, contact: Contact | None, brand: SendingDomain | None
) -> PreferenceState:
    member_of = set(contact.lists.values_list("id", flat=True)) if contact else set()
    left = services.left_lists(workspace, email)
    lists = ContactList.objects.for_workspace(workspace).order_by("name")
    return PreferenceState(
        lists=[(item, item.id in member_of and item.id not in left) for item in lists],
        brand=brand,
        brand_unsubscribed=brand is not None
        and Unsubscribe.objects.filter(
            workspace=workspace, email=services.normalize(email), domain=brand
        ).exists(),
        unsubscribed=services.is_unsubscribed(workspace, email),
    )


@transaction.atomic
def preferences_save(
    *,
    workspace: Workspace,
    email: str,
    contact: Contact | None,
    wanted_list_ids: set[str],
    brand: SendingDomain | None,
    keep_brand: bool,
    reason: str = "",
    reason_text: str = "",
    campaign_id: Any = None,
) -> None:
    """Apply the form: a list unticked becomes a list unsubscribe (the membership stays, so a
    later import cannot re-add the person to that newsletter); a list ticked again lifts it (and
    joins the list if needed); the brand box records or lifts the domain unsubscribe."""
    state = preference_state(workspace=workspace, email=email, contact=contact, brand=brand)
    member_of = set(contact.lists.values_list("id", flat=True)) if contact else set()
    common = {"workspace": workspace, "email": email, "source": UnsubscribeSource.PREFERENCES}
    leaving = {"reason": reason, "reason_text": reason_text, "campaign_id": campaign_id}
    for contact_list, receiving in state.lists:
        wanted = str(contact_list.id) in wanted_list_ids
        if wanted and not receiving and contact is not None:
            if contact_list.id not in member_of:
                contact_services.list_add_contacts(
                    contact_list=contact_list, contact_ids=[contact.id]
                )
            services.list_resubscribe(workspace=workspace, email=email, contact_list=contact_list)
        elif not wanted and receiving:
            services.unsubscribe_record(**common, contact_list=contact_list, **leaving)
    if brand is None:
        return
    if keep_brand and state.brand_unsubscribed:
        entry = Unsubscribe.objects.get(
            workspace=workspace, email=services.normalize(email), domain=brand
        )
        services.unsubscribe_remove(unsubscribe=entry)
    elif not keep_brand and not state.brand_unsubscribed:
        services.unsubscribe_record(**common, domain=brand, **leaving)
