"""Bad JSON bodies against the API's writing endpoints (issue 12 §4): deep nesting, huge strings,
wrong types, nulls everywhere, arrays where objects belong, numbers out of range, bytes that
are not UTF-8, duplicate keys. Each answer is a 2xx (the input was acceptable after all) or a
4xx in the API's error format with a human message; never a 5xx, never a traceback, and a
refused request writes nothing.

Each endpoint has one valid body; the corpus mutates it field by field and whole. Failures are
collected and reported together, so one run shows every case that breaks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Message
from contacts.models import Contact, ContactList, PropertyDefinition, Segment
from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    PropertyDefinitionFactory,
)
from deliverability.models import SendingDomain
from templates.models import EmailTemplate
from templates.tests.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db

DEEP = 10_000


@dataclass
class Endpoint:
    path: str
    body: dict
    # The tables a refused request must leave as they were.
    tables: tuple = ()


@pytest.fixture
def endpoints(workspace) -> list[Endpoint]:
    SendingDomain.objects.create(
        workspace=workspace, domain="acme.io", is_verified=True, verified_at=timezone.now()
    )
    PropertyDefinitionFactory(workspace=workspace, key="seats", type="number")
    PropertyDefinitionFactory(workspace=workspace, key="plan", type="text")
    contact = ContactFactory(workspace=workspace, email="known@example.com")
    news = ContactListFactory(workspace=workspace, name="News")
    template = EmailTemplateFactory(workspace=workspace)
    mail = {"from": "hi@acme.io", "to": ["bo@example.com"], "subject": "Hi", "html": "<p>Hi</p>"}
    contact_body = {
        "email": "jane@example.com",
        "first_name": "Jane",
        "properties": {"seats": 3, "plan": "pro"},
        "tags": ["vip"],
    }
    return [
        Endpoint("/api/v1/contacts", contact_body, (Contact,)),
        Endpoint("/api/v1/contacts/batch", {"contacts": [contact_body]}, (Contact,)),
        Endpoint(
            "/api/v1/contacts/bulk",
            {"action": "tag", "ids": [str(contact.id)], "value": "vip"},
            (Contact,),
        ),
        Endpoint(f"/api/v1/lists/{news.id}/contacts", {"emails": ["known@example.com"]}),
        Endpoint("/api/v1/lists", {"name": "Fair", "description": "met there"}, (ContactList,)),
        Endpoint(
            "/api/v1/properties",
            {"key": "size", "label": "Size", "type": "number"},
            (PropertyDefinition,),
        ),
        Endpoint("/api/v1/segments", {"name": "Pro", "query": "status = active"}, (Segment,)),
        Endpoint("/api/v1/segments/preview", {"query": "properties.seats > 1"}),
        Endpoint(
            "/api/v1/templates",
            {"name": "Welcome", "subject": "Hi {{ contact.first_name }}", "html": "<p>Hi</p>"},
            (EmailTemplate,),
        ),
        Endpoint(f"/api/v1/templates/{template.id}/preview", {"variables": {"a": 1}}),
        Endpoint(
            "/api/v1/campaigns",
            {
                "name": "June",
                "subject": "Hello",
                "html": "<p>Hi</p>",
                "from_email": "news@acme.io",
                "audience": {"lists": [str(news.id)]},
                "rate_per_minute": 100,
            },
            (Campaign,),
        ),
        Endpoint(
            "/api/v1/emails", mail | {"variables": {"a": 1}, "metadata": {"k": "v"}}, (Message,)
        ),
        Endpoint("/api/v1/emails/batch", {"emails": [mail]}, (Message,)),
        Endpoint("/api/v1/validation/email", {"email": "jane@example.com"}),
    ]


# --- corpora -----------------------------------------------------------------------------------


def deep(levels: int, kind: str) -> str:
    opening, closing = ("[", "]") if kind == "array" else ('{"a":', "}")
    return opening * levels + "1" + closing * levels


def bad_values() -> Iterator[tuple[str, str]]:
    """(name, JSON text) put in place of one field's value."""
    yield "null", "null"
    yield "true", "true"
    yield "negative", "-1"
    yield "float", "1.5"
    yield "huge int", "1" + "0" * 40
    yield "int past 64 bits", str(2**63)
    yield "int of 4,301 digits", "9" * 4301  # beyond Python's int-from-text limit
    yield "float overflowing to infinity", "1e999"
    yield "NaN", "NaN"
    yield "empty string", '""'
    yield "huge string", json.dumps("x😀" * 100_000)  # 1.3 MB: under the body limit
    yield "control characters", json.dumps("a\x01\x1f\x7f\u2028\u202e\ufeffb")
    yield "empty array", "[]"
    yield "array of arrays", "[[1], [[2]]]"
    yield "empty object", "{}"
    yield "object of nulls", '{"a": null, "b": null, "Infinity": null}'
    yield "deep array", deep(DEEP, "array")
    yield "deep object", deep(DEEP, "object")
    yield "wide array", json.dumps(list(range(10_000)))


