"""API request rates: per workspace, from the workspace's plan limit, and per API key
(``API_RATE_LIMIT_PER_KEY`` a minute, so one runaway integration cannot use up the whole
workspace's allowance). The counters live in the shared cache (Redis in production) and are
counted atomically (``mailcrm.ratelimit.count_hit``), so the limits hold across web processes
and concurrent requests.

Each counted request leaves its state on the request (``RateLimitState``) for
``RateLimitHeadersMiddleware``, which writes the IETF ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` headers on the response."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from mailcrm.ratelimit import count_hit, hits

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    used: int
    reset: int  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


def requests_this_minute(workspace_id) -> int:
    return hits(_key(workspace_id, int(time.time() // WINDOW_SECONDS)))


def _key(workspace_id, window: int) -> str:
    return f"apirate:{workspace_id}:{window}"


def _seconds_left(now: float) -> int:
    window_end = (int(now // WINDOW_SECONDS) + 1) * WINDOW_SECONDS
    return max(1, math.ceil(window_end - now))


def current_state(workspace) -> RateLimitState | None:
    """The workspace's state this minute without counting a request (None: no limit)."""
    limit = workspace.limit_api_requests_per_minute
    if not limit:
        return None
    return RateLimitState(limit, requests_this_minute(workspace.id), _seconds_left(time.time()))


class _MinuteThrottle(BaseThrottle):
    """One counter a minute per subject; a refusal answers 429 with ``Retry-After`` (the
    seconds left in the minute) and the IETF headers of the refusing limit."""

    def limit_and_key(self, request) -> tuple[int, str] | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        found = self.limit_and_key(request)
        if found is None:
            return True
        limit, subject = found
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        count = count_hit(f"{subject}:{window}", timeout=WINDOW_SECONDS * 2)
        self._wait = (window + 1) * WINDOW_SECONDS - now
        state = RateLimitState(limit, count, _seconds_left(now))
        # On the Django request, for the headers middleware: the tighter of the limits counted.
        current = getattr(request._request, "ratelimit", None)
        if current is None or state.remaining < current.remaining:
            request._request.ratelimit = state
        return count <= limit

    def wait(self) -> float:
        return max(1.0, self._wait)


class WorkspaceRateThrottle(_MinuteThrottle):
    def limit_and_key(self, request) -> tuple[int, str] | None:
        workspace = getattr(request.user, "workspace", None)
        if workspace is None or not workspace.limit_api_requests_per_minute:
            return None
        return workspace.limit_api_requests_per_minute, f"apirate:{workspace.id}"


class KeyRateThrottle(_MinuteThrottle):
    """``API_RATE_LIMIT_PER_KEY`` requests a minute per API key (0: no per-key limit)."""

    def limit_and_key(self, request) -> tuple[int, str] | None:
        limit = settings.API_RATE_LIMIT_PER_KEY
        key = getattr(request.user, "key", None)
        if not limit or key is None:
            return None
        return limit, f"apirate:key:{key.pk}"
