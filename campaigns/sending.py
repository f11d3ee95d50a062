"""Sending a batch of a campaign, and one transactional email."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns import pipeline
from campaigns.content import (
    LinkBook,
    build_email,
    campaign_sender,
    campaign_source,
    message_urls,
    track,
)
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.senders import Senders
from campaigns.transport import ConnectionLost, DeliveryError, new_message_id
from contacts.models import Contact
from deliverability.services import blocked_addresses

logger = logging.getLogger("mailcrm.sending")


def _compile(subject: str, html: str, text: str):
    from templates.rendering import compile_template

    return compile_template(subject, html, text)


def _context(contact: Contact | None, campaign: Campaign | None, message: Message, variables=None):
    from templates.rendering import build_context

    context = build_context(
        contact=contact, workspace=message.workspace, campaign=campaign, urls=message_urls(message)
    )
    if variables:
        context = {**variables, **context} if contact else {**context, **variables}
    return context


def send_batch(campaign_id) -> int:
    """Send up to one batch of a sending campaign; returns how many messages were settled
    (sent, failed, suppressed …). Safe to run twice or concurrently: messages are claimed,
    then won one by one."""
    campaign = Campaign.objects.select_related("workspace").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        return 0
    ids = pipeline.claim(campaign.pk)
    if not ids:
        pipeline.finish_if_done(campaign.pk)
        return 0
    messages = list(Message.objects.filter(id__in=ids).select_related("workspace").order_by("id"))
    blocked = blocked_addresses(
        campaign.workspace_id,
        [m.email for m in messages],
        domain_id=campaign.sending_domain_id,
        marketing=True,
    )
    pipeline.record_suppressed(m.id for m in messages if m.email.lower() in blocked)
    settled = len(messages)
    messages = [m for m in messages if m.email.lower() not in blocked]
    settled -= len(messages)
    contacts = Contact.objects.in_bulk([m.contact_id for m in messages if m.contact_id])
    subject, html, text = campaign_source(campaign)
    compiled = _compile(subject, html, text)
    sender = campaign_sender(campaign)
    links = (
        LinkBook(campaign.workspace_id, campaign_id=campaign.pk) if campaign.track_clicks else None
    )
    senders = Senders(campaign.workspace)
    transport = senders.for_address(sender[1])
    errors_in_a_row = 0
    try:
        for index, message in enumerate(messages):
            if index % pipeline.STATUS_CHECK_EVERY == 0 and index and not _still_sending(campaign):
                break
            if campaign.rate_per_minute and not pipeline.take_slot(
                f"campaign:{campaign.pk}", campaign.rate_per_minute
            ):
                break  # the budget of this minute is spent; the chain comes back later
            if not senders.take_slot(sender[1]):
                break  # so is the sending backend's
            settled += 1
            contact = contacts.get(message.contact_id)
            if contact is None or contact.status != "active" or contact.archived_at:
                pipeline.record_suppressed([message.id])
                continue
            outcome = _send_one(campaign, message, contact, compiled, sender, links, transport)
            errors_in_a_row = errors_in_a_row + 1 if outcome in ("error", None) else 0
            if errors_in_a_row >= pipeline.ERROR_BURST:
                pipeline.pause_for_errors(
                    campaign.pk, f"{errors_in_a_row} failures in a row; last: {message.error}"
                )
                break
    finally:
        senders.close()
        pipeline.release(ids)
    pipeline.finish_if_done(campaign.pk)
    return settled


def _still_sending(campaign: Campaign) -> bool:
    return Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).exists()


def _send_one(campaign, message, contact, compiled, sender, links, transport) -> str | None:
    try:
        rendered = compiled.render(_context(contact, campaign, message))
    except Exception as exc:  # a template error must not stop the campaign
        message.error = f"rendering failed: {exc}"[:2000]  # the pause reason quotes it
        Message.objects.filter(id=message.id).update(
            status=MessageStatus.FAILED, error=message.error
        )
        return "error"
    from_name, from_email = sender
    message.message_id = new_message_id(from_email.rpartition("@")[2])
    html = track(rendered.html, message, links, opens=campaign.track_opens) if rendered.html else ""
    email = build_email(
        message=message,
        subject=rendered.subject,
        html=html,
        text=rendered.text,
        from_email=from_email,
        from_name=from_name,
        reply_to=campaign.reply_to,
        marketing=True,
    )
    if not pipeline.mark_sending(message.id):
        return None  # another worker won it
    Message.objects.filter(id=message.id).update(message_id=message.message_id)
    try:
        provider_id = transport.send(email)
    except DeliveryError as exc:
        message.error = exc.message
        status = pipeline.record_failure(message, exc)
        if isinstance(exc, ConnectionLost):
            transport.close()
        return "error" if status != MessageStatus.BOUNCED else "bounced"
    pipeline.record_sent(message, provider_id or message.message_id)
    _engagement(contact, campaign)
    return "sent"


def _engagement(contact: Contact, campaign: Campaign | None) -> None:
    try:
        from contacts.scoring import record_engagement
    except ImportError:
        Contact.objects.filter(pk=contact.pk).update(
            sends=contact.sends + 1, last_sent_at=timezone.now()
        )
        return
    record_engagement(contact=contact, event="sent", campaign_id=campaign.pk if campaign else None)


def send_transactional(message_id) -> str:
    """Send one transactional message (queued by the API); returns its final status."""
    message = Message.objects.select_related("workspace").filter(pk=message_id).first()
    if message is None or message.status != MessageStatus.QUEUED:
        return message.status if message else "missing"
    payload = dict(message.payload)
    payload.setdefault("to", [message.email])
    everyone = [
        *payload.get("to", [message.email]),
        *payload.get("cc", []),
        *payload.get("bcc", []),
    ]
    blocked = blocked_addresses(message.workspace_id, everyone, marketing=False)
    for field in ("to", "cc", "bcc"):
        payload[field] = [a for a in payload.get(field) or [] if a.lower() not in blocked]
    if not payload["to"]:
        pipeline.record_suppressed([message.id])
        return MessageStatus.SUPPRESSED
    contact = Contact.objects.filter(pk=message.contact_id).first() if message.contact_id else None
    try:
        compiled = _compile(
            payload.get("subject", ""), payload.get("html", ""), payload.get("text", "")
        )
        rendered = compiled.render(_context(contact, None, message, payload.get("variables") or {}))
    except (ValidationError, Exception) as exc:
        Message.objects.filter(id=message.id).update(
            status=MessageStatus.FAILED, error=f"rendering failed: {exc}"[:2000]
        )
        return MessageStatus.FAILED
    links = (
        LinkBook(message.workspace_id, message_id=message.pk)
        if payload.get("track_clicks")
        else None
    )
    html = (
        track(rendered.html, message, links, opens=bool(payload.get("track_opens")))
        if rendered.html
        else ""
    )
    message.message_id = new_message_id(payload["from_email"].rpartition("@")[2])
    email = build_email(
        message=message,
        subject=rendered.subject,
        html=html,
        text=rendered.text,
        from_email=payload["from_email"],
        from_name=payload.get("from_name", ""),
        reply_to=payload.get("reply_to", ""),
        to=payload["to"],
        cc=payload.get("cc"),
        bcc=payload.get("bcc"),
        headers=payload.get("headers"),
        marketing=False,
    )
    if not pipeline.mark_sending(message.id):
        return MessageStatus.SENDING
    Message.objects.filter(id=message.id).update(message_id=message.message_id)
    senders = Senders(message.workspace_id)
    # Transactional mail never waits for the backend's budget, but spends it: campaigns slow
    # down instead.
    senders.take_slot(payload["from_email"])
    try:
        provider_id = senders.for_address(payload["from_email"]).send(email)
    except DeliveryError as exc:
        message.error = exc.message
        return pipeline.record_failure(message, exc)
    finally:
        senders.close()
    pipeline.record_sent(message, provider_id or message.message_id)
    return MessageStatus.SENT
