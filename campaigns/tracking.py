"""What a tracking hit means: which message and link a token names, whether a person or a
machine (privacy proxy, security scanner) made it, and what it changes."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlparse

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from ua_parser import parse as ua_parse

from campaigns import engagement
from campaigns.models import Campaign, EventType, Link, Message, MessageEvent
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


# How long a campaign's tracking host is remembered in a process: one lookup per campaign and
# worker instead of one per message; a newly verified (or dropped) tracking domain is picked up
# within this time.
BASE_URL_TTL = 60.0
_base_urls: dict[tuple, tuple[float, str]] = {}


def tracking_base_url(message: Message) -> str:
    """The scheme and host of a message's open pixel and click links: the verified tracking
    domain of its sending domain, else PUBLIC_BASE_URL."""
    if message.campaign_id:
        key: tuple = (settings.PUBLIC_BASE_URL, message.campaign_id)
    else:
        sender = (message.payload or {}).get("from_email", "")
        key = (settings.PUBLIC_BASE_URL, message.workspace_id, sender.rpartition("@")[2].lower())
    cached = _base_urls.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    base = _base_url_for(message)
    if len(_base_urls) > 10_000:
        _base_urls.clear()
    _base_urls[key] = (time.monotonic() + BASE_URL_TTL, base)
    return base


def _base_url_for(message: Message) -> str:
    from campaigns.content import campaign_sender
    from deliverability.domains import sending_domain_for

    default = settings.PUBLIC_BASE_URL
    if message.campaign_id:
        campaign = (
            Campaign.objects.select_related("sending_domain__tracking_domain")
            .filter(pk=message.campaign_id)
            .first()
        )
        if campaign is None:
            return default
        domain = sending_domain_for(
            campaign.workspace_id,
            sending_domain=campaign.sending_domain,
            from_email=campaign_sender(campaign)[1],
        )
    else:
        domain = sending_domain_for(
            message.workspace_id,
            sending_domain=None,
            from_email=(message.payload or {}).get("from_email", ""),
        )
    tracking = domain.tracking_domain if domain is not None else None
    if tracking is None or not tracking.is_verified:
        return default
    if tracking.ssl_enabled:
        return f"https://{tracking.domain}"
    # No certificate yet: plain http only where our own links are plain http too (never
    # downgrade https links).
    if urlparse(default).scheme == "http":
        return f"http://{tracking.domain}"
    return default


def forget_tracking_base_urls() -> None:
    _base_urls.clear()


# ua-parser's family names of mail clients that render HTML in a web view, mapped to the
# client people know.
_CLIENT_NAMES = {
    "Mobile Safari UI/WKWebView": "Apple Mail",
    "Apple Mail": "Apple Mail",
    "GmailImageProxy": "Gmail",
    "Outlook": "Outlook",
    "Thunderbird": "Thunderbird",
}
_TABLETS = re.compile(r"ipad|tablet|kindle|silk|sm-t\d", re.IGNORECASE)


@lru_cache(maxsize=4096)
def describe_agent(user_agent: str) -> dict[str, str]:
    """Device type (desktop, mobile, tablet, bot, unknown), mail client or browser, and OS of a
    user agent, parsed by ua-parser. Cached: a campaign's hits come from few distinct agents."""
    if not user_agent:
        return {"device_type": "unknown", "client": "", "os": ""}
    parsed = ua_parse(user_agent)
    family = parsed.user_agent.family if parsed.user_agent else "Other"
    os_name = parsed.os.family if parsed.os and parsed.os.family != "Other" else ""
    device = parsed.device
    if device is not None and device.family == "Spider":
        device_type = "bot"
    elif _TABLETS.search(user_agent):
        device_type = "tablet"
    elif device is not None and device.family not in ("Other", "Mac"):
        device_type = "mobile"
    else:
        device_type = "desktop"
    client = _CLIENT_NAMES.get(family, family if family != "Other" else "other")
    return {"device_type": device_type, "client": client[:100], "os": os_name[:100]}


def is_machine(*, user_agent: str, method: str, message: Message, kind: str) -> bool:
    if method == "HEAD" or _MACHINE_AGENTS.search(user_agent or ""):
        return True
    if kind == EventType.CLICKED and message.sent_at is not None:
        return timezone.now() - message.sent_at < SCANNER_WINDOW
    return False


# The first-party visitor id appended to click redirects (``?mc_id=…``): the site snippet
# (/t.js) keeps it on the customer's domain and sends page views with it. Signed, so a
# forged id records nothing.
VISITOR_PARAM = "mc_id"
_VISITOR_SALT = "mailcrm.tracking.visitor"


def visitor_token(contact_id) -> str:
    from django.core import signing

    return signing.Signer(salt=_VISITOR_SALT).sign(str(contact_id))


def read_visitor_token(token: str) -> str | None:
    from django.core import signing

    try:
        return signing.Signer(salt=_VISITOR_SALT).unsign(token or "")
    except signing.BadSignature:
        return None


def destination(message: Message, url: str) -> str:
    """Where a person's click goes: the link, with the visitor id of its contact appended
    (callers skip contacts who opted out of tracking)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if not message.contact_id:
        return url
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != VISITOR_PARAM
    ]
    query.append((VISITOR_PARAM, visitor_token(message.contact_id)))
    return urlunsplit(parts._replace(query=urlencode(query)))


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
    """Store the hit and, for a person's hit, queue it for the contact's engagement (applied in
    batches by ``campaigns.engagement``): one short transaction per hit. Nothing is recorded
    for a contact who opted out of tracking."""
    from contacts.models import Contact

    if message.contact_id and (
        Contact.objects.filter(pk=message.contact_id)
        .values_list("tracking_opt_out", flat=True)
        .first()
    ):
        return None
    machine = is_machine(user_agent=user_agent, method=method, message=message, kind=kind)
    with transaction.atomic():
        event = message_event(
            message,
            kind,
            url=url,
            is_machine=machine,
            user_agent=(user_agent or "")[:500],
            **describe_agent(user_agent or ""),
        )
        if message.contact_id and not machine:
            engagement.engagement_pending(
                workspace_id=message.workspace_id,
                contact_id=message.contact_id,
                event="opened" if kind == EventType.OPENED else "clicked",
                campaign_id=message.campaign_id,
                occurred_at=event.occurred_at,
            )
    if message.contact_id and not machine:
        engagement.request_drain()
    return event
