"""The preference centre (``/p/{token}``, linked from every marketing email): the three
unsubscribe layers a person controls — each list (newsletter), the sending domain (brand) the
mail came from, and all mail — with a reason for leaving. The writes are
``deliverability.preferences.preferences_save``; this view parses and renders."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from campaigns.content import campaign_sender
from campaigns.models import Message
from campaigns.public import _limited, _message_for, _too_many, _unsubscribe, reason_from
from deliverability import services as deliverability
from deliverability.domains import sending_domain_for
from deliverability.models import SendingDomain, UnsubscribeReason, UnsubscribeSource
from deliverability.preferences import preference_state, preferences_save


def message_brand(message: Message) -> SendingDomain | None:
    """The sending domain the message went out from, if it is one of the workspace's."""
    if message.campaign_id is not None:
        campaign = message.campaign
        return sending_domain_for(
            message.workspace_id,
            sending_domain=campaign.sending_domain,
            from_email=campaign_sender(campaign)[1] or message.workspace.default_from_email,
        )
    return sending_domain_for(
        message.workspace_id,
        sending_domain=None,
        from_email=(message.payload or {}).get("from_email", ""),
    )


@require_http_methods(["GET", "POST"])
def preferences(request, token: str):
    if _limited(request, "preferences", token):
        return _too_many()
    message = _message_for(token, "preferences")
    workspace = message.workspace
    contact = message.contact if message.contact_id else None
    brand = message_brand(message)
    saved = False
    if request.method == "POST":
        action = request.POST.get("action")
        reason, reason_text = reason_from(request.POST)
        if action == "unsubscribe_all":
            with transaction.atomic():
                deliverability.unsubscribe_record(
                    workspace=workspace,
                    email=message.email,
                    source=UnsubscribeSource.PREFERENCES,
                    reason=reason,
                    reason_text=reason_text,
                    campaign_id=message.campaign_id,
                )
                _unsubscribe(message, UnsubscribeSource.PREFERENCES)
        elif action == "resubscribe":
            deliverability.resubscribe(workspace=workspace, email=message.email)
        elif action == "save":
            preferences_save(
                workspace=workspace,
                email=message.email,
                contact=contact,
                wanted_list_ids=set(request.POST.getlist("lists")),
                brand=brand,
                keep_brand=request.POST.get("brand") == "on",
                reason=reason,
                reason_text=reason_text,
                campaign_id=message.campaign_id,
            )
        saved = action in ("unsubscribe_all", "resubscribe", "save")
    state = preference_state(workspace=workspace, email=message.email, contact=contact, brand=brand)
    return render(
        request,
        "campaigns/public/preference_centre.html",
        {
            "message": message,
            "state": state,
            "can_choose_lists": contact is not None,
            "reasons": UnsubscribeReason.choices,
            "saved": saved,
            "token": token,
        },
    )
