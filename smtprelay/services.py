"""The verbs of the SMTP relay and the bounce mailbox: credentials (made, rotated, checked),
a submitted message accepted into the transactional pipeline, and a received report turned
into inbound events. The SMTP servers (smtprelay.server) only translate between these and the
protocol; every rule is here."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mailcrm import audit
from mailcrm.exceptions import DomainError
from mailcrm.models import Workspace
from smtprelay import reports, submission, verp
from smtprelay.models import BounceMail, BounceMailStatus, SmtpCredential

logger = logging.getLogger("mailcrm.smtprelay")

LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_RECIPIENTS = 50  # as POST /emails allows in each of to, cc and bcc
_DUMMY_DIGEST = hashlib.sha256(b"no such user").hexdigest()


class SmtpRefusal(Exception):
    """A refusal to say to the SMTP client: ``reply`` is the whole reply line."""

    def __init__(self, reply: str):
        super().__init__(reply)
        self.reply = reply


# --- credentials -------------------------------------------------------------------------------


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def smtp_credential_get(*, workspace: Workspace) -> SmtpCredential:
    """The workspace's SMTP credential, made (with a username, no password yet) on first use."""
    credential = SmtpCredential.objects.filter(workspace=workspace).first()
    if credential is not None:
        return credential
    with transaction.atomic():
        credential, _ = SmtpCredential.objects.get_or_create(
            workspace=workspace, defaults={"username": f"mc_{secrets.token_hex(8)}"}
        )
    return credential


@transaction.atomic
def smtp_credential_rotate(*, workspace: Workspace) -> tuple[SmtpCredential, str]:
    """A new password for the workspace's SMTP credential; the old one stops working at once.
    Returns the credential and the password, which is never shown again."""
    credential = smtp_credential_get(workspace=workspace)
    password = secrets.token_urlsafe(32)
    credential.prefix = password[:6]
    credential.password_hash = _digest(password)
    credential.rotated_at = timezone.now()
    credential.save(update_fields=["prefix", "password_hash", "rotated_at"])
    audit.record(workspace, "smtp_credential.rotated", credential, {"password": True})
    return credential, password


def smtp_authenticate(username: str, password: str) -> SmtpCredential | None:
    """The credential a username and password open, compared in constant time."""
    credential = (
        SmtpCredential.objects.select_related("workspace").filter(username=username).first()
    )
    stored = credential.password_hash if credential and credential.password_hash else None
    matches = hmac.compare_digest(stored or _DUMMY_DIGEST, _digest(password))
    if stored is None or not matches:
        return None
    _touch_last_used(credential)
    return credential


def _touch_last_used(credential: SmtpCredential) -> None:
    # At most one write a minute per credential, so a busy sender does not write per message.
    now = timezone.now()
    if credential.last_used_at and now - credential.last_used_at < LAST_USED_RESOLUTION:
        return
    SmtpCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
    credential.last_used_at = now


@dataclass(frozen=True)
class RelayEndpoint:
    host: str
    port: int
    tls: str  # "starttls", "implicit" or "none"


def relay_endpoint() -> RelayEndpoint:
    """Where clients connect, as GET /customer/smtp and the dashboard tell them."""
    host = settings.SMTP_RELAY_PUBLIC_HOST or urlparse(settings.PUBLIC_BASE_URL).hostname or ""
    if settings.SMTP_RELAY_IMPLICIT_TLS:
        tls = "implicit"
    elif settings.SMTP_RELAY_TLS_CERT:
        tls = "starttls"
    else:
        tls = "none"
    return RelayEndpoint(host=host, port=settings.SMTP_RELAY_PUBLIC_PORT, tls=tls)


# --- submitting --------------------------------------------------------------------------------


def _domain_of(address: str) -> str:
    return address.strip().strip("<>").rpartition("@")[2].rstrip(".").lower()


def relay_check_sender(*, credential: SmtpCredential, address: str) -> None:
    """Refuse (550) an address that is not on a verified sending domain of the credential's
    workspace."""
    from deliverability.domains import sending_domain_for

    name = _domain_of(address)
    domain = sending_domain_for(credential.workspace_id, sending_domain=None, from_email=address)
    if not name or domain is None:
        raise SmtpRefusal(
            f"550 5.7.1 Sender <{address}> is not on a sending domain of this workspace: "
            "add the domain under Domains and verify it"
        )
    if not domain.is_verified:
        raise SmtpRefusal(
            f"550 5.7.1 Sender domain {domain.domain} is not verified: publish its SPF and "
            "DKIM records, then verify it"
        )


def relay_take_slot(*, credential: SmtpCredential) -> None:
    """Spend one message of the credential's budget this minute, or refuse (451)."""
    from campaigns.pipeline import take_slots

    limit = settings.SMTP_RELAY_RATE_PER_MINUTE
    if limit and not take_slots(f"smtp:{credential.pk}", limit, 1):
        raise SmtpRefusal(
            f"451 4.7.1 Rate limit of {limit} messages a minute reached for this login; "
            "try again in a minute"
        )


