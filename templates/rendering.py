"""Personalising user-written templates, safely.

Templates are Jinja2 run in an ``ImmutableSandboxedEnvironment`` that is narrowed further:
no globals but a capped ``range``, an allow-list of filters, attribute access limited to the
keys of plain dicts and a few harmless methods of strings, lists and loops, and a budget per
render (steps, wall time, output size) checked at every loop iteration, call, lookup and
output. Contexts hold plain data only (dicts, lists, strings, numbers), never model instances.

A missing variable renders empty (or its ``default``); a syntax error is a ``ValidationError``
naming the line; anything the sandbox refuses, or a render over budget, raises ``RenderError``.
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
import time
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from html.parser import HTMLParser
from typing import Any, NamedTuple

import css_inline
import nh3
from django.core.exceptions import ValidationError
from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError, nodes, pass_context
from jinja2 import filters as jinja_filters
from jinja2.runtime import LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from mailcrm.exceptions import DomainError

MAX_SOURCE_CHARS = 512_000
MAX_OUTPUT_CHARS = 1_000_000  # per part (subject, HTML, text) and per value built on the way
# A campaign batch renders hundreds of messages in one task: a legitimate template needs a few
# thousand steps, so these caps keep even a slow template's batch well inside the task timeout.
MAX_STEPS = 100_000  # loop iterations, calls and lookups per render
MAX_SECONDS = 1.0  # wall time per render
MAX_RANGE = 10_000
MAX_BLOCK_DEPTH = 40  # statements inside statements ({% for %}, {% if %}, their output)
MAX_HTML_DEPTH = 100  # counted generously; real depth can be ~2.5x (implied tbody, tr)
CACHED_SOURCE_CHARS = 200_000
MAX_INT_BITS = 4_096

PARTS = ("subject", "html", "text")


class RenderError(DomainError):
    """A template could not be rendered: the sandbox refused something, or a limit was hit."""

    status_code = 422
    code = "template_render_failed"


class SandboxViolation(RenderError):
    code = "template_sandbox_violation"


class RenderLimitExceeded(RenderError):
    code = "template_limit_exceeded"


class Rendered(NamedTuple):
    subject: str
    html: str
    text: str


# --- the budget of one render ---------------------------------------------------------------


@dataclass
class _Budget:
    deadline: float
    steps: int = 0

    def tick(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise RenderLimitExceeded("The template does too much work (too many steps).")
        if time.monotonic() > self.deadline:
            raise RenderLimitExceeded("The template took too long to render.")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "template_budget", default=None
)


def _tick(count: int = 1) -> None:
    # Outside a render (constant folding while compiling) there is no budget to spend.
    budget = _budget.get()
    if budget is not None:
        budget.tick(count)


def _at_render_time() -> None:
    """Lookups, calls and operators run only inside a render, never while Jinja folds
    constants at compile time (outside any budget)."""
    budget = _budget.get()
    if budget is None:
        raise nodes.Impossible()
    budget.tick()


def _measure(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Roughly how long ``value`` is as text, walking containers without recursion and giving
    up as soon as ``limit`` is passed — so a list that holds itself a million times over (built
    from shared references) is refused before anyone turns it into a string."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        children: Iterable[Any] = ()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            children = [*item.keys(), *item.values()] if total <= limit else ()
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            children = item
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
        if total > limit:
            raise RenderLimitExceeded("The template builds a value that is too large.")
        stack.extend(children)
    return total


def _check_size(value: Any) -> Any:
    _measure(value)
    return value


# --- what templates may reach ---------------------------------------------------------------

_STR_METHODS = frozenset(
    {
        "capitalize", "count", "endswith", "find", "isalnum", "isalpha", "isdigit", "islower",
        "isspace", "isupper", "lower", "lstrip", "replace", "rsplit", "rstrip", "split",
        "splitlines", "startswith", "strip", "striptags", "swapcase", "title", "upper",
    }
)  # fmt: skip
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})
_SEQUENCE_METHODS = frozenset({"count", "index"})
_LOOP_ATTRIBUTES = frozenset(
    {
        "index", "index0", "revindex", "revindex0", "first", "last", "length", "depth",
        "depth0", "previtem", "nextitem", "cycle", "changed",
    }
)  # fmt: skip
_MACRO_ATTRIBUTES = frozenset({"name", "arguments", "catch_kwargs", "catch_varargs", "caller"})


def _violation(what: str) -> SandboxViolation:
    return SandboxViolation(f"The template tried to use {what}, which is not allowed.")


def _allowed_attribute(obj: Any, name: str) -> bool:
    if isinstance(obj, str):
        return name in _STR_METHODS
    if isinstance(obj, list | tuple | range):
        return name in _SEQUENCE_METHODS
    if isinstance(obj, LoopContext):
        return name in _LOOP_ATTRIBUTES
    if isinstance(obj, Macro):
        return name in _MACRO_ATTRIBUTES
    return False


def _safe_range(*args: int) -> range:
    """``range`` for templates, refused beyond MAX_RANGE items."""
    if len(args) > 3 or not all(isinstance(arg, int) for arg in args):
        raise TypeError("range() takes one to three whole numbers")
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise RenderLimitExceeded(f"range() is limited to {MAX_RANGE} items.")
    return result


def _guarded_str_replace(text: str, old: str, new: str, count: int = -1) -> str:
    occurrences = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * max(0, len(new) - len(old)) > MAX_OUTPUT_CHARS:
        raise RenderLimitExceeded("replace() would build a value that is too large.")
    return text.replace(old, new, count if count is not None else -1)


class LenientUndefined(ChainableUndefined):
    """A missing variable: empty text, falsy, chainable (``a.b.c``), callable, and never an
    error in comparisons or arithmetic — a contact without a property still gets the email."""

    __slots__ = ()

    def _self(self, *args: Any, **kwargs: Any) -> LenientUndefined:
        return self

    def _false(self, other: Any) -> bool:
        return False

    __call__ = __getitem__ = _self
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _self
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _self
    __mod__ = __rmod__ = __pow__ = __rpow__ = __pos__ = __neg__ = _self
    __lt__ = __le__ = __gt__ = __ge__ = _false

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0


def _binop_guard(op: str, left: Any, right: Any) -> None:
    if op == "%" and isinstance(left, str):
        raise _violation("%-formatting of strings")
    if op == "**" and isinstance(left, int) and isinstance(right, int):
        if right > 0 and left.bit_length() * right > MAX_INT_BITS:
            raise RenderLimitExceeded("The template computes a number that is too large.")
    if op == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise RenderLimitExceeded("The template computes a number that is too large.")
            return
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int):
                if max(times, 0) * max(_measure(seq), 1) > MAX_OUTPUT_CHARS:
                    raise RenderLimitExceeded("The template builds a value that is too large.")
    if op == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        _measure(right, MAX_OUTPUT_CHARS - _measure(left))


class MailSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, narrowed: see the module docstring."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//", "/", "-"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return not attr.startswith("_") and _allowed_attribute(obj, attr)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise _violation(f"the attribute {attribute!r}")

    def getattr(self, obj: Any, attribute: str) -> Any:
        _at_render_time()
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        if attribute.startswith("_"):
            raise _violation(f"the attribute {attribute!r}")
        if isinstance(obj, Undefined):
            return obj
        if isinstance(obj, dict):
            if attribute in _DICT_METHODS:
                return getattr(obj, attribute)
            return self.undefined(obj=obj, name=attribute)
        if _allowed_attribute(obj, attribute):
            return getattr(obj, attribute)
        if hasattr(obj, attribute):
            raise _violation(f"the attribute {attribute!r}")
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _at_render_time()
        if isinstance(obj, dict | list | tuple | str | range):
            try:
                return obj[argument]
            except (TypeError, LookupError, ValueError):
                pass
        if isinstance(argument, str):
            return self.getattr(obj, argument)
        if isinstance(obj, Undefined):
            return obj
        return self.undefined(obj=obj, name=argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _at_render_time()
        if __obj is _safe_range or isinstance(__obj, Macro | Undefined | LoopContext):
            return __context.call(__obj, *args, **kwargs)
        if isinstance(__obj, types.BuiltinMethodType | types.MethodType):
            owner, name = getattr(__obj, "__self__", None), __obj.__name__
            if isinstance(owner, str) and name == "replace":
                return _guarded_str_replace(owner, *args, **kwargs)
            if owner is not None and _allowed_attribute(owner, name):
                return __context.call(__obj, *args, **kwargs)
            if isinstance(owner, dict) and name in _DICT_METHODS:
                return __context.call(__obj, *args, **kwargs)
        raise _violation("a call to something that is not a macro or an allowed method")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _at_render_time()
        _binop_guard(operator, left, right)
        return self.binop_table[operator](left, right)


# --- filters ----------------------------------------------------------------------------------


def _parse_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _format_date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    """``{{ contact.created_at|date("%d %B %Y") }}``: dates and ISO strings; anything else as is."""
    if isinstance(value, Undefined) or value is None:
        return ""
    if not isinstance(fmt, str) or len(fmt) > 100:
        raise RenderLimitExceeded("A date format is limited to 100 characters.")
    parsed = _parse_date(value)
    return parsed.strftime(fmt) if parsed is not None else str(value)


def _format_datetime(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return _format_date(value, fmt)


def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    items = list(_limited(value))
    if len(items) * len(str(d)) > MAX_OUTPUT_CHARS:
        raise RenderLimitExceeded("join() would build a value that is too large.")
    return jinja_filters.do_join(eval_ctx, items, d, attribute)


_join.jinja_pass_arg = jinja_filters.do_join.jinja_pass_arg  # type: ignore[attr-defined]


def _replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
    _guarded_str_replace(str(s), str(old), str(new), -1 if count is None else count)
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


_replace.jinja_pass_arg = jinja_filters.do_replace.jinja_pass_arg  # type: ignore[attr-defined]


def _round(value: Any, precision: int = 0, method: str = "common") -> Any:
    # round(5, -10**8) computes 10**(10**8) first: bound the precision.
    if not isinstance(precision, int) or abs(precision) > 100:
        raise RenderLimitExceeded("round() takes a precision between -100 and 100.")
    return jinja_filters.do_round(value, precision, method)


def _limited(iterable: Any) -> Iterator[Any]:
    """The loop guard: every ``{% for %}`` iterates through this (see ``_Guards``)."""
    if isinstance(iterable, Undefined) or iterable is None:
        return
    for item in iterable:
        _tick()
        yield item


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _tick()
        for arg in (*args, *kwargs.values()):
            _measure(arg)
        return _check_size(func(*args, **kwargs))

    return wrapper


_ALLOWED_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
    "int", "items", "last", "length", "list", "lower", "map", "max", "min", "reject",
    "rejectattr", "reverse", "select", "selectattr", "sort", "string", "striptags", "sum",
    "title", "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
)  # fmt: skip

FILTERS: dict[str, Callable[..., Any]] = {
    **{name: _guarded(jinja_filters.FILTERS[name]) for name in _ALLOWED_FILTERS},
    "join": _guarded(_join),
    "replace": _guarded(_replace),
    "round": _guarded(_round),
    "date": _guarded(_format_date),
    "datetime": _guarded(_format_datetime),
    # Injected by _Guards, not meant to be written by hand (harmless if they are).
    "_loop_guard": _limited,
    "_size_guard": _check_size,
}


# --- compile-time checks and guards -----------------------------------------------------------

_REFUSED_TAGS = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    # Contact data is always escaped in HTML: the template cannot switch that off.
    nodes.ScopedEvalContextModifier: "{% autoescape %}",
    nodes.EvalContextModifier: "{% autoescape %}",
}


def _filter(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Guards(NodeTransformer):
    """Rewrites the parsed template: loops iterate through the loop guard, and values that can
    grow (concatenations, literal lists and dicts) pass the size guard."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        if not node.recursive:
            node.iter = _filter(node.iter, "_loop_guard")
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Concat:
        self.generic_visit(node)
        node.nodes = [_filter(child, "_size_guard") for child in node.nodes]
        return node

    def _sized(self, node: nodes.Expr) -> nodes.Expr:
        self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load":
            return node
        return _filter(node, "_size_guard")

    visit_List = visit_Dict = visit_Tuple = _sized


