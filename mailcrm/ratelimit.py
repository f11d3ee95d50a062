"""The per-minute counters of the public endpoints (tracking, snippet collect, forms, TLS ask),
kept in the shared cache so every web process counts together."""

from __future__ import annotations

from django.core.cache import cache


def over_per_minute(key: str, limit: int) -> bool:
    """Count one hit on ``key``; True once this minute's hits pass ``limit``."""
    cache.add(key, 0, timeout=60)
    try:
        return cache.incr(key) > limit
    except ValueError:  # the key expired between add and incr: a new minute
        return False
