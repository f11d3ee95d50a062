"""The per-minute counters of the public endpoints (tracking, snippet collect, forms, TLS ask),
kept in the shared cache so every web process counts together."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.cache import cache


def over_per_minute(key: str, limit: int) -> bool:
    """Count one hit on ``key``; True once this minute's hits pass ``limit``."""
    cache.add(key, 0, timeout=60)
    try:
        return cache.incr(key) > limit
    except ValueError:  # the key expired between add and incr: a new minute
        return False


# INCR, and EXPIRE on a key's first hit, for every key at once (atomic: a counter always
# expires); 1 when any count passes its limit (ARGV, in the order of KEYS).
_COUNT_ALL = """
local over = 0
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, 60) end
  if count > tonumber(ARGV[i]) then over = 1 end
end
return over
"""
# One client and script per Redis location and process: Django's cache builds a new client
# object (its ~170 reply callbacks copied) for every operation, as costly as the round trip.
_scripts: dict[tuple, object] = {}


def over_any_per_minute(limits: Sequence[tuple[str, int]]) -> bool:
    """Count one hit on each key; True when any key's hits this minute pass its limit. With
    the Redis cache all the keys cost one round trip (a tracking hit checks two), with the
    same counters as ``over_per_minute``."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    redis_cache = caches["default"]
    if not isinstance(redis_cache, RedisCache):
        return any([over_per_minute(key, limit) for key, limit in limits])  # count every key
    keys = [redis_cache.make_and_validate_key(key) for key, _ in limits]
    location = tuple(redis_cache._servers)
    script = _scripts.get(location)
    if script is None:
        client = redis_cache._cache.get_client(keys[0], write=True)
        script = _scripts[location] = client.register_script(_COUNT_ALL)
    return bool(script(keys=keys, args=[limit for _, limit in limits]))