def _refuse_unsafe(tree: nodes.Template) -> None:
    """Fail at save time on what could only ever be refused at send time."""
    for node in tree.find_all(nodes.Node):
        label = _REFUSED_TAGS.get(type(node))
        if label:
            raise TemplateSyntaxError(f"{label} is not available in email templates", node.lineno)
        name = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        if isinstance(name, str) and name.startswith("_"):
            raise TemplateSyntaxError(
                f"names starting with '_' are not allowed ({name})", node.lineno
            )


def _refuse_deep(tree: nodes.Template) -> None:
    """Python's compiler gives up on the generated code near 100 levels of blocks, but only
    after seconds of work (2.6 s for 200 nested loops): refuse before generating it."""
    pending: list[tuple[nodes.Node, int]] = [(tree, 0)]  # a loop: the tree may be deep
    while pending:
        node, depth = pending.pop()
        if isinstance(node, nodes.Stmt):
            depth += 1
            if depth > MAX_BLOCK_DEPTH:
                raise TemplateSyntaxError(
                    f"blocks nest more than {MAX_BLOCK_DEPTH} levels deep", node.lineno
                )
        pending.extend((child, depth) for child in node.iter_child_nodes())


class _GuardedSandbox(MailSandbox):
    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _refuse_deep(tree)
        _refuse_unsafe(tree)
        return _Guards().visit(tree)


