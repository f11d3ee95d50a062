"""How a built message leaves: over one reused SMTP connection per batch (with each recipient's
own reply code), or through any Django email backend (django-anymail's ESPs, the development
capture backend). Failures are classified once here: temporary (retry later), permanent
(bounce), or a lost connection."""

from __future__ import annotations

import functools
import random
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message as EmailMessage
from email.utils import make_msgid, parseaddr

import dkim
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from campaigns.mime import fast_mime_bytes

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class DeliveryError(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message


class TemporaryFailure(DeliveryError):
    """4xx: try again later (greylisting, throttling such as ``454 Throttling failure``)."""


class PermanentFailure(DeliveryError):
    """5xx: the address or the message is refused for good."""


class ConnectionLost(DeliveryError):
    """The connection broke; whether the message went out is unknown."""


class ServerUnavailable(TemporaryFailure):
    """The server cannot be reached or will not take mail from us (refused connection or
    login, a sender refused, a hang-up again before DATA): nothing left, and nothing is known
    of the recipient, so the message may simply be sent later. A 5xx ``code`` will not go away
    by itself: the campaign pauses with it."""


def _classify(code: int, text: str) -> DeliveryError:
    if 400 <= code < 500:
        return TemporaryFailure(text, code)
    return PermanentFailure(text, code)


def _text(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


class DkimSigner:
    """Signs outgoing bytes for one domain. The unsubscribe headers are signed, as RFC 8058
    requires of one-click unsubscribe; headers that are absent are signed too, so nobody can
    add them on the way."""

    SIGNED_HEADERS = (
        b"from",
        b"to",
        b"cc",
        b"reply-to",
        b"subject",
        b"date",
        b"message-id",
        b"mime-version",
        b"content-type",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
    )

    def __init__(self, *, domain: str, selector: str, private_key: bytes):
        self.domain = domain.encode()
        self.selector = selector.encode()
        self.private_key = private_key

    def sign(self, data: bytes) -> bytes:
        signature = dkim.sign(
            data,
            self.selector,
            self.domain,
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(self.SIGNED_HEADERS),
        )
        return signature + data


SignerLookup = Callable[[str], "DkimSigner | None"]

# dkimpy computes RSA signatures with Python's pow(): about 6 ms per message for a 2048-bit key,
# five times everything else a campaign message costs. PKCS#1 v1.5 signatures are
# deterministic, so OpenSSL (through cryptography) computes the very same bytes, in a tenth of
# the time; dkimpy does everything else (canonicalisation, header hashing) as before.
_PKCS1_HASHES = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}
_python_rsa_sign = dkim.RSASSA_PKCS1_v1_5_sign


@functools.lru_cache(maxsize=64)
def _openssl_key(
    n: int, e: int, d: int, p: int, q: int, dmp1: int, dmq1: int, iqmp: int
) -> rsa.RSAPrivateKey:
    public = rsa.RSAPublicNumbers(e, n)
    return rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, public).private_key()


def _rsa_sign(digest, private_key: dict) -> bytes:
    """dkimpy's RSASSA-PKCS1-v1_5 signing (same arguments, same result), by OpenSSL."""
    algorithm = _PKCS1_HASHES.get(digest.name.lower())
    if algorithm is None:
        return _python_rsa_sign(digest, private_key)
    key = _openssl_key(
        *(
            private_key[name]
            for name in (
                "modulus",
                "publicExponent",
                "privateExponent",
                "prime1",
                "prime2",
                "exponent1",
                "exponent2",
                "coefficient",
            )
        )
    )
    return key.sign(digest.digest(), padding.PKCS1v15(), Prehashed(algorithm()))


dkim.RSASSA_PKCS1_v1_5_sign = _rsa_sign  # the name dkim.DKIM.gen_header calls

_parse_pem_private_key = dkim.parse_pem_private_key


@functools.lru_cache(maxsize=64)
def _cached_private_key(pem: bytes | str) -> dict:
    return _parse_pem_private_key(pem)


