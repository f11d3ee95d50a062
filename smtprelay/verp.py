"""VERP return paths: ``bounce+<token>@<BOUNCE_DOMAIN>``, where the token names one Message
and is signed (django.core.signing), so a bounce can only be pinned on the message it names.

The token is base32 and lower case — mail servers may change the case of a local part — and
short enough for the 64 characters a local part may have: 26 characters of message id, a dot,
16 of signature (80 bits of HMAC-SHA256)."""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid

from django.conf import settings
from django.core import signing

LOCAL_PREFIX = "bounce+"
_SALT = "mailcrm.smtprelay.verp"
_MAC_BYTES = 10


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=").lower()


def _mac(value: str) -> str:
    signature = signing.Signer(salt=_SALT, algorithm="sha256").signature(value)
    return _b32(signing.b64_decode(signature.encode())[:_MAC_BYTES])


def bounce_token(message_id: uuid.UUID) -> str:
    value = _b32(message_id.bytes)
    return f"{value}.{_mac(value)}"


def return_path(message_id: uuid.UUID, host: str = "") -> str:
    """The envelope sender for ``message_id``; "" when no BOUNCE_DOMAIN is configured. ``host``:
    the sending domain's return-path host (``bounce.<domain>``, a CNAME to BOUNCE_DOMAIN) when
    it is published, so the envelope aligns with the From domain for DMARC."""
    if not settings.BOUNCE_DOMAIN:
        return ""
    return f"{LOCAL_PREFIX}{bounce_token(message_id)}@{host or settings.BOUNCE_DOMAIN}"


def is_bounce_address(address: str) -> bool:
    return address.strip("<>").lower().startswith(LOCAL_PREFIX)


def message_id_from(address: str) -> uuid.UUID | None:
    """The message a VERP address names, or None when it is not one of ours (or forged). Any
    domain is accepted: the signature, not the domain, says the address is ours."""
    local = address.strip().strip("<>").rpartition("@")[0].lower()
    if not local.startswith(LOCAL_PREFIX):
        return None
    value, _, mac = local[len(LOCAL_PREFIX) :].partition(".")
    if not value or not hmac.compare_digest(mac, _mac(value)):
        return None
    try:
        raw = base64.b32decode(value.upper() + "=" * (-len(value) % 8))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError):
        return None
