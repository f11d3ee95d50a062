"""An ordinary marketing email as the send path builds it (Message-ID, one-click unsubscribe
headers, a text part and an HTML alternative), for the tests of its wire form."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives


def marketing_email(
    subject: str = "Hello",
    body: str = "Plain text\nline two",
    html: str = "<p>Hello</p>",
    unsubscribe_url: str = "https://crm.example.com/u/abc",
    **extra,
) -> EmailMultiAlternatives:
    headers = {
        "Message-ID": "<1.2.3@example.com>",
        "List-Unsubscribe": f"<{unsubscribe_url}>, <mailto:unsub@example.com?subject=x>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        **extra.pop("headers", {}),
    }
    message = EmailMultiAlternatives(
        subject=subject,
        body=body,
        from_email=extra.pop("from_email", "Acme <news@example.com>"),
        to=extra.pop("to", ["ann@example.com"]),
        headers=headers,
        **extra,
    )
    if html:
        message.attach_alternative(html, "text/html")
    return message
