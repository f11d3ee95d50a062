"""Rendering: personalisation over plain data, lenient missing values, escaping, CSS inlining,
the derived text part, syntax errors with their line, and the limits of one render."""

import time

import pytest
from django.core.exceptions import ValidationError

from contacts.tests.factories import ContactFactory
from templates.rendering import (
    CACHED_SOURCE_CHARS,
    MAX_OUTPUT_CHARS,
    RenderError,
    RenderLimitExceeded,
    build_context,
    compile_template,
    html_to_text,
)


def render(subject="", html="", text="", **context):
    return compile_template(subject, html, text).render(context)


@pytest.fixture
def contact(workspace):
    return ContactFactory(
        workspace=workspace,
        email="jane@example.com",
        first_name="Jane",
        last_name="Smith",
        properties={"plan": "pro", "lifetime_value": 2500, "interests": ["analytics", "crm"]},
    )


@pytest.mark.django_db
def test_it_personalises_from_contact_workspace_and_urls(contact, workspace):
    context = build_context(
        contact=contact, workspace=workspace, urls={"unsubscribe_url": "https://x.example/u/t"}
    )
    rendered = compile_template(
        "Hi {{ contact.first_name }} from {{ workspace.name }}",
        "<p>{{ contact.name }} on {{ contact.properties.plan }}"
        " ({{ contact.properties.interests|join(', ') }})</p>"
        "<a href='{{ unsubscribe_url }}'>Unsubscribe</a>",
    ).render(context)
    assert rendered.subject == "Hi Jane from Acme"
    assert "<p>Jane Smith on pro (analytics, crm)</p>" in rendered.html
    assert "https://x.example/u/t" in rendered.html


@pytest.mark.django_db
def test_the_context_is_plain_data_only(contact, workspace):
    context = build_context(contact=contact, workspace=workspace, urls={})

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, str | int | float | bool)

    assert plain(context)
    assert context["contact"]["id"] == str(contact.pk)
    assert context["contact"]["properties"]["lifetime_value"] == 2500
    assert context["campaign"] == {}
    assert context["view_in_browser_url"] == ""


def test_a_missing_variable_renders_empty_or_its_default():
    rendered = render(
        "Hi {{ contact.first_name|default('there') }}",
        "<p>[{{ nobody }}][{{ contact.properties.plan.tier }}][{{ missing() }}]"
        "{% if contact.properties.score > 50 %}hot{% else %}cold{% endif %}"
        "{{ contact.properties.score + 1 }}{% for x in nothing %}{{ x }}{% endfor %}</p>",
        contact={},
    )
    assert rendered.subject == "Hi there"
    assert rendered.html == "<p>[][][]cold</p>"


def test_values_are_escaped_in_html_but_not_in_subject_or_text():
    contact = {"first_name": "<b>Tom & Jerry</b>"}
    rendered = render("Hi {{ contact.first_name }}", "<p>{{ contact.first_name }}</p>",
                      "Hi {{ contact.first_name }}", contact=contact)  # fmt: skip
    assert rendered.html == "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"
    assert rendered.subject == "Hi <b>Tom & Jerry</b>"
    assert rendered.text == "Hi <b>Tom & Jerry</b>"


def test_a_value_that_looks_like_a_template_is_never_evaluated():
    contact = {"first_name": "{{ 7 * 7 }}{% for i in range(3) %}x{% endfor %}"}
    rendered = render(
        "{{ contact.first_name }}", "<p>{{ contact.first_name }}</p>", contact=contact
    )
    assert rendered.subject == contact["first_name"]
    assert "49" not in rendered.html and "xxx" not in rendered.html


def test_the_subject_is_one_line():
    assert render("Hello\n{{ name }}\r\n  again", name="Jane").subject == "Hello Jane again"


def test_css_is_inlined_and_style_sheets_dropped():
    html = (
        "<html><head><style>p { color: red }</style>"
        "<link rel='stylesheet' href='http://127.0.0.1:9/x.css'></head>"
        "<body><p>Hi</p></body></html>"
    )
    rendered = render("s", html)
    assert '<p style="color: red;">Hi</p>' in rendered.html
    assert "<style" not in rendered.html and "<link" not in rendered.html


def test_html_without_styles_is_left_as_written():
    assert render("s", "<p>Hi</p>").html == "<p>Hi</p>"


def test_the_text_part_is_derived_from_the_html_when_none_is_given():
    rendered = render(
        "s",
        "<html><head><title>T</title><style>p{}</style></head><body><h1>News</h1>"
        "<p>Hello {{ name }}, read <a href='https://acme.example/post'>the post</a>.</p>"
        "<ul><li>one</li><li>two</li></ul><script>alert(1)</script></body></html>",
        name="Jane",
    )
    assert rendered.text == (
        "News\n\nHello Jane, read the post (https://acme.example/post).\n\n- one\n- two"
    )


def test_a_given_text_part_is_used_as_is():
    assert render("s", "<p>Hi</p>", "Plain {{ name }}", name="Jo").text == "Plain Jo"


def test_html_to_text_unescapes_entities():
    assert html_to_text("<p>Fish &amp; chips&nbsp;&lt;3</p>") == "Fish & chips <3"


def test_date_filters_format_dates_and_iso_strings():
    rendered = render(
        "{{ when|date('%d %B %Y') }}|{{ when|datetime }}|{{ missing|date }}|{{ 'soon'|date }}",
        when="2025-03-01T09:30:00+00:00",
    )
    assert rendered.subject == "01 March 2025|2025-03-01 09:30||soon"


