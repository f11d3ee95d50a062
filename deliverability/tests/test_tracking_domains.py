"""Tracking domains: CNAME checks against a real DNS server on loopback, the HTTPS check (its
failure against a real loopback TLS server with a certificate no public CA signed; its success
through an injected checker, since no loopback server can present a publicly valid
certificate), the proxy's TLS question, links built on the verified domain and answered on it,
the API and isolation."""

from __future__ import annotations

import http.server
import ssl
import threading
from pathlib import Path

import pytest
from django.core.cache import cache

from campaigns import services as campaign_services
from campaigns.content import LinkBook, track
from campaigns.models import Message
from campaigns.tracking import forget_tracking_base_urls
from deliverability import domains, public, tracking_domains
from deliverability.models import DomainStatusChange, SendingDomain, TrackingDomain
from deliverability.tracking_domains import HttpsResult
from mailcrm.exceptions import Conflict
from mailcrm.models import Event
from tests.tls import write_self_signed

pytestmark = pytest.mark.django_db

TARGET = "track.mailcrm.test"


@pytest.fixture(autouse=True)
def our_host(settings):
    cache.clear()  # the TLS question's rate counters
    settings.PUBLIC_BASE_URL = "https://app.mailcrm.test"
    settings.TRACKING_CNAME_TARGET = ""
    settings.ALLOWED_HOSTS = ["app.mailcrm.test", "testserver"]
    forget_tracking_base_urls()


@pytest.fixture
def links_domain(workspace, settings) -> TrackingDomain:
    settings.TRACKING_CNAME_TARGET = TARGET
    return tracking_domains.tracking_domain_add(workspace=workspace, domain="Links.Acme.test")


@pytest.fixture
def https_ok(monkeypatch):
    """The HTTPS check, succeeding (a loopback server cannot show a publicly valid cert)."""
    asked = []

    def fake(domain, **kwargs):
        asked.append(domain)
        return HttpsResult(True, f"https://{domain} serves a valid certificate.")

    monkeypatch.setattr(tracking_domains, "https_check", fake)
    return asked


def verified(tracking_domain: TrackingDomain, *, ssl_enabled: bool = True) -> TrackingDomain:
    TrackingDomain.objects.filter(pk=tracking_domain.pk).update(
        is_verified=True, ssl_enabled=ssl_enabled
    )
    tracking_domain.refresh_from_db()
    return tracking_domain


# --- adding ------------------------------------------------------------------------------------


def test_the_cname_target_defaults_to_our_public_host(workspace):
    added = tracking_domains.tracking_domain_add(workspace=workspace, domain="links.acme.test")

    assert added.cname_target == "app.mailcrm.test"
    setup = tracking_domains.dns_setup(added)
    assert setup["record_type"] == "CNAME"
    assert (setup["hostname"], setup["value"]) == ("links.acme.test", "app.mailcrm.test")
    assert "CNAME record for links.acme.test" in setup["instructions"]


def test_a_hostname_serves_one_workspace(links_domain, outsider):
    with pytest.raises(Conflict) as caught:
        tracking_domains.tracking_domain_add(workspace=outsider.workspace, domain="links.acme.test")
    assert "already in use" in caught.value.message
    with pytest.raises(Conflict):
        tracking_domains.tracking_domain_add(workspace=outsider.workspace, domain=TARGET)


# --- the CNAME check ---------------------------------------------------------------------------


def test_a_right_cname_verifies_and_https_is_checked(dns_zone, links_domain, https_ok):
    dns_zone.add(f"links.acme.test. 300 IN CNAME {TARGET}.")

    result = tracking_domains.tracking_domain_verify(links_domain)

    assert result.is_verified and result.verified_at and result.ssl_enabled
    assert result.https_url == "https://links.acme.test"
    assert result.check_result["status"] == "valid"
    assert result.check_result["found"] == [TARGET]
    assert https_ok == ["links.acme.test"]
    change = DomainStatusChange.objects.get(tracking_domain=links_domain)
    assert (change.purpose, change.old_status, change.new_status) == ("cname", "pending", "valid")
    assert Event.objects.filter(type="tracking_domain.verified").count() == 1
    assert Event.objects.filter(type="tracking_domain.status_changed").count() == 1


