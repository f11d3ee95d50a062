"""django-q2 tasks of the core."""

from __future__ import annotations


def dispatch_outbox() -> int:
    """Hand undispatched outbox events to their consumers (also every minute by schedule)."""
    from mailcrm import outbox

    return outbox.dispatch_pending()
