"""Accept tracking hits addressed to customers' verified tracking domains.

Django refuses a Host that is not in ALLOWED_HOSTS (400), which is what protects the dashboard
and the API from Host-header tricks. Tracking domains are added at run time, so they cannot be
listed there, and ALLOWED_HOSTS='*' would serve the sign-in page under every customer's name.
Instead, a request whose Host is not allowed is let through only when it asks for a public
tracking path (open pixel, click, the HTTPS health check) on a verified tracking domain, or is
the proxy's TLS question; it is then handled as if addressed to our own host (PUBLIC_BASE_URL),
with the tracking host kept on ``request.tracking_host``. Everything else still gets Django's
400. Placed first, before anything reads the host."""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from deliverability.tracking_domains import verified_tracking_host

TRACKING_PREFIX = "/t/"
TLS_ASK_PATH = "/tls/ask"


def _allowed_hosts() -> list[str]:
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        return [".localhost", "127.0.0.1", "[::1]"]
    return allowed


class TrackingHostMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = (
            "HTTP_X_FORWARDED_HOST"
            if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in request.META
            else "HTTP_HOST"
        )
        raw = request.META.get(header, "")
        host, _ = split_domain_port(raw)
        request.tracking_host = None
        if host and not validate_host(host, _allowed_hosts()) and self._may_pass(request, host):
            request.META[header] = urlparse(settings.PUBLIC_BASE_URL).netloc
        return self.get_response(request)

    @staticmethod
    def _may_pass(request, host: str) -> bool:
        if request.path == TLS_ASK_PATH:
            return True  # the proxy asks on whatever address it was given; nothing echoes it
        if request.path.startswith(TRACKING_PREFIX) and verified_tracking_host(host) is not None:
            request.tracking_host = host
            return True
        return False
