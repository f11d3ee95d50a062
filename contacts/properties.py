"""Validation of custom property values against the workspace's definitions.

Values are coerced to one JSON form per type, so queries can rely on it: numbers and
currency as JSON numbers, dates as ``YYYY-MM-DD``, datetimes as ISO 8601 UTC, multi-select
as a list of options."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.dateparse import parse_date, parse_datetime

from contacts.models import PropertyDefinition, PropertyType
from mailcrm.models import Workspace

MAX_TEXT = 10_000
MAX_JSON = 50_000
_PHONE = re.compile(r"^\+?[0-9 ().\-]{6,30}$")
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class PropertyError(ValueError):
    pass


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise PropertyError("must be a number")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise PropertyError("must be a finite number")
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str) and value.strip():
        try:
            parsed = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise PropertyError("must be a number") from None
        if not parsed.is_finite():
            raise PropertyError("must be a finite number")
        return _number(parsed)
    raise PropertyError("must be a number")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if value in (0, 1):
        return bool(value)
    raise PropertyError("must be true or false")


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            parsed = parse_date(value.strip())
        except ValueError:
            parsed = None
        if parsed:
            return parsed.isoformat()
    raise PropertyError("must be a date like 2025-01-31")


def _datetime(value: Any) -> str:
    parsed = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            try:
                only_date = parse_date(value.strip())
            except ValueError:
                only_date = None
            if only_date:
                parsed = datetime(only_date.year, only_date.month, only_date.day)
    if parsed is None:
        raise PropertyError("must be a date and time like 2025-01-31T09:30:00Z")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # One fixed format, so stored values sort and compare as text.
    return parsed.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise PropertyError("must be text")
    text = str(value)
    if len(text) > MAX_TEXT:
        raise PropertyError(f"must be at most {MAX_TEXT} characters")
    return text


def _email(value: Any) -> str:
    text = _text(value).strip()
    try:
        EmailValidator()(text)
    except ValidationError:
        raise PropertyError("must be an email address") from None
    return text


def _phone(value: Any) -> str:
    text = _text(value).strip()
    if not _PHONE.match(text) or sum(ch.isdigit() for ch in text) < 6:
        raise PropertyError("must be a phone number")
    return text


def _url(value: Any) -> str:
    text = _text(value).strip()
    try:
        URLValidator(schemes=["http", "https"])(text)
    except ValidationError:
        raise PropertyError("must be an http(s) URL") from None
    return text


def _select(value: Any, options: list[str]) -> str:
    text = _text(value)
    if text not in options:
        raise PropertyError(f"must be one of: {', '.join(map(str, options))}")
    return text


def _multi_select(value: Any, options: list[str]) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise PropertyError("must be a list of options")
    picked: list[str] = []
    for item in value:
        choice = _select(item, options)
        if choice not in picked:
            picked.append(choice)
    return picked


def _currency(value: Any) -> int | float:
    number = _number(value)
    return round(number, 2) if isinstance(number, float) else number


def _json(value: Any) -> Any:
    try:
        encoded = json.dumps(value)
    except (TypeError, ValueError):
        raise PropertyError("must be JSON") from None
    if len(encoded) > MAX_JSON:
        raise PropertyError(f"must be at most {MAX_JSON} bytes of JSON")
    return value


def coerce_value(definition: PropertyDefinition, value: Any) -> Any:
    """Return the stored form of ``value`` for this definition, or raise PropertyError."""
    kind = definition.type
    options = [str(option) for option in definition.options or []]
    if kind == PropertyType.SELECT:
        return _select(value, options)
    if kind == PropertyType.MULTI_SELECT:
        return _multi_select(value, options)
    converters = {
        PropertyType.TEXT: _text,
        PropertyType.NUMBER: _number,
        PropertyType.BOOLEAN: _boolean,
        PropertyType.DATE: _date,
        PropertyType.DATETIME: _datetime,
        PropertyType.EMAIL: _email,
        PropertyType.PHONE: _phone,
        PropertyType.URL: _url,
        PropertyType.CURRENCY: _currency,
        PropertyType.JSON: _json,
    }
    return converters[kind](value)


def definitions_for(workspace: Workspace) -> dict[str, PropertyDefinition]:
    return {d.key: d for d in PropertyDefinition.objects.for_workspace(workspace)}


def validate_properties(
    workspace: Workspace,
    values: Mapping[str, Any] | None,
    *,
    definitions: dict[str, PropertyDefinition] | None = None,
) -> dict[str, Any]:
    """Coerce every value; ``None`` or ``""`` means "remove". Raises ValidationError naming
    each bad property as ``properties.<key>``."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValidationError({"properties": "must be an object of property keys to values"})
    definitions = definitions if definitions is not None else definitions_for(workspace)
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[f"properties.{key}"] = [
                f"unknown property '{key}': define it first (Properties) or remove it"
            ]
            continue
        if value is None or value == "" or value == []:
            cleaned[key] = None
            continue
        try:
            cleaned[key] = coerce_value(definition, value)
        except PropertyError as exc:
            errors[f"properties.{key}"] = [f"{key} ({definition.type}) {exc}"]
    if errors:
        raise ValidationError(errors)
    return cleaned


def merge_properties(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
