"""Real parts for the relay and bounce mailbox tests: a self-signed certificate made here, the
relay and the bounce listener on free loopback ports, and an aiosmtpd sink standing in for
the outside world (the server-wide SMTP backend delivers there)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

import pytest
from django.test import override_settings
from django.utils import timezone

from deliverability.dkim import dkim_key_generate, dkim_txt_record
from deliverability.models import SendingDomain
from smtprelay import services
from smtprelay.server import bounce_controller, relay_controller
from tests.smtp import SmtpSink, free_port
from tests.tls import write_self_signed

BOUNCE_DOMAIN = "bounces.mailcrm.test"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A self-signed certificate for the relay and its key, as PEM files."""
    return write_self_signed(tmp_path_factory.mktemp("tls"), "relay.mailcrm.test", days=30)


@pytest.fixture
def sink():
    """The outside world: the server-wide SMTP backend delivers here."""
    with (
        SmtpSink() as server,
        server.as_email_backend(BOUNCE_DOMAIN=BOUNCE_DOMAIN, SMTP_RELAY_RATE_PER_MINUTE=0),
    ):
        yield server


@pytest.fixture
def domain(workspace) -> SendingDomain:
    domain = SendingDomain.objects.create(
        workspace=workspace, domain="acme.example", is_verified=True, verified_at=timezone.now()
    )
    return dkim_key_generate(domain, selector="s1")


def dns_for(domain: SendingDomain):
    """dkimpy's DNS lookup answering the domain's published DKIM record."""
    host, value = dkim_txt_record(domain)

    def lookup(name, timeout=5):
        return value.encode() if name.decode().rstrip(".") == host else None

    return lookup


@dataclass
class Login:
    username: str
    password: str


@pytest.fixture
def login(workspace) -> Login:
    credential, password = services.smtp_credential_rotate(workspace=workspace)
    return Login(credential.username, password)


@pytest.fixture
def relay(tls_files):
    cert, key = tls_files
    controller = relay_controller(
        host="127.0.0.1",
        port=free_port(),
        tls_cert=cert,
        tls_key=key,
        implicit_tls=False,
        allow_plaintext_auth=False,
        max_bytes=200_000,
    )
    controller.start()
    yield controller
    controller.stop()


def client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    return context


def connect(relay, login: Login | None = None) -> smtplib.SMTP:
    """An smtplib client over STARTTLS, signed in when ``login`` is given."""
    client = smtplib.SMTP("127.0.0.1", relay.port, timeout=30)
    client.starttls(context=client_context())
    if login is not None:
        client.login(login.username, login.password)
    return client


@pytest.fixture
def bounce_listener():
    controller = bounce_controller(host="127.0.0.1", port=free_port())
    with override_settings(BOUNCE_DOMAIN=BOUNCE_DOMAIN):
        controller.start()
        yield controller
        controller.stop()