def relay_submit(
    *, credential: SmtpCredential, mail_from: str, rcpt_tos: list[str], data: bytes
) -> Any:
    """Accept a submitted message as a transactional email of the credential's workspace
    (the same service as POST /emails: suppression, tracking, DKIM, events, webhooks follow
    in the pipeline); returns the queued Message. Refusals raise ``SmtpRefusal``."""
    from campaigns.transactional import email_queue

    if not rcpt_tos:
        raise SmtpRefusal("554 5.5.1 No valid recipients")
    try:
        payload = submission.parse_submission(data, rcpt_tos=rcpt_tos)
    except submission.Malformed as exc:
        raise SmtpRefusal(f"554 5.6.0 Malformed message: {exc}") from None
    relay_check_sender(credential=credential, address=payload["from_email"])
    try:
        return email_queue(workspace=credential.workspace, data=payload)
    except ValidationError as exc:
        raise SmtpRefusal(f"554 5.6.0 Message refused: {_first_error(exc)}") from None
    except DomainError as exc:
        raise SmtpRefusal(f"550 5.7.1 {exc.message}") from None


def _first_error(exc: ValidationError) -> str:
    messages = exc.messages if hasattr(exc, "messages") else [str(exc)]
    return " ".join(" ".join(messages).split())[:400]


# --- the bounce mailbox ------------------------------------------------------------------------


def bounce_mail_receive(*, mail_from: str, rcpt_tos: list[str], data: bytes) -> BounceMail:
    """Keep a message the bounce mailbox accepted, then read it: a DSN or complaint report
    naming a message we sent becomes inbound events (applied as an ESP's would be: bounces
    and complaints suppress); anything else stays, bytes and all, for a person to read."""
    mail = BounceMail.objects.create(
        mail_from=mail_from[:512], rcpt_tos=rcpt_tos, size=len(data), data=data
    )
    try:
        _read_bounce_mail(mail)
    except Exception as exc:  # never lost: whatever went wrong, the mail is kept to look at
        logger.exception("bounce mail %s could not be read", mail.pk)
        _keep_unparsed(mail, f"error while reading: {type(exc).__name__}: {exc}")
    return mail


def _keep_unparsed(mail: BounceMail, reason: str, subject: str = "") -> None:
    mail.status, mail.reason = BounceMailStatus.UNPARSED, reason[:2000]
    mail.subject = mail.subject or subject[:998]
    mail.save(update_fields=["status", "reason", "subject"])


def _read_bounce_mail(mail: BounceMail) -> None:
    data = bytes(mail.data)
    try:
        report = reports.parse(data)
    except reports.Unreadable as exc:
        _keep_unparsed(mail, str(exc))
        return
    message = _sent_message(report, mail.rcpt_tos)
    mail.kind, mail.subject = report.kind, report.subject[:998]
    if message is None:
        _keep_unparsed(mail, "a report naming no message we sent")
        return
    digest = hashlib.sha256(data).hexdigest()[:32]
    made = 0
    with transaction.atomic():
        for notice in report.notices:
            recipient = _recipient(notice, message)
            made += _store_notice(report, notice, message, recipient, digest)
        mail.workspace_id = message.workspace_id
        mail.status, mail.events, mail.data = BounceMailStatus.PARSED, made, b""
        mail.save(update_fields=["workspace", "kind", "subject", "status", "events", "data"])


def _sent_message(report: reports.Report, rcpt_tos: list[str]):
    """The message a report is about: named by the VERP address it came to (or the return
    path in the original's headers), else by the original's Message-ID."""
    from campaigns.models import Message

    ids = [verp.message_id_from(a) for a in [*rcpt_tos, *report.original_return_paths]]
    ids = [value for value in ids if value is not None]
    if ids:
        message = Message.objects.filter(pk__in=ids).first()
        if message is not None:
            return message
    header_ids = {value.strip() for value in report.original_message_ids if value.strip()}
    header_ids |= {f"<{value.strip('<>')}>" for value in header_ids}
    if not header_ids:
        return None
    return Message.objects.filter(message_id__in=header_ids).order_by("-id").first()


def _recipient(notice: reports.Notice, message) -> str:
    if notice.event_type == "complained":
        # A complaint is about the message's recipient; feedback reports often redact it.
        return message.email
    return notice.recipient or message.email


def _store_notice(report, notice, message, recipient: str, digest: str) -> int:
    from webhooks.inbound import store_parsed

    return int(
        store_parsed(
            source=report.kind,
            event_id=f"{digest}/{recipient}",
            event_type=notice.event_type,
            workspace_id=message.workspace_id,
            recipient=recipient,
            provider_message_id=message.message_id,
            occurred_at=report.occurred_at,
            description=_describe(report, notice),
            mta_response=notice.mta_response,
            raw={**report.summary(), "notice": vars(notice)},
        )
    )


def _describe(report: reports.Report, notice: reports.Notice) -> str:
    if report.kind == "arf":
        return f"{notice.feedback_type} report from {report.reporter or 'a mailbox provider'}"
    words = [notice.action, notice.status, notice.diagnostic]
    return " ".join(word for word in words if word)[:2000]
