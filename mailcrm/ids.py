"""Time-ordered UUIDs (version 7, RFC 9562) for primary keys.

Rows inserted together sit together in the btree and ordering by id follows creation
order, which keyset pagination and bulk fan-out rely on. Within one process the ids are
strictly increasing, even inside one millisecond: the 12 ``rand_a`` bits are a counter that
starts at a random value each millisecond (RFC 9562, section 6.2, method 1).
"""

from __future__ import annotations

import datetime
import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_millis = 0
_counter = 0
_COUNTER_MAX = 0xFFF


def uuid7() -> uuid.UUID:
    global _last_millis, _counter
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis > _last_millis:
            _last_millis = millis
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF  # room to count up
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:  # 2,048+ ids in one millisecond: borrow the next one
                _last_millis += 1
                _counter = 0
        millis, counter = _last_millis, _counter
    rand = int.from_bytes(os.urandom(8), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    return uuid.UUID(int=value)


def uuid7_floor(moment: datetime.datetime) -> uuid.UUID | None:
    """The smallest uuid7 of ``moment``'s millisecond (None outside uuid7's range): every id
    made at or after that moment sorts at or above it, so a time window can bound an id."""
    try:
        millis = int(moment.timestamp() * 1000)
    except (OverflowError, ValueError):
        return None
    if not 0 <= millis < 1 << 48:
        return None
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (0b10 << 62))
