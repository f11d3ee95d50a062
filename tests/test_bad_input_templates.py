"""Bad template sources through the real front doors (issue 12 §4): ``POST /api/v1/templates``,
its preview, a transactional ``POST /api/v1/emails`` with inline content, and the dashboard's
editor and live preview. A source that cannot compile is a 400 naming the part (subject, html
or text) and the line; one that compiles but cannot render is a 4xx saying why; never a 500,
never a hang, and a refused template or email is not stored.

The sandbox itself has its own corpus (templates/tests/test_sandbox.py, test_fuzz.py); this one
is about malformed and oversized sources reaching the endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Message
from contacts.tests.factories import ContactFactory
from deliverability.models import SendingDomain
from templates.models import EmailTemplate
from templates.rendering import MAX_BLOCK_DEPTH, MAX_SOURCE_CHARS

pytestmark = pytest.mark.django_db


def syntax_errors() -> Iterator[str]:
    yield "{{"
    yield "{{ contact.first_name"
    yield "{{ }}"
    yield "{% if %}"
    yield "{% if x %}no end"
    yield "{% endif %}"
    yield "{% for %}{% endfor %}"
    yield "{% for x in %}{% endfor %}"
    yield "{% for x in y %}{% endif %}"
    yield "{% nosuchtag %}"
    yield "{% raw %}never closed"
    yield "{# never closed"
    yield "{{ x | }}"
    yield "{{ x | nosuchfilter }}"
    yield "{{ 'unterminated }}"
    yield "{{ x[ }}"
    yield "{{ ((( }}"
    yield "{{ 1 +* 2 }}"
    yield "{% set %}"
    yield "{% macro %}{% endmacro %}"
    yield "{% block a %}{% block a %}{% endblock %}{% endblock %}"
    yield "{% extends 'base.html' %}"
    yield "{% include 'other.html' %}"
    yield "{% import 'macros.html' as m %}"
    yield "{% from 'x' import y %}"
    yield "{{ x.__class__ }}"
    yield "{{ '\\N{nosuchname}' }}"


def deep_sources() -> Iterator[str]:
    yield "{% if x %}" * 500 + "y" + "{% endif %}" * 500
    yield "{% for a in [1] %}" * 100 + "y" + "{% endfor %}" * 100
    yield "{{ " + "(" * 5_000 + "1" + ")" * 5_000 + " }}"
    yield "{{ " + "[" * 5_000 + "]" * 5_000 + " }}"
    yield "{{ " + "{'a': " * 2_000 + "1" + "}" * 2_000 + " }}"
    yield "{{ " + "not " * 5_000 + "x }}"
    yield "{{ " + " ~ ".join(["'a'"] * 5_000) + " }}"
    yield "{{ x" + "|upper" * 5_000 + " }}"
    yield "{{ " + "-" * 10_000 + "1 }}"
    yield "<div>" * 5_000 + "deep" + "</div>" * 5_000


def runaway_sources() -> Iterator[str]:
    """Compile fine, but would run away when rendered: recursion, loops, huge values."""
    yield "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"
    yield "{% macro m(n) %}{{ m(n + 1) }}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}"
    yield "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}"
    yield "{{ 'x' * 1000000000 }}"
    yield "{{ 9 ** (9 ** 9) }}"
    yield "{{ range(10 ** 12) | list }}"
    yield "{{ 'a' ~ ('b' * 999999) ~ ('c' * 999999) }}"
    yield "{{ (contact.first_name * 100000) | replace('', 'xxxxxxxxxx') }}"
    yield "{{ [1] * 100000000 }}"


def odd_text() -> Iterator[str]:
    yield "a\x00b"
    yield "a\x01\x1b[31m\x7fb"
    yield "\ufeff\u202e\u200b😀 {{ contact.first_name }}"
    yield "é" * 100_000


@pytest.fixture
def sending(workspace):
    SendingDomain.objects.create(
        workspace=workspace, domain="acme.io", is_verified=True, verified_at=timezone.now()
    )


def create(api, part: str, source: str):
    body = {"name": "T", "subject": "Hi", "html": "<p>Hi</p>"} | {part: source}
    # json.dumps escapes what UTF-8 cannot carry, as a client would.
    return api.post("/api/v1/templates", json.dumps(body), content_type="application/json")


def assert_clean_4xx(response, part: str | None = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["code"] and error["message"] and "Traceback" not in error["message"]
    if part and response.status_code == 400 and "fields" in error:
        assert part in error["fields"], error
    return error


@pytest.mark.parametrize("part", ["subject", "html", "text"])
def test_syntax_errors_are_a_400_naming_the_part_and_line(api, workspace, part):
    for source in syntax_errors():
        error = assert_clean_4xx(create(api, part, source), part)
        assert error["fields"][part][0].startswith("Line "), (source, error)
    assert not EmailTemplate.objects.for_workspace(workspace).exists()


@pytest.mark.parametrize("source", list(deep_sources()), ids=lambda s: repr(s[:24]))
def test_deep_sources_compile_or_are_a_400(api, workspace, source):
    response = create(api, "html", source)
    if response.status_code != 201:
        assert_clean_4xx(response, "html")
        assert not EmailTemplate.objects.for_workspace(workspace).exists()
        return
    template_id = response.json()["id"]
    preview = api.post(f"/api/v1/templates/{template_id}/preview", {"variables": {}}, format="json")
    assert preview.status_code == 200 or assert_clean_4xx(preview)


def test_a_source_over_the_size_limit_is_a_400_and_one_under_it_works(api, workspace):
    error = assert_clean_4xx(create(api, "html", "x" * (MAX_SOURCE_CHARS + 1)), "html")
    assert f"{MAX_SOURCE_CHARS}" in error["fields"]["html"][0]
    assert not EmailTemplate.objects.for_workspace(workspace).exists()
    response = create(api, "html", "<p>" + "x" * (MAX_SOURCE_CHARS - 100) + "</p>")
    assert response.status_code == 201, response.content[:300]


@pytest.mark.parametrize("source", list(runaway_sources()), ids=lambda s: repr(s[:30]))
def test_runaway_templates_are_stopped_with_a_reason(api, workspace, source):
    contact = ContactFactory(workspace=workspace, first_name="Ann")
    response = create(api, "html", source)
    if response.status_code == 400:
        assert_clean_4xx(response, "html")
        return
    assert response.status_code == 201, response.content[:300]
    preview = api.post(
        f"/api/v1/templates/{response.json()['id']}/preview",
        {"contact_id": str(contact.id)},
        format="json",
    )
    assert preview.status_code == 422, preview.content[:300]
    assert_clean_4xx(preview)


@pytest.mark.parametrize("source", list(odd_text()), ids=lambda s: repr(s[:12]))
def test_odd_text_is_kept_or_refused_cleanly(api, workspace, source):
    response = create(api, "html", source)
    if response.status_code == 201:
        stored = EmailTemplate.objects.get(pk=response.json()["id"])
        assert stored.html == source
    else:
        assert_clean_4xx(response)
        assert not EmailTemplate.objects.for_workspace(workspace).exists()


@pytest.mark.parametrize(
    "subject",
    ["Hi\r\nBcc: victim@example.com", "Hi\nX-Injected: 1", "{{ '\\r\\nBcc: v@example.com' }}"],
)
def test_a_subject_cannot_add_headers(api, workspace, sending, mailoutbox, subject):
    body = {"from": "hi@acme.io", "to": ["bo@example.com"], "subject": subject, "html": "x"}
    response = api.post("/api/v1/emails", body, format="json")
    if response.status_code >= 400:
        assert_clean_4xx(response)
        assert not Message.objects.exists()
        return
    assert response.status_code == 202
    for message in mailoutbox:
        assert "Bcc" not in message.extra_headers and "X-Injected" not in message.extra_headers
        assert "victim@example.com" not in message.recipients()


@pytest.mark.parametrize(
    "source",
    [*list(syntax_errors())[:6], *list(runaway_sources())[:4], "x" * (MAX_SOURCE_CHARS + 1)],
    ids=lambda s: repr(s[:24]),
)
def test_a_transactional_email_with_a_bad_template_is_refused_and_not_stored(
    api, workspace, sending, mailoutbox, django_capture_on_commit_callbacks, source
):
    body = {"from": "hi@acme.io", "to": ["bo@example.com"], "subject": "Hi", "html": source}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/emails", body, format="json")
    if response.status_code == 202:
        # Accepted, then failed when rendered: the message must say so, not vanish or be sent.
        email = api.get(f"/api/v1/emails/{response.json()['id']}").json()
        assert email["status"] == "failed", email
        assert not mailoutbox
        return
    assert_clean_4xx(response)
    assert not Message.objects.exists()


# --- the dashboard -----------------------------------------------------------------------------


def test_the_dashboard_editor_and_live_preview_show_errors(dashboard, workspace):
    for source in [*syntax_errors(), *deep_sources(), *runaway_sources(), *odd_text()]:
        live = dashboard.post(
            reverse("dashboard:templates:live_preview"),
            {"subject": "Hi", "html": source, "text": ""},
        )
        assert live.status_code == 200, source[:100]
        before = EmailTemplate.objects.for_workspace(workspace).count()
        saved = dashboard.post(
            reverse("dashboard:templates:template_new"),
            {"name": "T", "subject": "Hi", "html": source, "text": ""},
        )
        assert saved.status_code in (200, 302), source[:100]
        if saved.status_code == 200:
            assert saved.context["form"].errors, source[:100]
            assert EmailTemplate.objects.for_workspace(workspace).count() == before


def test_blocks_nested_past_the_limit_are_refused_before_python_compiles_them(api, workspace):
    source = "{% for a in [1] %}" * 200 + "y" + "{% endfor %}" * 200
    error = assert_clean_4xx(create(api, "html", source), "html")
    assert error["fields"]["html"] == [
        f"Line 1: blocks nest more than {MAX_BLOCK_DEPTH} levels deep"
    ]
    nested = "{% if true %}" * 15 + "{% for a in [1] %}" * 3 + "y" + "{% endfor %}" * 3
    assert create(api, "html", nested + "{% endif %}" * 15).status_code == 201
