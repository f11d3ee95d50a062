"""Reading what comes back to the bounce mailbox: delivery status notifications (RFC 3464,
``multipart/report; report-type=delivery-status``) and complaint reports (ARF, RFC 5965,
``multipart/report; report-type=feedback-report``). Pure functions over bytes: no database.

Anything that is not one of the two raises ``Unreadable`` with the reason; the caller keeps
the mail for a person to look at."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message as MimeMessage
from email.utils import getaddresses, parsedate_to_datetime

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_CODE = re.compile(r"^\s*([245])\d\d\b")
# Feedback types that are not a recipient calling the mail spam (RFC 5965 §7.3, RFC 6591).
NOT_COMPLAINTS = {"not-spam", "auth-failure", "virus"}


class Unreadable(Exception):
    """Not a report we understand; the message says why."""


@dataclass
class Notice:
    """One recipient's outcome in a report."""

    event_type: str  # "bounced", "deferred" or "complained"
    recipient: str
    status: str = ""  # the enhanced status code, e.g. "5.1.1"
    diagnostic: str = ""
    action: str = ""
    original_recipient: str = ""
    remote_mta: str = ""
    feedback_type: str = ""

    @property
    def hard(self) -> bool:
        return self.status.startswith("5")

    @property
    def mta_response(self) -> str:
        """The status first: webhooks.inbound reads a leading "4" as a soft bounce."""
        return " ".join(part for part in (self.status, self.diagnostic) if part)[:2000]


@dataclass
class Report:
    kind: str  # "dsn" or "arf"
    notices: list[Notice]
    subject: str = ""
    occurred_at: datetime | None = None
    reporter: str = ""  # Reporting-MTA or the feedback report's User-Agent
    # Of the original message, to find it when the return path does not name it.
    original_message_ids: list[str] = field(default_factory=list)
    original_return_paths: list[str] = field(default_factory=list)
    original_recipients: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "kind": self.kind,
            "reporter": self.reporter,
            "subject": self.subject,
            "original_message_ids": self.original_message_ids,
            "notices": [vars(notice) for notice in self.notices],
        }


def parse(data: bytes) -> Report:
    """The report in ``data``, or ``Unreadable``. Never raises anything else."""
    try:
        message = email.message_from_bytes(data, policy=email.policy.compat32)
        return _parse(message)
    except Unreadable:
        raise
    except Exception as exc:  # a broken MIME tree can fail in many ways inside email.*
        raise Unreadable(f"cannot be read as MIME: {type(exc).__name__}: {exc}") from None


def _parse(message: MimeMessage) -> Report:
    if message.get_content_type() != "multipart/report":
        raise Unreadable(f"not a multipart/report (it is {message.get_content_type()})")
    report_type = (message.get_param("report-type") or "").lower()
    if report_type == "delivery-status":
        report = _delivery_status(message)
    elif report_type == "feedback-report":
        report = _feedback(message)
    else:
        raise Unreadable(f"a report of type {report_type or 'none'!r}")
    report.subject = _text(message.get("Subject"))
    report.occurred_at = report.occurred_at or _date(message.get("Date"))
    _read_original(message, report)
    return report


def _part(message: MimeMessage, *content_types: str) -> MimeMessage | None:
    for part in message.walk():
        if part.get_content_type() in content_types:
            return part
    return None


def _field_blocks(part: MimeMessage) -> list[MimeMessage]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parsed the blocks already
        return [block for block in payload if isinstance(block, MimeMessage)]
    text = part.get_payload(decode=True) or b""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [email.message_from_string(block.strip() + "\n\n") for block in blocks if block.strip()]


def _text(value) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()


def _typed_address(value) -> str:
    """``rfc822; ann@example.com`` → ``ann@example.com``."""
    text = _text(value)
    if ";" in text:
        text = text.split(";", 1)[1]
    return text.strip().strip("<>").lower()


