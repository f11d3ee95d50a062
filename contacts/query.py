"""The segment query language: text -> parse tree -> Django ``Q``.

    status = active AND lifecycle_stage IN (lead, customer) AND created_at > 2024-01-01
    properties.lifetime_value >= 1000 AND properties.product_interests CONTAINS "analytics"
    tag = vip AND NOT list = "Conference Attendees 2025"
    last_opened_at > -30d OR score > 50

Semantics (API.md): every condition is either true or false, never unknown. A comparison with
a missing value is false, so ``NOT x = 1`` holds for a contact without ``x``; ``IS SET`` means
present and not empty. ``=``/``!=``/``IN`` ignore case for ``email`` and are exact otherwise;
``CONTAINS``, ``STARTS WITH`` and ``ENDS WITH`` ignore case. Tag, list and segment names are
resolved inside the workspace, so a query can never reach another workspace's rows.
"""

from __future__ import annotations

import calendar
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.db.models import Value as SqlValue
from django.db.models.functions import Lower
from django.db.models.lookups import Contains, Exact
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from contacts.jsonsql import JsonArrayContains, JsonKeyEquals, JsonKeyType
from contacts.search import SEARCH_COLUMNS, SearchText

MAX_QUERY_LENGTH = 10_000
MAX_SEGMENT_DEPTH = 10
# Lark's transformer, the compiler and the ORM's SQL compiler all recurse once or more per
# level: 2,400 NOTs in a row were a RecursionError (a 500). No person writes 50 levels.
MAX_QUERY_DEPTH = 50

GRAMMAR = r"""
start: expr
?expr: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | atom
?atom: _LPAR expr _RPAR
     | condition
condition: FIELD COMPARE value              -> compare
         | FIELD _IN _LPAR values _RPAR       -> in_
         | FIELD _NOT _IN _LPAR values _RPAR  -> not_in
         | FIELD _CONTAINS value             -> contains
         | FIELD _STARTS _WITH value         -> starts
         | FIELD _ENDS _WITH value           -> ends
         | FIELD _IS _SET                    -> is_set
         | FIELD _IS _NOT _SET               -> is_not_set
values: value (_COMMA value)*
value: STRING | BARE

_AND.2: /and\b/i
_OR.2: /or\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_CONTAINS.2: /contains\b/i
_STARTS.2: /starts\b/i
_ENDS.2: /ends\b/i
_WITH.2: /with\b/i
_IS.2: /is\b/i
_SET.2: /set\b/i
_LPAR: "("
_RPAR: ")"
_COMMA: ","
COMPARE: "!=" | ">=" | "<=" | "=" | ">" | "<"
FIELD: /[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*/
STRING: /"(?:[^"\\]|\\.)*"/ | /'(?:[^'\\]|\\.)*'/
BARE: /[^\s(),"'=!<>]+/

%import common.WS
%ignore WS
"""

_parser = Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True)


class QueryError(ValueError):
    """A query that cannot be parsed or compiled; ``position`` is a 0-based offset."""

    def __init__(self, reason: str, position: int = 0):
        super().__init__(f"{reason} (at position {position})")
        self.reason = reason
        self.position = position


# --- parse tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool
    position: int


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # = != > >= < <= in not_in contains starts ends is_set is_not_set
    values: tuple[Value, ...]
    position: int


@dataclass(frozen=True)
class And:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


def _unquote(token: Token) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


@v_args(inline=True)
class _ToTree(Transformer):
    def start(self, expr):
        return expr

    def or_expr(self, *items):
        return Or(tuple(items))

    def and_expr(self, *items):
        return And(tuple(items))

    def negation(self, item):
        return Not(item)

    def value(self, token: Token) -> Value:
        if token.type == "STRING":
            return Value(_unquote(token), True, token.start_pos)
        return Value(str(token), False, token.start_pos)

    def values(self, *values):
        return tuple(values)

    def _condition(self, name: Token, op: str, values: tuple[Value, ...]) -> Condition:
        return Condition(str(name), op, values, name.start_pos)

    def compare(self, name, op, value):
        return self._condition(name, str(op), (value,))

    def in_(self, name, values):
        return self._condition(name, "in", values)

    def not_in(self, name, values):
        return self._condition(name, "not_in", values)

    def contains(self, name, value):
        return self._condition(name, "contains", (value,))

    def starts(self, name, value):
        return self._condition(name, "starts", (value,))

    def ends(self, name, value):
        return self._condition(name, "ends", (value,))

    def is_set(self, name):
        return self._condition(name, "is_set", ())

    def is_not_set(self, name):
        return self._condition(name, "is_not_set", ())


