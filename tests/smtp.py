"""A real SMTP server (aiosmtpd) on a free loopback port for tests: it keeps what it receives
and can refuse chosen recipients with a 4xx or 5xx reply."""

from __future__ import annotations

import email
import socket
from dataclasses import dataclass, field
from email.message import Message as MimeMessage

from aiosmtpd.controller import Controller
from django.test import override_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> MimeMessage:
        return email.message_from_bytes(self.data)

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return part.get_payload(decode=True).decode()
        return ""


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)  # recipient -> "451 try later"
    fail_once: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        if key in self.fail_once:
            return self.fail_once.pop(key)
        if key in self.replies:
            return self.replies[key]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address.lower() in [a.lower() for a in r.recipients]]


class SmtpSink:
    def __init__(self):
        self.handler = SinkHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def as_email_backend(self, *, public_base_url: str = "http://testserver", **more):
        """Settings that send Django's mail to this sink over SMTP (a context manager)."""
        return override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=self.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            PUBLIC_BASE_URL=public_base_url,
            **more,
        )
