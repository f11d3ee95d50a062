"""Public pages linked from emails: open pixel, click redirect and unsubscribe (the preference
centre is campaigns.preference_centre). No login; each takes a signed token, is rate limited
per address, and a forged token is simply not found. The click redirect only ever goes to a
link stored for that message."""

from __future__ import annotations

import base64
import hashlib

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns import hits, tracking
from campaigns.models import EventType, Message
from campaigns.tokens import read_token
from deliverability import services as deliverability
from deliverability.models import UnsubscribeReason
from mailcrm.client_ip import client_ip
from mailcrm.ratelimit import over_any_per_minute

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# One recipient's token: a person reopening a mail a few times is fine, a flood is not.
HITS_PER_TOKEN_PER_MINUTE = 60


def _limited(request, bucket: str, token: str = "") -> bool:
    """Per token, and per address (generous: a mailbox provider's image proxy fetches the
    opens of all its users from few addresses; PUBLIC_HITS_PER_MINUTE, 0 = no address limit).
    Both counted in one round trip to Redis."""
    limits = []
    if token:
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        limits.append((f"public:{bucket}:t:{digest}", HITS_PER_TOKEN_PER_MINUTE))
    if settings.PUBLIC_HITS_PER_MINUTE:
        address = client_ip(request) or "?"
        limits.append((f"public:{bucket}:{address}", settings.PUBLIC_HITS_PER_MINUTE))
    return bool(limits) and over_any_per_minute(limits)


def _too_many() -> HttpResponse:
    response = HttpResponse("Too many requests.", status=429, content_type="text/plain")
    response["Retry-After"] = "60"
    return response


@require_http_methods(["GET", "HEAD"])
def open_pixel(request, token: str):
    """Answered after checking the token's signature and queueing the hit (``campaigns.hits``):
    no database work on this path when Redis is configured."""
    if _limited(request, "open", token):
        return _too_many()
    found = read_token(token, "open")
    if found is None:
        raise Http404
    hits.record(
        kind=EventType.OPENED,
        message_id=found.message_id,
        link_id=None,
        method=request.method,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, private"
    return response


@require_http_methods(["GET", "HEAD"])
def click(request, token: str):
    if _limited(request, "click", token):
        return _too_many()
    found = read_token(token, "click")
    target = found and tracking.click_target(found)
    if not target:
        raise Http404
    hits.record(
        kind=EventType.CLICKED,
        message_id=found.message_id,
        link_id=found.link_id,
        method=request.method,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    # Nothing is recorded for a contact who opted out of tracking: no visitor id either.
    response = HttpResponseRedirect(tracking.destination(target.contact_id, target.url))
    response["Cache-Control"] = "no-store, private"
    return response


def _message_for(token: str, purpose: str) -> Message:
    found = read_token(token, purpose)
    message = (
        found and Message.objects.select_related("workspace").filter(pk=found.message_id).first()
    )
    if not message:
        raise Http404
    return message


MAX_REASON_TEXT = 1000


def reason_from(post) -> tuple[str, str]:
    """The typed reason (ignored when not one of ours) and the free text of a leaving form."""
    reason = post.get("reason", "")
    if reason not in UnsubscribeReason.values:
        reason = ""
    return reason, post.get("reason_text", "").strip()[:MAX_REASON_TEXT]


def _unsubscribe(message: Message, source: str, reason: str = "", reason_text: str = "") -> None:
    deliverability.unsubscribe_record(
        workspace=message.workspace,
        email=message.email,
        source=source,
        campaign_id=message.campaign_id,
        reason=reason,
        reason_text=reason_text,
    )
    if not message.events.filter(type=EventType.UNSUBSCRIBED).exists():
        message.events.create(
            workspace_id=message.workspace_id,
            type=EventType.UNSUBSCRIBED,
            occurred_at=message.updated_at,
            data={"source": source},
        )


@csrf_exempt  # RFC 8058: a one-click POST carries no cookie and no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET only shows the page (mail scanners follow links); POST unsubscribes — from the page's
    button or as the RFC 8058 one-click request. A replay changes nothing."""
    if _limited(request, "unsubscribe", token):
        return _too_many()
    message = _message_for(token, "unsubscribe")
    if request.method == "POST":
        if request.POST.get("List-Unsubscribe") == "One-Click":
            _unsubscribe(message, "one_click")
            return HttpResponse("Unsubscribed.", content_type="text/plain")
        _unsubscribe(message, "link", *reason_from(request.POST))
        return render(request, "campaigns/public/unsubscribed.html", {"message": message})
    return render(
        request,
        "campaigns/public/unsubscribe.html",
        {"message": message, "token": token, "reasons": UnsubscribeReason.choices},
    )
