"""Domain errors. Each maps to an HTTP status once, in the API's exception handler, and to a
message in the dashboard."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 422
    code = "unprocessable"

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class Conflict(DomainError):
    """The change collides with an existing row (e.g. a duplicate email)."""

    status_code = 409
    code = "conflict"


class LimitExceeded(DomainError):
    """A plan limit of the workspace would be passed."""

    status_code = 422
    code = "limit_exceeded"

    def __init__(self, limit: str, allowed: int, message: str | None = None):
        super().__init__(
            message or f"The workspace's plan allows {allowed} {limit.replace('_', ' ')}.",
            limit=limit,
            allowed=allowed,
        )
        self.limit = limit
