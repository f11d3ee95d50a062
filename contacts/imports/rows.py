"""Validating one CSV row against the mapping: the email, standard fields and typed
properties, every problem named in the row's reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.core.exceptions import ValidationError

from contacts.models import (
    Contact,
    ContactStatus,
    LifecycleStage,
    PropertyDefinition,
    PropertyType,
)
from contacts.properties import PropertyError, coerce_value, definitions_for
from contacts.services import normalize_email
from mailcrm.models import Workspace

TEXT_FIELDS = ("first_name", "last_name", "phone", "company", "job_title")
IMPORT_FIELDS = ("email", "name", *TEXT_FIELDS, "status", "lifecycle_stage", "tracking_opt_out")
PROPERTY_PREFIX = "properties."


def _choices(enum) -> dict[str, str]:
    found: dict[str, str] = {}
    for value, label in enum.choices:
        for text in (value, label, value.replace("_", " ")):
            found[text.lower()] = value
    return found


_STATUSES = _choices(ContactStatus)
_STAGES = _choices(LifecycleStage)
_MAX_LENGTH = {name: Contact._meta.get_field(name).max_length for name in ("email", *TEXT_FIELDS)}
# A strict subset of what Django's EmailValidator accepts, checked first because it is several
# times cheaper; anything else goes through the full validator (normalize_email).
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}\Z"
)
MEMO_PER_COLUMN = 10_000


@dataclass
class Row:
    number: int
    email: str
    email_lower: str
    values: dict[str, Any]
    properties: dict[str, Any]
    # The row as the temporary table takes it, made ahead by the parsing thread (writing.prepare).
    copy: tuple | None = None


@dataclass
class Plan:
    """The mapping resolved to column positions and definitions."""

    email: int
    fields: list[tuple[int, str]]
    properties: list[tuple[int, PropertyDefinition]]
    width: int = 0
    # Per property column, the outcome of each distinct cell seen so far: files repeat the
    # same plan names, dates and tags, so most cells are validated once.
    seen: dict[int, dict[str, Any]] = field(default_factory=dict)

    def coerce(self, index: int, definition: PropertyDefinition, raw: str) -> Any:
        memo = self.seen.setdefault(index, {})
        if raw in memo:
            outcome = memo[raw]
        else:
            try:
                outcome = coerce_value(definition, raw)
            except PropertyError as exc:
                outcome = exc
            if len(memo) < MEMO_PER_COLUMN:
                memo[raw] = outcome
        if isinstance(outcome, PropertyError):
            raise outcome
        return outcome

    @cached_property
    def stored(self) -> list[tuple[int, str]]:
        """(position, name) of every column whose cells are stored."""
        return [
            (self.email, "email"),
            *self.fields,
            *((index, definition.key) for index, definition in self.properties),
        ]

    @classmethod
    def build(cls, workspace: Workspace, mapping: dict[str, str], columns: list[str]) -> Plan:
        definitions = definitions_for(workspace)
        position = {name: index for index, name in enumerate(columns)}
        plan = cls(email=-1, fields=[], properties=[], width=len(columns))
        for column, target in mapping.items():
            index = position.get(column)
            if index is None:
                raise ValidationError({"mapping": [f"Column '{column}' is not in the file."]})
            if target == "email":
                plan.email = index
            elif target.startswith(PROPERTY_PREFIX):
                definition = definitions.get(target[len(PROPERTY_PREFIX) :])
                if definition is None:
                    raise ValidationError({"mapping": [f"Unknown property in '{target}'."]})
                plan.properties.append((index, definition))
            else:
                plan.fields.append((index, target))
        return plan


def _clean_field(name: str, raw: str) -> Any:
    if name in _MAX_LENGTH:
        if len(raw) > _MAX_LENGTH[name]:
            raise PropertyError(f"{name} is longer than {_MAX_LENGTH[name]} characters")
        return raw
    if name == "status":
        if raw.lower() not in _STATUSES:
            raise PropertyError(f"status '{raw}' is not one of {', '.join(ContactStatus.values)}")
        return _STATUSES[raw.lower()]
    if name == "lifecycle_stage":
        if raw.lower() not in _STAGES:
            allowed = ", ".join(LifecycleStage.values)
            raise PropertyError(f"lifecycle_stage '{raw}' is not one of {allowed}")
        return _STAGES[raw.lower()]
    if name == "tracking_opt_out":
        try:
            return coerce_value(PropertyDefinition(type=PropertyType.BOOLEAN), raw)
        except PropertyError:
            raise PropertyError(f"tracking_opt_out '{raw}' must be true or false") from None
    raise PropertyError(f"unknown field {name}")


def _short(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "…"


def clean_row(plan: Plan, number: int, cells: list[str]) -> Row:
    """Validate one row; raises PropertyError with every reason found."""

    def cell(index: int) -> str:
        return cells[index].strip() if index < len(cells) else ""

    # Neither PostgreSQL text nor jsonb holds a NUL (the COPY failed the whole import).
    nul = [name for index, name in plan.stored if index < len(cells) and "\x00" in cells[index]]
    if nul:
        raise PropertyError(f"{', '.join(nul)}: contains a NUL character, which cannot be stored")
    reasons: list[str] = []
    raw_email = cell(plan.email)
    email = ""
    if not raw_email:
        reasons.append("no email address")
    elif len(raw_email) > _MAX_LENGTH["email"]:
        reasons.append(f"email is longer than {_MAX_LENGTH['email']} characters")
    elif _PLAIN_EMAIL.match(raw_email):
        local, _, domain = raw_email.rpartition("@")
        email = f"{local}@{domain.lower()}"
    else:
        try:
            email = normalize_email(raw_email)
        except ValidationError:
            reasons.append(f"'{_short(raw_email)}' is not a valid email address")
    values: dict[str, Any] = {}
    for index, name in plan.fields:
        raw = cell(index)
        if not raw:
            continue
        if name == "name":
            first, _, last = raw.partition(" ")
            values.setdefault("first_name", first[: _MAX_LENGTH["first_name"]])
            values.setdefault("last_name", last.strip()[: _MAX_LENGTH["last_name"]])
            continue
        try:
            values[name] = _clean_field(name, raw)
        except PropertyError as exc:
            reasons.append(str(exc))
    properties: dict[str, Any] = {}
    for index, definition in plan.properties:
        raw = cell(index)
        if not raw:
            continue
        try:
            properties[definition.key] = plan.coerce(index, definition, raw)
        except PropertyError as exc:
            reasons.append(f"{definition.key} ({definition.type}) {exc}: '{_short(raw)}'")
    if reasons:
        raise PropertyError("; ".join(reasons))
    values = {k: v for k, v in values.items() if v != ""}
    return Row(number, email, email.lower(), values, properties)
