"""Filters shared by the apps' FilterSets."""

from __future__ import annotations

import datetime

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: object) -> datetime.datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            # PostgreSQL refuses offsets beyond ±15:59 that Python parses (a 500); in UTC
            # every instant is fine. An instant outside years 1-9999 is an invalid value.
            return parsed.astimezone(datetime.UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time, compared in UTC whatever offset it was given with."""

    field_class = UtcIsoDateTimeField
