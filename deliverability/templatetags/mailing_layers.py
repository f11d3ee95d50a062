"""``{% mailing_layers contact %}``: the unsubscribes and suppressions in force on a contact's
address, layer by layer (global, sending domain, list), for the contact page."""

from __future__ import annotations

from django import template

from deliverability.services import layers_in_force

register = template.Library()


@register.inclusion_tag("deliverability/_contact_layers.html")
def mailing_layers(contact) -> dict:
    return {"layers": layers_in_force(contact.workspace_id, contact.email)}