_PRINTABLE = (str, int, float, list, tuple, dict, range, Undefined, type(None))


@pass_context  # which also keeps Jinja from folding outputs at compile time
def _finalize(context: Any, value: Any) -> Any:
    # Methods, macros, loops and the like print as nothing rather than as their repr.
    _tick()
    return _check_size(value) if isinstance(value, _PRINTABLE) else ""


def _environment(*, autoescape: bool) -> _GuardedSandbox:
    env = _GuardedSandbox(
        autoescape=autoescape,
        undefined=LenientUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=0,
    )
    env.globals.clear()
    env.globals["range"] = _safe_range
    env.filters = dict(FILTERS)
    return env


@pass_context
def _finalize_spaced(context: Any, value: Any) -> Any:
    # A value's whitespace runs read as one space, as they did inside the HTML's text.
    value = _finalize(context, value)
    return re.sub(r"\s+", " ", value) if isinstance(value, str) else value


HTML_ENV = _environment(autoescape=True)
TEXT_ENV = _environment(autoescape=False)
# The text part derived from an HTML template (text_template).
DERIVED_TEXT_ENV = _environment(autoescape=False)
DERIVED_TEXT_ENV.finalize = _finalize_spaced


# --- compiling and rendering ------------------------------------------------------------------


def _compile_part(field_name: str, source: str, env: _GuardedSandbox) -> Any:
    if len(source) > MAX_SOURCE_CHARS:
        raise ValidationError({field_name: [f"At most {MAX_SOURCE_CHARS} characters."]})
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        reason = f"Line {exc.lineno}: {exc.message}"
    except TemplateError as exc:
        reason = f"Line {getattr(exc, 'lineno', None) or 1}: {exc.message}"
    except (RecursionError, SyntaxError, MemoryError):
        # Jinja's parser and Python's compiler recurse per nesting level (IndentationError
        # past 100 blocks); the exact line is lost on the way.
        reason = "Line 1: the template nests too deeply (blocks, brackets or filters)."
    raise ValidationError({field_name: [reason]}, code="template_syntax")


