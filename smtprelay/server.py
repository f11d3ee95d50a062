"""The two SMTP servers, on aiosmtpd: the submission relay (AUTH, then mail from a verified
domain of the login's workspace) and the bounce mailbox (the MX of BOUNCE_DOMAIN: DSNs and
complaint reports). They speak SMTP and nothing else; smtprelay.services decides.

aiosmtpd runs one asyncio loop for every connection: each database call goes to a worker
thread (``_db``), so a slow query holds up one session, never the loop."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connection

from smtprelay import services, verp
from smtprelay.models import SmtpCredential

logger = logging.getLogger("mailcrm.smtprelay")

AUTH_FAILED = "535 5.7.8 Authentication failed: username or password not accepted"
TEMPORARY_ERROR = "451 4.3.0 Temporary server error; try again later"


# SQLite has one writer at a time (and the test database, in shared-cache memory, fails on
# contention instead of waiting): there, sessions take turns at the database.
_SQLITE_TURNS = threading.Lock()


def _in_thread(function: Callable, args: tuple, kwargs: dict) -> Any:
    # Threads of the pool outlive a call: drop a connection that is too old or broken first,
    # as Django does around each request.
    close_old_connections()
    try:
        if connection.vendor == "sqlite":
            with _SQLITE_TURNS:
                return function(*args, **kwargs)
        return function(*args, **kwargs)
    finally:
        close_old_connections()


async def _db(function: Callable, /, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(_in_thread, function, args, kwargs)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


# --- the submission relay ----------------------------------------------------------------------


def _unchecked(server, session, envelope, mechanism, auth_data) -> AuthResult:
    # aiosmtpd calls its authenticator synchronously, inside the loop: RelaySMTP checks the
    # password (a database read) in a thread afterwards instead. The LoginPassword passed on
    # here is not a credential, so a session that somehow kept it still cannot send.
    return AuthResult(success=True, auth_data=auth_data)


class RelaySMTP(SMTP):
    """aiosmtpd's SMTP with the password checked against our credentials off the loop."""

    async def auth_PLAIN(self, _, args):  # noqa: N802 (aiosmtpd's naming)
        return await self._verified(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _, args):  # noqa: N802
        return await self._verified(await super().auth_LOGIN(_, args))

    async def _verified(self, result: AuthResult) -> AuthResult:
        if not result.success or not isinstance(result.auth_data, LoginPassword):
            return result
        login = result.auth_data
        credential = await _db(
            services.smtp_authenticate,
            login.login.decode("utf-8", "replace"),
            login.password.decode("utf-8", "replace"),
        )
        if credential is None:
            return AuthResult(success=False, handled=False, message=AUTH_FAILED)
        return AuthResult(success=True, auth_data=credential)


class RelayHandler:
    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        credential = session.auth_data
        if not isinstance(credential, SmtpCredential):
            return "530 5.7.0 Authentication required"
        try:
            await _db(services.relay_check_sender, credential=credential, address=address)
            await _db(services.relay_take_slot, credential=credential)
        except services.SmtpRefusal as refusal:
            return refusal.reply
        except Exception:
            logger.exception("relay: MAIL FROM %s failed", address)
            return TEMPORARY_ERROR
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if len(envelope.rcpt_tos) >= services.MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients: at most {services.MAX_RECIPIENTS} a message"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        try:
            message = await _db(
                services.relay_submit,
                credential=session.auth_data,
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=envelope.content,
            )
        except services.SmtpRefusal as refusal:
            return refusal.reply
        except Exception:
            logger.exception("relay: a message from %s could not be queued", envelope.mail_from)
            return TEMPORARY_ERROR
        return f"250 2.0.0 OK queued as {message.pk}"

    async def handle_exception(self, error: Exception) -> str:
        logger.exception("relay: session error", exc_info=error)
        return "421 4.3.0 Server error; closing the connection"


class RelayController(Controller):
    def factory(self) -> SMTP:
        return RelaySMTP(self.handler, **self.SMTP_kwargs)


