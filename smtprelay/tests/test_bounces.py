"""The bounce mailbox end to end: real DSNs (Postfix, Exim) and an ARF complaint report, sent
over SMTP to the listener, suppress the right address in the right workspace through the same
path as inbound ESP events; mail that is not a report is kept, never lost."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import Message, MessageEvent, MessageStatus
from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from deliverability.models import Bounce, Suppression
from mailcrm.tests.factories import WorkspaceFactory
from smtprelay import verp
from smtprelay.models import BounceMail, BounceMailStatus
from smtprelay.tests.conftest import BOUNCE_DOMAIN
from webhooks.models import InboundEvent, InboundStatus

pytestmark = pytest.mark.django_db(transaction=True)

REPORTS = Path(__file__).parent / "reports"


def sent_message(workspace, email="ann@example.com") -> Message:
    return Message.objects.create(
        workspace=workspace,
        kind="transactional",
        email=email,
        status=MessageStatus.SENT,
        sent_at=timezone.now(),
        message_id=f"<{workspace.pk.hex}.1@acme.example>",
    )


def report(name: str, message: Message, **replace) -> tuple[bytes, str]:
    address = verp.return_path(message.id)
    text = (REPORTS / name).read_text()
    values = {
        "{VERP}": address,
        "{RCPT}": message.email,
        "{MSGID}": message.message_id,
        "{BOUNCE_DOMAIN}": BOUNCE_DOMAIN,
        **replace,
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return text.replace("\n", "\r\n").encode(), address


def deliver(listener, data: bytes, to: str, sender: str = "") -> None:
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as client:
        client.sendmail(sender, [to], data)


def test_a_postfix_hard_bounce_suppresses_the_address_in_its_workspace_only(
    workspace, bounce_listener
):
    other = WorkspaceFactory(name="Other")
    message = sent_message(workspace)
    sent_message(other)  # the same address in another workspace
    data, address = report("postfix_hard.eml", message)
    deliver(bounce_listener, data, address)

    suppression = Suppression.objects.get(email="ann@example.com")
    assert suppression.workspace_id == workspace.pk and suppression.type == "hard_bounce"
    assert not Suppression.objects.filter(workspace=other).exists()
    bounce = Bounce.objects.get()
    assert bounce.kind == "hard" and bounce.message_id == message.pk
    assert "5.1.1" in bounce.diagnostic and "User unknown" in bounce.diagnostic
    event = InboundEvent.objects.get()
    assert (event.esp, event.event_type, event.status) == ("dsn", "bounced", InboundStatus.APPLIED)
    assert event.message_id == message.pk
    assert MessageEvent.objects.filter(message=message, type="bounced").exists()
    message.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED
    mail = BounceMail.objects.get()
    assert (mail.status, mail.kind, mail.events) == (BounceMailStatus.PARSED, "dsn", 1)
    assert mail.workspace_id == workspace.pk


def test_the_same_dsn_twice_is_applied_once(workspace, bounce_listener):
    message = sent_message(workspace)
    data, address = report("postfix_hard.eml", message)
    deliver(bounce_listener, data, address)
    deliver(bounce_listener, data, address)
    assert Bounce.objects.count() == 1 and InboundEvent.objects.count() == 1
    assert BounceMail.objects.count() == 2


def test_an_exim_delay_warning_is_a_deferral_not_a_bounce(workspace, bounce_listener):
    message = sent_message(workspace)
    data, address = report("exim_delayed.eml", message)
    deliver(bounce_listener, data, address)
    event = MessageEvent.objects.get(message=message)
    assert event.type == "deferred" and "Mailbox full" in event.data["reason"]
    assert not Bounce.objects.exists() and not Suppression.objects.exists()


def test_a_4xx_failure_is_a_soft_bounce(workspace, bounce_listener):
    message = sent_message(workspace)
    data, address = report("exim_soft_failed.eml", message)
    deliver(bounce_listener, data, address)
    bounce = Bounce.objects.get()
    assert bounce.kind == "soft" and bounce.diagnostic.startswith("dsn: 4.0.0")
    assert not Suppression.objects.exists()  # one soft bounce is under the threshold


@pytest.mark.parametrize("by", ["original-mail-from", "message-id"])
def test_an_arf_complaint_suppresses_and_marks_the_contact(workspace, bounce_listener, by):
    contact = ContactFactory(workspace=workspace, email="ann@example.com")
    other = WorkspaceFactory(name="Other")
    ContactFactory(workspace=other, email="ann@example.com")
    message = sent_message(workspace)
    message.contact = contact
    message.save(update_fields=["contact"])
    replace = {"Original-Mail-From: <{VERP}>\n": ""} if by == "message-id" else {}
    data, _ = report("arf_complaint.eml", message, **replace)
    deliver(bounce_listener, data, f"abuse@{BOUNCE_DOMAIN}", sender="feedback@provider.example")

    suppression = Suppression.objects.get()
    assert (suppression.workspace_id, suppression.email) == (workspace.pk, "ann@example.com")
    assert suppression.type == "complaint"
    assert MessageEvent.objects.filter(message=message, type="complained").exists()
    assert Contact.objects.get(pk=contact.pk).status != "active"
    assert Contact.objects.get(workspace=other).status == "active"


@pytest.mark.parametrize(
    "data",
    [
        b"this is not even an email \x00\xff\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n",
        b"Content-Type: multipart/report; report-type=disposition-notification\r\n\r\nread",
    ],
)
def test_garbage_is_kept_for_inspection(workspace, bounce_listener, data):
    address = verp.return_path(sent_message(workspace).id)
    deliver(bounce_listener, data, address)
    mail = BounceMail.objects.get()
    assert mail.status == BounceMailStatus.UNPARSED and mail.reason
    assert bytes(mail.data).startswith(data[:20])  # the bytes are kept as they came
    assert not InboundEvent.objects.exists()


def test_an_auto_reply_is_kept_and_suppresses_nothing(workspace, bounce_listener):
    message = sent_message(workspace)
    data, address = report("auto_reply.eml", message)
    deliver(bounce_listener, data, address)
    mail = BounceMail.objects.get()
    assert mail.status == BounceMailStatus.UNPARSED and b"out of office" in bytes(mail.data).lower()
    assert not Suppression.objects.exists()


def test_a_forged_token_names_no_message(workspace, bounce_listener):
    message = sent_message(workspace)
    data, address = report("postfix_hard.eml", message)
    forged = address.replace("bounce+", "bounce+a", 1)
    deliver(bounce_listener, data.replace(address.encode(), forged.encode()), forged)
    # The original's Message-ID still names it: only the return path was forged.
    assert BounceMail.objects.get().status == BounceMailStatus.PARSED
    data, _ = report("postfix_hard.eml", message, **{"{MSGID}": "<unknown@elsewhere>"})
    deliver(bounce_listener, data.replace(address.encode(), forged.encode()), forged)
    kept = BounceMail.objects.filter(status=BounceMailStatus.UNPARSED).get()
    assert "no message" in kept.reason


def test_mail_for_other_addresses_is_refused(bounce_listener):
    with (
        pytest.raises(smtplib.SMTPRecipientsRefused),
        smtplib.SMTP("127.0.0.1", bounce_listener.port, timeout=30) as client,
    ):
        client.sendmail("a@b.example", ["someone@elsewhere.example"], b"Subject: x\r\n\r\nx")
    assert not BounceMail.objects.exists()