_TOKEN_NAMES = {
    "_RPAR": "')'",
    "_LPAR": "'('",
    "_COMMA": "','",
    "COMPARE": "an operator (=, !=, >, >=, <, <=)",
    "FIELD": "a field",
    "STRING": "a value",
    "BARE": "a value",
    "_AND": "AND",
    "_OR": "OR",
    "_NOT": "NOT",
    "_IN": "IN",
    "_IS": "IS",
    "_SET": "SET",
    "_CONTAINS": "CONTAINS",
    "_STARTS": "STARTS WITH",
    "_ENDS": "ENDS WITH",
    "_WITH": "WITH",
    "$END": "the end of the query",
}


def _expected(names) -> str:
    described = sorted({_TOKEN_NAMES.get(name, name) for name in names}, key=str.lower)
    return ", ".join(described[:8])


def _parse_error(text: str, exc: UnexpectedInput) -> QueryError:
    position = getattr(exc, "pos_in_stream", None)
    if position is None or position < 0:
        position = len(text)
    opened = text[:position].count("(") - text[:position].count(")")
    if isinstance(exc, UnexpectedCharacters):
        char = text[position] if position < len(text) else ""
        if char == ")" and opened <= 0:
            return QueryError("unbalanced parenthesis: ')' without '('", position)
        if char in "\"'":
            return QueryError("unterminated quoted value", position)
        return QueryError(f"unexpected character {char!r}", position)
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        position = len(text)
        if text.count("(") > text.count(")"):
            return QueryError("unbalanced parenthesis: missing ')'", position)
        return QueryError(f"the query ends too early; expected {_expected(exc.expected)}", position)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "_RPAR" and opened <= 0:
            return QueryError("unbalanced parenthesis: ')' without '('", position)
        names = {name for name in exc.expected if name != "_RPAR" or opened > 0}
        return QueryError(f"unexpected {str(token)!r}; expected {_expected(names)}", position)
    return QueryError("the query cannot be read", position)


