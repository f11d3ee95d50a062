"""The submission relay end to end: smtplib clients over STARTTLS, the relay on aiosmtpd, the
transactional pipeline, and a real aiosmtpd sink where the mail arrives signed and tracked."""

from __future__ import annotations

import json
import re
import smtplib
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import dkim
import pytest
from django.test import override_settings
from django.utils import timezone

from campaigns.models import Message, MessageEvent, MessageKind
from deliverability.models import SendingDomain, Suppression
from deliverability.services import suppression_add
from mailcrm.models import Event
from mailcrm.tests.factories import WorkspaceFactory
from smtprelay import services
from smtprelay.models import SmtpCredential
from smtprelay.server import relay_controller
from smtprelay.tests.conftest import Login, client_context, connect, dns_for
from smtprelay.tests.test_bounces import deliver, report
from tests.smtp import free_port

pytestmark = pytest.mark.django_db(transaction=True)

HTML = '<html><body><p>Hi {{ not a template }}, read <a href="https://example.org/a">this</a>.</p></body></html>'


def make_message(
    *, sender="billing@acme.example", to="ann@example.com", subject="Your invoice", **headers
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Acme Billing <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hi {% raw %} Ann, see https://example.org/a")
    message.add_alternative(HTML, subtype="html")
    return message


def queued_id(reply: bytes) -> uuid.UUID:
    return uuid.UUID(re.search(rb"queued as ([0-9a-f-]{36})", reply).group(1).decode())


def send(client: smtplib.SMTP, message: EmailMessage, sender="billing@acme.example", to=None):
    """sendmail, returning the reply to DATA (smtplib keeps only the last reply)."""
    client.sendmail(sender, to or [message["To"]], message.as_bytes())
    return client._last_data_reply  # kept by remember_data_reply


@pytest.fixture(autouse=True)
def remember_data_reply(monkeypatch):
    """smtplib's sendmail swallows the 250 reply to DATA: keep it for the tests."""
    original = smtplib.SMTP.data

    def data(self, msg):
        code, reply = original(self, msg)
        self._last_data_reply = reply
        return code, reply

    monkeypatch.setattr(smtplib.SMTP, "data", data)


def test_a_submitted_message_arrives_signed_tracked_and_recorded(
    workspace, domain, login, relay, sink
):
    client = connect(relay, login)
    message = make_message(
        X_Mailcrm_Tag="invoice",
        X_Mailcrm_Metadata=json.dumps({"order": 42}),
        X_Order_Ref="A-1",
    )
    reply = send(client, message)
    client.quit()

    stored = Message.objects.get(pk=queued_id(reply))
    assert stored.workspace_id == workspace.pk
    assert stored.kind == MessageKind.TRANSACTIONAL
    assert (stored.status, stored.tag, stored.metadata) == ("sent", "invoice", {"order": 42})
    (received,) = sink.received
    assert received.recipients == ["ann@example.com"]
    assert dkim.verify(received.data, dnsfunc=dns_for(domain))
    html = received.part("text/html")
    assert "{{ not a template }}" in html  # sent as submitted, not rendered
    assert "http://testserver/t/c/" in html and "/t/o/" in html  # clicks and opens tracked
    assert "{% raw %}" in received.part("text/plain")
    assert received.message["X-Order-Ref"] == "A-1"
    assert received.message["X-Mailcrm-Tag"] is None
    assert received.message["Message-ID"] == stored.message_id
    # VERP: bounces of it come back to the bounce mailbox naming it.
    assert received.sender.startswith("bounce+") and received.sender.endswith(
        "@bounces.mailcrm.test"
    )
    assert MessageEvent.objects.filter(message=stored, type="sent").exists()
    assert Event.objects.filter(workspace=workspace, type="email.sent").exists()
    credential = SmtpCredential.objects.get(workspace=workspace)
    assert credential.last_used_at is not None


def test_tracking_can_be_switched_off_by_header(workspace, domain, login, relay, sink):
    client = connect(relay, login)
    send(client, make_message(X_Mailcrm_Track_Opens="0", X_Mailcrm_Track_Clicks="0"))
    client.quit()
    html = sink.received[0].part("text/html")
    assert "/t/" not in html and 'href="https://example.org/a"' in html


def test_envelope_recipients_decide_who_receives(workspace, domain, login, relay, sink):
    client = connect(relay, login)
    message = make_message(to="ann@example.com", Cc="bob@example.com")
    send(client, message, to=["ann@example.com", "bob@example.com", "hidden@example.com"])
    client.quit()
    (received,) = sink.received
    assert sorted(received.recipients) == [
        "ann@example.com",
        "bob@example.com",
        "hidden@example.com",
    ]
    assert "hidden" not in received.data.decode()


def test_a_suppressed_recipient_is_not_mailed(workspace, domain, login, relay, sink):
    suppression_add(workspace=workspace, email="ann@example.com", type="hard_bounce")
    client = connect(relay, login)
    reply = send(client, make_message())
    client.quit()
    assert Message.objects.get(pk=queued_id(reply)).status == "suppressed"
    assert sink.received == []


def test_a_wrong_password_is_535(workspace, domain, login, relay, sink):
    client = connect(relay)
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login(login.username, login.password + "x")
    assert refused.value.smtp_code == 535
    with pytest.raises(smtplib.SMTPAuthenticationError) as unknown:
        client.login("mc_nobody", login.password)
    assert unknown.value.smtp_code == 535
    client.close()


def test_auth_login_works_too(workspace, domain, login, relay, sink):
    client = connect(relay)
    client.ehlo()
    client.user, client.password = login.username, login.password
    code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
    assert code == 235
    send(client, make_message())
    client.quit()
    assert len(sink.received) == 1


def test_a_rotated_password_stops_working(workspace, domain, login, relay, sink):
    services.smtp_credential_rotate(workspace=workspace)
    client = connect(relay)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        client.login(login.username, login.password)
    client.close()


def test_no_auth_and_no_mail_without_tls(workspace, domain, login, relay, sink):
    client = smtplib.SMTP("127.0.0.1", relay.port, timeout=30)
    client.ehlo()
    assert not client.has_extn("auth")
    code, _ = client.docmd("AUTH", "PLAIN AGFubgBwYXNz")
    assert code in (530, 538)
    code, _ = client.docmd("MAIL", "FROM:<billing@acme.example>")
    assert code == 530
    client.close()


def test_mail_without_auth_is_refused(workspace, domain, relay, sink):
    client = connect(relay)
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        client.sendmail("billing@acme.example", ["ann@example.com"], b"Subject: x\r\n\r\nx")
    assert refused.value.smtp_code == 530
    client.close()


def test_an_unverified_or_foreign_sender_is_550(workspace, domain, login, relay, sink):
    SendingDomain.objects.create(workspace=workspace, domain="pending.example")
    client = connect(relay, login)
    for sender in ("a@pending.example", "a@nowhere.example"):
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(sender, ["ann@example.com"], b"Subject: x\r\n\r\nx")
        assert refused.value.smtp_code == 550
        assert b"domain" in refused.value.smtp_error
        client.rset()
    # The header From is checked as well as the envelope.
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(client, make_message(sender="a@pending.example"))
    assert refused.value.smtp_code == 550
    client.quit()
    assert sink.received == [] and not Message.objects.exists()


def test_another_workspaces_login_cannot_send_from_this_domain(workspace, domain, relay, sink):
    other = WorkspaceFactory(name="Other")
    SendingDomain.objects.create(
        workspace=other, domain="other.example", is_verified=True, verified_at=timezone.now()
    )
    credential, password = services.smtp_credential_rotate(workspace=other)
    client = connect(relay, Login(credential.username, password))
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        client.sendmail("billing@acme.example", ["ann@example.com"], b"Subject: x\r\n\r\nx")
    assert refused.value.smtp_code == 550
    client.rset()
    # Nor by putting this workspace's domain in the From header only.
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(client, make_message(), sender="news@other.example")
    assert refused.value.smtp_code == 550
    client.quit()
    assert sink.received == [] and not Message.objects.exists()


def test_an_oversized_message_is_552(workspace, domain, login, relay, sink):
    client = connect(relay, login)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "billing@acme.example", "a@b.c", "Big"
    message.set_content("x" * 250_000)  # the relay fixture allows 200 kB
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
        send(client, message)
    assert refused.value.smtp_code == 552
    client.close()
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "data, why",
    [
        (b"Subject: no sender\r\nTo: ann@example.com\r\n\r\nhello", b"From"),
        (
            b"From: billing@acme.example\r\nTo: ann@example.com\r\nX-Mailcrm-Metadata: [1\r\n"
            b"\r\nhello",
            b"X-Mailcrm-Metadata",
        ),
    ],
)
def test_a_malformed_message_is_554(workspace, domain, login, relay, sink, data, why):
    client = connect(relay, login)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("billing@acme.example", ["ann@example.com"], data)
    assert refused.value.smtp_code == 554
    assert why in refused.value.smtp_error
    client.quit()
    assert not Message.objects.exists()


