"""The admin of deliverability, one module per area."""

from deliverability.admin import domains, suppressions  # noqa: F401