def _check_text(text: str) -> None:
    """Refuse what no database takes in a query parameter (a NUL was a 500 on PostgreSQL)."""
    if "\x00" in text:
        raise QueryError("the query contains a NUL character", text.index("\x00"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QueryError("the query contains an unpaired surrogate", exc.start) from None


def _check_depth(tree: Tree) -> None:
    pending = [(tree, 0)]  # a loop, not recursion: that is what is being guarded
    while pending:
        node, depth = pending.pop()
        if depth > MAX_QUERY_DEPTH:
            position = getattr(node.meta, "start_pos", 0)
            raise QueryError(f"the query nests more than {MAX_QUERY_DEPTH} levels deep", position)
        if node.data in ("or_expr", "and_expr", "negation"):
            depth += 1
        pending.extend((child, depth) for child in node.children if isinstance(child, Tree))


def parse(text: str):
    """Parse a query into a tree of And/Or/Not/Condition; raise QueryError."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("the query is empty", 0)
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters", 0)
    _check_text(text)
    try:
        tree = _parser.parse(text)
    except UnexpectedInput as exc:
        raise _parse_error(text, exc) from None
    _check_depth(tree)
    return _ToTree().transform(tree)


def conditions_of(node) -> list[Condition]:
    """Every condition of a parse tree, left to right."""
    if isinstance(node, Condition):
        return [node]
    if isinstance(node, Not):
        return conditions_of(node.item)
    return [condition for item in node.items for condition in conditions_of(item)]


# --- values ------------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^([+-])(\d{1,5})([dwmy])$", re.I)
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


@dataclass(frozen=True)
class Moment:
    """A point in time, or a whole UTC day (``is_day``) when the query gave a date."""

    start: datetime
    is_day: bool

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1) if self.is_day else self.start


def _shift_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def parse_moment(value: Value, now: datetime) -> Moment:
    text = value.text.strip()
    lowered = text.lower()
    if lowered == "now":
        return Moment(now, False)
    if lowered == "today":
        return Moment(datetime.combine(now.date(), time(), tzinfo=UTC), True)
    relative = _RELATIVE.match(text)
    if relative:
        sign = -1 if relative.group(1) == "-" else 1
        amount, unit = sign * int(relative.group(2)), relative.group(3).lower()
        if unit == "d":
            return Moment(now + timedelta(days=amount), False)
        if unit == "w":
            return Moment(now + timedelta(weeks=amount), False)
        return Moment(_shift_months(now, amount * (12 if unit == "y" else 1)), False)
    try:
        only_date = parse_date(text)
        if only_date:
            return Moment(datetime.combine(only_date, time(), tzinfo=UTC), True)
        moment = parse_datetime(text)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise QueryError(
            f"{text!r} is not a date: use 2024-01-31, 2024-01-31T09:00:00Z, -30d, -2w, -6m or now",
            value.position,
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Moment(moment.astimezone(UTC), False)


_LARGEST_NUMBER = Decimal(2**63 - 1)


def parse_number(value: Value) -> int | float:
    try:
        number = Decimal(value.text.strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise QueryError(f"{value.text!r} is not a number", value.position)
    if abs(number) > _LARGEST_NUMBER:
        # SQLite binds no integer past 64 bits (an OverflowError, a 500); nothing stored is larger.
        raise QueryError(f"{value.text!r} is out of range", value.position)
    return int(number) if number == number.to_integral_value() else float(number)


def parse_boolean(value: Value) -> bool:
    lowered = value.text.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise QueryError(f"{value.text!r} is not true or false", value.position)


# --- fields ------------------------------------------------------------------------------------

TEXT_FIELDS = ("email", "first_name", "last_name", "phone", "company", "job_title", "time_zone")
CHOICE_FIELDS = ("status", "lifecycle_stage", "source", "score_tier")
NUMBER_FIELDS = ("score", "opens", "clicks", "sends")
DATETIME_FIELDS = (
    "created_at",
    "updated_at",
    "last_opened_at",
    "last_clicked_at",
    "last_sent_at",
    "last_engaged_at",
    "sunset_at",
)
BOOLEAN_FIELDS = ("tracking_opt_out",)
COMPANY_TEXT_FIELDS = ("name", "domain", "industry", "size", "plan")
COMPANY_NUMBER_FIELDS = ("spend",)
STANDARD_FIELDS = TEXT_FIELDS + CHOICE_FIELDS + NUMBER_FIELDS + DATETIME_FIELDS + BOOLEAN_FIELDS

ORDER_OPS = ("=", "!=", ">", ">=", "<", "<=")
TEXT_OPS = (*ORDER_OPS, "in", "not_in", "contains", "starts", "ends", "is_set", "is_not_set")
OPS_BY_KIND = {
    "text": TEXT_OPS,
    "choice": ("=", "!=", "in", "not_in", "is_set", "is_not_set"),
    "number": (*ORDER_OPS, "in", "not_in", "is_set", "is_not_set"),
    "datetime": (*ORDER_OPS, "is_set", "is_not_set"),
    "date": (*ORDER_OPS, "is_set", "is_not_set"),
    "boolean": ("=", "!=", "is_set", "is_not_set"),
    "multi": ("=", "!=", "in", "not_in", "contains", "is_set", "is_not_set"),
    "json": ("is_set", "is_not_set"),
    "membership": ("=", "!=", "in", "not_in", "is_set", "is_not_set"),
    "segment": ("=", "!=", "in", "not_in"),
}
OP_WORDS = {
    "in": "IN",
    "not_in": "NOT IN",
    "contains": "CONTAINS",
    "starts": "STARTS WITH",
    "ends": "ENDS WITH",
    "is_set": "IS SET",
    "is_not_set": "IS NOT SET",
}
PROPERTY_KINDS = {
    "text": "text",
    "email": "text",
    "phone": "text",
    "url": "text",
    "select": "text",
    "number": "number",
    "currency": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "multi_select": "multi",
    "json": "json",
}
JSON_TYPE_OF_KIND = {"text": "string", "number": "number", "boolean": "boolean", "multi": "array"}


def field_names(definitions) -> list[str]:
    """Every field a query may use in this workspace, for help texts and builders."""
    return [
        *STANDARD_FIELDS,
        "tag",
        "list",
        "segment",
        *(f"company.{name}" for name in COMPANY_TEXT_FIELDS + COMPANY_NUMBER_FIELDS),
        *(f"properties.{key}" for key in sorted(definitions)),
    ]


# --- compiler ----------------------------------------------------------------------------------


@dataclass
class Compiler:
    """Turns a parse tree into a ``Q`` over ``Contact`` for one workspace."""

    workspace: Any
    now: datetime = field(default_factory=timezone.now)
    segment_stack: tuple[Any, ...] = ()
    definitions: dict[str, Any] | None = None

    def __post_init__(self):
        if self.definitions is None:
            from contacts.properties import definitions_for

            self.definitions = definitions_for(self.workspace)

    def compile(self, node) -> Q:
        if isinstance(node, And):
            result = Q()
            for item in node.items:
                result &= self.compile(item)
            return result
        if isinstance(node, Or):
            result = self.compile(node.items[0])
            for item in node.items[1:]:
                result |= self.compile(item)
            return result
        if isinstance(node, Not):
            return ~self.compile(node.item)
        return self.condition(node)

    # Each condition below is two-valued: columns that may be NULL are guarded, JSON values
    # are type-checked first, relations are EXISTS subqueries.

    def condition(self, cond: Condition) -> Q:
        name = cond.field
        lowered = name.lower()
        if lowered in STANDARD_FIELDS:
            return self.standard(cond, lowered)
        if lowered in ("tag", "tags"):
            return self.membership(cond, "tag")
        if lowered in ("list", "lists"):
            return self.membership(cond, "list")
        if lowered in ("segment", "segments"):
            return self.segment(cond)
        prefix, _, rest = name.partition(".")
        if prefix.lower() == "company" and rest:
            return self.company(cond, rest.lower())
        if prefix.lower() in ("properties", "property") and rest:
            return self.property(cond, rest)
        raise QueryError(f"unknown field '{name}'", cond.position)

    def _check_op(self, cond: Condition, kind: str, label: str) -> None:
        if cond.op not in OPS_BY_KIND[kind]:
            word = OP_WORDS.get(cond.op, cond.op)
            raise QueryError(f"{word} cannot be used with {label}", cond.position)

    # -- standard columns

    def standard(self, cond: Condition, name: str) -> Q:
        if name in TEXT_FIELDS:
            self._check_op(cond, "text", f"'{name}' (text)")
            return self.text_column(cond, name, ignore_case=name == "email")
        if name in CHOICE_FIELDS:
            self._check_op(cond, "choice", f"'{name}'")
            return self.choice_column(cond, name)
        if name in NUMBER_FIELDS:
            self._check_op(cond, "number", f"'{name}' (a number)")
            return self.number_column(cond, name)
        if name in DATETIME_FIELDS:
            self._check_op(cond, "datetime", f"'{name}' (a date)")
            return self.datetime_column(cond, name)
        self._check_op(cond, "boolean", f"'{name}' (true/false)")
        if cond.op in ("is_set", "is_not_set"):
            return Q(pk__isnull=cond.op == "is_not_set")
        flag = parse_boolean(cond.values[0])
        return Q(**{name: flag if cond.op == "=" else not flag})

    def text_column(self, cond: Condition, column: str, *, ignore_case: bool = False) -> Q:
        op = cond.op
        if op == "is_set":
            return ~Q(**{column: ""})
        if op == "is_not_set":
            return Q(**{column: ""})
        texts = [v.text for v in cond.values]

        def equal(text: str) -> Q:
            # lower() = lower(): the (workspace, lower(email)) index serves it; Django's
            # iexact compiles to upper(), which no index holds (a million-row walk).
            if ignore_case:
                return Q(Exact(Lower(column), Lower(SqlValue(text))))
            return Q(**{column: text})

        if op in ("in", "not_in"):
            matched = Q()
            for text in texts:
                matched |= equal(text)
            return matched if op == "in" else ~matched
        text = texts[0]
        lookups = {
            "contains": "icontains",
            "starts": "istartswith",
            "ends": "iendswith",
            ">": "gt",
            ">=": "gte",
            "<": "lt",
            "<=": "lte",
        }
        if op == "=":
            return equal(text)
        if op == "!=":
            return ~equal(text)
        if op == "contains":
            return Q(**{f"{column}__{lookups[op]}": text}) & trigram_hint(column, text)
        return Q(**{f"{column}__{lookups[op]}": text})

    def choice_column(self, cond: Condition, column: str) -> Q:
        from contacts.models import Contact

        choices = {value for value, _ in Contact._meta.get_field(column).choices}
        if cond.op in ("is_set", "is_not_set"):
            return Q(pk__isnull=cond.op == "is_not_set")
        picked = []
        for value in cond.values:
            choice = value.text.strip().lower()
            if choice not in choices:
                raise QueryError(
                    f"'{value.text}' is not a {column}; use one of: {', '.join(sorted(choices))}",
                    value.position,
                )
            picked.append(choice)
        matched = Q(**{f"{column}__in": picked})
        return matched if cond.op in ("=", "in") else ~matched

    def number_column(self, cond: Condition, column: str) -> Q:
        if cond.op in ("is_set", "is_not_set"):
            return Q(pk__isnull=cond.op == "is_not_set")
        numbers = [parse_number(v) for v in cond.values]
        if cond.op in ("in", "not_in"):
            matched = Q(**{f"{column}__in": numbers})
            return matched if cond.op == "in" else ~matched
        return self._order(column, cond.op, numbers[0])

    def _order(self, column: str, op: str, value: Any) -> Q:
        lookups = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
        if op == "!=":
            return Q(**{f"{column}__isnull": False}) & ~Q(**{column: value})
        return Q(**{f"{column}__{lookups[op]}": value})

    def datetime_column(self, cond: Condition, column: str) -> Q:
        if cond.op in ("is_set", "is_not_set"):
            return Q(**{f"{column}__isnull": cond.op == "is_not_set"})
        moment = parse_moment(cond.values[0], self.now)
        return self._moment(column, cond.op, moment, lambda m: m)

    def _moment(self, column: str, op: str, moment: Moment, convert) -> Q:
        start, end = convert(moment.start), convert(moment.end)
        if not moment.is_day:
            return self._order(column, op, start)
        present = Q(**{f"{column}__isnull": False})
        within = Q(**{f"{column}__gte": start, f"{column}__lt": end})
        return {
            "=": within,
            "!=": present & ~within,
            ">": Q(**{f"{column}__gte": end}),
            ">=": Q(**{f"{column}__gte": start}),
            "<": Q(**{f"{column}__lt": start}),
            "<=": Q(**{f"{column}__lt": end}),
        }[op]

    # -- tags, lists, segments, companies

    def membership(self, cond: Condition, kind: str) -> Q:
        from contacts.models import ContactList, ContactTag, ListMembership, Tag

        self._check_op(cond, "membership", f"'{kind}'")
        if kind == "tag":
            links, owner_field, owners = ContactTag.objects, "tag", Tag.objects
        else:
            links, owner_field, owners = ListMembership.objects, "contact_list", ContactList.objects
        if cond.op in ("is_set", "is_not_set"):
            having = Exists(links.filter(contact_id=OuterRef("pk")))
            return Q(having) if cond.op == "is_set" else ~Q(having)
        owners = owners.filter(workspace=self.workspace)
        ids = [self._resolve(owners, value, kind) for value in cond.values]
        having = Exists(links.filter(contact_id=OuterRef("pk"), **{f"{owner_field}_id__in": ids}))
        return Q(having) if cond.op in ("=", "in") else ~Q(having)

    def _resolve(self, owners, value: Value, kind: str):
        text = value.text.strip()
        found = None
        try:
            found = owners.filter(id=uuid.UUID(text)).values_list("id", flat=True).first()
        except ValueError:
            pass
        if found is None:
            named = owners.annotate(name_lower=Lower("name")).filter(name_lower=text.lower())
            found = named.values_list("id", flat=True).first()
        if found is None:
            raise QueryError(f"there is no {kind} named '{text}'", value.position)
        return found

    def segment(self, cond: Condition) -> Q:
        from contacts.models import Segment, SegmentKind, SegmentMembership

        self._check_op(cond, "segment", "'segment'")
        owners = Segment.objects.filter(workspace=self.workspace)
        matched = Q(pk__in=[])
        for value in cond.values:
            segment = owners.get(pk=self._resolve(owners, value, "segment"))
            if segment.pk in self.segment_stack:
                raise QueryError(f"segment '{segment.name}' refers back to itself", value.position)
            if len(self.segment_stack) >= MAX_SEGMENT_DEPTH:
                raise QueryError("segments are nested too deeply", value.position)
            if segment.kind == SegmentKind.DYNAMIC:
                inner = Compiler(
                    workspace=self.workspace,
                    now=self.now,
                    segment_stack=(*self.segment_stack, segment.pk),
                    definitions=self.definitions,
                )
                try:
                    matched |= inner.compile(parse(segment.query))
                except QueryError as exc:
                    raise QueryError(
                        f"segment '{segment.name}' has a bad query: {exc.reason}", value.position
                    ) from None
            else:
                members = SegmentMembership.objects.filter(
                    segment=segment, contact_id=OuterRef("pk")
                )
                matched |= Q(Exists(members))
        return matched if cond.op in ("=", "in") else ~matched

    def company(self, cond: Condition, name: str) -> Q:
        from contacts.models import CompanyRole

        is_text = name in COMPANY_TEXT_FIELDS
        if not is_text and name not in COMPANY_NUMBER_FIELDS:
            fields = ", ".join(f"company.{n}" for n in COMPANY_TEXT_FIELDS + COMPANY_NUMBER_FIELDS)
            raise QueryError(f"unknown field 'company.{name}'; use one of: {fields}", cond.position)
        label = f"'company.{name}' ({'text' if is_text else 'a number'})"
        self._check_op(cond, "text" if is_text else "number", label)
        column = f"company__{name}"
        # A contact matches when one of its companies does.
        if cond.op in ("is_set", "is_not_set"):
            inner = ~Q(**{column: ""}) if is_text else Q(**{f"{column}__isnull": False})
        elif is_text:
            inner = self.text_column(cond, column, ignore_case=name == "domain")
        else:
            inner = self.number_column(cond, column)
        having = Q(Exists(CompanyRole.objects.filter(Q(contact_id=OuterRef("pk")) & inner)))
        return ~having if cond.op == "is_not_set" else having

    # -- custom properties

    def property(self, cond: Condition, key: str) -> Q:
        definition = self.definitions.get(key)
        if definition is None:
            raise QueryError(f"unknown property '{key}'", cond.position)
        kind = PROPERTY_KINDS[definition.type]
        self._check_op(cond, kind, f"property '{key}' ({definition.type})")
        column = f"properties__{key}"
        if cond.op in ("is_set", "is_not_set"):
            filled = (
                ~Q(Exact(JsonKeyType(key), "missing"))
                & ~Q(Exact(JsonKeyType(key), "null"))
                & ~(Q(Exact(JsonKeyType(key), "string")) & Q(**{column: ""}))
                & ~(Q(Exact(JsonKeyType(key), "array")) & Q(**{column: []}))
            )
            return filled if cond.op == "is_set" else ~filled
        if kind in ("date", "datetime"):
            typed = Q(Exact(JsonKeyType(key), "string"))
            moment_values = [parse_moment(v, self.now) for v in cond.values]
            if kind == "date":
                return typed & self._property_date(column, cond.op, moment_values[0])
            return typed & self._moment(column, cond.op, moment_values[0], _iso)
        typed = Q(Exact(JsonKeyType(key), JSON_TYPE_OF_KIND[kind]))
        if kind == "multi":
            return self._property_multi(cond, key, typed)
        if kind == "boolean":
            flag = parse_boolean(cond.values[0])
            return Q(JsonKeyEquals(key, flag if cond.op == "=" else not flag))
        if kind == "number":
            numbers = [parse_number(v) for v in cond.values]
            if cond.op in ("=", "!=", "in", "not_in"):
                return self._property_equals(cond.op, key, numbers, typed)
            return typed & self._order(column, cond.op, numbers[0])
        if cond.op in ("=", "!=", "in", "not_in"):
            return self._property_equals(cond.op, key, [v.text for v in cond.values], typed)
        return typed & self.text_column(cond, column)

    def _property_equals(self, op: str, key: str, values: list, typed: Q) -> Q:
        # Equality is containment on PostgreSQL, served by the GIN index on properties.
        matched = Q(pk__in=[])
        for value in values:
            matched |= Q(JsonKeyEquals(key, value))
        return matched if op in ("=", "in") else typed & ~matched

    def _property_date(self, column: str, op: str, moment: Moment) -> Q:
        day = moment.start.date().isoformat()
        lookups = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
        if op == "!=":
            return ~Q(**{column: day})
        return Q(**{f"{column}__{lookups[op]}": day})

    def _property_multi(self, cond: Condition, key: str, typed: Q) -> Q:
        if cond.op in ("=", "contains", "in", "!=", "not_in"):
            matched = Q(pk__in=[])
            for value in cond.values:
                matched |= Q(JsonArrayContains(key, value.text))
            return typed & (matched if cond.op in ("=", "contains", "in") else ~matched)
        raise QueryError("unsupported operator for a multi-select property", cond.position)


def trigram_hint(column: str, text: str) -> Q:
    """A condition implied by ``column`` containing ``text`` (ignoring case) that the trigram
    index of contacts.search can answer, for CONTAINS on the searched columns: ANDed to the
    real condition, it lets PostgreSQL collect candidates from the index instead of sorting the
    whole table (``email CONTAINS "son4242"`` at 1,000,000 contacts: 980 → 31 ms). Not for
    STARTS WITH or ENDS WITH: there the planner then also takes the index for frequent
    prefixes and domains, whose trigrams every row has, and reads more than its walk would
    (docs/performance.md). Nothing on SQLite, which has no such index."""
    if connection.vendor != "postgresql" or column not in SEARCH_COLUMNS:
        return Q()
    return Q(Contains(SearchText(), Lower(SqlValue(text))))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def compile_query(text: str, workspace, *, now: datetime | None = None) -> Q:
    """Parse and compile ``text`` for ``workspace``; raise QueryError with a position."""
    compiler = Compiler(workspace=workspace, now=now or timezone.now())
    return compiler.compile(parse(text))


def validate_query(text: str, workspace) -> None:
    compile_query(text, workspace)


# --- key:value shorthand for search ------------------------------------------------------------

_SHORTHAND = re.compile(r'^([A-Za-z_][\w.\-]*):("(?:[^"\\]|\\.)*"|\S+)$')


def expand_shorthand(text: str, definitions) -> str | None:
    """``industry:SaaS plan:pro`` -> ``properties.industry = "SaaS" AND …``; None if the text
    is not made of key:value terms only."""
    terms = text.split()
    if not terms:
        return None
    parts = []
    for term in terms:
        match = _SHORTHAND.match(term)
        if not match:
            return None
        key, value = match.groups()
        if not value.startswith('"'):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lowered = key.lower()
        if lowered in STANDARD_FIELDS or lowered in ("tag", "list", "segment") or "." in key:
            field_name = key
        elif key in definitions:
            field_name = f"properties.{key}"
        else:
            field_name = key
        parts.append(f"{field_name} = {value}")
    return " AND ".join(parts)


def compile_search(text: str, workspace, *, now: datetime | None = None) -> Q:
    """The search box: the query language, or ``key:value`` terms."""
    compiler = Compiler(workspace=workspace, now=now or timezone.now())
    try:
        return compiler.compile(parse(text))
    except QueryError as first_error:
        expanded = expand_shorthand(text, compiler.definitions)
        if expanded is None:
            raise first_error from None
        return compiler.compile(parse(expanded))
