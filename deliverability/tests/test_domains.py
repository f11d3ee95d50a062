"""Sending domains against a real DNS server on loopback: the records to publish, each check's
status and explanation for right, wrong, missing and unreachable records, status changes
recorded and announced, the API and the send rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns import services as campaign_services
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability import domains
from deliverability.dkim import dkim_txt_record
from deliverability.models import (
    DeliverabilitySettings,
    DomainStatusChange,
    SendingDomain,
    TrackingDomain,
)
from mailcrm.exceptions import Conflict, LimitExceeded
from mailcrm.models import Event

pytestmark = pytest.mark.django_db

OUR_INCLUDE = "_spf.mailcrm.test"
OUR_IP = "203.0.113.5"
GOOD_SPF = f"v=spf1 include:{OUR_INCLUDE} ~all"
GOOD_DMARC = "v=DMARC1; p=reject; adkim=s; rua=mailto:dmarc@mailcrm.test"


@pytest.fixture(autouse=True)
def our_settings(settings):
    settings.SPF_INCLUDES = [OUR_INCLUDE]
    settings.SPF_IPS = [OUR_IP]
    settings.DMARC_REPORT_EMAIL = "dmarc@mailcrm.test"
    settings.BOUNCE_DOMAIN = ""


@pytest.fixture
def domain(workspace) -> SendingDomain:
    return domains.domain_add(workspace=workspace, domain="acme.test")


def publish(zone, domain: SendingDomain, *, spf=GOOD_SPF, dkim=True, dmarc=GOOD_DMARC):
    """Our include's own record, and the domain's records as asked (None leaves one out)."""
    zone.txt(OUR_INCLUDE, f"v=spf1 ip4:{OUR_IP} -all")
    if spf:
        zone.txt(domain.domain, spf)
    if dkim:
        zone.txt(*dkim_txt_record(domain))
    if dmarc:
        zone.txt(f"_dmarc.{domain.domain}", dmarc)


def checks(domain: SendingDomain) -> dict:
    domain.refresh_from_db()
    return domain.dns_checks


# --- adding ------------------------------------------------------------------------------------


def test_adding_a_domain_generates_its_dkim_key_and_the_records_to_publish(workspace):
    domain = domains.domain_add(workspace=workspace, domain="  News.Acme.TEST. ")

    assert domain.domain == "news.acme.test"
    assert domain.has_dkim_key and domain.dkim_public_key
    records = {r["purpose"]: r for r in domains.dns_records(domain)}
    assert list(records) == ["spf", "dkim", "dmarc"]
    assert records["spf"] == {
        "type": "TXT",
        "host": "news.acme.test",
        "value": f"v=spf1 include:{OUR_INCLUDE} ip4:{OUR_IP} ~all",
        "purpose": "spf",
        "status": "pending",
        "found": [],
        "explanation": "Not checked yet: publish the record, then verify.",
    }
    assert records["dkim"]["host"] == f"{domain.dkim_selector}._domainkey.news.acme.test"
    assert records["dkim"]["value"] == f"v=DKIM1; k=rsa; p={domain.dkim_public_key}"
    assert records["dmarc"]["host"] == "_dmarc.news.acme.test"
    assert records["dmarc"]["value"].startswith("v=DMARC1; p=quarantine")
    assert "rua=mailto:dmarc@mailcrm.test" in records["dmarc"]["value"]


def test_the_return_path_cname_is_asked_only_when_a_bounce_domain_is_set(settings, domain):
    settings.BOUNCE_DOMAIN = "bounces.mailcrm.test"

    record = domains.dns_records(domain)[-1]

    assert (record["type"], record["host"], record["value"], record["purpose"]) == (
        "CNAME",
        "bounce.acme.test",
        "bounces.mailcrm.test",
        "return_path",
    )


@pytest.mark.parametrize(
    "name", ["", "acme", "news@acme.test", "http://acme.test", "-acme.test", "a..test", "1.2.3.4"]
)
def test_a_name_that_is_not_a_domain_is_refused(workspace, name):
    with pytest.raises(ValidationError) as caught:
        domains.domain_add(workspace=workspace, domain=name)
    assert "domain" in caught.value.message_dict


@hypothesis_settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_clean_name_or_a_validation_error(value):
    try:
        name = domains.normalize_domain(value)
    except ValidationError:
        return
    assert name == domains.normalize_domain(name) and len(name) <= 253


def test_an_international_name_is_stored_as_punycode(workspace):
    assert domains.domain_add(workspace=workspace, domain="bücher.test").domain == (
        "xn--bcher-kva.test"
    )


def test_a_domain_is_added_once_and_within_the_plan(workspace, domain):
    with pytest.raises(Conflict):
        domains.domain_add(workspace=workspace, domain="ACME.test")
    workspace.limit_sending_domains = 1
    workspace.save()
    with pytest.raises(LimitExceeded):
        domains.domain_add(workspace=workspace, domain="other.test")


# --- checks over DNS ---------------------------------------------------------------------------


def test_correct_records_verify_the_domain(dns_zone, domain):
    publish(dns_zone, domain)

    domains.domain_verify(domain)

    result = checks(domain)
    assert {p: c["status"] for p, c in result.items()} == {
        "spf": "valid",
        "dkim": "valid",
        "dmarc": "valid",
    }
    assert result["spf"]["found"] == [GOOD_SPF]
    assert "1/10 lookups" in result["spf"]["explanation"]
    assert "p=reject" in result["dmarc"]["explanation"]
    assert "strict" in result["dmarc"]["explanation"]
    assert domain.is_verified and domain.verified_at and domain.last_checked_at
    records = domains.dns_records(domain)
    assert {r["status"] for r in records} == {"valid"}


def test_a_missing_dkim_record_leaves_the_domain_unverified(dns_zone, domain):
    publish(dns_zone, domain, dkim=False)

    domains.domain_verify(domain)

    dkim = checks(domain)["dkim"]
    assert dkim["status"] == "invalid"
    assert "does not exist" in dkim["explanation"]
    assert f"{domain.dkim_selector}._domainkey.acme.test" in dkim["explanation"]
    assert not domain.is_verified


def test_a_dkim_record_with_another_key_is_invalid(dns_zone, domain):
    publish(dns_zone, domain, dkim=False)
    dns_zone.txt(dkim_txt_record(domain)[0], "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC")

    domains.domain_verify(domain)

    dkim = checks(domain)["dkim"]
    assert dkim["status"] == "invalid"
    assert "not this domain's key" in dkim["explanation"]
    assert dkim["found"] == ["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC"]


def test_two_spf_records_are_invalid(dns_zone, domain):
    publish(dns_zone, domain)
    dns_zone.txt("acme.test", "v=spf1 include:_spf.google.com ~all")

    domains.domain_verify(domain)

    spf = checks(domain)["spf"]
    assert spf["status"] == "invalid"
    assert "2 SPF records" in spf["explanation"] and "exactly one" in spf["explanation"]
    assert len(spf["found"]) == 2
    assert not domain.is_verified


def test_spf_over_ten_lookups_through_nested_includes_is_invalid(dns_zone, domain):
    publish(dns_zone, domain, spf=f"v=spf1 include:{OUR_INCLUDE} include:a.spf.test ~all")
    dns_zone.txt("a.spf.test", "v=spf1 include:b.spf.test include:c.spf.test")
    dns_zone.txt("b.spf.test", "v=spf1 a mx exists:%{i}.x.spf.test ptr")
    dns_zone.txt("c.spf.test", "v=spf1 a mx include:d.spf.test")
    dns_zone.txt("d.spf.test", "v=spf1 a mx -all")

    domains.domain_verify(domain)

    spf = checks(domain)["spf"]
    assert spf["status"] == "invalid"
    assert "more than 10 DNS lookups" in spf["explanation"]
    # The walk stops at the eleventh lookup: d.spf.test is never asked for.
    assert ("d.spf.test", "TXT") not in dns_zone.queries
    assert ("c.spf.test", "TXT") in dns_zone.queries


def test_spf_at_exactly_ten_lookups_is_valid(dns_zone, domain):
    publish(dns_zone, domain, spf=f"v=spf1 include:{OUR_INCLUDE} include:a.spf.test ~all")
    dns_zone.txt("a.spf.test", "v=spf1 a mx include:b.spf.test")
    dns_zone.txt("b.spf.test", "v=spf1 a mx a:x.spf.test mx:y.spf.test ptr -all")

    domains.domain_verify(domain)

    spf = checks(domain)["spf"]
    assert spf["status"] == "valid", spf
    assert "10/10 lookups" in spf["explanation"]


def test_an_spf_include_loop_is_reported_not_followed_forever(dns_zone, domain):
    publish(dns_zone, domain, spf=f"v=spf1 include:{OUR_INCLUDE} include:a.spf.test ~all")
    dns_zone.txt("a.spf.test", "v=spf1 include:b.spf.test")
    dns_zone.txt("b.spf.test", "v=spf1 include:a.spf.test")

    domains.domain_verify(domain)

    spf = checks(domain)["spf"]
    assert spf["status"] == "invalid"
    assert "loop" in spf["explanation"]


def test_spf_that_does_not_authorise_us_is_invalid(dns_zone, domain):
    publish(dns_zone, domain, spf="v=spf1 include:_spf.google.com ~all")
    dns_zone.txt("_spf.google.com", "v=spf1 ip4:192.0.2.0/24 ~all")

    domains.domain_verify(domain)

    spf = checks(domain)["spf"]
    assert spf["status"] == "invalid"
    assert "does not authorise us" in spf["explanation"]
    assert f"include:{OUR_INCLUDE} ip4:{OUR_IP}" in spf["explanation"]


def test_an_ip_range_covering_our_address_authorises_us(dns_zone, domain, settings):
    settings.SPF_IPS = [f"ip4:{OUR_IP}"]  # the prefix is accepted in the setting
    assert domains.spf_value() == f"v=spf1 include:{OUR_INCLUDE} ip4:{OUR_IP} ~all"
    publish(dns_zone, domain, spf="v=spf1 ip4:203.0.113.0/24 -all")

    domains.domain_verify(domain)

    assert checks(domain)["spf"]["status"] == "valid"


def test_an_include_without_spf_is_a_permanent_error(dns_zone, domain):
    publish(dns_zone, domain, spf=f"v=spf1 include:{OUR_INCLUDE} include:gone.spf.test ~all")

    domains.domain_verify(domain)

    spf = checks(domain)["spf"]
    assert spf["status"] == "invalid"
    assert "gone.spf.test" in spf["explanation"] and "no SPF record" in spf["explanation"]


def test_dmarc_p_none_is_valid_but_says_to_tighten_it(dns_zone, domain):
    publish(dns_zone, domain, dmarc="v=DMARC1; p=none")

    domains.domain_verify(domain)

    dmarc = checks(domain)["dmarc"]
    assert dmarc["status"] == "valid"
    assert "p=none only monitors" in dmarc["explanation"]
    assert "p=quarantine" in dmarc["explanation"]
    assert "rua=mailto:dmarc@mailcrm.test" in dmarc["explanation"]


def test_a_dmarc_record_that_does_not_parse_is_invalid_but_does_not_block(dns_zone, domain):
    publish(dns_zone, domain, dmarc="v=DMARC1; p=maybe; adkim=x; rua=https://x.test")

    domains.domain_verify(domain)

    dmarc = checks(domain)["dmarc"]
    assert dmarc["status"] == "invalid"
    for problem in ("p= must be", "adkim= must be", "rua= must list mailto"):
        assert problem in dmarc["explanation"]
    assert domain.is_verified


def test_a_missing_dmarc_record_is_invalid(dns_zone, domain):
    publish(dns_zone, domain, dmarc=None)

    domains.domain_verify(domain)

    dmarc = checks(domain)["dmarc"]
    assert dmarc["status"] == "invalid"
    assert "No DMARC record found" in dmarc["explanation"]


def test_return_path_cname_right_and_wrong(settings, dns_zone, domain):
    settings.BOUNCE_DOMAIN = "bounces.mailcrm.test"
    publish(dns_zone, domain)
    dns_zone.add("bounce.acme.test. 300 IN CNAME bounces.mailcrm.test.")
    domains.domain_verify(domain)
    assert checks(domain)["return_path"]["status"] == "valid"

    dns_zone.clear()
    publish(dns_zone, domain)
    dns_zone.add("bounce.acme.test. 300 IN CNAME elsewhere.test.")
    domains.domain_verify(domain)
    result = checks(domain)["return_path"]
    assert result["status"] == "invalid"
    assert result["found"] == ["elsewhere.test"]
    assert "points to elsewhere.test" in result["explanation"]


def test_a_domain_that_does_not_exist_is_nxdomain(dns_zone, domain):
    dns_zone.txt(OUR_INCLUDE, f"v=spf1 ip4:{OUR_IP} -all")

    domains.domain_verify(domain)

    result = checks(domain)
    assert {c["status"] for c in result.values()} == {"invalid"}
    assert {c["lookup"] for c in result.values()} == {"nxdomain"}
    assert "acme.test does not exist in DNS (NXDOMAIN)" in result["spf"]["explanation"]
    assert not domain.is_verified


def test_servfail_leaves_the_records_pending_with_the_reason(dns_zone, domain):
    for name in ("acme.test", f"{domain.dkim_selector}._domainkey.acme.test", "_dmarc.acme.test"):
        dns_zone.servfail(name)

    domains.domain_verify(domain)

    result = checks(domain)
    assert {c["status"] for c in result.values()} == {"pending"}
    assert {c["lookup"] for c in result.values()} == {"servfail"}
    assert "SERVFAIL" in result["spf"]["explanation"]
    assert not domain.is_verified


def test_a_nameserver_that_never_answers_times_out_and_keeps_a_verified_domain(dns_silent, domain):
    SendingDomain.objects.filter(pk=domain.pk).update(is_verified=True, verified_at=timezone.now())
    domain.refresh_from_db()

    domains.domain_verify(domain)

    result = checks(domain)
    assert {c["status"] for c in result.values()} == {"pending"}
    assert {c["lookup"] for c in result.values()} == {"timeout"}
    assert "in time" in result["dkim"]["explanation"]
    assert domain.is_verified  # a nameserver's bad minute does not stop the sending


def test_status_changes_are_recorded_and_announced(dns_zone, domain):
    publish(dns_zone, domain)
    domains.domain_verify(domain)

    changes = DomainStatusChange.objects.filter(sending_domain=domain)
    assert sorted(changes.values_list("purpose", "old_status", "new_status")) == [
        ("dkim", "pending", "valid"),
        ("dmarc", "pending", "valid"),
        ("spf", "pending", "valid"),
    ]
    assert Event.objects.filter(type="domain.verified", subject_id=domain.pk).count() == 1
    assert Event.objects.filter(type="domain.status_changed", subject_id=domain.pk).count() == 3

    domains.domain_verify(domain)  # nothing changed: nothing new
    assert changes.count() == 3

    dns_zone.clear()
    publish(dns_zone, domain, dkim=False)
    domains.domain_verify(domain)

    latest = changes.first()
    assert (latest.purpose, latest.old_status, latest.new_status) == ("dkim", "valid", "invalid")
    event = Event.objects.filter(type="domain.unverified", subject_id=domain.pk).get()
    assert event.data == {"domain": "acme.test", "is_verified": False}
    changed = Event.objects.filter(type="domain.status_changed").order_by("-id").first()
    assert changed.data["purpose"] == "dkim" and changed.data["new_status"] == "invalid"
    domain.refresh_from_db()
    assert not domain.is_verified and domain.verified_at is None


def test_due_domains_are_rechecked_in_the_background(dns_zone, workspace, domain):
    publish(dns_zone, domain)
    fresh = domains.domain_add(workspace=workspace, domain="fresh.test")
    hour_ago = timezone.now() - timedelta(hours=2)
    SendingDomain.objects.filter(pk=domain.pk).update(last_checked_at=hour_ago)
    SendingDomain.objects.filter(pk=fresh.pk).update(last_checked_at=timezone.now())
    tracking = TrackingDomain.objects.create(
        workspace=workspace, domain="links.acme.test", cname_target="track.mailcrm.test"
    )

    assert domains.verify_due_domains() == 2  # tasks run synchronously in the tests

    domain.refresh_from_db()
    tracking.refresh_from_db()
    fresh.refresh_from_db()
    assert domain.is_verified and domain.last_checked_at > hour_ago
    assert tracking.check_result["status"] == "invalid"
    assert fresh.dns_checks == {}
    assert domains.verify_due_domains() == 0


# --- the send rule -----------------------------------------------------------------------------


@pytest.fixture
def campaign(workspace):
    contact_list = ContactListFactory(workspace=workspace)
    ListMembershipFactory(
        contact=ContactFactory(workspace=workspace, email="ann@example.com"),
        contact_list=contact_list,
    )
    return campaign_services.campaign_create(
        workspace=workspace,
        name="News",
        subject="Hello",
        html="<p>Hi</p>",
        from_email="news@acme.test",
        audience={"lists": [str(contact_list.pk)]},
    )


def test_a_campaign_from_an_unverified_domain_is_refused_with_422(api, domain, campaign):
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/send")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "domain_not_verified"
    assert "acme.test is not verified" in error["message"]
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_a_campaign_from_an_unknown_domain_is_refused(api, workspace, campaign):
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/send")

    assert response.status_code == 422
    assert "not a sending domain of this workspace" in response.json()["error"]["message"]


def test_a_verified_domain_sends(api, domain, campaign, settings):
    settings.EMAIL_BACKEND = "campaigns.backends.CaptureBackend"
    SendingDomain.objects.filter(pk=domain.pk).update(is_verified=True)

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/send")

    assert response.status_code == 200
    assert response.json()["status_reason"] == ""


def test_a_relaxed_workspace_sends_with_a_warning(api, workspace, domain, campaign, settings):
    settings.EMAIL_BACKEND = "campaigns.backends.CaptureBackend"
    relaxed = DeliverabilitySettings.for_workspace(workspace)
    relaxed.require_verified_domain = False
    relaxed.save()

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/send")

    assert response.status_code == 200
    assert response.json()["status_reason"].startswith("Warning: sent from an unverified domain.")


def test_the_chosen_sending_domain_decides_over_the_from_address(workspace, domain, campaign):
    other = domains.domain_add(workspace=workspace, domain="other.test")
    SendingDomain.objects.filter(pk=other.pk).update(is_verified=True)
    other.refresh_from_db()

    assert (
        domains.check_sending_domain(
            workspace=workspace, sending_domain=other, from_email="news@acme.test"
        )
        == ""
    )


# --- API ---------------------------------------------------------------------------------------


def test_api_adds_lists_reads_verifies_and_deletes_a_domain(api, dns_zone):
    created = api.post("/api/v1/customer/domains", {"domain": "Acme.test"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["domain"] == "acme.test" and body["is_verified"] is False
    assert [r["purpose"] for r in body["dns_records"]] == ["spf", "dkim", "dmarc"]
    assert set(body["dns_records"][0]) == {
        "type",
        "host",
        "value",
        "purpose",
        "status",
        "found",
        "explanation",
    }

    listed = api.get("/api/v1/customer/domains").json()
    assert [d["id"] for d in listed["results"]] == [body["id"]]

    domain = SendingDomain.objects.get(pk=body["id"])
    publish(dns_zone, domain)
    verified = api.post(f"/api/v1/customer/domains/{domain.pk}/verify")
    assert verified.status_code == 200
    assert verified.json()["is_verified"] is True
    assert {r["status"] for r in verified.json()["dns_records"]} == {"valid"}

    assert api.get(f"/api/v1/customer/domains/{domain.pk}").json()["is_verified"] is True
    assert api.delete(f"/api/v1/customer/domains/{domain.pk}").status_code == 204
    assert not SendingDomain.objects.filter(pk=domain.pk).exists()


def test_api_refuses_bad_duplicate_and_over_the_limit_domains(api, workspace, domain):
    bad = api.post("/api/v1/customer/domains", {"domain": "not a domain"}, format="json")
    assert bad.status_code == 400
    assert "domain" in bad.json()["error"]["fields"]
    assert api.post("/api/v1/customer/domains", {}, format="json").status_code == 400
    duplicate = api.post("/api/v1/customer/domains", {"domain": "acme.test"}, format="json")
    assert duplicate.status_code == 409
    workspace.limit_sending_domains = 1
    workspace.save()
    over = api.post("/api/v1/customer/domains", {"domain": "more.test"}, format="json")
    assert over.status_code == 422
    assert over.json()["error"]["code"] == "limit_exceeded"


def test_api_patch_sets_a_tracking_domain_of_the_same_workspace_only(api, domain, outsider):
    ours = TrackingDomain.objects.create(
        workspace=domain.workspace, domain="links.acme.test", cname_target="t.mailcrm.test"
    )
    theirs = TrackingDomain.objects.create(
        workspace=outsider.workspace, domain="links.outsider.test", cname_target="t.mailcrm.test"
    )
    url = f"/api/v1/customer/domains/{domain.pk}"

    response = api.patch(url, {"tracking_domain_id": str(ours.pk)}, format="json")
    assert response.status_code == 200
    assert response.json()["tracking_domain_id"] == str(ours.pk)

    for value in (str(theirs.pk), "not-a-uuid", 5):
        refused = api.patch(url, {"tracking_domain_id": value}, format="json")
        assert refused.status_code == 400
        assert refused.json()["error"]["fields"]["tracking_domain_id"] == [
            "No such tracking domain."
        ]

    assert api.patch(url, {}, format="json").json()["tracking_domain_id"] == str(ours.pk)
    cleared = api.patch(url, {"tracking_domain_id": None}, format="json")
    assert cleared.json()["tracking_domain_id"] is None
    domain.refresh_from_db()
    assert domain.tracking_domain is None


def test_another_workspaces_domain_is_404_everywhere(api, outsider):
    theirs = domains.domain_add(workspace=outsider.workspace, domain="outsider.test")
    url = f"/api/v1/customer/domains/{theirs.pk}"

    assert api.get(url).status_code == 404
    assert api.patch(url, {"tracking_domain_id": None}, format="json").status_code == 404
    assert api.post(f"{url}/verify").status_code == 404
    assert api.delete(url).status_code == 404
    assert api.get("/api/v1/customer/domains").json()["results"] == []
    assert SendingDomain.objects.filter(pk=theirs.pk, last_checked_at__isnull=True).exists()


def test_the_schema_describes_the_domain_endpoints(api):
    schema = api.get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/customer/domains/{id}"]) >= {"get", "patch", "delete"}
    assert "put" not in paths["/api/v1/customer/domains/{id}"]
    verify = paths["/api/v1/customer/domains/{id}/verify"]["post"]
    assert "requestBody" not in verify
    assert {"200", "404"} <= set(verify["responses"])
    created = paths["/api/v1/customer/domains"]["post"]["responses"]
    assert {"201", "400", "409", "422"} <= set(created)


# --- dashboard and admin -------------------------------------------------------------------------


def test_dashboard_adds_a_domain_and_shows_its_records(dashboard, workspace):
    response = dashboard.post("/domains/", {"domain": "acme.test"})

    domain = SendingDomain.objects.get(workspace=workspace)
    assert response.status_code == 302 and response["Location"] == f"/domains/{domain.pk}/"
    page = dashboard.get(f"/domains/{domain.pk}/").content.decode()
    for record in domains.dns_records(domain):
        assert record["host"] in page and record["value"] in page
    assert 'data-copy="value-dkim"' in page
    assert "Not checked yet" in page


def test_dashboard_shows_a_bad_name_and_a_duplicate_as_form_errors(dashboard, domain):
    bad = dashboard.post("/domains/", {"domain": "not a domain"})
    assert bad.status_code == 200 and "not a valid domain name" in bad.content.decode()
    duplicate = dashboard.post("/domains/", {"domain": "acme.test"})
    assert "already a sending domain" in duplicate.content.decode()


def test_dashboard_verify_shows_each_records_status_and_explanation(dashboard, dns_zone, domain):
    publish(dns_zone, domain, dkim=False, dmarc="v=DMARC1; p=none")

    response = dashboard.post(f"/domains/{domain.pk}/verify/", follow=True)

    page = response.content.decode()
    assert "acme.test is not verified yet" in page
    assert 'class="badge record-invalid"' in page and 'class="badge record-valid"' in page
    assert "p=none only monitors" in page
    assert "DKIM: pending → invalid" in page


def test_dashboard_chooses_a_tracking_domain_of_the_workspace_only(dashboard, domain, outsider):
    ours = TrackingDomain.objects.create(
        workspace=domain.workspace, domain="links.acme.test", cname_target="t.mailcrm.test"
    )
    theirs = TrackingDomain.objects.create(
        workspace=outsider.workspace, domain="links.out.test", cname_target="t.mailcrm.test"
    )

    dashboard.post(f"/domains/{domain.pk}/tracking/", {"tracking_domain": str(theirs.pk)})
    domain.refresh_from_db()
    assert domain.tracking_domain is None
    dashboard.post(f"/domains/{domain.pk}/tracking/", {"tracking_domain": str(ours.pk)})
    domain.refresh_from_db()
    assert domain.tracking_domain == ours


def test_dashboard_viewers_read_but_cannot_change(client, viewer, domain):
    client.force_login(viewer)

    assert client.get("/domains/").status_code == 200
    assert client.get(f"/domains/{domain.pk}/").status_code == 200
    assert client.post("/domains/", {"domain": "new.test"}).status_code == 403
    assert client.post(f"/domains/{domain.pk}/verify/").status_code == 403
    assert client.post(f"/domains/{domain.pk}/delete/").status_code == 403


def test_dashboard_another_workspaces_domain_is_404(dashboard, outsider):
    theirs = SendingDomain.objects.create(workspace=outsider.workspace, domain="out.test")

    for url in ("", "verify/", "tracking/", "delete/"):
        method = dashboard.get if url == "" else dashboard.post
        assert method(f"/domains/{theirs.pk}/{url}").status_code == 404, url
    assert "out.test" not in dashboard.get("/domains/").content.decode()


def test_dashboard_deletes_a_domain(dashboard, domain):
    assert dashboard.post(f"/domains/{domain.pk}/delete/").status_code == 302
    assert not SendingDomain.objects.filter(pk=domain.pk).exists()


def test_admin_adds_through_the_service_and_refuses_bad_names(admin_client, workspace):
    response = admin_client.post(
        "/admin/deliverability/sendingdomain/add/",
        {"workspace": str(workspace.pk), "domain": "Admin.test", "tracking_domain": ""},
    )
    assert response.status_code == 302
    added = SendingDomain.objects.get(domain="admin.test")
    assert added.has_dkim_key

    bad = admin_client.post(
        "/admin/deliverability/sendingdomain/add/",
        {"workspace": str(workspace.pk), "domain": "admin.test", "tracking_domain": ""},
    )
    assert bad.status_code == 200 and "already a sending domain" in bad.content.decode()
    page = admin_client.get(f"/admin/deliverability/sendingdomain/{added.pk}/change/")
    assert page.status_code == 200 and "._domainkey.admin.test" in page.content.decode()
    assert admin_client.get("/admin/deliverability/domainstatuschange/").status_code == 200
    assert admin_client.get("/admin/deliverability/trackingdomain/").status_code == 200
