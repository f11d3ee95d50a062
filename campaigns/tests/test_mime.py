"""The direct wire form (campaigns.mime) writes the very bytes Django's ``message()`` and
``transport.mime_bytes`` write together, for every email of the ordinary shape, and declines
the others (which then take Django's path)."""

import re
from unittest import mock

import pytest
from django.core.mail import EmailMessage
from django.core.mail.message import BadHeaderError
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.mime import fast_mime_bytes
from campaigns.tests.emails import marketing_email
from campaigns.transport import mime_bytes

_BOUNDARY = re.compile(rb"={15}\d{19}==")


def _both(message):
    """(direct, Django's) with the same Date and the random boundary masked."""
    with (
        mock.patch("django.core.mail.message.formatdate", return_value="Mon, 1 Jan 2024"),
        mock.patch("campaigns.mime.formatdate", return_value="Mon, 1 Jan 2024"),
    ):
        direct = fast_mime_bytes(message)
        django = mime_bytes(message.message())
    mask = _BOUNDARY.sub
    return (mask(b"BOUNDARY", direct) if direct is not None else None), mask(b"BOUNDARY", django)


SAME = {
    "ascii": marketing_email(),
    "non-ascii everywhere": marketing_email(
        subject="Grüße, Zoë — ✓ " * 6,
        body="Ça va ? ✓\r\nLigne deux\rtrois",
        html="<p>Héllo ✓</p>",
        from_email="Zoë Ünï <news@example.com>",
        to=["Zoë <zoe@exämple.com>"],
    ),
    "a long ascii subject, folded": marketing_email(subject="word " * 40),
    "text only": marketing_email(html=""),
    "html only": marketing_email(body=""),
    "cc and reply-to": marketing_email(cc=["cy@example.com"], reply_to=["Help <help@example.com>"]),
    "an explicit From, To and Date": marketing_email(
        headers={"From": "Other <o@example.com>", "To": "list@example.com", "Date": "x"}
    ),
    "a line of exactly 998 bytes": marketing_email(
        body="y" * 998, html="<p>" + "é" * 495 + "x</p>"
    ),
}


@pytest.mark.parametrize("name", SAME)
def test_it_writes_what_django_writes(name):
    direct, django = _both(SAME[name])
    assert direct == django


DECLINED = {
    "a line too long for 8bit": marketing_email(body="y" * 999),
    "an html line too long": marketing_email(html="<p>" + "é" * 499 + "</p>"),
    "an attachment": marketing_email(attachments=[("a.txt", "attached", "text/plain")]),
    "a non-text alternative": marketing_email(html=""),
    "no Message-ID (Django makes one)": EmailMessage("Hi", "Body", "a@example.com", ["b@x.com"]),
    "another charset": marketing_email(),
    "a header line over 998 characters": marketing_email(headers={"X-Long": "z" * 1000}),
}
DECLINED["a non-text alternative"].attach_alternative(b"%PDF", "application/pdf")
DECLINED["another charset"].encoding = "iso-8859-1"


@pytest.mark.parametrize("name", DECLINED)
def test_it_leaves_unusual_emails_to_django(name):
    assert fast_mime_bytes(DECLINED[name]) is None


def test_a_header_with_a_newline_is_refused_as_django_refuses_it():
    message = marketing_email(subject="Hello\nBcc: victim@example.com")
    with pytest.raises(BadHeaderError):
        fast_mime_bytes(message)
    with pytest.raises(BadHeaderError):
        message.message()


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(
    subject=_text.filter(lambda s: "\n" not in s and "\r" not in s),
    body=_text,
    html=_text,
    name=st.text(alphabet="abcXYZ éü✓'\"", max_size=20),
)
def test_any_ordinary_email_is_written_as_django_writes_it(subject, body, html, name):
    message = marketing_email(
        subject=subject,
        body=body,
        html=html,
        from_email=f"{name} <news@example.com>" if name.strip() else "news@example.com",
    )
    try:
        django = message.message()
    except ValueError:
        return  # an address Django refuses: not our concern here
    direct, expected = _both(message)
    assert django is not None
    if direct is not None:
        assert direct == expected