# Bodies that are no object with fields, and so must be a 400 wherever they are sent (an empty
# body, an unknown key or a BOM may still make a valid request where every field is optional).
MUST_REFUSE = {"whitespace", "null", "array", "string", "number", "truncated", "trailing garbage"}
MUST_REFUSE |= {"single quotes", "not UTF-8", "latin-1", "UTF-16", "NUL", "escaped NUL"}
MUST_REFUSE |= {"lone surrogate", "deep array", "deep object"}


def bad_bodies() -> Iterator[tuple[str, bytes]]:
    """Whole bodies that are not the object an endpoint wants."""
    yield "empty", b""
    yield "whitespace", b" \n "
    yield "null", b"null"
    yield "array", b"[]"
    yield "string", b'"hello"'
    yield "number", b"42"
    yield "truncated", b'{"email": "a@exa'
    yield "trailing garbage", b'{"email": "a@example.com"} x'
    yield "single quotes", b"{'email': 'a@example.com'}"
    yield "not UTF-8", b'{"email": "\xff\xfe@example.com", "first_name": "\xc3\x28"}'
    yield "latin-1", '{"email": "zoë@example.com"}'.encode("latin-1")
    yield "UTF-16", '{"email": "a@example.com"}'.encode("utf-16")
    yield "UTF-8 BOM", b'\xef\xbb\xbf{"email": "a@example.com"}'
    yield "NUL", b'{"email": "a@example.com\x00"}'
    yield "escaped NUL", b'{"email": "a@example.com", "first_name": "\\u0000"}'
    yield "lone surrogate", b'{"email": "a@example.com", "first_name": "\\udc00"}'
    yield "deep array", deep(DEEP, "array").encode()
    yield "deep object", deep(DEEP, "object").encode()
    yield "huge key", b'{"' + b"k" * 1_000_000 + b'": 1}'
    yield "many keys", json.dumps({f"k{n}": n for n in range(10_000)}).encode()


