"""domains (DNS records and their status, over a real DNS server on loopback), suppressions
and validate against a live server."""

import pytest

from deliverability.dkim import dkim_txt_record
from deliverability.models import SendingDomain, Suppression
from deliverability.tests.factories import SuppressionFactory

pytestmark = pytest.mark.django_db(transaction=True)

OUR_INCLUDE = "_spf.mailcrm.test"


@pytest.fixture(autouse=True)
def our_settings(settings):
    settings.SPF_INCLUDES = [OUR_INCLUDE]
    settings.SPF_IPS = ["203.0.113.5"]
    settings.DMARC_REPORT_EMAIL = "dmarc@mailcrm.test"
    settings.BOUNCE_DOMAIN = ""


def test_domains_add_prints_the_records_and_verify_their_status(cli, workspace, dns_zone):
    added = cli.ok("domains", "add", "acme.test").stdout
    assert "acme.test (" in added and "not verified" in added
    assert "Publish these DNS records:" in added
    assert "TXT  acme.test" in added and "_domainkey.acme.test" in added

    # Publish SPF and DKIM but not DMARC: two records turn valid, one stays invalid.
    domain = SendingDomain.objects.get(workspace=workspace, domain="acme.test")
    dns_zone.txt(OUR_INCLUDE, "v=spf1 ip4:203.0.113.5 -all")
    dns_zone.txt("acme.test", f"v=spf1 include:{OUR_INCLUDE} ~all")
    dns_zone.txt(*dkim_txt_record(domain))
    checked = cli.json("domains", "verify", "acme.test")
    statuses = {record["purpose"]: record["status"] for record in checked["dns_records"]}
    assert statuses["spf"] == statuses["dkim"] == "valid"
    assert statuses["dmarc"] != "valid"
    shown = cli.ok("domains", "verify", str(domain.pk)).stdout
    assert "[VALID] spf" in shown and "[VALID] dkim" in shown
    assert "dmarc" in shown

    listed = cli.json("domains", "list")
    assert [d["domain"] for d in listed] == ["acme.test"]
    result = cli("domains", "verify", "other.test")
    assert result.exit_code == 1 and "No sending domain other.test" in result.stderr


def test_suppressions_add_list_and_remove(cli, workspace):
    added = cli.json(
        "suppressions", "add", "jane@example.com", "bob@example.com", "--reason", "asked"
    )
    assert sorted(s["email"] for s in added) == ["bob@example.com", "jane@example.com"]
    assert {s["type"] for s in added} == {"manual"}
    SuppressionFactory(workspace=workspace, email="hard@example.com", type="hard_bounce")

    listed = cli.ok("suppressions", "list").stdout
    assert "hard@example.com" in listed and "jane@example.com" in listed
    hard = cli.json("suppressions", "list", "--type", "hard_bounce")
    assert [s["email"] for s in hard] == ["hard@example.com"]

    cli.ok("suppressions", "remove", "jane@example.com", "--yes")
    cli.ok(
        "suppressions",
        "remove",
        added[0]["id"] if added[0]["email"] == "bob@example.com" else added[1]["id"],
        "--yes",
    )
    remaining = set(Suppression.objects.filter(workspace=workspace).values_list("email", flat=True))
    assert remaining == {"hard@example.com"}
    result = cli("suppressions", "remove", "jane@example.com", "--yes")
    assert result.exit_code == 1 and "jane@example.com is not suppressed" in result.stderr

    result = cli("suppressions", "add", "not-an-address")
    assert result.exit_code == 1 and "Error (400 invalid): email: " in result.stderr


def test_validate_prints_each_verdict(cli, workspace, dns_zone):
    dns_zone.add(
        "acme-mail.example. 300 IN MX 10 mx.acme-mail.example.",
        "mx.acme-mail.example. 300 IN A 192.0.2.10",
    )
    table = cli.ok("validate", "jane@acme-mail.example", "bob@nowhere.example").stdout
    lines = table.splitlines()
    assert lines[0].split() == ["EMAIL", "RESULT", "REASONS", "SUGGESTION"]
    assert lines[1].split()[:2] == ["jane@acme-mail.example", "valid"]
    assert lines[2].split()[:2] == ["bob@nowhere.example", "invalid"]
    verdicts = cli.json("validate", "jane@acme-mail.example")
    assert verdicts[0]["checks"]["mx"] is True
