"""Public endpoints of tracking domains (no login): the question a TLS-terminating proxy asks
before issuing an on-demand certificate, and the health path the HTTPS check fetches."""

from __future__ import annotations

import hashlib

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from deliverability.tracking_domains import health_body, tls_allowed
from mailcrm.client_ip import client_ip
from mailcrm.ratelimit import over_per_minute

# The proxy asks once per new hostname (then caches the certificate); a flood of questions is
# someone making it try names: answered 429 so the database is not asked.
TLS_ASKS_PER_MINUTE = 120


def _over_limit(request) -> bool:
    address = client_ip(request) or "?"
    key = "tls-ask:" + hashlib.sha256(address.encode()).hexdigest()[:32]
    return over_per_minute(key, TLS_ASKS_PER_MINUTE)


@require_GET
def tls_ask(request):
    """200 when ``?domain=`` is a verified tracking domain, else 404 (Caddy's ``ask``)."""
    if _over_limit(request):
        response = HttpResponse("Too many requests.", status=429, content_type="text/plain")
        response["Retry-After"] = "60"
        return response
    if tls_allowed(request.GET.get("domain", "")):
        return HttpResponse("ok", content_type="text/plain")
    return HttpResponse("unknown domain", status=404, content_type="text/plain")


@require_GET
def tracking_health(request):
    host = getattr(request, "tracking_host", None) or request.get_host()
    response = HttpResponse(health_body(host), content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response
