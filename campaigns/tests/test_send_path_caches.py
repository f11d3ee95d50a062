"""What the send path keeps instead of recomputing per message stays right: token MACs are
Django's salted_hmac with a key derived once per secret, and a message's public links follow
its id, the public base URL and the secret."""

import uuid

import pytest
from django.test import override_settings
from django.utils.crypto import salted_hmac

from campaigns.content import message_urls
from campaigns.models import Campaign, Message
from campaigns.tokens import MAC_BYTES, _mac, make_token, read_token


@pytest.mark.parametrize("secret", ["one secret", "another secret, ünïcode"])
def test_the_mac_is_djangos_salted_hmac(secret):
    payload = bytes([2]) + uuid.uuid4().bytes + (7).to_bytes(8, "big")
    with override_settings(SECRET_KEY=secret):
        expected = salted_hmac("mailcrm.campaigns.tokens", payload, algorithm="sha256")
        assert _mac(payload) == expected.digest()[:MAC_BYTES]


def test_a_token_made_under_one_secret_is_refused_under_another():
    message_id = uuid.uuid4()
    with override_settings(SECRET_KEY="first"):
        token = make_token("open", message_id)
        assert read_token(token, "open").message_id == message_id
    with override_settings(SECRET_KEY="second"):
        assert read_token(token, "open") is None


@pytest.mark.django_db
def test_a_messages_links_follow_its_id_base_url_and_secret(workspace):
    campaign = Campaign.objects.create(workspace=workspace, name="C")
    message = Message.objects.create(
        workspace=workspace, campaign=campaign, kind="campaign", email="ann@example.com"
    )
    with override_settings(PUBLIC_BASE_URL="https://one.example"):
        first = message_urls(message)
        assert message_urls(message) == first
        assert first["unsubscribe_url"].startswith("https://one.example/u/")
        first["unsubscribe_url"] = "changed by the caller"
        assert message_urls(message)["unsubscribe_url"].startswith("https://one.example/u/")
    with override_settings(PUBLIC_BASE_URL="https://two.example"):
        assert message_urls(message)["preferences_url"].startswith("https://two.example/p/")
    with override_settings(PUBLIC_BASE_URL="https://two.example", SECRET_KEY="rotated"):
        rotated = message_urls(message)["unsubscribe_url"]
        assert rotated == f"https://two.example/u/{make_token('unsubscribe', message.id)}"
    old_id = message.id
    message.id = uuid.uuid4()
    with override_settings(PUBLIC_BASE_URL="https://two.example"):
        token = message_urls(message)["unsubscribe_url"].rsplit("/", 1)[1]
        assert read_token(token, "unsubscribe").message_id == message.id != old_id


def _pem_and_dns(selector: str):
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    return pem, {f"{selector}._domainkey.example.com.".encode(): record}


def test_dkim_keys_parsed_once_sign_as_when_parsed_every_time(monkeypatch):
    import dkim

    from campaigns import transport

    data = (
        b"From: news@example.com\r\nTo: ann@example.com\r\nSubject: Hi\r\n"
        b"Message-ID: <1@example.com>\r\n\r\nHello\r\n"
    )
    monkeypatch.setattr("time.time", lambda: 1_750_000_000)  # the same t= tag every time
    records = {}
    for selector in ("one", "two"):  # two keys in turn: each signature is its own key's
        pem, dns = _pem_and_dns(selector)
        records.update(dns)
        signer = transport.DkimSigner(domain="example.com", selector=selector, private_key=pem)
        cached = [signer.sign(data), signer.sign(data)]
        with monkeypatch.context() as patched:
            patched.setattr(dkim, "parse_pem_private_key", transport._parse_pem_private_key)
            assert signer.sign(data) == cached[0] == cached[1]
        assert dkim.verify(cached[0], dnsfunc=lambda name, timeout=5: records.get(name))