def test_loops_macros_and_allowed_filters_work():
    rendered = render(
        "s",
        "{% macro item(x) %}<li>{{ x|title }}</li>{% endmacro %}"
        "<ul>{% for x in items|sort %}{{ item(x) }}{% endfor %}</ul>"
        "{{ items|length }} {{ range(3)|list|sum }} {{ 3.14159|round(2) }} "
        "{% for i in range(3) %}{{ loop.index }}{{ loop.cycle('a', 'b') }}{% endfor %}",
        items=["b", "a"],
    )
    assert rendered.html == "<ul><li>A</li><li>B</li></ul>2 3 3.14 1a2b3a"


@pytest.mark.parametrize(
    "field,source,line",
    [
        ("subject", "Hi {{ contact.first_name", 1),
        ("html", "<p>\n\n{% if x %}never closed</p>", 3),
        ("text", "line one\n{{ x | }}", 2),
        ("html", "<p>ok</p>\n{% include 'other.html' %}", 2),
        ("html", "{{ x|attr('y') }}", 1),
        ("html", "{% if x %}" * 200 + "{% endif %}" * 200, 1),
        ("subject", "{{ " + "(" * 500 + "1" + ")" * 500 + " }}", 1),
        ("text", "{{ x" + "|upper" * 3000 + " }}", 1),
    ],
)
def test_a_syntax_error_names_the_part_and_the_line(field, source, line):
    parts = {"subject": "s", "html": "<p>h</p>", "text": ""} | {field: source}
    with pytest.raises(ValidationError) as caught:
        compile_template(parts["subject"], parts["html"], parts["text"])
    (message,) = caught.value.message_dict[field]
    assert message.startswith(f"Line {line}: ")


def test_a_huge_loop_fails_fast_and_cleanly():
    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded):
        render("s", "{% for i in range(10**9) %}x{% endfor %}")
    with pytest.raises(RenderLimitExceeded):
        render("s", "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}")
    with pytest.raises(RenderLimitExceeded):
        render(
            "s",
            "{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}"
            "{{ f(0) }}",
        )
    # A guard against a stall (minutes), not a speed test: generous for a loaded machine.
    assert time.monotonic() - started < 60


@pytest.mark.parametrize(
    "html",
    [
        "{{ 'x' * 10**9 }}",
        "{{ 'x'|replace('x', 'y' * 100000)|replace('y', 'z' * 1000) }}",
        "{{ range(10000)|join('x' * 10000) }}",
        "{% set s = 'ab' %}" + "{% set s = s ~ s %}" * 40 + "{{ s }}",
        "{% set s = 'ab' %}" + "{% set s %}{{ s }}{{ s }}{% endset %}" * 40 + "{{ s }}",
        "{% set x = [1] %}" + "{% set x = [x, x] %}" * 60 + "{{ x }}",
        "{% set x = {'a': 1} %}" + "{% set x = {'a': x, 'b': x} %}" * 60 + "{{ x|length }}",
        "{% set n = 9 %}" + "{% set n = n * n %}" * 40 + "{{ n }}",
        "{{ 2 ** 100000 }}",
        "{{ 5|round(-100000000) }}",
        "{{ [5]|map('round', -100000000)|list }}",
        "{% for i in range(9000) %}{{ 'y' * 200 }}{% endfor %}",
    ],
)
def test_output_and_values_are_capped(html):
    with pytest.raises(RenderLimitExceeded):
        render("s", html)
    assert MAX_OUTPUT_CHARS <= 1_000_000


def test_a_render_error_is_a_domain_error_with_a_message():
    with pytest.raises(RenderError) as caught:
        render("s", "{{ 1 / 0 }}")
    assert "ZeroDivisionError" in caught.value.message
    assert caught.value.status_code == 422


def test_compiled_templates_are_reused():
    assert compile_template("a", "b", "c") is compile_template("a", "b", "c")


def test_large_sources_are_compiled_but_not_kept():
    html = "<p>{{ name }}</p>" + "x" * CACHED_SOURCE_CHARS
    first = compile_template("s", html)
    assert first is not compile_template("s", html)
    assert first.render({"name": "Jo"}).html.startswith("<p>Jo</p>")


@pytest.mark.parametrize(
    "html",
    [
        "<style>div { color: red }</style>" + "<div>" * 20_000,
        "<style>b { color: red }</style>" + "<b>" * 20_000,
        "{% for i in range(5000) %}<span><i>{% endfor %}",
    ],
)
def test_html_nested_too_deep_is_refused_before_any_parser_sees_it(html):
    # css-inline crashes the whole process (SIGSEGV) at some 15,000 levels.
    with pytest.raises(RenderLimitExceeded):
        render("s", html)


def test_ordinary_nesting_and_unclosed_paragraphs_are_fine():
    html = "<table><tr><td>" * 30 + "x" + "<p>para" * 3000 + "<li>item" * 3000
    rendered = render("s", "<style>td { color: red }</style>" + html)
    assert 'style="color: red;"' in rendered.html and "para" in rendered.text


@pytest.mark.parametrize(
    "html",
    [
        "<!--" * 100_000,
        "</" * 150_000,
        "<!" * 150_000,
        "<?" * 150_000,
        "<![CDATA[" * 50_000,
        "<p " + 'a="' * 100_000,
        "<" * 300_000,
        "&#" * 200_000,
    ],
)
def test_the_text_part_of_broken_html_takes_linear_time(html):
    started = time.monotonic()
    html_to_text(html)
    # Quadratic work on this input takes minutes; linear well under a second.
    assert time.monotonic() - started < 30
