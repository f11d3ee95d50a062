"""Email validation over real DNS (a dnslib server on loopback), the per-domain cache, the
disposable/role/free-provider checks, typo suggestions, recording and the API."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from deliverability.models import EmailValidation
from deliverability.validation import (
    screen_addresses,
    suggest_domain,
    validate_email_address,
    validate_many,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def zone(dns_zone):
    dns_zone.add(
        "acme-mail.example. 300 IN MX 10 mx.acme-mail.example.",
        "mx.acme-mail.example. 300 IN A 192.0.2.10",
        "a-only.example. 300 IN A 192.0.2.20",
        "aaaa-only.example. 300 IN AAAA 2001:db8::1",
        "nullmx.example. 300 IN MX 0 .",
        "gmail.com. 300 IN MX 5 gmail-smtp-in.l.google.com.",
        "hotmail.com. 300 IN MX 5 mx.hotmail.com.",
        "mailinator.com. 300 IN MX 10 mail.mailinator.com.",
        "example.com. 300 IN MX 10 mx.example.com.",
    )
    dns_zone.txt("txt-only.example", "v=spf1 -all")
    dns_zone.servfail("broken.example")
    return dns_zone


def mx_queries(zone, domain):
    return [q for q in zone.queries if q[0] == domain]


def test_a_domain_with_mx_is_valid(zone):
    check = validate_email_address("Jane.Doe@Acme-Mail.example")

    assert check.result == "valid"
    assert check.email == "jane.doe@acme-mail.example"
    assert check.checks == {
        "syntax": True,
        "mx": True,
        "disposable": False,
        "role": False,
        "free_provider": False,
    }
    assert check.reasons == [] and check.suggestion == ""


@pytest.mark.parametrize("domain", ["a-only.example", "aaaa-only.example"])
def test_without_mx_the_address_record_takes_mail(zone, domain):
    check = validate_email_address(f"jane@{domain}")

    assert check.result == "valid"
    assert check.checks["mx"] is True
    assert "MX" in {rdtype for _, rdtype in mx_queries(zone, domain)}


def test_no_mx_and_no_address_record_is_invalid(zone):
    check = validate_email_address("jane@txt-only.example")

    assert check.result == "invalid"
    assert check.checks["mx"] is False
    assert "no MX, A or AAAA" in check.reasons[0]


def test_a_domain_that_does_not_exist_is_invalid(zone):
    check = validate_email_address("jane@nowhere.example")

    assert check.result == "invalid"
    assert "does not exist" in check.reasons[0]


def test_a_null_mx_refuses_mail(zone):
    check = validate_email_address("jane@nullmx.example")

    assert check.result == "invalid"
    assert "null MX" in check.reasons[0]


def test_servfail_is_unknown(zone):
    check = validate_email_address("jane@broken.example")

    assert check.result == "unknown"
    assert check.checks["mx"] is None
    assert "SERVFAIL" in check.reasons[0]


def test_a_server_that_never_answers_is_unknown(dns_silent):
    check = validate_email_address("jane@acme-mail.example")

    assert check.result == "unknown"
    assert "in time" in check.reasons[0]


@pytest.mark.parametrize(
    "address", ["no-at-sign", "a@b", "two..dots@example.com", "", "jane@", "@example.com"]
)
def test_bad_syntax_is_invalid_without_dns(zone, address):
    check = validate_email_address(address)

    assert check.result == "invalid"
    assert check.checks["syntax"] is False
    assert check.reasons[0].startswith("Syntax:")
    assert zone.queries == []


def test_a_disposable_domain_is_risky(zone):
    check = validate_email_address("temp@mailinator.com")

    assert check.result == "risky"
    assert check.checks["disposable"] is True
    assert "disposable" in check.reasons[0]


@pytest.mark.parametrize("local", ["admin", "info", "support", "noreply", "no-reply", "sales"])
def test_role_accounts_are_risky(zone, local):
    check = validate_email_address(f"{local}@acme-mail.example")

    assert check.result == "risky"
    assert check.checks["role"] is True


def test_a_free_provider_is_noted_but_valid(zone):
    check = validate_email_address("jane@gmail.com")

    assert check.result == "valid"
    assert check.checks["free_provider"] is True


@pytest.mark.parametrize(
    ("domain", "suggested"),
    [
        ("gmial.com", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("example.con", "example.com"),
        ("example.cmo", "example.com"),
        ("example.comm", "example.com"),
        ("yaho.com", "yahoo.com"),
        ("gmial.con", "gmail.com"),
    ],
)
def test_typos_get_a_suggestion(domain, suggested):
    assert suggest_domain(domain) == suggested


@pytest.mark.parametrize("domain", ["gmail.com", "mail.com", "acme.io", "me.com", "example.co"])
def test_real_domains_get_no_suggestion(domain):
    assert suggest_domain(domain) == ""


def test_a_typo_domain_that_does_not_exist_is_invalid_with_the_suggestion(zone):
    check = validate_email_address("jane@hotmial.com")

    assert check.result == "invalid"
    assert check.suggestion == "jane@hotmail.com"


def test_a_suspected_typo_is_risky_with_the_suggestion(zone):
    zone.add("gmial.com. 300 IN MX 10 mx.gmial.com.")

    check = validate_email_address("Jane@gmial.com")

    assert check.result == "risky"
    assert check.suggestion == "jane@gmail.com"
    assert "did you mean jane@gmail.com" in check.reasons[-1]


def test_the_cache_asks_dns_once_per_domain(zone):
    for name in ("ann", "bob", "cy"):
        assert validate_email_address(f"{name}@a-only.example").result == "valid"

    assert mx_queries(zone, "a-only.example") == [("a-only.example", "MX"), ("a-only.example", "A")]


def test_a_bulk_run_asks_once_per_domain_and_records_each_address(zone, workspace):
    emails = [f"user{i}@acme-mail.example" for i in range(20)]
    emails += ["USER0@acme-mail.example", "x@nowhere.example", "y@nowhere.example", "bad"]

    results = validate_many(workspace, emails)

    assert len(results) == 23
    assert mx_queries(zone, "acme-mail.example") == [("acme-mail.example", "MX")]
    assert len(mx_queries(zone, "nowhere.example")) == 1
    assert EmailValidation.objects.filter(workspace=workspace).count() == 23
    assert results["bad"].result == "invalid"
    assert results["x@nowhere.example"].result == "invalid"


def test_a_new_validation_replaces_the_last(zone, workspace):
    validate_many(workspace, ["jane@txt-only.example"])
    zone.add("txt-only.example. 300 IN MX 10 mx.acme-mail.example.")
    cache.clear()

    validate_many(workspace, ["Jane@TXT-only.example"])

    row = EmailValidation.objects.get(workspace=workspace)
    assert (row.email, row.result, row.reasons) == ("jane@txt-only.example", "valid", [])


# --- API ---------------------------------------------------------------------------------------


def test_api_validates_one_address_and_records_it(zone, api, workspace):
    zone.add("gmial.com. 300 IN MX 10 mx.gmial.com.")

    response = api.post("/api/v1/validation/email", {"email": "info@gmial.com"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "info@gmial.com"
    assert body["result"] == "risky"
    assert body["suggestion"] == "info@gmail.com"
    assert set(body["checks"]) == {"syntax", "mx", "disposable", "role", "free_provider"}
    assert EmailValidation.objects.filter(workspace=workspace, email="info@gmial.com").exists()


def test_api_answers_an_invalid_address_with_a_result_not_an_error(zone, api):
    response = api.post("/api/v1/validation/email", {"email": "not an email"}, format="json")

    assert response.status_code == 200
    assert response.json()["result"] == "invalid"


@pytest.mark.parametrize(
    "body", [{}, {"email": None}, {"email": ["a@b.example"]}, {"email": "x" * 400}]
)
def test_api_refuses_a_missing_or_odd_email_field(api, body):
    response = api.post("/api/v1/validation/email", body, format="json")

    assert response.status_code == 400
    assert "email" in response.json()["error"]["fields"]


def test_api_bulk_returns_one_result_per_address(zone, api, workspace, outsider):
    emails = ["a@acme-mail.example", "A@acme-mail.example", "b@nowhere.example"]

    response = api.post("/api/v1/validation/bulk", {"emails": emails}, format="json")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["email"] for r in results] == ["a@acme-mail.example", "b@nowhere.example"]
    assert [r["result"] for r in results] == ["valid", "invalid"]
    assert EmailValidation.objects.filter(workspace=workspace).count() == 2
    assert not EmailValidation.objects.filter(workspace=outsider.workspace).exists()


def test_api_bulk_refuses_more_than_a_thousand(api):
    emails = [f"user{i}@acme-mail.example" for i in range(1001)]

    response = api.post("/api/v1/validation/bulk", {"emails": emails}, format="json")

    assert response.status_code == 400
    assert "1,000" in response.json()["error"]["message"]
    assert not EmailValidation.objects.exists()


def test_api_bulk_needs_a_list(api):
    response = api.post("/api/v1/validation/bulk", {"emails": "a@b.example"}, format="json")

    assert response.status_code == 400


def test_api_validation_needs_a_key(anon_api):
    response = anon_api.post("/api/v1/validation/email", {"email": "a@b.example"}, format="json")

    assert response.status_code == 401


def test_screening_an_import_chunk_reports_the_invalid_and_records_all(zone, workspace):
    rejected = screen_addresses(
        workspace, ["ok@acme-mail.example", "Info@Acme-Mail.example", "x@nowhere.example", "bad"]
    )

    assert set(rejected) == {"x@nowhere.example", "bad"}
    assert "does not exist" in rejected["x@nowhere.example"]
    assert EmailValidation.objects.get(email="info@acme-mail.example").result == "risky"
    assert EmailValidation.objects.filter(workspace=workspace).count() == 4
