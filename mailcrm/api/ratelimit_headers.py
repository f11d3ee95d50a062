"""Writes the IETF rate-limit headers (``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset``) on every API response of a workspace with a request limit, including
refusals (403, 404, 429). A request the throttle counted reports the count it got; one refused
before the throttle ran (bad scope) reports this minute's count without adding to it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from mailcrm.api.throttling import current_state

API_PREFIX = "/api/v1/"


class RateLimitHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX):
            return response
        state = getattr(request, "ratelimit", None)
        if state is None:
            # DRF sets the API key's stand-in user on the Django request after authenticating.
            workspace = getattr(getattr(request, "user", None), "workspace", None)
            state = current_state(workspace) if workspace is not None else None
        if state is not None:
            for name, value in state.headers().items():
                response[name] = value
        return response