def test_a_wrong_cname_is_invalid_and_says_where_it_points(dns_zone, links_domain, https_ok):
    dns_zone.add("links.acme.test. 300 IN CNAME elsewhere.test.")

    result = tracking_domains.tracking_domain_verify(links_domain)

    assert not result.is_verified and not result.ssl_enabled
    assert result.check_result["status"] == "invalid"
    assert "points to elsewhere.test, not track.mailcrm.test" in result.check_result["explanation"]
    assert https_ok == []


def test_an_a_record_instead_of_a_cname_is_invalid(dns_zone, links_domain):
    dns_zone.add("links.acme.test. 300 IN A 192.0.2.1")

    result = tracking_domains.tracking_domain_verify(links_domain)

    assert result.check_result["status"] == "invalid"
    assert "no CNAME record" in result.check_result["explanation"]


def test_a_missing_name_is_nxdomain(dns_zone, links_domain):
    result = tracking_domains.tracking_domain_verify(links_domain)

    assert result.check_result["status"] == "invalid"
    assert result.check_result["lookup"] == "nxdomain"
    assert "does not exist in DNS" in result.check_result["explanation"]


def test_servfail_is_pending(dns_zone, links_domain):
    dns_zone.servfail("links.acme.test")

    result = tracking_domains.tracking_domain_verify(links_domain)

    assert result.check_result["status"] == "pending"
    assert "SERVFAIL" in result.check_result["explanation"]


def test_a_silent_nameserver_times_out_and_keeps_a_verified_domain(dns_silent, links_domain):
    verified(links_domain)

    result = tracking_domains.tracking_domain_verify(links_domain)

    assert result.check_result["status"] == "pending"
    assert result.check_result["lookup"] == "timeout"
    assert result.is_verified and result.ssl_enabled


def test_losing_the_cname_unverifies_and_disables_https(dns_zone, links_domain, https_ok):
    dns_zone.add(f"links.acme.test. 300 IN CNAME {TARGET}.")
    tracking_domains.tracking_domain_verify(links_domain)
    dns_zone.clear()

    result = tracking_domains.tracking_domain_verify(links_domain)

    assert not result.is_verified and not result.ssl_enabled and result.https_url is None
    assert Event.objects.filter(type="tracking_domain.unverified").count() == 1


# --- the HTTPS check against a real TLS server -------------------------------------------------


@pytest.fixture
def self_signed_https(tmp_path: Path):
    """An HTTPS server on loopback with a certificate for links.acme.test that no CA signed."""
    cert_file, key_file = write_self_signed(
        tmp_path, "links.acme.test", dns_names=("links.acme.test",)
    )

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = tracking_domains.health_body("links.acme.test").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_certificate_no_public_ca_signed_is_not_ssl(dns_zone, self_signed_https):
    dns_zone.add(f"links.acme.test. 300 IN CNAME {TARGET}.", f"{TARGET}. 300 IN A 127.0.0.1")

    result = tracking_domains.https_check("links.acme.test", port=self_signed_https)

    assert not result.ok
    assert "no valid certificate" in result.explanation
    assert "self-signed" in result.explanation or "self signed" in result.explanation


def test_nothing_listening_is_not_ssl(dns_zone):
    dns_zone.add("links.acme.test. 300 IN A 127.0.0.1")

    result = tracking_domains.https_check("links.acme.test", port=1, timeout=2)

    assert not result.ok and "did not answer" in result.explanation


def test_a_name_without_an_address_is_not_ssl(dns_zone):
    result = tracking_domains.https_check("nowhere.acme.test")

    assert not result.ok and "does not exist" in result.explanation


# --- the proxy's TLS question and the tracking host ------------------------------------------


def test_tls_ask_answers_200_only_for_verified_tracking_domains(client, links_domain, outsider):
    assert client.get("/tls/ask", {"domain": "links.acme.test"}).status_code == 404
    verified(links_domain, ssl_enabled=False)
    assert client.get("/tls/ask", {"domain": "links.acme.test"}).status_code == 200
    assert client.get("/tls/ask", {"domain": "LINKS.acme.test."}).status_code == 200
    for other in ("", "acme.test", "app.mailcrm.test", "x" * 300):
        assert client.get("/tls/ask", {"domain": other}).status_code == 404
    assert client.post("/tls/ask", {"domain": "links.acme.test"}).status_code == 405