@dataclass
class CompiledTemplate:
    """Subject, HTML and text compiled once (per campaign batch), rendered per recipient."""

    subject_source: str
    html_source: str
    text_source: str
    _parts: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        for name, source, env in (
            ("subject", self.subject_source, TEXT_ENV),
            ("html", self.html_source, HTML_ENV),
            ("text", self.text_source, TEXT_ENV),
        ):
            try:
                self._parts[name] = _compile_part(name, source or "", env) if source else None
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)
        # Without a text part: one derived from the HTML template, once, rendered per
        # recipient (None: derived from each recipient's HTML instead; see text_template).
        derive = self.html_source and not self.text_source
        self._parts["derived"] = _compile_derived(self.html_source) if derive else None

    def render(self, context: dict[str, Any]) -> Rendered:
        """Render all three parts within one budget; the text part is derived from the HTML
        when the template has none, and CSS is inlined into the HTML."""
        token = _budget.set(_Budget(deadline=time.monotonic() + MAX_SECONDS))
        derived = self._parts["derived"]
        try:
            subject = _render_part(self._parts["subject"], context)
            html = _render_part(self._parts["html"], context)
            text = _render_part(self._parts["text"], context)
            if derived is not None and html:
                text = _render_part(derived, context)
        except RenderError:
            raise
        except RecursionError:
            raise RenderLimitExceeded("The template recurses too deeply.") from None
        except MemoryError:
            raise RenderLimitExceeded("The template needs too much memory.") from None
        except Exception as exc:  # noqa: BLE001 - any failure inside the sandbox is the template's
            raise RenderError(f"{type(exc).__name__}: {exc}"[:500]) from None
        finally:
            _budget.reset(token)
        if derived is not None and html and not _HAS_STYLES.search(html):
            # Refused as deep as before, when every recipient's HTML was parsed for the text
            # (inline_css checks HTML with styles itself).
            check_nesting(html)
        html = inline_css(html) if html else ""
        if not self.text_source and html:
            text = _finish_text(text) if derived is not None else html_to_text(html)
        return Rendered(" ".join(subject.split()), html, text)


