"""A real SMTP server (aiosmtpd) on a free loopback port for tests: it keeps what it receives
and can refuse chosen recipients with a 4xx or 5xx reply — per address or per domain, always
or for the next N tries (``SmtpSink.refuse``); it can hang up after N messages
(``SmtpSink.hang_up_after``) and be stopped and started again on the same port."""

from __future__ import annotations

import asyncio
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
class Refusal:
    """Refuse ``who`` (an address, or ``@domain`` for all its addresses) with ``reply``, for
    the next ``times`` tries (None: until removed)."""

    who: str
    reply: str
    times: int | None = None

    def matches(self, address: str) -> bool:
        who = self.who.lower()
        return address == who or (who.startswith("@") and address.endswith(who))


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)  # recipient -> "451 try later"
    fail_once: dict[str, str] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (recipient, reply) answered
    hang_up_in: int | None = None  # messages until the server closes the connection
    hang_ups: int = 0  # how many more times it does so after each hang_up_every messages
    hang_up_every: int = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        if key in self.fail_once:
            return self.fail_once.pop(key)
        if key in self.replies:
            return self.replies[key]
        for refusal in self.refusals:
            if refusal.matches(key) and refusal.times != 0:
                if refusal.times is not None:
                    refusal.times -= 1
                self.refused.append((key, refusal.reply))
                return refusal.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        if self.hang_up_in is not None:
            self.hang_up_in -= 1
            if self.hang_up_in <= 0:
                self.hang_up_in = self.hang_up_every if self.hang_ups > 0 else None
                self.hang_ups -= 1
                # After the 250 is written (the reply is pushed before the loop runs this).
                asyncio.get_running_loop().call_soon(server.transport.close)
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
        if self.controller is not None:
            self.controller.stop()

    def stop(self) -> None:
        """The server goes away: connections are refused until ``start``."""
        self.controller.stop()
        self.controller = None

    def start(self) -> None:
        """Back on the same port, keeping what it received."""
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def hang_up_after(self, messages: int, *, times: int = 1) -> None:
        """Close the connection right after accepting ``messages`` more messages (the 250 is
        sent), ``times`` times in all, every ``messages`` messages — as a server with a limit of
        messages per connection or an idle timeout does."""
        self.handler.hang_up_in, self.handler.hang_up_every = messages, messages
        self.handler.hang_ups = times - 1

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def refuse(self, who: str, reply: str, *, times: int | None = None) -> Refusal:
        """Answer ``reply`` (e.g. ``"454 4.7.0 Throttling failure"``) to the RCPT of ``who``
        (an address or ``@domain``), ``times`` times or until ``accept_all``."""
        refusal = Refusal(who, reply, times)
        self.handler.refusals.append(refusal)
        return refusal

    def accept_all(self) -> None:
        self.handler.refusals.clear()

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
