"""DKIM keys of sending domains: generated here (RSA 2048), the private half encrypted at rest,
the public half ready for the ``selector._domainkey`` TXT record."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from deliverability.models import SendingDomain
from mailcrm import crypto

KEY_BITS = 2048


def default_selector() -> str:
    return timezone.now().strftime("mc%Y%m")


def dkim_key_generate(domain: SendingDomain, *, selector: str = "") -> SendingDomain:
    """Give ``domain`` a fresh key pair under ``selector`` (dated by default) and save it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    domain.dkim_selector = selector or default_selector()
    domain.dkim_private_key = crypto.encrypt(private_pem)
    domain.dkim_public_key = base64.b64encode(public_der).decode()
    domain.save(update_fields=["dkim_selector", "dkim_private_key", "dkim_public_key"])
    return domain


def dkim_private_key(domain: SendingDomain) -> bytes:
    """The PEM private key, decrypted for signing."""
    return crypto.decrypt(domain.dkim_private_key).encode()


def dkim_txt_record(domain: SendingDomain) -> tuple[str, str]:
    """(host, value) of the TXT record that publishes the domain's DKIM public key."""
    host = f"{domain.dkim_selector}._domainkey.{domain.domain}"
    return host, f"v=DKIM1; k=rsa; p={domain.dkim_public_key}"