def _render_part(template: Any, context: dict[str, Any]) -> str:
    if template is None:
        return ""
    budget = _budget.get()
    tick = budget.tick if budget is not None else _tick
    chunks, size = [], 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise RenderLimitExceeded(f"The rendered email passes {MAX_OUTPUT_CHARS} characters.")
        chunks.append(chunk)
        tick()
    return "".join(chunks)


@functools.lru_cache(maxsize=64)
def _cached_compile(subject: str, html: str, text: str) -> CompiledTemplate:
    return CompiledTemplate(subject, html, text)


def compile_template(subject: str, html: str, text: str = "") -> CompiledTemplate:
    """Compile the three parts; a syntax error is a ValidationError per part with its line."""
    subject, html, text = subject or "", html or "", text or ""
    if len(subject) + len(html) + len(text) > CACHED_SOURCE_CHARS:
        return CompiledTemplate(subject, html, text)  # rare, and not worth the memory
    return _cached_compile(subject, html, text)


def render_template(subject: str, html: str, text: str, context: dict[str, Any]) -> Rendered:
    return compile_template(subject, html, text).render(context)


# --- context ----------------------------------------------------------------------------------

CONTACT_FIELDS = (
    "email", "first_name", "last_name", "phone", "company", "job_title", "status",
    "lifecycle_stage", "source", "score", "score_tier",
)  # fmt: skip


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """JSON-shaped copies only: nothing a template reaches can be a live object."""
    return json.loads(json.dumps(value, default=str))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def contact_data(contact: Any) -> dict[str, Any]:
    data = {name: getattr(contact, name) for name in CONTACT_FIELDS}
    data.update(
        id=str(contact.pk),
        name=contact.name,
        full_name=contact.name,
        properties=_plain(contact.properties or {}),
        created_at=_iso(contact.created_at),
        last_sent_at=_iso(contact.last_sent_at),
        last_opened_at=_iso(contact.last_opened_at),
        last_clicked_at=_iso(contact.last_clicked_at),
    )
    # Value by value what _plain(data) made of the whole: the standard fields are nearly always
    # plain already, and ``properties`` is a fresh plain copy (JSON twice over was half of
    # building a message's context).
    for name, value in data.items():
        if type(value) not in _SCALARS and name != "properties":
            data[name] = _plain(value)
    return data


