"""Filters shared by the apps' FilterSets."""

from __future__ import annotations

import datetime

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError as DrfValidationError


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


class StrictFilterBackend(DjangoFilterBackend):
    """The API's filter backend: django-filter reads a boolean filter given anything but
    true/false as "no filter" and answers every row; here that is a 400 naming the filter, as
    the schema's ``boolean`` promises (found by the API fuzzing's invalid requests)."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        for name, value in request.query_params.items():
            field = filterset.filters.get(name) if filterset is not None else None
            if isinstance(field, django_filters.BooleanFilter):
                if value.lower() not in ("true", "false"):
                    raise DrfValidationError({name: ["Must be true or false."]})
        return filterset
