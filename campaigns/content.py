"""From a campaign (or a transactional payload) and a recipient to a ready email: personalised
in the template sandbox, links rewritten for click tracking, an open pixel, the unsubscribe
headers of RFC 8058, a Message-ID on our domain."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formataddr
from urllib.parse import urlparse

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from campaigns.models import Campaign, Link, Message
from campaigns.tokens import make_token
from campaigns.transport import new_message_id

_A_TAG = re.compile(r"<a\b", re.IGNORECASE)
_HREF = re.compile(r"""((?<![\w-])href\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
MAX_TAG_CHARS = 8192


def public_url(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{path}"


def message_urls(message: Message) -> dict[str, str]:
    """The message's unsubscribe and preference links. Building one email asks for them four
    times (context, link tracking twice, List-Unsubscribe): they are kept on the instance,
    keyed by what they are made of, so a changed id, base URL or secret makes them anew."""
    key = (message.id, settings.PUBLIC_BASE_URL, settings.SECRET_KEY)
    cached = message.__dict__.get("_public_urls")
    if cached is not None and cached[0] == key:
        return dict(cached[1])
    urls = {
        "unsubscribe_url": public_url(f"/u/{make_token('unsubscribe', message.id)}"),
        "preferences_url": public_url(f"/p/{make_token('preferences', message.id)}"),
        "view_in_browser_url": "",
    }
    message.__dict__["_public_urls"] = (key, urls)
    return dict(urls)


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


@dataclass
class LinkBook:
    """The stored links of one campaign (or one message), created as they are met."""

    workspace_id: object
    campaign_id: object = None
    message_id: object = None

    def __post_init__(self):
        owner = (
            {"campaign_id": self.campaign_id}
            if self.campaign_id
            else {"message_id": self.message_id}
        )
        self.owner = owner
        self.ids = dict(Link.objects.filter(**owner).values_list("url_hash", "id"))
        self._tracked: dict[str, int | None] = {}

    def tracked_id(self, url: str) -> int | None:
        """The stored link of an http(s) URL, None for any other scheme: remembered per URL,
        since every message of a batch holds the same links (parsed and hashed once)."""
        if url not in self._tracked:
            tracked = urlparse(url).scheme in ("http", "https")
            self._tracked[url] = self.id_for(url) if tracked else None
        return self._tracked[url]

    def id_for(self, url: str) -> int:
        key = url_hash(url)
        if key not in self.ids:
            Link.objects.bulk_create(
                [Link(workspace_id=self.workspace_id, url=url, url_hash=key, **self.owner)],
                ignore_conflicts=True,
            )
            self.ids[key] = Link.objects.get(url_hash=key, **self.owner).id
        return self.ids[key]


def track(html: str, message: Message, links: LinkBook | None, *, opens: bool) -> str:
    """Point http(s) links at the click redirect and add the open pixel, on the sending
    domain's verified tracking domain when it has one."""
    from campaigns.tracking import tracking_base_url

    base = tracking_base_url(message)
    urls = message_urls(message)
    skip = {urls["unsubscribe_url"], urls["preferences_url"]}

    def rewrite(match: re.Match) -> str:
        prefix, double, single = match.groups()
        quote, url = ('"', double) if double is not None else ("'", single)
        clean = url.strip().replace("&amp;", "&")
        link_id = None if links is None or clean in skip else links.tracked_id(clean)
        if link_id is None:
            return match.group(0)
        token = make_token("click", message.id, link_id)
        return f"{prefix}{quote}{base}/t/c/{token}{quote}"

    html = _rewrite_anchors(html, lambda tag: _HREF.sub(rewrite, tag, count=1))
    if opens:
        src = f"{base}/t/o/" + make_token("open", message.id)
        pixel = f'<img src="{src}" width="1" height="1" alt="" style="display:block;border:0">'

        html = html.replace("</body>", f"{pixel}</body>") if "</body>" in html else html + pixel
    return html


def _rewrite_anchors(html: str, rewrite: Callable[[str], str]) -> str:
    """Apply ``rewrite`` to the text of every ``<a …>`` tag. One pass, remembering where the
    next ">" is: a regex spanning "<a" to href rescans the rest of the document from every "<a"
    without one, which takes minutes on a hostile template."""
    parts, copied, next_gt = [], 0, -1
    for match in _A_TAG.finditer(html):
        start = match.start()
        if start < copied:
            continue  # inside the tag just rewritten
        if next_gt < start:
            next_gt = html.find(">", start)
            if next_gt == -1:
                break
        if next_gt - start > MAX_TAG_CHARS:
            continue
        parts += [html[copied:start], rewrite(html[start:next_gt])]
        copied = next_gt
    parts.append(html[copied:])
    return "".join(parts)


def marketing_headers(message: Message) -> dict[str, str]:
    """List-Unsubscribe (https, and mailto when configured) with the one-click POST header."""
    targets = [f"<{message_urls(message)['unsubscribe_url']}>"]
    mailto = getattr(settings, "UNSUBSCRIBE_MAILTO", "")
    if mailto:
        targets.append(f"<mailto:{mailto}?subject=unsubscribe-{message.id}>")
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def build_email(
    *,
    message: Message,
    subject: str,
    html: str,
    text: str,
    from_email: str,
    from_name: str = "",
    reply_to: str = "",
    to: list[str] | None = None,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
    headers: dict[str, str] | None = None,
    marketing: bool,
) -> EmailMultiAlternatives:
    domain = from_email.rpartition("@")[2]
    all_headers = {"Message-ID": message.message_id or new_message_id(domain)}
    all_headers.update(headers or {})
    if marketing:
        all_headers.update(marketing_headers(message))
    email = EmailMultiAlternatives(
        subject=subject.replace("\n", " ").replace("\r", " "),
        body=text,
        from_email=formataddr((from_name, from_email)) if from_name else from_email,
        to=to or [message.email],
        cc=cc or [],
        bcc=bcc or [],
        reply_to=[reply_to] if reply_to else [],
        headers=all_headers,
    )
    if html:
        email.attach_alternative(html, "text/html")
    return email


def _template_of(campaign: Campaign):
    if not campaign.template_id:
        return None
    from templates.models import EmailTemplate

    return EmailTemplate.objects.filter(
        pk=campaign.template_id, workspace_id=campaign.workspace_id
    ).first()


def campaign_source(campaign: Campaign) -> tuple[str, str, str]:
    """Subject, HTML and text of a campaign: its own, or its template's where it has none."""
    subject, html, text = campaign.subject, campaign.html, campaign.text
    template = _template_of(campaign)
    if template is not None:
        subject = subject or template.subject
        html = html or template.html
        text = text or template.text
    return subject, html, text


def campaign_sender(campaign: Campaign) -> tuple[str, str]:
    """From name and address of a campaign: its own, or its template's defaults."""
    from_name, from_email = campaign.from_name, campaign.from_email
    if not (from_name and from_email):
        template = _template_of(campaign)
        if template is not None:
            from_name = from_name or template.from_name
            from_email = from_email or template.from_email
    return from_name, from_email