def build_context(
    *,
    contact: Any = None,
    workspace: Any = None,
    campaign: Any = None,
    urls: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The variables of one render, as plain data: ``contact`` (standard fields and
    ``properties``), ``workspace``, ``campaign`` and the per-message links."""
    urls = urls or {}
    context: dict[str, Any] = {
        "contact": contact_data(contact) if contact is not None else {},
        "workspace": {
            "id": str(workspace.pk),
            "name": workspace.name,
            "physical_address": workspace.physical_address,
        }
        if workspace
        else {},
        "campaign": (
            {
                "id": str(campaign.pk),
                "name": campaign.name,
                "subject": campaign.subject,
                "tag": campaign.tag,
            }
            if campaign is not None
            else {}
        ),
    }
    for name in ("unsubscribe_url", "preferences_url", "view_in_browser_url"):
        context[name] = str(urls.get(name) or "")
    return context


# --- HTML helpers -----------------------------------------------------------------------------

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)
_HAS_STYLES = re.compile(r"<(style|link)\b", re.IGNORECASE)


_TAG_OPENING = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)")
# Void elements, and those HTML closes by itself when the next one starts (<p>, <li>, <td>…):
# they never nest deeply, so counting them would only refuse ordinary email.
_NOT_NESTING = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "p", "li", "dt", "dd", "td", "th", "tr", "tbody", "thead",
        "tfoot", "option", "optgroup", "colgroup", "caption", "rp", "rt",
    }
)  # fmt: skip


def check_nesting(html: str, limit: int = MAX_HTML_DEPTH) -> None:
    """Refuse HTML nested deeper than ``limit`` elements, counted in one linear pass (and
    generously: a stray "<div" in a comment counts). The HTML parsers behind CSS inlining and
    the text part recurse per level: some ten thousand levels crash the process outright."""
    depth = 0
    for match in _TAG_OPENING.finditer(html):
        if match.group(2).lower() in _NOT_NESTING:
            continue
        if match.group(1):
            depth = max(0, depth - 1)
            continue
        depth += 1
        if depth > limit:
            raise RenderLimitExceeded(f"The HTML nests more than {limit} elements deep.")


def inline_css(html: str) -> str:
    """Move ``<style>`` rules into ``style`` attributes (mail clients drop style sheets).
    Remote and local style sheets are never fetched."""
    if not _HAS_STYLES.search(html):
        return html
    check_nesting(html)
    try:
        return _INLINER.inline(html)
    except ValueError:
        return html  # CSS the inliner cannot parse is left as written


_BLOCKS = frozenset(
    {
        "p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li",
        "blockquote", "hr", "section", "article", "header", "footer", "pre", "dl", "dt", "dd",
    }
)  # fmt: skip
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "table", "blockquote"})
_SKIPPED = frozenset({"script", "style", "head", "title", "template"})


# Marks in a text template derived from an HTML template (text_template): Unicode
# noncharacters, which an email's own content does not carry. A hole is a Jinja construct's
# place while its HTML is turned into text; a link is an href known only per recipient.
_HOLE_OPEN, _HOLE_CLOSE, _LINK_OPEN, _LINK_CLOSE = "\ufdd0", "\ufdd1", "\ufdd2", "\ufdd3"
_MARKS = re.compile("[\ufdd0-\ufdd3]")
_HOLE = re.compile("\ufdd0(\\d+)\ufdd1")
_LINK = re.compile("\ufdd2(.*?)\ufdd3", re.DOTALL)
_SPELLED_OUT = re.compile(r"(https?:|mailto:)")
_SPACES = re.compile(r"\s+")
# Filters that write HTML escapes: in a text part they would show as "&lt;" and the like.
_MARKUP_FILTERS = frozenset({"e", "escape"})


class _TextExtractor(HTMLParser):
    def __init__(self, *, template: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.links: list[str | None] = []
        self.template = template

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skip += 1
        elif tag in _BLOCKS:
            self.out.append("\n\n" if tag in _PARAGRAPHS else "\n")
            if tag == "li":
                self.out.append("- ")
        if tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCKS and tag != "li":
            self.out.append("\n\n" if tag in _PARAGRAPHS else "\n")
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and self.template and _HOLE_OPEN in href:
                self.out.append(f"{_LINK_OPEN}{href}{_LINK_CLOSE}")  # decided per recipient
            elif href and _SPELLED_OUT.match(href) and href not in self.out[-1:]:
                self.out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text part from HTML: blocks on their own lines, links spelled out."""
    return _tidy(_extract_text(html))


def _extract_text(html: str, *, template: bool = False) -> str:
    check_nesting(html)
    # nh3 (html5ever) first: the standard library's parser is quadratic on some broken input
    # (a run of unclosed "<!--" takes minutes); what nh3 returns is well-formed.
    cleaned = nh3.clean(
        html,
        tags=set(_BLOCKS | {"a"}),
        clean_content_tags=set(_SKIPPED),
        attributes={"a": {"href"}},
        link_rel=None,
        strip_comments=True,
    )
    parser = _TextExtractor(template=template)
    parser.feed(cleaned)
    parser.close()
    return "".join(parser.out)


def _tidy(text: str) -> str:
    lines = [line.strip() for line in re.sub(" {2,}", " ", text).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def text_template(html_source: str) -> str | None:
    """The text part as a template, derived once from an HTML template (a campaign's, a
    variant's): rendering it per recipient gives what ``html_to_text`` of each recipient's
    HTML gave, without parsing every recipient's HTML twice (nh3, then HTMLParser). Each
    Jinja construct is set aside while the HTML around it becomes text, then put back; the
    text template renders without HTML escaping, so values read as written. An href holding
    a value is spelled out per recipient, with the same rule as a static one.

    None when the result would differ from the per-recipient derivation in ways that matter
    — the template escapes by hand (``|e``), a construct sits where the HTML is dropped so
    the rest no longer compiles, or the HTML's own text looks like Jinja once its entities
    are decoded: the text part is then derived from each recipient's HTML, as before."""
    try:
        if _MARKS.search(html_source):
            return None
        tree = HTML_ENV.parse(html_source)
        if any(node.name in _MARKUP_FILTERS for node in tree.find_all(nodes.Filter)):
            return None
        holes: list[str] = []
        pieces: list[str] = []
        in_hole = False
        for _, kind, value in HTML_ENV.lex(html_source):
            if kind == "data":
                pieces.append(value)
                in_hole = False
            elif in_hole:
                holes[-1] += value
            else:
                pieces.append(f"{_HOLE_OPEN}{len(holes)}{_HOLE_CLOSE}")
                holes.append(value)
                in_hole = True
        if not holes:
            # Nothing varies: the text is the same for everyone; it still renders through
            # the text environment, so its own braces must not read as Jinja.
            text = html_to_text(html_source)
            return None if re.search(r"\{[{%#]", text) else text
        text = _tidy(_extract_text("".join(pieces), template=True))
        if re.search(r"\{[{%#]", _HOLE.sub("", text)):
            return None
        source = _HOLE.sub(lambda match: holes[int(match.group(1))], text)
        # The text around the constructs must not join one to make another ("{" decoded from
        # an entity just before "{{"): the derived source must lex into the same constructs.
        kept = "".join(holes[int(number)] for number in _HOLE.findall(text))
        lexed = "".join(v for _, kind, v in DERIVED_TEXT_ENV.lex(source) if kind != "data")
        if _SPACES.sub("", lexed) != _SPACES.sub("", kept):
            return None
        return source
    except Exception:  # noqa: BLE001 - any doubt: derive per recipient, as before
        return None


def _compile_derived(html_source: str) -> Any:
    source = text_template(html_source)
    if source is None:
        return None
    try:
        return _compile_part("text", source, DERIVED_TEXT_ENV)
    except ValidationError:
        return None  # a construct lost with the HTML around it: derive per recipient


def _spell_link(match: re.Match) -> str:
    href = match.group(1)
    if _SPELLED_OUT.match(href) and not match.string.endswith(href, 0, match.start()):
        return f" ({href})"
    return ""


def _finish_text(text: str) -> str:
    """A rendered text template's links spelled out, its lines tidied as html_to_text does."""
    if _LINK_OPEN in text:
        text = _LINK.sub(_spell_link, text)
    return _tidy(text)


__all__ = [
    "CompiledTemplate",
    "RenderError",
    "RenderLimitExceeded",
    "Rendered",
    "SandboxViolation",
    "build_context",
    "compile_template",
    "contact_data",
    "html_to_text",
    "inline_css",
    "render_template",
    "text_template",
]
