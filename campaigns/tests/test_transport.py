"""The fast wire form of a message says what the email package's generator says: same headers,
same parts, same decoded content, CRLF lines within RFC 5322's limit."""

import email
import re
import smtplib
from email import policy

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from campaigns.tests.emails import marketing_email
from campaigns.transport import _PLAIN_ADDRESS, mime_bytes, quote_address

LONG_URL = "https://crm.example.com/u/" + "a1b2c3d4" * 20


def _email(**fields):
    return marketing_email(unsubscribe_url=LONG_URL, **fields)


CASES = {
    "ascii": _email(),
    "non-ascii everywhere": _email(
        subject="Grüße, Zoë — ✓ " * 6,
        body="Ça va ? ✓\r\nLigne deux\rtrois",
        html="<p>Héllo ✓</p>",
        from_email="Zoë Ünï <news@example.com>",
    ),
    "a line too long for 8bit": _email(html="<p>" + "x" * 1500 + "</p>", body="y" * 1200),
    "text only": _email(html=""),
    "with an attachment": _email(attachments=[("a.txt", "attached ✓", "text/plain")]),
    "cc and reply-to": _email(cc=["cy@example.com"], reply_to=["help@example.com"]),
}


def _parsed(data: bytes):
    message = email.message_from_bytes(data, policy=policy.default)
    # The generator folds long headers right after the colon: unfolded, a leading space.
    headers = [(k, str(v).strip()) for k, v in message.items() if k.lower() != "content-type"]
    parts = [
        (part.get_content_type(), part.get_content() if not part.is_multipart() else None)
        for part in message.walk()
    ]
    return headers, parts


@pytest.mark.parametrize("name", CASES)
def test_the_fast_wire_form_says_what_the_generator_says(name):
    message = CASES[name].message()
    fast = mime_bytes(message)
    slow = message.as_bytes(linesep="\r\n")
    assert _parsed(fast) == _parsed(slow)
    assert b"\n" not in fast.replace(b"\r\n", b"") and b"\r" not in fast.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))


def test_a_header_line_over_the_limit_goes_through_the_generator():
    mime = _email().message()
    mime["X-Long"] = "z" * 1200  # no spaces: nothing to fold at
    fast = mime_bytes(mime)
    assert re.search(rb"X-Long: ", fast)
    assert _parsed(fast) == _parsed(mime.as_bytes(linesep="\r\n"))


def test_a_message_with_its_boundary_chosen_goes_through_the_generator():
    mime = _email().message()
    first = mime.as_bytes(linesep="\r\n")  # the generator sets a boundary on the way
    assert mime_bytes(mime) == mime.as_bytes(linesep="\r\n")
    assert _parsed(mime_bytes(mime)) == _parsed(first)


def test_dkim_signatures_by_openssl_are_dkimpys_own(monkeypatch):
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from campaigns import transport

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    signer = transport.DkimSigner(domain="example.com", selector="s1", private_key=pem)
    data = mime_bytes(_email().message())
    monkeypatch.setattr("time.time", lambda: 1_750_000_000)  # the same t= tag both times
    ours = signer.sign(data)
    monkeypatch.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", transport._python_rsa_sign)
    assert signer.sign(data) == ours


@hyp_settings(max_examples=300, deadline=None)
@given(
    address=st.from_regex(_PLAIN_ADDRESS, fullmatch=True)
    | st.text(alphabet="ab.@<>\"' ()+=_-,:;[]\\é\t", max_size=30)
)
def test_envelope_addresses_are_quoted_as_smtplib_quotes_them(address):
    assert quote_address(address) == smtplib.quoteaddr(address)


@pytest.mark.parametrize(
    "address",
    [
        "b+abc.def@bounce.example.com",
        "",
        "<>",
        "Ann <ann@example.com>",
        "Ann <ann@example.com>",  # again: from the cache
        '"a b"@example.com',
        "a..b@example.com",
        ".a@example.com",
        "a@example.com.",
        "a@[127.0.0.1]",
        "zoë@example.com",
        "a@b@c",
    ],
)
def test_unusual_envelope_addresses_take_smtplibs_way(address):
    assert quote_address(address) == smtplib.quoteaddr(address)
