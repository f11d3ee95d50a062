"""Mail leaves with its sending domain's own return path (``bounce+…@bounce.<domain>``) once
that CNAME is verified, so SPF aligns with the From domain; otherwise at BOUNCE_DOMAIN. Sent
through the API into a real SMTP sink; the bounce mailbox accepts both."""

from __future__ import annotations

import pytest
from django.utils import timezone

from deliverability.models import SendingDomain
from smtprelay.server import accepts_bounce
from smtprelay.verp import message_id_from
from tests.smtp import SmtpSink

pytestmark = pytest.mark.django_db

BOUNCE_DOMAIN = "bounces.mailcrm.test"


@pytest.fixture
def sink():
    with SmtpSink() as server, server.as_email_backend(BOUNCE_DOMAIN=BOUNCE_DOMAIN):
        yield server


def _domain(workspace, name: str, *, return_path: str) -> SendingDomain:
    return SendingDomain.objects.create(
        workspace=workspace,
        domain=name,
        is_verified=True,
        verified_at=timezone.now(),
        dns_checks={"return_path": {"status": return_path}},
    )


@pytest.fixture
def send(api, django_capture_on_commit_callbacks):
    def send(sender: str) -> str:
        return _send(api, sender, django_capture_on_commit_callbacks)

    return send


def _send(api, sender: str, on_commit) -> str:
    body = {"from": sender, "to": ["jane@example.com"], "subject": "Hi", "text": "Hello"}
    with on_commit(execute=True):  # the worker's task, run as the commit would start it
        response = api.post("/api/v1/emails", body, format="json")
    assert response.status_code == 202
    return response.json()["id"]


def test_a_verified_return_path_cname_is_the_envelope(send, workspace, sink):
    _domain(workspace, "acme.example", return_path="valid")
    message_id = send("news@acme.example")
    [received] = sink.received
    assert received.sender.endswith("@bounce.acme.example")
    assert received.sender.startswith("bounce+")
    assert str(message_id_from(received.sender)) == message_id
    assert accepts_bounce(received.sender)


def test_without_a_verified_cname_the_envelope_is_at_bounce_domain(send, workspace, sink):
    _domain(workspace, "acme.example", return_path="invalid")
    send("news@acme.example")
    [received] = sink.received
    assert received.sender.endswith(f"@{BOUNCE_DOMAIN}")
    assert accepts_bounce(received.sender)


def test_another_workspaces_domain_gives_no_return_path(send, sink, outsider):
    _domain(outsider.workspace, "acme.example", return_path="valid")
    send("news@acme.example")
    [received] = sink.received
    assert received.sender.endswith(f"@{BOUNCE_DOMAIN}")
