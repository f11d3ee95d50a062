"""From a message submitted over SMTP to the payload of a transactional email (what
``POST /emails`` takes): sender, recipients by envelope, subject, HTML and text parts,
pass-through headers, and our own ``X-Mailcrm-*`` headers. Pure functions: no database.

The pipeline renders transactional content as a template; submitted mail is sent as it came,
so anything that would read as template syntax is quoted (``literal``)."""

from __future__ import annotations

import email
import email.policy
import json
import re
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

TAG_HEADER = "X-Mailcrm-Tag"
METADATA_HEADER = "X-Mailcrm-Metadata"
TRACK_OPENS_HEADER = "X-Mailcrm-Track-Opens"
TRACK_CLICKS_HEADER = "X-Mailcrm-Track-Clicks"
# Headers an application may set that go out with the message as they came.
PASS_THROUGH = {"in-reply-to", "references", "keywords", "comments"}
MAX_TAG = 100
_TEMPLATE_SYNTAX = re.compile(r"\{[{%#]")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class Malformed(Exception):
    """The submitted message cannot be sent as it is (554); the text says why."""


def literal(text: str) -> str:
    """``text`` as a template that renders to exactly ``text``: every ``{{``, ``{%`` and
    ``{#`` becomes an expression printing those two characters."""
    return _TEMPLATE_SYNTAX.sub(lambda match: "{{ '" + match.group() + "' }}", text)


def _clean(value: Any) -> str:
    return re.sub(r"\s*[\r\n]+\s*", " ", str(value or "")).strip()


def _flag(message: EmailMessage, name: str, default: bool) -> bool:
    value = _clean(message.get(name)).lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise Malformed(f"{name} must be 1 or 0, not {value!r}")


def _metadata(message: EmailMessage) -> dict:
    raw = _clean(message.get(METADATA_HEADER))
    if not raw:
        return {}
    try:
        metadata = json.loads(raw)
    except ValueError:
        raise Malformed(f"{METADATA_HEADER} is not valid JSON") from None
    if not isinstance(metadata, dict):
        raise Malformed(f"{METADATA_HEADER} must be a JSON object")
    return metadata


def _bodies(message: EmailMessage) -> tuple[str, str]:
    """The HTML and text of the message; attachments cannot travel through the pipeline."""
    for part in message.walk():
        if part.is_multipart():
            continue
        is_text = part.get_content_type() in ("text/plain", "text/html")
        if not is_text or part.get_content_disposition() == "attachment":
            raise Malformed(
                "attachments and embedded files are not supported by the relay "
                f"(found {part.get_content_type()}); link to them instead"
            )
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    try:
        html = html_part.get_content() if html_part is not None else ""
        text = text_part.get_content() if text_part is not None else ""
    except (LookupError, UnicodeError, ValueError) as exc:
        raise Malformed(f"a body part cannot be decoded: {exc}") from None
    return html, text


def _addresses(message: EmailMessage, name: str) -> list[str]:
    values = [_clean(value) for value in message.get_all(name, [])]
    return [address for _, address in getaddresses(values) if "@" in address]


def parse_submission(
    data: bytes, *, rcpt_tos: list[str], track_default: bool = True
) -> dict[str, Any]:
    """The transactional payload of a submitted message. Recipients are the envelope's:
    those named in To or Cc keep their place there, the rest are Bcc."""
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
        from_header = message.get("From")
        senders = getaddresses([_clean(from_header)]) if from_header else []
    except Exception as exc:  # a broken header can fail in many ways inside email.*
        raise Malformed(f"the message cannot be parsed: {exc}") from None
    if message.defects and not message.keys():
        raise Malformed("the message has no headers")
    senders = [(name, address) for name, address in senders if "@" in address]
    if len(senders) != 1:
        raise Malformed("the message needs a From header with exactly one address")
    from_name, from_email = senders[0]
    wanted = {address.lower(): address for address in rcpt_tos}
    to = [a for a in _addresses(message, "To") if wanted.pop(a.lower(), None)]
    cc = [a for a in _addresses(message, "Cc") if wanted.pop(a.lower(), None)]
    bcc = list(wanted.values())
    if not to:
        # Every recipient is blind: the pipeline needs one To; the first is put there.
        to, bcc = bcc[:1], bcc[1:]
    reply_to = _addresses(message, "Reply-To")
    tag = _clean(message.get(TAG_HEADER))
    if len(tag) > MAX_TAG:
        raise Malformed(f"{TAG_HEADER} is longer than {MAX_TAG} characters")
    html, text = _bodies(message)
    headers = {
        name: _clean(value)[:998]
        for name, value in message.items()
        if name.lower() in PASS_THROUGH
        or (name.lower().startswith("x-") and not name.lower().startswith("x-mailcrm-"))
    }
    return {
        "from_email": from_email,
        "from_name": from_name,
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "reply_to": reply_to[0] if reply_to else "",
        "subject": literal(_clean(message.get("Subject"))),
        "html": literal(html),
        "text": literal(text),
        "headers": headers,
        "tag": tag,
        "metadata": _metadata(message),
        "track_opens": _flag(message, TRACK_OPENS_HEADER, track_default),
        "track_clicks": _flag(message, TRACK_CLICKS_HEADER, track_default),
    }
