"""Per-workspace request rate, from the workspace's plan limit. The counter lives in the shared
cache (Redis in production), so the limit holds across web processes."""

from __future__ import annotations

import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

WINDOW_SECONDS = 60


def requests_this_minute(workspace_id) -> int:
    return cache.get(_key(workspace_id, int(time.time() // WINDOW_SECONDS)), 0)


def _key(workspace_id, window: int) -> str:
    return f"apirate:{workspace_id}:{window}"


class WorkspaceRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        workspace = getattr(request.user, "workspace", None)
        if workspace is None or not workspace.limit_api_requests_per_minute:
            return True
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = _key(workspace.id, window)
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
            count = 1
        self._wait = (window + 1) * WINDOW_SECONDS - now
        return count <= workspace.limit_api_requests_per_minute

    def wait(self) -> float:
        return max(1.0, self._wait)