def test_tls_ask_is_rate_limited(client, monkeypatch, links_domain):
    monkeypatch.setattr(public, "TLS_ASKS_PER_MINUTE", 3)
    codes = [client.get("/tls/ask", {"domain": f"n{i}.test"}).status_code for i in range(5)]

    assert codes == [404, 404, 404, 429, 429]
    assert client.get("/tls/ask").headers["Retry-After"] == "60"


def test_tls_ask_answers_whatever_host_the_proxy_uses(client, links_domain):
    verified(links_domain)

    response = client.get("/tls/ask", {"domain": "links.acme.test"}, HTTP_HOST="127.0.0.1:8000")

    assert response.status_code == 200


def test_a_verified_tracking_host_is_served_on_tracking_paths_only(client, links_domain):
    assert client.get("/t/health", HTTP_HOST="links.acme.test").status_code == 400
    verified(links_domain)

    health = client.get("/t/health", HTTP_HOST="links.acme.test")
    assert health.status_code == 200
    assert health.json() == {"service": "mailcrm-tracking", "host": "links.acme.test"}
    for path in ("/login/", "/admin/", "/api/v1/customer/domains", "/u/x"):
        assert client.get(path, HTTP_HOST="links.acme.test").status_code == 400, path
    assert client.get("/t/health", HTTP_HOST="other.acme.test").status_code == 400
    assert client.get("/t/health", HTTP_HOST="app.mailcrm.test").status_code == 200


# --- links on the tracking domain --------------------------------------------------------------


@pytest.fixture
def message(workspace):
    sending = domains.domain_add(workspace=workspace, domain="acme.test")
    campaign = campaign_services.campaign_create(
        workspace=workspace, name="News", from_email="news@acme.test"
    )
    message = Message.objects.create(
        workspace=workspace, campaign=campaign, kind="campaign", email="ann@example.com"
    )
    message.sending_domain = sending
    return message


HTML = '<p><a href="https://example.org/offer">Offer</a></p></body>'


def _tracked(message) -> str:
    forget_tracking_base_urls()
    links = LinkBook(message.workspace_id, campaign_id=message.campaign_id)
    return track(HTML, message, links, opens=True)


def test_links_use_our_host_until_the_tracking_domain_is_verified(message, links_domain):
    domains.domain_set_tracking_domain(domain=message.sending_domain, tracking_domain=links_domain)

    html = _tracked(message)

    assert 'href="https://app.mailcrm.test/t/c/' in html
    assert 'src="https://app.mailcrm.test/t/o/' in html


def test_links_and_pixel_use_the_verified_tracking_domain_and_are_answered_there(
    client, message, links_domain
):
    domains.domain_set_tracking_domain(
        domain=message.sending_domain, tracking_domain=verified(links_domain)
    )

    html = _tracked(message)

    assert "app.mailcrm.test" not in html
    click = html.split('href="')[1].split('"')[0]
    pixel = html.split('src="')[1].split('"')[0]
    assert click.startswith("https://links.acme.test/t/c/")
    assert pixel.startswith("https://links.acme.test/t/o/")
    path = click.removeprefix("https://links.acme.test")
    followed = client.get(path, HTTP_HOST="links.acme.test", HTTP_USER_AGENT="Mozilla/5.0")
    assert followed.status_code == 302
    assert followed["Location"] == "https://example.org/offer"
    opened = client.get(pixel.removeprefix("https://links.acme.test"), HTTP_HOST="links.acme.test")
    assert opened.status_code == 200 and opened["Content-Type"] == "image/gif"


def test_without_a_certificate_links_never_drop_from_https_to_http(settings, message, links_domain):
    domains.domain_set_tracking_domain(
        domain=message.sending_domain, tracking_domain=verified(links_domain, ssl_enabled=False)
    )
    assert 'href="https://app.mailcrm.test/t/c/' in _tracked(message)

    settings.PUBLIC_BASE_URL = "http://app.mailcrm.test"
    assert 'href="http://links.acme.test/t/c/' in _tracked(message)