def relay_controller(
    *,
    host: str | None = None,
    port: int | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    implicit_tls: bool | None = None,
    allow_plaintext_auth: bool | None = None,
    max_bytes: int | None = None,
) -> Controller:
    """The relay as an aiosmtpd controller (start() runs it in a thread); every argument
    defaults to its SMTP_RELAY_* setting."""
    cert = settings.SMTP_RELAY_TLS_CERT if tls_cert is None else tls_cert
    key = settings.SMTP_RELAY_TLS_KEY if tls_key is None else tls_key
    implicit = settings.SMTP_RELAY_IMPLICIT_TLS if implicit_tls is None else implicit_tls
    plaintext = (
        settings.SMTP_RELAY_ALLOW_PLAINTEXT_AUTH
        if allow_plaintext_auth is None
        else allow_plaintext_auth
    )
    context = tls_context(cert, key or cert) if cert else None
    if implicit and context is None:
        raise ImproperlyConfigured("SMTP_RELAY_IMPLICIT_TLS needs SMTP_RELAY_TLS_CERT and _KEY")
    if context is None and not plaintext:
        raise ImproperlyConfigured(
            "The SMTP relay needs SMTP_RELAY_TLS_CERT and SMTP_RELAY_TLS_KEY (AUTH is only "
            "offered over TLS), or SMTP_RELAY_ALLOW_PLAINTEXT_AUTH=1 for development"
        )
    options: dict[str, Any] = {
        "hostname": settings.SMTP_RELAY_HOST if host is None else host,
        "port": settings.SMTP_RELAY_PORT if port is None else port,
        "data_size_limit": settings.SMTP_RELAY_MAX_BYTES if max_bytes is None else max_bytes,
        "auth_required": True,
        "authenticator": _unchecked,
        "ident": "mailcrm SMTP relay",
    }
    if implicit:
        # Every connection is TLS from its first byte: aiosmtpd's own check cannot see that.
        options.update(ssl_context=context, auth_require_tls=False)
    else:
        options.update(
            tls_context=context,
            require_starttls=context is not None and not plaintext,
            auth_require_tls=not plaintext,
        )
    return RelayController(RelayHandler(), **options)


# --- the bounce mailbox ------------------------------------------------------------------------


def accepts_bounce(address: str) -> bool:
    """VERP addresses (at any domain: the token is what counts, so a sending domain's
    return-path CNAME works too) and every address at BOUNCE_DOMAIN (postmaster, abuse,
    a feedback-loop address)."""
    domain = address.rpartition("@")[2].rstrip(".").lower()
    bounce_domain = settings.BOUNCE_DOMAIN.rstrip(".").lower()
    return verp.is_bounce_address(address) or bool(bounce_domain and domain == bounce_domain)


class BounceHandler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if not accepts_bounce(address):
            return "550 5.1.1 No such mailbox here: this server only takes bounces"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        try:
            mail = await _db(
                services.bounce_mail_receive,
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=envelope.content,
            )
        except Exception:
            # Not stored: the sending server keeps it and tries again.
            logger.exception("bounce mailbox: a message could not be stored")
            return TEMPORARY_ERROR
        return f"250 2.0.0 OK {mail.pk}"

    async def handle_exception(self, error: Exception) -> str:
        logger.exception("bounce mailbox: session error", exc_info=error)
        return "421 4.3.0 Server error; closing the connection"


def bounce_controller(
    *, host: str | None = None, port: int | None = None, max_bytes: int | None = None
) -> Controller:
    """The bounce mailbox as an aiosmtpd controller; STARTTLS is offered (not required) when
    the relay's certificate is configured."""
    cert, key = settings.SMTP_RELAY_TLS_CERT, settings.SMTP_RELAY_TLS_KEY
    return Controller(
        BounceHandler(),
        hostname=settings.BOUNCE_LISTENER_HOST if host is None else host,
        port=settings.BOUNCE_LISTENER_PORT if port is None else port,
        data_size_limit=settings.SMTP_RELAY_MAX_BYTES if max_bytes is None else max_bytes,
        tls_context=tls_context(cert, key or cert) if cert else None,
        ident="mailcrm bounce mailbox",
    )
