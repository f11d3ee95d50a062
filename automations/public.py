"""Public endpoints of the site snippet: ``GET /t.js`` (the script) and ``POST /t/collect``
(its page views). No login: the signed visitor id names the contact; a forged one records
nothing. Rate limited per address and per visitor id."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from automations.tracking import record_page_view
from mailcrm.client_ip import client_ip
from mailcrm.ratelimit import over_per_minute

SNIPPET = Path(__file__).parent / "static" / "automations" / "t.js"
VIEWS_PER_ADDRESS_PER_MINUTE = 120
VIEWS_PER_VISITOR_PER_MINUTE = 30
MAX_BODY = 8192


@lru_cache(maxsize=4)
def _script(endpoint: str) -> str:
    return SNIPPET.read_text().replace("__ENDPOINT__", endpoint)


@require_http_methods(["GET", "HEAD"])
def snippet(request):
    response = HttpResponse(
        _script(f"{settings.PUBLIC_BASE_URL}/t/collect"), content_type="application/javascript"
    )
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _answer(status: int = 204) -> HttpResponse:
    response = HttpResponse(status=status)
    response["Access-Control-Allow-Origin"] = "*"
    if status == 429:
        response["Retry-After"] = "60"
    return response


@csrf_exempt  # called from other sites by sendBeacon: no cookie, no CSRF token
@require_http_methods(["POST", "OPTIONS"])
def collect(request):
    if request.method == "OPTIONS":
        response = _answer()
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        return response
    address = client_ip(request) or "?"
    if over_per_minute(f"collect:a:{address}", VIEWS_PER_ADDRESS_PER_MINUTE):
        return _answer(429)
    if len(request.body) > MAX_BODY:
        return _answer(413)
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return _answer(400)
    if not isinstance(data, dict) or not isinstance(data.get("mc_id"), str):
        return _answer(400)
    token = data["mc_id"][:200]
    visitor = hashlib.sha256(token.encode()).hexdigest()[:32]
    if over_per_minute(f"collect:v:{visitor}", VIEWS_PER_VISITOR_PER_MINUTE):
        return _answer(429)
    record_page_view(
        token=token,
        url=str(data.get("url") or ""),
        title=str(data.get("title") or ""),
        referrer=str(data.get("referrer") or ""),
    )
    # The same answer whether recorded or not: the endpoint tells nobody whether an id is good.
    return _answer()