def test_deleting_a_tracking_domain_returns_links_to_our_host(message, links_domain):
    domains.domain_set_tracking_domain(
        domain=message.sending_domain, tracking_domain=verified(links_domain)
    )
    tracking_domains.tracking_domain_delete(tracking_domain=links_domain)

    assert SendingDomain.objects.get(pk=message.sending_domain.pk).tracking_domain is None
    assert 'href="https://app.mailcrm.test/t/c/' in _tracked(message)


# --- API ---------------------------------------------------------------------------------------


def test_api_adds_lists_verifies_and_deletes_tracking_domains(api, dns_zone, settings, https_ok):
    settings.TRACKING_CNAME_TARGET = TARGET
    created = api.post(
        "/api/v1/customer/tracking-domains", {"domain": "links.acme.test"}, format="json"
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {
        "id",
        "domain",
        "cname_target",
        "is_verified",
        "verified_at",
        "ssl_enabled",
        "https_url",
        "created_at",
        "dns_setup",
    }
    assert body["dns_setup"]["record_type"] == "CNAME"
    assert body["dns_setup"]["value"] == TARGET
    assert body["https_url"] is None

    listed = api.get("/api/v1/customer/tracking-domains")
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["tracking_domains"]] == [body["id"]]

    dns_zone.add(f"links.acme.test. 300 IN CNAME {TARGET}.")
    checked = api.post(f"/api/v1/customer/tracking-domains/{body['id']}/verify").json()
    assert checked["is_verified"] is True
    assert checked["https_url"] == "https://links.acme.test"

    assert api.get(f"/api/v1/customer/tracking-domains/{body['id']}").status_code == 200
    assert api.delete(f"/api/v1/customer/tracking-domains/{body['id']}").status_code == 204
    assert api.get("/api/v1/customer/tracking-domains").json() == {"tracking_domains": []}


def test_api_refuses_bad_and_taken_tracking_domains(api, outsider):
    tracking_domains.tracking_domain_add(workspace=outsider.workspace, domain="links.out.test")
    url = "/api/v1/customer/tracking-domains"

    assert api.post(url, {"domain": "links.out.test"}, format="json").status_code == 409
    bad = api.post(url, {"domain": "https://x"}, format="json")
    assert bad.status_code == 400 and "domain" in bad.json()["error"]["fields"]


def test_another_workspaces_tracking_domain_is_404_everywhere(api, outsider):
    theirs = tracking_domains.tracking_domain_add(
        workspace=outsider.workspace, domain="links.out.test"
    )
    url = f"/api/v1/customer/tracking-domains/{theirs.pk}"

    assert api.get(url).status_code == 404
    assert api.post(f"{url}/verify").status_code == 404
    assert api.delete(url).status_code == 404
    assert api.get("/api/v1/customer/tracking-domains").json() == {"tracking_domains": []}
    assert TrackingDomain.objects.filter(pk=theirs.pk, last_checked_at__isnull=True).exists()


def test_the_schema_describes_the_tracking_domain_list(api):
    schema = api.get("/api/v1/schema/?format=json").json()
    listing = schema["paths"]["/api/v1/customer/tracking-domains"]["get"]["responses"]["200"]
    ref = listing["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert list(schema["components"]["schemas"][ref]["properties"]) == ["tracking_domains"]
    one = schema["components"]["schemas"]["TrackingDomain"]["properties"]
    assert one["https_url"]["nullable"] is True
    assert one["dns_setup"]["allOf"][0]["$ref"].endswith("/DnsSetup")


def test_admin_adds_through_the_service_and_refuses_a_taken_name(admin_client, workspace):
    url = "/admin/deliverability/trackingdomain/add/"

    added = admin_client.post(url, {"workspace": str(workspace.pk), "domain": "Links.Acme.test"})
    assert added.status_code == 302
    assert TrackingDomain.objects.get().cname_target == "app.mailcrm.test"
    taken = admin_client.post(url, {"workspace": str(workspace.pk), "domain": "links.acme.test"})
    assert taken.status_code == 200 and "already in use" in taken.content.decode()
