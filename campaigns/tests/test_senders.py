"""The way out of each message: the backend bound to the sender's domain, the workspace's
default, or the server's; DKIM signatures that verify against the published key (with the
unsubscribe headers signed); an ESP reached over real HTTP through django-anymail; secrets
encrypted at rest; per-backend throttling."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dkim
import pytest
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.test import override_settings

from campaigns.models import BackendKind, SendingBackend, SmtpSecurity
from campaigns.senders import Senders, sending_backend_save
from deliverability.dkim import dkim_key_generate, dkim_txt_record
from deliverability.models import SendingDomain
from mailcrm import crypto
from tests.smtp import SmtpSink, free_port

pytestmark = pytest.mark.django_db


def _email(from_email: str, to: str = "ann@example.com") -> EmailMultiAlternatives:
    return EmailMultiAlternatives(
        subject="Hello",
        body="Hi Ann",
        from_email=from_email,
        to=[to],
        headers={
            "Message-ID": "<1@mail.example.test>",
            "List-Unsubscribe": "<https://mail.example.test/u/token>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _smtp_backend(workspace, sink, **fields) -> SendingBackend:
    backend = SendingBackend(
        workspace=workspace,
        name=fields.pop("name", "relay"),
        kind=BackendKind.SMTP,
        host="127.0.0.1",
        port=sink.port,
        security=SmtpSecurity.NONE,
        **fields,
    )
    return sending_backend_save(backend, password="")


@pytest.fixture
def sink():
    with SmtpSink() as server:
        yield server


@pytest.fixture
def signed_domain(workspace):
    domain = SendingDomain.objects.create(workspace=workspace, domain="example.test")
    return dkim_key_generate(domain, selector="s1")


def _dns(domain: SendingDomain):
    host, value = dkim_txt_record(domain)

    def lookup(name, timeout=5):
        return value.encode() if name.decode().rstrip(".") == host else None

    return lookup


def test_smtp_mail_is_dkim_signed_and_verifies_with_the_published_key(
    workspace, sink, signed_domain
):
    _smtp_backend(workspace, sink, is_default=True)
    senders = Senders(workspace)
    senders.for_address("news@example.test").send(_email("Newsroom <news@example.test>"))
    senders.close()

    (received,) = sink.received
    assert dkim.verify(received.data, dnsfunc=_dns(signed_domain))
    signature = received.message["DKIM-Signature"].replace("\r\n", "").replace(" ", "")
    signed = signature.split("h=")[1].split(";")[0].lower().split(":")
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= set(signed)
    assert "d=example.test" in signature and "s=s1" in signature


def test_a_changed_body_or_unsubscribe_header_no_longer_verifies(workspace, sink, signed_domain):
    _smtp_backend(workspace, sink, is_default=True)
    senders = Senders(workspace)
    senders.for_address("news@example.test").send(_email("news@example.test"))
    senders.close()

    data = sink.received[0].data
    tampered = data.replace(b"https://mail.example.test/u/token", b"https://evil.test/u/x")
    assert tampered != data
    assert not dkim.verify(tampered, dnsfunc=_dns(signed_domain))


def test_mail_from_a_domain_without_a_key_is_sent_unsigned(workspace, sink):
    _smtp_backend(workspace, sink, is_default=True)
    senders = Senders(workspace)
    senders.for_address("a@other.test").send(_email("a@other.test"))
    senders.close()
    assert sink.received[0].message["DKIM-Signature"] is None


def test_the_server_wide_smtp_backend_signs_with_the_workspace_key(workspace, sink, signed_domain):
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=sink.port,
        EMAIL_HOST_USER="",
        EMAIL_USE_TLS=False,
    ):
        senders = Senders(workspace)
        assert senders.backend_for("news@example.test") is None
        senders.for_address("news@example.test").send(_email("news@example.test"))
        senders.close()
    assert dkim.verify(sink.received[0].data, dnsfunc=_dns(signed_domain))


def test_the_domain_backend_wins_over_the_default(workspace, sink, signed_domain):
    with SmtpSink() as other:
        default = _smtp_backend(workspace, other, name="default", is_default=True)
        bound = _smtp_backend(
            workspace, sink, name="for example.test", sending_domain=signed_domain
        )
        senders = Senders(workspace)
        assert senders.backend_for("news@EXAMPLE.test") == bound
        assert senders.backend_for("news@elsewhere.test") == default
        senders.for_address("news@example.test").send(_email("news@example.test"))
        senders.for_address("x@elsewhere.test").send(_email("x@elsewhere.test"))
        senders.close()
        assert len(sink.received) == 1 and len(other.received) == 1


def test_an_inactive_or_foreign_backend_is_never_used(workspace, outsider, sink):
    _smtp_backend(outsider.workspace, sink, name="theirs", is_default=True)
    _smtp_backend(workspace, sink, name="off", is_default=True, is_active=False)
    assert Senders(workspace).backend_for("a@example.com") is None


def test_one_connection_is_reused_for_a_batch(workspace, sink):
    _smtp_backend(workspace, sink, is_default=True)
    senders = Senders(workspace)
    first = senders.for_address("a@example.com")
    for n in range(3):
        senders.for_address("a@example.com").send(_email("a@example.com", f"p{n}@example.com"))
    assert senders.for_address("b@example.com") is first
    senders.close()
    assert len(sink.received) == 3


def test_secrets_are_encrypted_at_rest(workspace, sink):
    backend = _smtp_backend(workspace, sink, is_default=True, username="u")
    sending_backend_save(backend, password="s3cret-pass", esp_settings={"api_key": "k-123"})
    stored = SendingBackend.objects.values("password", "esp_settings").get(pk=backend.pk)
    assert "s3cret" not in stored["password"] and "k-123" not in stored["esp_settings"]
    assert crypto.decrypt(stored["password"]) == "s3cret-pass"


def test_dkim_private_key_is_encrypted_at_rest(signed_domain):
    stored = SendingDomain.objects.values_list("dkim_private_key", flat=True).get()
    assert "PRIVATE KEY" not in stored
    assert "PRIVATE KEY" in crypto.decrypt(stored)


def test_a_backend_needs_its_essentials(workspace, outsider):
    with pytest.raises(ValidationError) as smtp:
        sending_backend_save(SendingBackend(workspace=workspace, name="x", kind="smtp"))
    assert "host" in smtp.value.message_dict
    with pytest.raises(ValidationError) as esp:
        sending_backend_save(SendingBackend(workspace=workspace, name="y", kind="esp"))
    assert "esp" in esp.value.message_dict
    theirs = SendingDomain.objects.create(workspace=outsider.workspace, domain="theirs.test")
    with pytest.raises(ValidationError) as foreign:
        sending_backend_save(
            SendingBackend(workspace=workspace, name="z", host="h", sending_domain=theirs)
        )
    assert "sending_domain" in foreign.value.message_dict


def test_each_backend_has_its_own_rate_across_workers(workspace, sink):
    _smtp_backend(workspace, sink, is_default=True, rate_per_minute=2)
    first, second = Senders(workspace), Senders(workspace)  # two workers
    assert first.take_slot("a@example.com")
    assert second.take_slot("a@example.com")
    assert not first.take_slot("a@example.com")
    with override_settings(EMAIL_RATE_PER_MINUTE=0):
        assert Senders(workspace).take_slot("a@elsewhere.test") is False  # same default backend


class _PostmarkApi(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, dict(self.headers), body))
        reply = json.dumps(
            {"ErrorCode": 0, "Message": "OK", "MessageID": "pm-42", "To": body["To"]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def test_an_esp_backend_sends_through_anymail_over_http(workspace):
    server = HTTPServer(("127.0.0.1", free_port()), _PostmarkApi)
    _PostmarkApi.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = SendingBackend(workspace=workspace, name="pm", kind="esp", esp="postmark")
        sending_backend_save(
            backend,
            esp_settings={
                "server_token": "token-1",
                "api_url": f"http://127.0.0.1:{server.server_port}/",
            },
        )
        backend.is_default = True
        backend.save()
        senders = Senders(workspace)
        provider_id = senders.for_address("news@example.com").send(_email("news@example.com"))
        senders.close()
    finally:
        server.shutdown()
    (path, headers, body) = _PostmarkApi.requests[0]
    assert path == "/email" and headers["X-Postmark-Server-Token"] == "token-1"
    assert body["To"] == "ann@example.com" and body["Subject"] == "Hello"
    assert provider_id == "pm-42"


@pytest.mark.django_db(transaction=True)
def test_a_campaign_goes_out_dkim_signed_through_the_workspace_backend(workspace, sink):
    from django.test import override_settings

    from campaigns import services
    from contacts.tests.factories import (
        ContactFactory,
        ContactListFactory,
        ListMembershipFactory,
    )

    domain = dkim_key_generate(
        SendingDomain.objects.create(
            workspace=workspace, domain="news.example.test", is_verified=True
        ),
        selector="2026",
    )
    _smtp_backend(workspace, sink, name="for news", sending_domain=domain)
    newsletter = ContactListFactory(workspace=workspace)
    for name in ("ann", "bob"):
        ListMembershipFactory(
            contact=ContactFactory(workspace=workspace, email=f"{name}@example.com"),
            contact_list=newsletter,
        )
    campaign = services.campaign_create(
        workspace=workspace,
        name="Signed",
        subject="Hi {{ contact.first_name }}",
        html="<p>Hello</p><p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>",
        from_email="hello@news.example.test",
        audience={"lists": [str(newsletter.id)]},
    )
    with override_settings(PUBLIC_BASE_URL="http://testserver"):
        services.campaign_send(campaign=campaign)  # the server's capture backend is not used

    assert sorted(r.recipients[0] for r in sink.received) == ["ann@example.com", "bob@example.com"]
    for received in sink.received:
        assert dkim.verify(received.data, dnsfunc=_dns(domain))
        signed = received.message["DKIM-Signature"].replace("\r\n", "").replace(" ", "")
        assert "list-unsubscribe:list-unsubscribe-post" in signed.lower()


@pytest.mark.django_db(transaction=True)
def test_transactional_mail_goes_through_the_workspace_backend_and_spends_its_budget(
    workspace, api, sink
):
    _smtp_backend(workspace, sink, name="relay", is_default=True, rate_per_minute=5)
    response = api.post(
        "/api/v1/emails",
        {"from": "app@example.com", "to": ["ann@example.com"], "subject": "Reset", "text": "Hi"},
        format="json",
    )
    assert response.status_code == 202
    assert [r.recipients for r in sink.received] == [["ann@example.com"]]
    senders = Senders(workspace)
    assert [senders.take_slot("app@example.com") for _ in range(5)] == [True] * 4 + [False]
