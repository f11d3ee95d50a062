"""The admin of deliverability, one module per area."""

from deliverability.admin import checks, domains, health, suppressions  # noqa: F401
