"""Arbitrary templates from a small grammar of Jinja: compiling either works or is a
ValidationError; rendering either works or is a RenderError — never another exception, never
a hang — and nothing it prints is a Python object's repr."""

import time

from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from templates.rendering import RenderError, compile_template

ATOMS = [
    "9", "-1", "0", "2.5", "99999", "'x'", "'{0}'", "'%s'", "x", "n", "contact",
    "contact.first_name", "contact.properties", "contact.properties.tags", "range(9)",
    "range(99999)", "[x, x]", "{'a': x}", "loop", "self", "caller", "cycler", "namespace", "m",
    "none", "true",
]  # fmt: skip
OPERATORS = [" * ", " ** ", " + ", " - ", " ~ ", " % ", " / ", " // ", " and ", " == ", " in "]
FILTERS = [
    "upper", "list", "length", "sum", "first", "join(x)", "replace('x', x)", "round(n)",
    "default(x)", "map('upper')", "sort", "date", "truncate(n)", "string", "int", "unique",
]  # fmt: skip
ATTRIBUTES = ["items()", "get('x')", "format(x)", "split()", "upper()", "index", "count(x)"]

expressions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(OPERATORS), inner).map("".join),
        st.tuples(inner, st.sampled_from(FILTERS)).map(lambda t: f"({t[0]})|{t[1]}"),
        st.tuples(inner, st.sampled_from(ATTRIBUTES)).map(lambda t: f"({t[0]}).{t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}]"),
        inner.map(lambda e: f"m({e})"),
    ),
    max_leaves=8,
)
statements = st.recursive(
    expressions.map(lambda e: "{{ " + e + " }}"),
    lambda inner: st.one_of(
        st.tuples(expressions, inner).map(lambda t: f"{{% for x in {t[0]} %}}{t[1]}{{% endfor %}}"),
        st.tuples(expressions, inner).map(lambda t: f"{{% if {t[0]} %}}{t[1]}{{% endif %}}"),
        expressions.map(lambda e: f"{{% set x = {e} %}}"),
        st.lists(inner, max_size=4).map("".join),
    ),
    max_leaves=6,
)
templates_ = statements.map(lambda body: "{% macro m(a) %}{{ a }}{% endmacro %}<p>" + body)

CONTEXT = {
    "contact": {"first_name": "Ann", "properties": {"plan": "pro", "tags": ["a", "b"]}},
    "x": "ab",
    "n": 3,
}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(templates_)
def test_any_template_compiles_or_fails_cleanly_and_renders_or_fails_cleanly(source):
    try:
        compiled = compile_template(source, source, source)
    except ValidationError as exc:
        assert set(exc.message_dict) <= {"subject", "html", "text"}
        return
    started = time.monotonic()
    try:
        rendered = compiled.render(CONTEXT)
    except RenderError as exc:
        assert exc.message
    else:
        for part in rendered:
            assert "object at 0x" not in part and "<class" not in part
    assert time.monotonic() - started < 30  # a stall guard, generous for a loaded machine
