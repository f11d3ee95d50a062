"""The admin of deliverability, one module per area."""

from deliverability.admin import (  # noqa: F401
    checks,
    domains,
    health,
    suppressions,
    throttling,
)
