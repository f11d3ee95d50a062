"""The per-minute counters of the public endpoints (tracking, snippet collect, forms, TLS ask),
kept in the shared cache so every web process counts together."""

from __future__ import annotations

import fcntl
import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache

# INCR, and EXPIRE (ARGV[1] seconds) on a key's first hit, for every key in one atomic step
# (a counter always expires): returns the new counts, in the order of KEYS.
_COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  counts[i] = count
end
return counts
"""

# Serialises the counters of a process-local cache (local memory, in tests).
_thread_lock = threading.Lock()


@contextmanager
def _file_lock(directory: str) -> Iterator[None]:
    # The file cache's incr is a read then a write: without a lock, concurrent hits (threads or
    # processes) read the same count and the limit lets many more through.
    Path(directory).mkdir(parents=True, exist_ok=True)
    with open(Path(directory) / ".ratelimit.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def count_hit(key: str, timeout: int = 60) -> int:
    """Add one hit to ``key``'s counter (made on the first hit, gone ``timeout`` seconds later)
    and return the new count. Atomic across threads and processes: one Lua INCR+EXPIRE with
    Redis, a file lock around the file cache's read-and-write, a process lock for the
    local-memory cache; so N concurrent hits always get the counts 1..N."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return int(_script(backend)(keys=[backend.make_and_validate_key(key)], args=[timeout])[0])
    lock = _file_lock(backend._dir) if isinstance(backend, FileBasedCache) else _thread_lock
    with lock:
        # (count, window end): the cache's own incr would push the expiry back on every hit.
        now = time.time()
        count, ends = _entry(backend.get(key), now, timeout)
        count += 1
        backend.set(key, (count, ends), timeout=max(1, math.ceil(ends - now)))
        return count


def hits(key: str) -> int:
    """The count on ``key`` now, without adding a hit (0 when none or expired)."""
    value = caches["default"].get(key)
    if isinstance(value, tuple):
        return _entry(value, time.time(), 0)[0]
    return int(value or 0)


def _entry(value, now: float, timeout: int) -> tuple[int, float]:
    if isinstance(value, tuple) and value[1] > now:
        return value
    return 0, now + timeout


def over_per_minute(key: str, limit: int) -> bool:
    """Count one hit on ``key``; True once this minute's hits pass ``limit``."""
    return count_hit(key, 60) > limit


# One client and script per Redis location and process: Django's cache builds a new client
# object (its ~170 reply callbacks copied) for every operation, as costly as the round trip.
_scripts: dict[tuple, object] = {}


def over_any_per_minute(limits: Sequence[tuple[str, int]]) -> bool:
    """Count one hit on each key; True when any key's hits this minute pass its limit. With
    the Redis cache all the keys cost one round trip (a tracking hit checks two), with the
    same counters as ``over_per_minute``."""
    redis_cache = caches["default"]
    if not isinstance(redis_cache, RedisCache):
        return any([over_per_minute(key, limit) for key, limit in limits])  # count every key
    keys = [redis_cache.make_and_validate_key(key) for key, _ in limits]
    counts = _script(redis_cache)(keys=keys, args=[60])
    return any(int(count) > limit for count, (_, limit) in zip(counts, limits, strict=True))


def _script(redis_cache: RedisCache):
    location = tuple(redis_cache._servers)
    script = _scripts.get(location)
    if script is None:
        client = redis_cache._cache.get_client(None, write=True)
        script = _scripts[location] = client.register_script(_COUNT)
    return script
