"""django-q2 tasks of the core."""

from __future__ import annotations


def dispatch_outbox() -> int:
    """Hand undispatched outbox events to their consumers (also every minute by schedule)."""
    from mailcrm import outbox

    return outbox.dispatch_pending()


def request_soon(func: str, *, key: str, seconds: int, run_now, **options) -> None:
    """Queue the task ``func`` unless a request for it is already waiting (bursts of callers
    within ``seconds`` share one); with synchronous tasks (tests, development without a
    worker) call ``run_now()`` instead, every time."""
    from django.conf import settings

    if settings.Q_CLUSTER.get("sync"):
        run_now()
        return
    from django.core.cache import cache

    if cache.add(key, 1, timeout=seconds):
        from django_q.tasks import async_task

        async_task(func, **options)
