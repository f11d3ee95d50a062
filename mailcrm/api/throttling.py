"""Per-workspace request rate, from the workspace's plan limit. The counter lives in the shared
cache (Redis in production), so the limit holds across web processes.

Each counted request leaves its state on the request (``RateLimitState``) for
``RateLimitHeadersMiddleware``, which writes the IETF ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` headers on the response."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

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
    return cache.get(_key(workspace_id, int(time.time() // WINDOW_SECONDS)), 0)


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


class WorkspaceRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        workspace = getattr(request.user, "workspace", None)
        if workspace is None or not workspace.limit_api_requests_per_minute:
            return True
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = _key(workspace.id, window)
        # add + incr is one atomic INCR in Redis (production): concurrent requests never get
        # the same count. The embedded mode's file cache only approximates it.
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
            count = 1
        self._wait = (window + 1) * WINDOW_SECONDS - now
        limit = workspace.limit_api_requests_per_minute
        # On the Django request: the middleware reads it from there.
        request._request.ratelimit = RateLimitState(limit, count, _seconds_left(now))
        return count <= limit

    def wait(self) -> float:
        return max(1.0, self._wait)
