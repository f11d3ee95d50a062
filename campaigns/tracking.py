"""What a tracking hit means: which message and link a token names, whether a person or a
machine (privacy proxy, security scanner) made it, and what it changes."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.db.models import Q, Subquery
from ua_parser import parse as ua_parse

from campaigns.models import Campaign, EventType, Link, Message
from campaigns.tokens import Token

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


def is_machine(
    *, user_agent: str, method: str, kind: str, sent_at: datetime | None, at: datetime
) -> bool:
    """A privacy proxy, a security scanner or a HEAD request rather than a person: a known
    agent, or a click within seconds of the send (``at`` is the hit's time, not the drain's)."""
    if method == "HEAD" or _MACHINE_AGENTS.search(user_agent or ""):
        return True
    if kind == EventType.CLICKED and sent_at is not None:
        return at - sent_at < SCANNER_WINDOW
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


def destination(contact_id, url: str) -> str:
    """Where a person's click goes: the link, with the visitor id of its contact appended
    (callers skip contacts who opted out of tracking)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if not contact_id:
        return url
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != VISITOR_PARAM
    ]
    query.append((VISITOR_PARAM, visitor_token(contact_id)))
    return urlunsplit(parts._replace(query=urlencode(query)))


# A process's copy of stored links (id → campaign, message, URL), filled from the database on a
# miss with all the links of the missed link's campaign: a campaign's clicks then cost no link
# query. Links are never edited, so a copy cannot go stale; it is bounded, not expired.
LINK_CACHE_SIZE = 50_000
_links: dict[int, tuple] = {}


def stored_link(link_id: int) -> tuple | None:
    """(campaign_id, message_id, url) of a stored link, or None."""
    found = _links.get(link_id)
    if found is None:
        same_campaign = Link.objects.filter(pk=link_id).values("campaign_id")[:1]
        rows = Link.objects.filter(
            Q(pk=link_id) | Q(campaign_id__isnull=False, campaign_id=Subquery(same_campaign))
        ).values_list("pk", "campaign_id", "message_id", "url")
        if len(_links) > LINK_CACHE_SIZE:
            _links.clear()
        for pk, campaign_id, message_id, url in rows:
            _links[pk] = (campaign_id, message_id, url)
        found = _links.get(link_id)
    return found


def forget_links() -> None:
    _links.clear()


@dataclass(frozen=True)
class ClickTarget:
    url: str
    contact_id: Any  # None when the contact opted out of tracking: no visitor id then


def click_target(token: Token) -> ClickTarget | None:
    """Where a click token leads: only a link stored for that message (its campaign's links, or
    its own), never a URL from the request. One query for the message and its contact (the
    visitor id); the link comes from ``stored_link``."""
    link = stored_link(token.link_id)
    if link is None:
        return None
    found = (
        Message.objects.filter(pk=token.message_id)
        .values_list("campaign_id", "contact_id", "contact__tracking_opt_out")
        .first()
    )
    if found is None:
        return None
    campaign_id, contact_id, opted_out = found
    link_campaign_id, link_message_id, url = link
    if campaign_id is not None and link_campaign_id != campaign_id:
        return None
    if campaign_id is None and link_message_id != token.message_id:
        return None
    return ClickTarget(url, None if opted_out else contact_id)