def nulls_everywhere(value):
    if isinstance(value, dict):
        return {key: nulls_everywhere(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nulls_everywhere(item) for item in value] or [None]
    return None


# Inside an object or a list only the shapes are varied (the time goes to the top level).
INNER = {"null", "true", "huge int", "float overflowing to infinity", "huge string"}
INNER |= {"empty array", "empty object", "deep object", "control characters"}


def inner_values() -> Iterator[tuple[str, str]]:
    return ((name, text) for name, text in bad_values() if name in INNER)


def mutations(body: dict) -> Iterator[tuple[str, bytes]]:
    """The valid body with one field (or one nested field) replaced by each bad value, and
    the whole body reshaped."""
    for key in body:
        for name, text in bad_values():
            rest = {k: v for k, v in body.items() if k != key}
            yield f"{key}={name}", _with_raw(rest, key, text)
        nested = body[key]
        if isinstance(nested, dict) and nested:
            inner = next(iter(nested))
            for name, text in inner_values():
                rest = {k: v for k, v in nested.items() if k != inner}
                yield (
                    f"{key}.{inner}={name}",
                    _with_raw(
                        {k: v for k, v in body.items() if k != key},
                        key,
                        _with_raw(rest, inner, text),
                    ),
                )
        if isinstance(nested, list) and nested:
            for name, text in inner_values():
                yield (
                    f"{key}[0]={name}",
                    _with_raw({k: v for k, v in body.items() if k != key}, key, f"[{text}]"),
                )
    yield "nulls everywhere", json.dumps(nulls_everywhere(body)).encode()
    yield "array of the body", json.dumps([body]).encode()
    yield "the body twice", json.dumps([body, body]).encode()
    yield "no fields", b"{}"
    yield "unknown fields only", b'{"zzz": 1, "__proto__": {"admin": true}}'
    for key in body:
        # Duplicate keys: Python keeps the last; either way, no 500.
        yield (
            f"duplicate {key}",
            _with_raw(body, key, "null").replace(b"{", b'{"%s": 1, ' % key.encode(), 1),
        )


def _with_raw(body: dict, key: str, text: str | bytes) -> bytes:
    """``body`` as JSON with ``key`` set to the raw JSON ``text`` (which json.dumps could not
    write: NaN-free infinities, 10,000 levels, invalid numbers)."""
    if isinstance(text, bytes):
        text = text.decode()
    head = json.dumps(body)[:-1]
    separator = ", " if body else ""
    return f"{head}{separator}{json.dumps(key)}: {text}}}".encode()


# --- the checks --------------------------------------------------------------------------------


def _counts(endpoint: Endpoint) -> dict:
    return {table.__name__: table.objects.count() for table in endpoint.tables}


def _problem(api, endpoint: Endpoint, data: bytes, *, must_refuse: bool = False) -> str | None:
    """What is wrong with the answer to this request, or None."""
    before = _counts(endpoint)
    try:
        response = api.post(endpoint.path, data, content_type="application/json")
    except Exception as exc:  # the test client re-raises what would be a 500
        return f"raised {type(exc).__name__}: {str(exc)[:150]}"
    if response.status_code >= 500:
        return f"{response.status_code}"
    if b"Traceback" in response.content:
        return "a traceback in the body"
    if must_refuse and response.status_code != 400:
        return f"{response.status_code}, not 400"
    if response.status_code >= 400:
        if response["Content-Type"] != "application/json":
            return (
                f"{response.status_code} as {response['Content-Type']}: {response.content[:80]!r}"
            )
        error = response.json().get("error", {})
        if not (error.get("code") and isinstance(error.get("message"), str) and error["message"]):
            return f"{response.status_code} without the error format: {response.content[:200]!r}"
        if _counts(endpoint) != before:
            return f"{response.status_code} but wrote rows: {before} -> {_counts(endpoint)}"
    return None


def test_bad_field_values_are_never_a_500(api, endpoints):
    problems = [
        f"{endpoint.path} [{name}]: {problem}"
        for endpoint in endpoints
        for name, data in mutations(endpoint.body)
        if (problem := _problem(api, endpoint, data))
    ]
    assert not problems, "\n".join(problems)


def test_bad_bodies_are_a_400_and_write_nothing(api, endpoints):
    problems = [
        f"{endpoint.path} [{name}]: {problem}"
        for endpoint in endpoints
        for name, data in bad_bodies()
        if (problem := _problem(api, endpoint, data, must_refuse=name in MUST_REFUSE))
    ]
    assert not problems, "\n".join(problems)


def test_a_body_over_the_size_limit_is_a_413_in_the_error_format(api, workspace, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    body = {"email": "big@example.com", "first_name": "x" * 200_000}
    response = api.post("/api/v1/contacts", body, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert "0.1 MB" in response.json()["error"]["message"]
    assert not Contact.objects.for_workspace(workspace).exists()


@pytest.mark.parametrize("levels", [100, 1_000, DEEP, 100_000])
def test_deep_nesting_is_a_400_naming_it(api, workspace, levels):
    body = (
        b'{"email": "deep@example.com", "properties": {"plan": '
        + deep(levels, "object").encode()
        + b"}}"
    )
    response = api.post("/api/v1/contacts", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert not Contact.objects.for_workspace(workspace).exists()


def test_a_contact_with_nulls_everywhere_is_a_400_naming_the_email(api, workspace):
    body = {key: None for key in ("email", "first_name", "properties", "tags", "lists", "status")}
    response = api.post("/api/v1/contacts", body, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["fields"]
    assert not Contact.objects.for_workspace(workspace).exists()


def test_a_batch_refused_as_a_whole_writes_nothing(api, workspace):
    good = {"email": "ok@example.com"}
    for contacts in ([good, "not an object"], [good] * 1001, {"0": good}, [good, [good]]):
        response = api.post("/api/v1/contacts/batch", {"contacts": contacts}, format="json")
        assert response.status_code == 400, (contacts, response.content[:300])
        assert not Contact.objects.for_workspace(workspace).exists()


def test_a_batch_keeps_good_items_and_names_bad_ones(api, workspace):
    contacts = [
        {"email": "ok@example.com"},
        {"email": "not-an-address"},
        {"email": "two@example.com", "properties": {"nope": 1}},
        {"email": None},
    ]
    response = api.post("/api/v1/contacts/batch", {"contacts": contacts}, format="json")
    assert response.status_code == 200, response.content[:300]
    statuses = [item["status"] for item in response.json()["results"]]
    assert statuses == ["created", "error", "error", "error"]
    assert all(item["error"] for item in response.json()["results"][1:])
    assert list(Contact.objects.for_workspace(workspace).values_list("email", flat=True)) == [
        "ok@example.com"
    ]


def test_numbers_out_of_range_are_400s_naming_the_field(api, endpoints):
    campaign = next(e for e in endpoints if e.path == "/api/v1/campaigns")
    for value in ("1" + "0" * 40, str(2**63), "-1", "1e999"):
        response = api.post(
            campaign.path,
            _with_raw(campaign.body, "rate_per_minute", value),
            content_type="application/json",
        )
        assert response.status_code == 400, (value, response.content[:300])
        assert (
            "rate_per_minute" in response.json()["error"].get("fields", {})
            or "JSON" in (response.json()["error"]["message"])
        )
    assert not Campaign.objects.exists()


def test_a_huge_number_in_a_number_property_is_stored_or_refused(api, workspace, endpoints):
    for value in ("1" + "0" * 40, "1e308", "1e999", "-1e999", "1e-999"):
        body = b'{"email": "n@example.com", "properties": {"seats": %s}}' % value.encode()
        response = api.post("/api/v1/contacts", body, content_type="application/json")
        assert response.status_code in (201, 400), (value, response.content[:300])
        if response.status_code == 201:
            stored = Contact.objects.get(email="n@example.com").properties["seats"]
            assert float(stored) == float(value) and abs(float(stored)) != float("inf")
            Contact.objects.filter(email="n@example.com").delete()
        else:
            assert not Contact.objects.filter(email="n@example.com").exists()


def test_a_form_post_with_bad_fields_never_500s(client, workspace):
    from subscriptions.models import SubscriptionForm

    news = ContactListFactory(workspace=workspace, name="News", double_opt_in=False)
    form = SubscriptionForm.objects.create(
        workspace=workspace,
        name="Footer",
        contact_list=news,
        fields=["first_name", "properties.plan"],
    )
    PropertyDefinition.objects.get_or_create(
        workspace=workspace, key="plan", defaults={"type": "text"}
    )
    cases: list[Callable[[], object]] = [
        lambda: client.post(f"/f/{form.pk}", {"email": "x" * 100_000}),
        lambda: client.post(
            f"/f/{form.pk}", {"email": "a@example.com", "first_name": "y" * 100_000}
        ),
        lambda: client.post(f"/f/{form.pk}", {"email": "a\x00@example.com"}),
        lambda: client.post(f"/f/{form.pk}", {"email": "b@example.com", "first_name": "a\x00b"}),
        lambda: client.post(f"/f/{form.pk}", {"email": ["c@example.com", "d@example.com"]}),
        lambda: client.post(
            f"/f/{form.pk}", b"\xff\xfe", content_type="application/x-www-form-urlencoded"
        ),
        lambda: client.post(
            f"/f/{form.pk}", '{"email": "e@example.com"}', content_type="application/json"
        ),
    ]
    for case in cases:
        assert case().status_code < 500
    # Two addresses for one field: the last one is taken; every other post was refused.
    assert list(Contact.objects.for_workspace(workspace).values_list("email", flat=True)) == [
        "d@example.com"
    ]


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1" + "0" * 400 + ".0"])
def test_a_number_that_overflows_to_infinity_is_a_400(api, endpoints, number):
    body = b'{"from": "hi@acme.io", "to": ["bo@example.com"], "subject": "Hi", "html": "x", '
    body += b'"metadata": {"n": %s}}' % number.encode()
    response = api.post("/api/v1/emails", body, content_type="application/json")
    assert response.status_code == 400
    assert "finite" in response.json()["error"]["message"]
    assert not Message.objects.exists()


def test_more_tags_than_a_contact_takes_are_refused_before_any_is_made(api, workspace):
    from contacts.models import Tag

    body = {"email": "tags@example.com", "tags": [f"t{n}" for n in range(1_001)]}
    response = api.post("/api/v1/contacts", body, format="json")
    assert response.status_code == 400
    assert "tags" in response.json()["error"]["fields"]
    assert not Tag.objects.for_workspace(workspace).exists()
    contact = ContactFactory(workspace=workspace)
    response = api.post(
        f"/api/v1/contacts/{contact.id}/tags", {"tags": body["tags"]}, format="json"
    )
    assert response.status_code == 400
    assert not Tag.objects.for_workspace(workspace).exists()
