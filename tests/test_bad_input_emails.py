"""Odd email addresses through every door that takes one (issue 12 §4): contact create, batch,
list membership by email, the CSV import, the public subscription form, suppressions,
transactional sends (to, cc, from, reply_to), validation, and the dashboard's contact form.
Unicode, IDN, quoted local parts, overlong local parts and domains, dots in odd places,
spaces, control characters and NUL bytes: each door accepts the address or answers a clear
error naming it; never a 500, never a row written for a refused address. The doors that
create contacts agree with each other on which addresses are acceptable."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Message
from contacts.models import Contact
from contacts.tests.factories import ContactListFactory
from deliverability.models import SendingDomain, Suppression

pytestmark = pytest.mark.django_db


def addresses() -> Iterator[str]:
    """Addresses that are valid, odd-but-valid, or invalid, in one corpus: each door must
    either take one or refuse it cleanly."""
    yield "plain@example.com"
    yield "  padded@example.com  "
    yield "MiXeD@Example.COM"
    yield "first.last+tag@example.com"
    yield "o'brien@example.com"
    yield "a!#$%&'*+/=?^_`{|}~-z@example.com"
    yield '"quoted"@example.com'
    yield '"with space"@example.com'
    yield '"with\\"escaped"@example.com'
    yield '"a@b"@example.com'
    yield '""@example.com'
    yield "user@bücher.de"
    yield "user@xn--bcher-kva.de"
    yield "üser@example.com"
    yield "用户@例子.广告"
    yield "user@例子.广告"
    yield "user@[192.0.2.1]"
    yield "user@[IPv6:2001:db8::1]"
    yield "user@localhost"
    yield "user@example"
    yield "l" * 64 + "@example.com"
    yield "l" * 65 + "@example.com"
    yield "a@" + "d" * 63 + ".com"
    yield "a@" + "d" * 64 + ".com"
    yield "a@" + ".".join(["d" * 63] * 4) + ".com"
    yield "l" * 64 + "@" + ".".join(["d" * 60] * 3) + ".com"
    yield "x" * 10_000 + "@example.com"
    yield "trailing.@example.com"
    yield ".leading@example.com"
    yield "double..dot@example.com"
    yield "user@example.com."
    yield "user@.example.com"
    yield "user@example..com"
    yield "user@-example.com"
    yield "user@example-.com"
    yield "user@exa_mple.com"
    yield "with space@example.com"
    yield "user@exam ple.com"
    yield "user@@example.com"
    yield "@example.com"
    yield "user@"
    yield "user"
    yield ""
    yield " "
    yield "user@example.com\x00"
    yield "us\x00er@example.com"
    yield '"nul\x00"@example.com'
    yield '"ctl\x01\x0b"@example.com'
    yield "user@example.com\r\nBcc: victim@example.com"
    yield "user@example.com\nX-Injected: 1"
    yield "user@exa\u200bmple.com"
    yield "\u202euser@example.com"
    yield "user@example.com\ufeff"
    yield "Jane Doe <jane@example.com>"
    yield "jane@example.com, bob@example.com"
    yield "user@example.com;"


ALL = list(addresses())


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()  # the public form limits submissions per address and per IP
    yield
    cache.clear()


@pytest.fixture
def sending(workspace):
    SendingDomain.objects.create(
        workspace=workspace, domain="acme.io", is_verified=True, verified_at=timezone.now()
    )


def post_json(api, path: str, body: dict):
    # json.dumps as a client would (ensure_ascii escapes everything beyond ASCII).
    return api.post(path, json.dumps(body), content_type="application/json")


def assert_clean_error(response, field: str | None = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["message"] and "Traceback" not in error["message"]
    if field and "fields" in error:
        assert any(name.split(".")[0].split("[")[0] == field for name in error["fields"]), error
    return error


def contacts(workspace) -> list[str]:
    return sorted(Contact.objects.for_workspace(workspace).values_list("email", flat=True))


# --- the doors that create contacts ------------------------------------------------------------


def accepted_by_contact_create(api, workspace) -> dict[str, str]:
    accepted = {}
    for address in ALL:
        response = post_json(api, "/api/v1/contacts", {"email": address})
        if response.status_code == 201:
            accepted[address] = response.json()["email"]
            Contact.objects.for_workspace(workspace).filter(pk=response.json()["id"]).delete()
        else:
            assert_clean_error(response, "email")
            assert contacts(workspace) == [], address
    return accepted


def test_contact_create_takes_or_refuses_each_address_cleanly(api, workspace):
    accepted = accepted_by_contact_create(api, workspace)
    assert accepted["  padded@example.com  "] == "padded@example.com"
    assert accepted["MiXeD@Example.COM"] == "MiXeD@example.com"
    for refused in (
        "user@example.com\x00",
        "x" * 10_000 + "@example.com",
        "with space@example.com",
    ):
        assert refused not in accepted
    for address in accepted:
        assert "\x00" not in address and "\n" not in address and "\r" not in address


def test_the_contact_doors_agree_on_which_addresses_are_acceptable(
    api, workspace, client, django_capture_on_commit_callbacks
):
    by_create = set(accepted_by_contact_create(api, workspace))

    # A NUL anywhere refuses the whole body (the JSON parser), so those go on their own.
    with_nul = [a for a in ALL if "\x00" in a]
    for address in with_nul:
        response = post_json(api, "/api/v1/contacts/batch", {"contacts": [{"email": address}]})
        assert_clean_error(response)
    others = [a for a in ALL if a not in with_nul]
    body = {"contacts": [{"email": a} for a in others]}
    response = post_json(api, "/api/v1/contacts/batch", body)
    assert response.status_code == 200, response.content[:300]
    results = response.json()["results"]
    by_batch = {a for a, item in zip(others, results, strict=True) if item["status"] != "error"}
    assert all(item["error"] for item in results if item["status"] == "error")
    assert by_batch == by_create - set(with_nul)
    Contact.objects.for_workspace(workspace).delete()

    # The import: one address per row, a row number and a reason for each refused one.
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "first_name"])
    # (A NUL near the start makes the whole file "binary": test_bad_input_csv covers NULs.)
    sendable = [a for a in ALL if a.strip() and not set(a) & {"\n", "\r", "\x00"}]
    for address in sendable:
        writer.writerow([address, "x"])
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            "/api/v1/imports",
            {"file": SimpleUploadedFile("a.csv", buffer.getvalue().encode(), "text/csv")},
            format="multipart",
        )
    assert started.status_code == 202, started.content[:300]
    job = api.get(f"/api/v1/imports/{started.json()['id']}").json()
    assert job["status"] == "done", job["failure_reason"]
    refused_rows = {error["row"] for error in job["errors"]}
    by_import = {a for n, a in enumerate(sendable, start=2) if n not in refused_rows}
    assert by_import == by_create & set(sendable)
    assert all(error["reason"] for error in job["errors"])


def test_the_public_form_takes_or_refuses_each_address_cleanly(client, workspace):
    from subscriptions.models import SubscriptionForm

    news = ContactListFactory(workspace=workspace, name="News", double_opt_in=False)
    form = SubscriptionForm.objects.create(
        workspace=workspace, name="Footer", contact_list=news, fields=[]
    )
    for address in ALL:
        cache.clear()
        before = contacts(workspace)
        response = client.post(f"/f/{form.pk}", {"email": address})
        assert response.status_code < 500, address
        if response.status_code >= 400:
            assert contacts(workspace) == before, address
    for address in contacts(workspace):
        assert "\x00" not in address and "\n" not in address


def test_list_membership_by_email_names_the_refused_addresses(api, workspace):
    news = ContactListFactory(workspace=workspace)
    response = post_json(api, f"/api/v1/lists/{news.id}/contacts", {"emails": ALL})
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert_clean_error(response, "emails")


def test_the_dashboard_contact_form_takes_or_refuses_each_address(dashboard, workspace):
    for address in ALL[::3]:
        response = dashboard.post(reverse("dashboard:contacts:contact_new"), {"email": address})
        assert response.status_code in (200, 302), address
        if response.status_code == 200:
            assert response.context["form"].errors, address
    for address in contacts(workspace):
        assert "\x00" not in address and "\n" not in address


# --- the doors that send or record addresses ---------------------------------------------------


@pytest.mark.parametrize("field", ["to", "cc", "reply_to", "from"])
def test_transactional_sends_take_or_refuse_each_address_cleanly(
    api, workspace, sending, mailoutbox, django_capture_on_commit_callbacks, field
):
    for address in ALL:
        body = {"from": "hi@acme.io", "to": ["bo@example.com"], "subject": "Hi", "text": "x"}
        body[field] = [address] if field in ("to", "cc") else address
        count = Message.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            response = post_json(api, "/api/v1/emails", body)
        if response.status_code == 202:
            continue
        assert_clean_error(response, field if field != "from" else None)
        assert Message.objects.count() == count, address
    for message in mailoutbox:
        headers = str(message.message())
        assert "victim@example.com" not in message.recipients()
        assert "\nBcc:" not in headers and "\nX-Injected:" not in headers


def test_suppressions_take_or_refuse_each_address_cleanly(api, workspace):
    for address in ALL:
        before = Suppression.objects.count()
        response = post_json(api, "/api/v1/suppressions", {"email": address, "type": "manual"})
        if response.status_code in (200, 201):
            continue
        assert_clean_error(response, "email")
        assert Suppression.objects.count() == before, address


def test_validation_answers_for_each_address(api, dns_zone):
    dns_zone.add("example.com. 300 IN MX 10 mx.example.com.")
    for address in ALL:
        response = post_json(api, "/api/v1/validation/email", {"email": address})
        if response.status_code == 200:
            assert response.json()["result"] in ("valid", "invalid", "risky", "unknown")
        else:
            assert_clean_error(response, "email")
    response = post_json(api, "/api/v1/validation/bulk", {"emails": ALL})
    assert response.status_code in (200, 400), response.content[:300]