def test_an_attachment_is_refused_rather_than_dropped(workspace, domain, login, relay, sink):
    message = make_message()
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    client = connect(relay, login)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(client, message)
    assert refused.value.smtp_code == 554 and b"attachment" in refused.value.smtp_error
    client.quit()


def test_the_rate_limit_per_login_is_451(workspace, domain, login, relay, sink):
    with override_settings(SMTP_RELAY_RATE_PER_MINUTE=2):
        client = connect(relay, login)
        send(client, make_message())
        send(client, make_message())
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            send(client, make_message())
        client.quit()
    assert refused.value.smtp_code == 451
    assert len(sink.received) == 2


def test_many_parallel_connections(workspace, domain, login, relay, sink):
    def one(number: int) -> uuid.UUID:
        client = connect(relay, login)
        ids = [
            queued_id(send(client, make_message(to=f"p{number}-{i}@example.com"))) for i in range(3)
        ]
        client.quit()
        return ids

    with ThreadPoolExecutor(max_workers=12) as pool:
        ids = [i for batch in pool.map(one, range(12)) for i in batch]
    assert len(set(ids)) == 36
    assert Message.objects.filter(pk__in=ids, status="sent").count() == 36
    assert len(sink.received) == 36


def test_implicit_tls(workspace, domain, login, tls_files, sink):
    cert, key = tls_files
    controller = relay_controller(
        host="127.0.0.1", port=free_port(), tls_cert=cert, tls_key=key, implicit_tls=True
    )
    controller.start()
    try:
        with smtplib.SMTP_SSL(
            "127.0.0.1", controller.port, context=client_context(), timeout=30
        ) as client:
            client.login(login.username, login.password)
            send(client, make_message())
    finally:
        controller.stop()
    assert len(sink.received) == 1


def test_a_bounce_of_a_relayed_message_comes_back_and_suppresses(
    workspace, domain, login, relay, sink, bounce_listener
):
    client = connect(relay, login)
    stored = Message.objects.get(pk=queued_id(send(client, make_message())))
    client.quit()
    stored.refresh_from_db()
    return_path = sink.received[0].sender
    data, address = report("postfix_hard.eml", stored)
    assert address == return_path
    deliver(bounce_listener, data, return_path)
    assert Suppression.objects.filter(workspace=workspace, email="ann@example.com").exists()
