"""DMARC alignment in domain verification, against zones served by a real DNS server on
loopback: aligned DKIM and return path, a misaligned return path, strict vs relaxed on a
subdomain, the organizational domain's DMARC record, and the report in the API and dashboard."""

from __future__ import annotations

import pytest

from deliverability import domains
from deliverability.alignment import aligned, organizational_domain
from deliverability.dkim import dkim_txt_record
from deliverability.models import SendingDomain

pytestmark = pytest.mark.django_db

OUR_INCLUDE = "_spf.mailcrm.test"


@pytest.fixture(autouse=True)
def our_settings(settings):
    settings.SPF_INCLUDES = [OUR_INCLUDE]
    settings.SPF_IPS = []
    settings.DMARC_REPORT_EMAIL = ""
    settings.BOUNCE_DOMAIN = ""


def _domain(workspace, name: str) -> SendingDomain:
    return domains.domain_add(workspace=workspace, domain=name)


def _publish(zone, domain: SendingDomain, *, dmarc: str | None, dkim: bool = True) -> None:
    zone.txt(OUR_INCLUDE, "v=spf1 ip4:203.0.113.5 -all")
    zone.txt(domain.domain, f"v=spf1 include:{OUR_INCLUDE} ~all")
    if dkim:
        zone.txt(*dkim_txt_record(domain))
    if dmarc:
        zone.txt(f"_dmarc.{domain.domain}", dmarc)


@pytest.mark.parametrize(
    "name,org",
    [
        ("example.com", "example.com"),
        ("news.example.com", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("shop.example.com.au", "example.com.au"),
    ],
)
def test_the_organizational_domain(name, org):
    assert organizational_domain(name) == org


def test_relaxed_and_strict_alignment():
    assert aligned("example.com", "bounce.example.com", "relaxed")
    assert not aligned("example.com", "bounce.example.com", "strict")
    assert aligned("example.com", "EXAMPLE.com.", "strict")
    assert not aligned("example.com", "example.net", "relaxed")
    assert not aligned("example.co.uk", "other.co.uk", "relaxed")


def test_an_aligned_domain_reports_dkim_and_return_path_aligned(dns_zone, workspace):
    domain = _domain(workspace, "acme.test")
    _publish(dns_zone, domain, dmarc="v=DMARC1; p=reject; adkim=s; aspf=s")
    report = domains.domain_verify(domain).alignment
    assert report["dmarc_record"] == "_dmarc.acme.test"
    assert report["dkim"]["domain"] == "acme.test"
    assert report["dkim"] | {"explanation": "", "fix": ""} == {
        "domain": "acme.test",
        "mode": "strict",
        "status": "aligned",
        "relaxed": True,
        "strict": True,
        "explanation": "",
        "fix": "",
    }
    assert report["return_path"]["status"] == "aligned"  # no BOUNCE_DOMAIN: envelope = From
    assert report["dmarc_can_pass"] is True
    domain.refresh_from_db()
    assert domain.alignment == report


def test_a_return_path_on_another_domain_is_misaligned_with_a_fix(dns_zone, workspace, settings):
    settings.BOUNCE_DOMAIN = "bounces.mailcrm.test"
    domain = _domain(workspace, "acme.test")
    _publish(dns_zone, domain, dmarc="v=DMARC1; p=quarantine")
    report = domains.domain_verify(domain).alignment
    rp = report["return_path"]
    assert (rp["domain"], rp["mode"], rp["status"]) == (
        "bounces.mailcrm.test",
        "relaxed",
        "misaligned",
    )
    assert not rp["relaxed"] and not rp["strict"]
    assert "CNAME bounce.acme.test to bounces.mailcrm.test" in rp["fix"]
    assert report["dkim"]["status"] == "aligned"
    assert report["dmarc_can_pass"] is True


def test_the_return_path_cname_aligns_relaxed_but_not_strict(dns_zone, workspace, settings):
    settings.BOUNCE_DOMAIN = "bounces.mailcrm.test"
    domain = _domain(workspace, "acme.test")
    _publish(dns_zone, domain, dmarc="v=DMARC1; p=reject; aspf=r")
    dns_zone.add("bounce.acme.test. 300 IN CNAME bounces.mailcrm.test.")
    rp = domains.domain_verify(domain).alignment["return_path"]
    # The envelope is now bounce+…@bounce.acme.test: a subdomain of the From domain.
    assert (rp["domain"], rp["mode"], rp["status"], rp["relaxed"], rp["strict"]) == (
        "bounce.acme.test",
        "relaxed",
        "aligned",
        True,
        False,
    )
    dns_zone.clear()
    _publish(dns_zone, domain, dmarc="v=DMARC1; p=reject; aspf=s")
    dns_zone.add("bounce.acme.test. 300 IN CNAME bounces.mailcrm.test.")
    rp = domains.domain_verify(domain).alignment["return_path"]
    assert (rp["mode"], rp["status"]) == ("strict", "misaligned")
    assert "aspf=r" in rp["fix"]


def test_a_subdomain_uses_its_organizational_domains_dmarc_record(dns_zone, workspace):
    domain = _domain(workspace, "news.acme.test")
    _publish(dns_zone, domain, dmarc=None)
    dns_zone.txt("_dmarc.acme.test", "v=DMARC1; p=reject; adkim=s")
    report = domains.domain_verify(domain).alignment
    assert report["dmarc_record"] == "_dmarc.acme.test"
    assert report["organizational_domain"] == "acme.test"
    assert report["dkim"]["mode"] == "strict" and report["dkim"]["status"] == "aligned"


def test_an_unpublished_dkim_key_does_not_align(dns_zone, workspace, settings):
    settings.BOUNCE_DOMAIN = "bounces.mailcrm.test"
    domain = _domain(workspace, "acme.test")
    _publish(dns_zone, domain, dmarc="v=DMARC1; p=reject", dkim=False)
    report = domains.domain_verify(domain).alignment
    assert report["dkim"]["status"] == "misaligned"
    assert "Publish the DKIM record" in report["dkim"]["fix"]
    assert report["dmarc_can_pass"] is False


def test_the_api_shows_the_report_and_hides_another_workspaces(api, dns_zone, workspace, outsider):
    domain = _domain(workspace, "acme.test")
    body = api.get(f"/api/v1/customer/domains/{domain.id}").json()
    assert body["alignment"] is None  # not verified yet
    _publish(dns_zone, domain, dmarc="v=DMARC1; p=reject")
    body = api.post(f"/api/v1/customer/domains/{domain.id}/verify").json()
    assert body["alignment"]["dkim"]["status"] == "aligned"
    assert body["alignment"]["return_path"]["status"] == "aligned"
    theirs = SendingDomain.objects.create(workspace=outsider.workspace, domain="o.test")
    assert api.post(f"/api/v1/customer/domains/{theirs.id}/verify").status_code == 404


def test_the_dashboard_domain_page_shows_alignment_and_the_fix(
    dashboard, dns_zone, workspace, settings
):
    settings.BOUNCE_DOMAIN = "bounces.mailcrm.test"
    domain = _domain(workspace, "acme.test")
    _publish(dns_zone, domain, dmarc="v=DMARC1; p=reject")
    page = dashboard.get(f"/domains/{domain.id}/").content.decode()
    assert "Verify the domain to see" in page
    dashboard.post(f"/domains/{domain.id}/verify/")
    page = dashboard.get(f"/domains/{domain.id}/").content.decode()
    assert 'id="alignment-return-path"' in page and "Misaligned" in page
    assert "bounces.mailcrm.test" in page and "Fix:" in page
