"""Known sandbox escapes, tried in the subject, the HTML and the text part, through compiling,
rendering, the API's save and the preview: none is stored, rendered or answered with anything
it reaches. A value that looks like a template is inserted escaped and never run."""

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from contacts.tests.factories import ContactFactory
from templates.rendering import RenderError, SandboxViolation, compile_template
from templates.tests.factories import EmailTemplateFactory

# What a successful escape would show: classes, modules, functions, frames, settings.
REVEALING = (
    "<class", "<module", "<function", "<built-in", "<bound method", "<frame", "<generator",
    "object at 0x", "mro", "subclasses", "Popen", "SECRET", "DATABASE", "posix", "os.",
    "jinja2", "django", "cycler", "joiner", "namespace", "Environment", "settings",
)  # fmt: skip

# Refused when the template is saved: underscore names, removed filters, no loader.
STATIC_PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ range.__self__ }}",
    "{{ range(1).count.__self__ }}",
    "{% for x in range(3) %}{{ loop.__class__ }}{% endfor %}",
    "{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}",
    "{{ contact['__class__'] }}",
    "{{ contact.properties.__class__.__mro__ }}",
    "{{ request.application.__globals__ }}",
    "{{ config.__class__.__init__.__globals__['os'] }}",
    "{{ ''|attr('__class__') }}",
    "{{ contact|attr('__init__') }}",
    "{{ '%s'|format(contact) }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% extends 'base.html' %}",
    "{% from 'x' import y %}",
    "{% autoescape false %}{{ contact.first_name }}{% endautoescape %}",
    "{{ contact.first_name|safe }}",
    "{{ contact.first_name|forceescape|e }}",
    "{{ contact.first_name|tojson }}{{ contact|pprint }}{{ contact|xmlattr }}",
]

# Well-formed, refused (or harmless) when run.
RUNTIME_PAYLOADS = [
    "{{ contact[('_' * 2) ~ 'class' ~ ('_' * 2)] }}",
    "{% set a = '__' ~ 'class__' %}{{ ''[a] }}",
    "{{ '{0.__class__.__mro__}'.format(contact) }}",
    "{{ '{x.__class__}'.format_map(contact) }}",
    "{% set f = 'format' %}{{ ''[f]('{0.__class__}', 1) }}",
    "{{ 'x'.format }}",
    "{{ '%s %r' % (contact, contact) }}",
    "{{ cycler }}{{ joiner }}{{ namespace }}{{ lipsum }}{{ dict }}",
    "{{ cycler('a').next() }}",
    "{{ joiner()() }}",
    "{{ namespace(x=1).x }}",
    "{{ environment }}{{ env }}{{ settings }}{{ config }}{{ request }}{{ os }}",
    "{{ settings.SECRET_KEY }}{{ config.SECRET_KEY }}",
    "{% for k in contact %}{{ contact[k] }}{% endfor %}{{ contact.items }}",
    "{{ (1).real }}{{ 'x'.ljust(9999999) }}",
    "{{ self }}{{ self.x }}",
    "{% for x in range(3) %}{{ loop }}{{ loop.cycle }}{{ loop.length }}{% endfor %}",
    "{% macro m() %}{% endmacro %}{{ m }}{{ m.name }}{{ m.caller }}{{ m.func }}",
    "{{ range }}{{ range(2) }}{{ range(1).count }}{{ ''.upper }}{{ contact.get }}",
]

PARTS = ["subject", "html", "text"]


def _parts(part, payload):
    return {"subject": "s", "html": "<p>h</p>", "text": ""} | {part: payload}


def _assert_reveals_nothing(text):
    for marker in REVEALING:
        assert marker not in text, (marker, text)
    assert settings.SECRET_KEY not in text


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("payload", STATIC_PAYLOADS)
def test_static_escapes_are_refused_when_compiled(part, payload):
    with pytest.raises(ValidationError) as caught:
        compile_template(**_parts(part, payload))
    assert list(caught.value.message_dict) == [part]


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("payload", RUNTIME_PAYLOADS)
def test_runtime_escapes_are_refused_or_render_nothing(part, payload):
    compiled = compile_template(**_parts(part, payload))
    context = {"contact": {"first_name": "Jane", "properties": {}}}
    try:
        rendered = compiled.render(context)
    except RenderError as exc:
        _assert_reveals_nothing(exc.message)
    else:
        for text in rendered:
            _assert_reveals_nothing(text)


def test_an_attribute_reached_dynamically_is_a_violation():
    compiled = compile_template("s", "{{ x[('_' * 2) ~ 'class' ~ ('_' * 2)] }}")
    with pytest.raises(SandboxViolation):
        compiled.render({"x": "a string"})


@pytest.mark.django_db
@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("payload", STATIC_PAYLOADS[:8] + STATIC_PAYLOADS[-6:])
def test_the_api_refuses_to_save_an_escape(api, part, payload):
    body = {"name": "Evil"} | _parts(part, payload)
    response = api.post("/api/v1/templates", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == [part]
    assert error["fields"][part][0].startswith("Line 1: ")


@pytest.mark.django_db
@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("payload", RUNTIME_PAYLOADS)
def test_a_preview_runs_in_the_same_sandbox(api, workspace, part, payload):
    contact = ContactFactory(workspace=workspace, first_name="Jane")
    template = EmailTemplateFactory(workspace=workspace, **_parts(part, payload))
    response = api.post(
        f"/api/v1/templates/{template.pk}/preview", {"contact_id": str(contact.pk)}, format="json"
    )
    assert response.status_code in (200, 422), response.content
    _assert_reveals_nothing(response.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize("payload", STATIC_PAYLOADS + RUNTIME_PAYLOADS)
def test_a_value_that_looks_like_a_template_is_inserted_escaped(api, workspace, payload):
    contact = ContactFactory(
        workspace=workspace,
        first_name=payload[:100],
        properties={"note": payload + "<script>alert(1)</script>"},
    )
    template = EmailTemplateFactory(
        workspace=workspace,
        subject="{{ contact.first_name }}",
        html="<p>{{ contact.first_name }}|{{ contact.properties.note }}</p>",
        text="{{ contact.properties.note }}",
    )
    response = api.post(
        f"/api/v1/templates/{template.pk}/preview", {"contact_id": str(contact.pk)}, format="json"
    )
    assert response.status_code == 200
    rendered = response.json()
    assert rendered["subject"] == " ".join(payload[:100].split())
    assert rendered["text"] == payload + "<script>alert(1)</script>"
    assert "<script>" not in rendered["html"]
    assert "&lt;script&gt;" in rendered["html"]


@pytest.mark.django_db
def test_variables_given_to_a_preview_are_data_never_code(api, workspace):
    template = EmailTemplateFactory(
        workspace=workspace, subject="{{ greeting }}", html="<p>{{ greeting }}</p>", text=""
    )
    variables = {"greeting": "{{ ''.__class__ }}<script>x</script>"}
    response = api.post(
        f"/api/v1/templates/{template.pk}/preview", {"variables": variables}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["subject"] == variables["greeting"]
    assert response.json()["html"] == (
        "<p>{{ &#39;&#39;.__class__ }}&lt;script&gt;x&lt;/script&gt;</p>"
    )
