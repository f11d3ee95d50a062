"""The wire form of an ordinary email, written straight from Django's ``EmailMessage``.

Django's ``message()`` builds a tree of ``email.message`` objects (policies, parameter
parsing, header registries) that ``transport.mime_bytes`` then walks again: together about
half of the CPU a campaign message costs once rendered. Our emails are nearly always the same
shape — a text body and an HTML alternative, UTF-8, no attachments — and for that shape this
module writes the same bytes ``mime_bytes(email.message())`` writes (same headers in the same
order, same values, same transfer encodings; only the random boundary differs, as it does
between two calls of ``message()``). Header values still go through Django's own
``forbid_multi_line_headers``, so injection checks, RFC 2047 encoding and address
sanitising are Django's. Anything else (attachments, another charset, a non-text
alternative, a line too long for 7bit/8bit, a subclass) returns None and takes Django's path;
``campaigns/tests/test_mime.py`` compares both paths byte for byte.
"""

from __future__ import annotations

import functools
import random
import re
from email.utils import formatdate

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.message import forbid_multi_line_headers

_NEWLINES = re.compile(r"\r\n|\r|\n")
_BYTES_NEWLINES = re.compile(rb"\r\n|\r|\n")
_MAX_LINE = 998  # RFC 5322, without the CRLF
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
_ADDRESS_LISTS = ("To", "Cc", "Reply-To")
_HANDLED = frozenset({"from", "to", "cc", "reply-to"})
_PLAIN_TYPES = (EmailMessage, EmailMultiAlternatives)


def fast_mime_bytes(email: EmailMessage) -> bytes | None:
    """The email's wire form (CRLF lines), or None when it is not the ordinary shape."""
    if type(email) not in _PLAIN_TYPES or email.attachments:
        return None
    if (email.encoding or settings.DEFAULT_CHARSET).lower() != "utf-8":
        return None
    alternatives = getattr(email, "alternatives", ())
    parts: list[bytes] = []
    if email.body or not alternatives:
        parts.append(_text_part(email.body, email.content_subtype))
    for content, mimetype in alternatives:
        maintype, _, subtype = str(mimetype).partition("/")
        if maintype != "text" or not _TOKEN.fullmatch(subtype) or not isinstance(content, str):
            return None
        parts.append(_text_part(content, subtype))
    if any(part is None for part in parts):
        return None
    headers = _message_headers(email)
    if headers is None:
        return None
    if not alternatives:
        head, body = parts[0]
        return head + headers + b"\r\n" + body
    boundary = _boundary(parts)
    return b"".join(
        (
            b'Content-Type: multipart/alternative;\r\n boundary="%s"\r\n' % boundary,
            b"MIME-Version: 1.0\r\n",
            headers,
            b"\r\n--%s\r\n" % boundary,
            (b"\r\n--%s\r\n" % boundary).join(head + b"\r\n" + body for head, body in parts),
            b"\r\n--%s--\r\n" % boundary,
        )
    )


def _text_part(text: str, subtype: str) -> tuple[bytes, bytes] | None:
    """Headers and body of a ``SafeMIMEText(text, subtype, "utf-8")``: 7bit or 8bit as its
    bytes are ASCII or not; a line over 998 bytes (Django would choose quoted-printable) is
    not the ordinary shape."""
    try:
        body = _BYTES_NEWLINES.sub(b"\r\n", text.encode("utf-8"))
    except UnicodeEncodeError:
        return None  # lone surrogates: Django's path says what becomes of them
    if len(body) > _MAX_LINE and any(len(line) > _MAX_LINE for line in body.split(b"\r\n")):
        return None
    encoding = b"7bit" if body.isascii() else b"8bit"
    head = (
        b'Content-Type: text/%s; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
        b"Content-Transfer-Encoding: %s\r\n" % (subtype.encode("ascii"), encoding)
    )
    return head, body


def _message_headers(email: EmailMessage) -> bytes | None:
    """The headers ``EmailMessage.message()`` sets, in its order, through Django's checks."""
    extra = email.extra_headers
    pairs = [("Subject", email.subject), ("From", extra.get("From", email.from_email))]
    for name, values in zip(_ADDRESS_LISTS, (email.to, email.cc, email.reply_to), strict=True):
        if values:
            pairs.append((name, extra[name] if name in extra else ", ".join(map(str, values))))
    names = {key.lower() for key in extra}
    if "date" not in names:
        pairs.append(("Date", formatdate(localtime=settings.EMAIL_USE_LOCALTIME)))
    if "message-id" not in names:
        return None  # Django makes one with its own DNS name: left to it
    pairs += [(name, value) for name, value in extra.items() if name.lower() not in _HANDLED]
    lines = []
    for name, value in pairs:
        if name in _REPEATED and type(value) is str:
            line = _repeated_header_line(name, value)
        else:
            line = _header_line(name, value)
        if line is None:
            return None
        lines.append(line)
    try:
        return "".join(lines).encode("ascii")
    except UnicodeEncodeError:
        return None


def _header_line(name: str, value: object) -> str | None:
    """``name: value`` as Django's checks and encoding leave it; None when a line is too long."""
    name, value = forbid_multi_line_headers(name, value, "utf-8")
    line = f"{name}: {_NEWLINES.sub(chr(13) + chr(10), str(value))}\r\n"
    if len(line) > _MAX_LINE and any(len(p) > _MAX_LINE for p in line.split("\r\n")):
        return None
    return line


# The headers a campaign's messages share or often repeat. A subject goes through
# email.header's folding even when ASCII (≈ 14 µs), a non-ASCII name through Django's address
# parsing: a pure function of the value, kept (a refused value raises again each time).
_REPEATED = frozenset({"Subject", "From", "Reply-To"})
_repeated_header_line = functools.lru_cache(maxsize=1024)(_header_line)


def _boundary(parts: list[tuple[bytes, bytes]]) -> bytes:
    # As the email package makes them; unguessable is not needed, only absent from the parts.
    while True:
        boundary = b"===============%019d==" % random.randrange(10**19)  # noqa: S311
        if not any(boundary in head or boundary in body for head, body in parts):
            return boundary