def _date(value) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(_text(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _status(fields: MimeMessage) -> str:
    match = _STATUS.search(_text(fields.get("Status")))
    if match:
        return ".".join(match.groups())
    # No usable Status: the reply code in the diagnostic still tells temporary from permanent.
    diagnostic = _text(fields.get("Diagnostic-Code")).split(";", 1)[-1]
    match = _STATUS.search(diagnostic) or _REPLY_CODE.search(diagnostic)
    if match is None:
        return ""
    return ".".join(match.groups()) if match.re is _STATUS else f"{match.group(1)}.0.0"


def _delivery_status(message: MimeMessage) -> Report:
    part = _part(message, "message/delivery-status", "message/global-delivery-status")
    if part is None:
        raise Unreadable("a delivery-status report without a message/delivery-status part")
    blocks = _field_blocks(part)
    if len(blocks) < 2:
        raise Unreadable("a delivery-status part without per-recipient fields")
    per_message, recipients = blocks[0], blocks[1:]
    notices = []
    for fields in recipients:
        recipient = _typed_address(fields.get("Final-Recipient"))
        action = _text(fields.get("Action")).lower()
        if not recipient or not action:
            continue
        status = _status(fields)
        event_type = _dsn_event(action, status)
        if event_type is None:
            continue  # delivered, relayed, expanded: nothing to act on
        notices.append(
            Notice(
                event_type=event_type,
                recipient=recipient,
                status=status,
                diagnostic=_text(fields.get("Diagnostic-Code")).split(";", 1)[-1].strip(),
                action=action,
                original_recipient=_typed_address(fields.get("Original-Recipient")),
                remote_mta=_typed_address(fields.get("Remote-MTA")),
            )
        )
    if not notices and not any(_text(f.get("Final-Recipient")) for f in recipients):
        raise Unreadable("a delivery-status report naming no Final-Recipient")
    return Report(
        kind="dsn",
        notices=notices,
        reporter=_typed_address(per_message.get("Reporting-MTA")),
        occurred_at=_date(recipients[0].get("Last-Attempt-Date"))
        or _date(per_message.get("Arrival-Date")),
    )


def _dsn_event(action: str, status: str) -> str | None:
    if action == "failed":
        return "bounced"
    if action == "delayed":
        return "deferred"
    return None


def _feedback(message: MimeMessage) -> Report:
    part = _part(message, "message/feedback-report")
    if part is None:
        raise Unreadable("a feedback report without a message/feedback-report part")
    blocks = _field_blocks(part)
    if not blocks:
        raise Unreadable("an empty message/feedback-report part")
    fields = blocks[0]
    feedback_type = _text(fields.get("Feedback-Type")).lower() or "abuse"
    recipients = [
        _typed_address(value) for value in fields.get_all("Original-Rcpt-To", []) if value
    ]
    notices = []
    if feedback_type not in NOT_COMPLAINTS:
        # The recipient is often redacted: the original message then says who it was.
        notices = [
            Notice(event_type="complained", recipient=address, feedback_type=feedback_type)
            for address in recipients or [""]
        ]
    return Report(
        kind="arf",
        notices=notices,
        original_return_paths=[
            _typed_address(value) for value in fields.get_all("Original-Mail-From", []) if value
        ],
        reporter=_text(fields.get("User-Agent")) or _text(fields.get("Reporting-MTA")),
        occurred_at=_date(fields.get("Arrival-Date")) or _date(fields.get("Received-Date")),
    )


def _read_original(message: MimeMessage, report: Report) -> None:
    """Headers of the original message (attached whole, or as text/rfc822-headers)."""
    part = _part(message, "message/rfc822", "text/rfc822-headers", "message/global-headers")
    if part is None:
        return
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], MimeMessage):
        original = payload[0]
    else:
        text = part.get_payload(decode=True) or b""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        original = email.message_from_string(text)
    report.original_message_ids = [
        _text(value).strip() for value in original.get_all("Message-ID", []) if value
    ]
    report.original_return_paths += [
        _text(value).strip("<> ") for value in original.get_all("Return-Path", []) if value
    ]
    report.original_recipients = [
        address.lower() for _, address in getaddresses(original.get_all("To", [])) if address
    ]
