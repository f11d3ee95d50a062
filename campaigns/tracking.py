"""What a tracking hit means: which message and link a token names, whether a person or a
machine (privacy proxy, security scanner) made it, and what it changes."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from campaigns.models import EventType, Link, Message, MessageEvent
from campaigns.pipeline import message_event
from campaigns.tokens import read_token

# Clicks this soon after the send are almost always a mail scanner following every link.
SCANNER_WINDOW = timedelta(seconds=10)
_MACHINE_AGENTS = re.compile(
    r"GoogleImageProxy|ggpht\.com|YahooMailProxy|Outlook-iOS|Barracuda|Mimecast|Proofpoint|"
    r"Symantec|MessageLabs|Forcepoint|Trend ?Micro|bot\b|spider|crawler|python-requests|curl/|"
    r"Go-http-client|HeadlessChrome",
    re.IGNORECASE,
)


def describe_agent(user_agent: str) -> dict[str, str]:
    """Device type, client and OS from a user agent, by plain patterns."""
    agent = user_agent or ""
    lowered = agent.lower()
    if "ipad" in lowered or "tablet" in lowered:
        device = "tablet"
    elif any(word in lowered for word in ("iphone", "android", "mobile")):
        device = "mobile"
    elif agent:
        device = "desktop"
    else:
        device = "unknown"
    clients = [
        ("GoogleImageProxy", "Gmail"),
        ("Thunderbird", "Thunderbird"),
        ("Outlook", "Outlook"),
        ("Microsoft Office", "Outlook"),
        ("AppleWebKit", "Apple Mail"),
        ("Edg/", "Edge"),
        ("Firefox", "Firefox"),
        ("Chrome", "Chrome"),
        ("Safari", "Safari"),
    ]
    client = next((name for needle, name in clients if needle in agent), "other" if agent else "")
    systems = [
        ("Windows", "Windows"),
        ("iPhone", "iOS"),
        ("iPad", "iOS"),
        ("Mac OS X", "macOS"),
        ("Android", "Android"),
        ("Linux", "Linux"),
    ]
    os_name = next((name for needle, name in systems if needle in agent), "")
    return {"device_type": device, "client": client, "os": os_name}


def is_machine(*, user_agent: str, method: str, message: Message, kind: str) -> bool:
    if method == "HEAD" or _MACHINE_AGENTS.search(user_agent or ""):
        return True
    if kind == EventType.CLICKED and message.sent_at is not None:
        return timezone.now() - message.sent_at < SCANNER_WINDOW
    return False


def resolve_open(token: str) -> Message | None:
    found = read_token(token, "open")
    if found is None:
        return None
    return Message.objects.select_related("workspace").filter(pk=found.message_id).first()


def resolve_click(token: str) -> tuple[Message, Link] | None:
    """The message and the stored link a click token names — only a link that was in that
    message (its campaign's links, or its own)."""
    found = read_token(token, "click")
    if found is None:
        return None
    message = Message.objects.select_related("workspace").filter(pk=found.message_id).first()
    if message is None:
        return None
    owner = {"campaign_id": message.campaign_id} if message.campaign_id else {"message": message}
    link = Link.objects.filter(pk=found.link_id, **owner).first()
    return (message, link) if link is not None else None


def record_hit(
    *, message: Message, kind: str, user_agent: str, method: str, url: str = ""
) -> MessageEvent | None:
    """Store the hit (one INSERT) and, for a person's hit, update the contact's engagement.
    Nothing is recorded for a contact who opted out of tracking."""
    from contacts.models import Contact

    contact = Contact.objects.filter(pk=message.contact_id).first() if message.contact_id else None
    if contact is not None and contact.tracking_opt_out:
        return None
    machine = is_machine(user_agent=user_agent, method=method, message=message, kind=kind)
    event = message_event(
        message,
        kind,
        url=url,
        is_machine=machine,
        user_agent=(user_agent or "")[:500],
        **describe_agent(user_agent),
    )
    if contact is not None and not machine:
        _engagement(contact, "opened" if kind == EventType.OPENED else "clicked", message)
    return event


def _engagement(contact, event: str, message: Message) -> None:
    try:
        from contacts.scoring import record_engagement
    except ImportError:
        return
    record_engagement(contact=contact, event=event, campaign_id=message.campaign_id)
