"""Shared pieces of the contacts app's dashboard pages: page sizes, cursors, error text."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from mailcrm.exceptions import DomainError
from mailcrm.keyset import InvalidCursor, decode_cursor

PAGE_SIZE = 50
TIMELINE_SIZE = 25
# The filters shown at once; the rest of the FilterSet's form folds under "More filters".
MAIN_FILTERS = ("q", "status", "lifecycle_stage", "tag", "list")


def page_cursor(request, name: str = "cursor") -> str | None:
    """A cursor from the query string; a damaged one means the first page."""
    value = request.GET.get(name) or None
    if value:
        try:
            decode_cursor(value)
        except InvalidCursor:
            return None
    return value


def narrows(field) -> bool:
    """Whether a filter narrows the list ("unknown" is the unset archived choice)."""
    return field.value() not in (None, "", "unknown", [])


def error_text(exc: ValidationError | DomainError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return " ".join(exc.messages)


def plural_s(count: int | None) -> str:
    return "" if count == 1 else "s"