def _parsed_private_key(pem) -> dict:
    """dkimpy parses the PEM key (ASN.1, in Python) on every signature: a fifth of a campaign
    message's DKIM cost. The parsed numbers of a key never change; dkimpy only reads them."""
    if isinstance(pem, bytes | str):
        return _cached_private_key(pem)
    return _parse_pem_private_key(pem)


dkim.parse_pem_private_key = _parsed_private_key  # the name dkim.DKIM.sign calls


@dataclass
class Outgoing:
    """A message ready for the wire: ``prepare`` (CPU: MIME bytes, DKIM) then ``deliver``
    (network), so a batch can build the next messages while one is being delivered."""

    message: EmailMultiAlternatives
    data: bytes = b""


@functools.lru_cache(maxsize=1024)
def from_domain(address: str) -> str:
    # Cached: asked for every message of a batch, all from one From (parseaddr is pure Python).
    return parseaddr(address)[1].rpartition("@")[2].lower()


class SmtpTransport:
    """smtplib over one connection, reopened when it breaks; DKIM-signed when ``signer_for``
    knows a key for the sender's domain."""

    # ``deliver`` only talks to the socket: it may run in a thread of its own.
    background_delivery = True

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str = "",
        password: str = "",
        use_tls: bool = False,
        use_ssl: bool = False,
        timeout: float = 30,
        signer_for: SignerLookup | None = None,
    ):
        self.host, self.port = host, port
        self.signer_for = signer_for
        self.username, self.password = username, password
        self.use_tls, self.use_ssl, self.timeout = use_tls, use_ssl, timeout
        self.connection: smtplib.SMTP | None = None

    def open(self) -> None:
        if self.connection is not None:
            return
        try:
            if self.use_ssl:
                context = ssl.create_default_context()
                connection = _SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                connection = _SMTP(self.host, self.port, timeout=self.timeout)
                if self.use_tls:
                    connection.starttls(context=ssl.create_default_context())
            if self.username:
                connection.login(self.username, self.password)
        except smtplib.SMTPResponseException as exc:
            # A refused greeting, TLS or login says nothing of any recipient: never a bounce.
            raise ServerUnavailable(
                f"{self.host}:{self.port} refused us: {exc.smtp_code} {_text(exc.smtp_error)}",
                exc.smtp_code,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnavailable(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        self.connection = connection

    def close(self) -> None:
        if self.connection is None:
            return
        try:
            self.connection.quit()
        except (OSError, smtplib.SMTPException):
            self.connection.close()
        self.connection = None

    def send(self, message: EmailMultiAlternatives) -> str:
        """Send to every recipient; raise a DeliveryError when the server refuses."""
        return self.deliver(self.prepare(message))

    def prepare(self, message: EmailMultiAlternatives) -> Outgoing:
        """The CPU half of a send: the message's bytes, DKIM-signed when the sender's domain
        has a key. Touches no connection, so it may run while another message is delivered."""
        # The ordinary shape written directly (same bytes); anything else through Django.
        data = fast_mime_bytes(message) or mime_bytes(message.message())
        signer = self.signer_for(from_domain(message.from_email)) if self.signer_for else None
        if signer is not None:
            data = signer.sign(data)
        return Outgoing(message, data)

    def deliver(self, outgoing: Outgoing, *, again: bool = False) -> str:
        """The network half: hand prepared bytes to the server over the open connection.

        A connection that breaks before DATA (the server closed it after its limit of messages
        per connection, or when idle) took nothing: the message goes once more over a new
        connection. Only a break after DATA began leaves its fate unknown (ConnectionLost)."""
        self.open()
        message = outgoing.message
        self.connection.data_started = False
        try:
            refused = self.connection.sendmail(
                envelope_sender(message), message.recipients(), outgoing.data
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            if code == 421:
                self._drop()  # smtplib has closed the socket: the next message reconnects
            raise _classify(code, _text(reply)) from None
        except smtplib.SMTPSenderRefused as exc:
            if exc.smtp_code >= 500:
                # MAIL FROM refused for good (authentication required, relaying denied): the
                # sender's problem, the same for every recipient — none of them bounces.
                self._drop()
                raise ServerUnavailable(
                    f"sender refused: {exc.smtp_code} {_text(exc.smtp_error)}", exc.smtp_code
                ) from None
            raise _classify(exc.smtp_code, _text(exc.smtp_error)) from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code in (421,):
                self._drop()
            raise _classify(exc.smtp_code, _text(exc.smtp_error)) from None
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            started = self.connection is None or self.connection.data_started
            self._drop()
            if started:
                raise ConnectionLost(f"connection lost: {exc}") from None
            if again:
                raise ServerUnavailable(f"connection lost before DATA: {exc}") from None
            return self.deliver(outgoing, again=True)
        if refused:
            code, reply = next(iter(refused.values()))
            raise _classify(code, _text(reply))
        return message.extra_headers.get("Message-ID", "")

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None


# A plain address (dot-atoms of letters, digits and ``_+=-``): smtplib's ``quoteaddr`` runs the
# email package's address parser on it (≈ 10-16 µs for each of MAIL and RCPT, per message) only
# to return it unchanged between angle brackets. ``test_transport`` compares both.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_+=-]+(?:\.[A-Za-z0-9_+=-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)


def quote_address(address: str) -> str:
    """``smtplib.quoteaddr(address)``, without the parser for a plain address; any other
    (``Name <address>``: the From, as MAIL FROM without a bounce domain) parsed once."""
    if not isinstance(address, str):
        return smtplib.quoteaddr(address)
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return _quoted(address)


_quoted = functools.lru_cache(maxsize=256)(smtplib.quoteaddr)


class _DataTracking:
    """Notes when DATA begins: a connection lost before it cannot have sent the message.
    Quotes the envelope's addresses as smtplib does, without its parser for plain ones."""

    data_started = False

    def data(self, msg):
        self.data_started = True
        return super().data(msg)

    def mail(self, sender, options=()):
        if any(option.lower() == "smtputf8" for option in options):
            return super().mail(sender, options)  # smtplib switches the command encoding
        optionlist = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("mail", f"FROM:{quote_address(sender)}{optionlist}")
        return self.getreply()

    def rcpt(self, recip, options=()):
        optionlist = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("rcpt", f"TO:{quote_address(recip)}{optionlist}")
        return self.getreply()


class _SMTP(_DataTracking, smtplib.SMTP):
    pass


class _SMTP_SSL(_DataTracking, smtplib.SMTP_SSL):  # noqa: N801 (as smtplib names it)
    pass


def envelope_sender(message: EmailMultiAlternatives) -> str:
    """MAIL FROM: the message's VERP return path (``return_path``, set by the pipeline when
    BOUNCE_DOMAIN is configured) so bounces come back to our bounce mailbox, else From."""
    return getattr(message, "return_path", "") or message.from_email


class BackendTransport:
    """Any Django email backend, one connection per batch (django-anymail ESPs included)."""

    # A backend may write to the database (the development capture backend does): deliver in
    # the thread that owns the connection and transaction.
    background_delivery = False

    def __init__(self, backend: str, **options):
        self.backend = backend
        self.options = options
        self.connection: BaseEmailBackend | None = None

    def open(self) -> None:
        if self.connection is None:
            self.connection = get_connection(self.backend, fail_silently=False, **self.options)
            self.connection.open()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def prepare(self, message: EmailMultiAlternatives) -> Outgoing:
        return Outgoing(message)  # the backend builds its own request

    def send(self, message: EmailMultiAlternatives) -> str:
        return self.deliver(self.prepare(message))

    def deliver(self, outgoing: Outgoing) -> str:
        self.open()
        message = outgoing.message
        message.connection = self.connection
        try:
            self.connection.send_messages([message])
        except Exception as exc:  # ESP libraries raise their own types
            status = getattr(exc, "status_code", None)
            if status is None or status == 429 or status >= 500:
                raise TemporaryFailure(str(exc), status) from None
            raise PermanentFailure(str(exc), status) from None
        anymail = getattr(message, "anymail_status", None)
        provider_id = getattr(anymail, "message_id", None) if anymail else None
        return str(provider_id or message.extra_headers.get("Message-ID", ""))


Transport = SmtpTransport | BackendTransport


def default_transport(signer_for: SignerLookup | None = None) -> Transport:
    """The transport of the server-wide EMAIL_BACKEND."""
    if settings.EMAIL_BACKEND == SMTP_BACKEND:
        return SmtpTransport(
            signer_for=signer_for,
            host=settings.EMAIL_HOST,
            port=settings.EMAIL_PORT,
            username=settings.EMAIL_HOST_USER,
            password=settings.EMAIL_HOST_PASSWORD,
            use_tls=settings.EMAIL_USE_TLS,
            use_ssl=getattr(settings, "EMAIL_USE_SSL", False),
            timeout=getattr(settings, "EMAIL_TIMEOUT", None) or 30,
        )
    return BackendTransport(settings.EMAIL_BACKEND)


# --- serialising -------------------------------------------------------------------------------

_NEWLINES = re.compile(r"\r\n|\r|\n")
_MAX_LINE = 998  # RFC 5322, without the CRLF


class _Unusual(Exception):
    """A message the fast path does not write; the email package's generator does."""


def mime_bytes(message: EmailMessage) -> bytes:
    """The wire form (CRLF lines) of a MIME tree built by Django's ``message()``.

    Django has already chosen every transfer encoding and encoded every header (RFC 2047);
    what ``as_bytes`` adds is re-folding each header through ``email.header`` and re-walking
    each payload — about three quarters of a millisecond of CPU per message, more than
    rendering it. Here headers are written as Django left them (folded or not: a header line
    may be 998 characters) and payloads as already encoded. Anything unusual (a line too
    long, a preamble, an attached message, undecodable text) goes through ``as_bytes``."""
    try:
        out: list[str] = []
        _write(message, out)
        return "".join(out).encode("ascii", "surrogateescape")
    except (_Unusual, UnicodeEncodeError):
        return message.as_bytes(linesep="\r\n")


def _write(part: EmailMessage, out: list[str]) -> None:
    if part.preamble is not None or part.epilogue is not None:
        raise _Unusual
    if part.get_content_maintype() == "message":
        raise _Unusual
    if part.is_multipart():
        children: list[str] = []
        for child in part.get_payload():
            child_out: list[str] = []
            _write(child, child_out)
            children.append("".join(child_out))
        content_type = part.get("Content-Type", "")
        if "boundary" in content_type.lower():
            raise _Unusual  # one chosen beforehand: left to the generator
        boundary = _boundary(children)
        _write_headers(part, out, content_type=f'{content_type};\r\n boundary="{boundary}"')
        out.append(f"--{boundary}\r\n")
        out.append(f"\r\n--{boundary}\r\n".join(children))
        out.append(f"\r\n--{boundary}--\r\n")
        return
    _write_headers(part, out)
    payload = part._payload  # already transfer-encoded (8bit text kept as surrogates)
    if not isinstance(payload, str):
        raise _Unusual
    body = _NEWLINES.sub("\r\n", payload)
    if any(len(line) > _MAX_LINE for line in body.split("\r\n")):
        raise _Unusual
    out.append(body)


def _write_headers(part: EmailMessage, out: list[str], content_type: str = "") -> None:
    for name, value in part.items():
        if content_type and name.lower() == "content-type":
            value = content_type  # noqa: PLW2901 (the boundary added)
        line = f"{name}: {_NEWLINES.sub(chr(13) + chr(10), str(value))}"
        if any(len(piece) > _MAX_LINE for piece in line.split("\r\n")):
            raise _Unusual
        out.append(line + "\r\n")
    out.append("\r\n")


def _boundary(texts: list[str]) -> str:
    # As the email package makes them; unguessable is not needed, only absent from the parts.
    while True:
        boundary = f"==============={random.randrange(10**19):019d}=="  # noqa: S311
        if not any(boundary in text for text in texts):
            return boundary


def new_message_id(domain: str) -> str:
    return make_msgid(domain=domain or "mailcrm.local")
