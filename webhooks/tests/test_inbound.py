"""Inbound ESP events, posted as each ESP documents them, with the real authentication, to the
real URLs: the end state (message, contact, suppression, bounce, counters, outbound webhook)
is checked, duplicates change nothing, bad credentials write nothing."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageEvent, MessageKind, MessageStatus
from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from deliverability.models import Bounce, Suppression, Unsubscribe
from mailcrm.models import Event
from mailcrm.tests.factories import WorkspaceFactory
from webhooks import dispatch
from webhooks.inbound import workspace_token
from webhooks.models import InboundEvent, InboundStatus
from webhooks.tests.factories import WebhookEndpointFactory

SECRET = "mailcrm:hook-secret-1"
MAILGUN_KEY = "key-mailgun-signing-0123456789"
pytestmark = pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailWarning")


@pytest.fixture(scope="module")
def postal_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def anymail_settings(settings, postal_key):
    public = postal_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = "".join(public.decode().strip().splitlines()[1:-1])
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": [SECRET],
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
        "POSTAL_WEBHOOK_KEY": body,
    }


@pytest.fixture
def contact(workspace):
    return ContactFactory(workspace=workspace, email="ada@example.com", first_name="Ada")


@pytest.fixture
def message(workspace, contact):
    campaign = Campaign.objects.create(workspace=workspace, name="Spring news")
    return Message.objects.create(
        workspace=workspace,
        campaign=campaign,
        contact=contact,
        kind=MessageKind.CAMPAIGN,
        email=contact.email,
        status=MessageStatus.SENT,
        sent_at=timezone.now(),
        provider_message_id="0c8e2f3a-7a55-4c6d-9b51-2f1b8a6d9e01",
    )


def basic_auth(secret: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST a payload as the ESP would; stored events are applied when the request commits."""

    def send(path, payload, *, auth=True, secret=SECRET, headers=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        extra = {**(basic_auth(secret) if auth else {}), **(headers or {})}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, body, content_type="application/json", **extra)

    return send


# --- payloads, shaped as each ESP documents them ------------------------------------------


def postmark_bounce(message, *, kind="HardBounce", event_id=4323372036):
    return {
        "RecordType": "Bounce",
        "ID": event_id,
        "Type": kind,
        "TypeCode": 1 if kind == "HardBounce" else 4096,
        "Name": "Hard bounce" if kind == "HardBounce" else "Soft bounce",
        "Tag": "news",
        "MessageID": message.provider_message_id,
        "ServerID": 23,
        "MessageStream": "broadcast",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": message.email,
        "From": "news@acme.example",
        "BouncedAt": "2026-11-20T16:33:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Spring news",
        "Metadata": {},
    }


def postmark(record_type, message, **fields):
    base = {
        "RecordType": record_type,
        "MessageID": message.provider_message_id,
        "Recipient": message.email,
        "Tag": "news",
        "MessageStream": "broadcast",
        "Metadata": {},
    }
    return {**base, **fields}


SNS_ID = "8f1e6a7c-1b1b-5c34-9d2e-0f9d1c6a7b10"
SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
SNS_HEADERS = {
    "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification",
    "HTTP_X_AMZ_SNS_MESSAGE_ID": SNS_ID,
    "HTTP_X_AMZ_SNS_TOPIC_ARN": SNS_TOPIC,
}


def ses_notification(message, ses_event: dict, *, sns_id=SNS_ID):
    mail = {
        "timestamp": "2026-11-20T16:33:50.000Z",
        "source": "news@acme.example",
        "messageId": message.provider_message_id,
        "destination": [message.email],
        "headers": [],
    }
    return {
        "Type": "Notification",
        "MessageId": sns_id,
        "TopicArn": SNS_TOPIC,
        "Subject": "Amazon SES Email Event Notification",
        "Message": json.dumps({**ses_event, "mail": mail}),
        "Timestamp": "2026-11-20T16:33:55.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }


def ses_bounce(message, bounce_type="Permanent"):
    return ses_notification(
        message,
        {
            "eventType": "Bounce",
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": "General",
                "bouncedRecipients": [
                    {
                        "emailAddress": message.email,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    }
                ],
                "timestamp": "2026-11-20T16:33:54.000Z",
                "feedbackId": "0100017f-feedback",
            },
        },
    )


def mailgun(message, event_data: dict, *, key=MAILGUN_KEY, token=""):
    timestamp = str(int(time.time()))
    token = token or hashlib.sha256(json.dumps(event_data, sort_keys=True).encode()).hexdigest()
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "id": "CPgfbmQMTCKtHW6uIWtuVe",
            "timestamp": time.time(),
            "recipient": message.email,
            "message": {"headers": {"message-id": message.provider_message_id}},
            "user-variables": {},
            "tags": [],
            **event_data,
        },
    }


def postal_signed(payload: dict, key) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    signature = key.sign(body, padding.PKCS1v15(), hashes.SHA1())
    return body, {"HTTP_X_POSTAL_SIGNATURE": base64.b64encode(signature).decode()}


# --- the end states ----------------------------------------------------------------------


def assert_hard_bounced(message, contact):
    message.refresh_from_db()
    contact.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED
    assert contact.status == "bounced"
    suppression = Suppression.objects.get(email=contact.email)
    assert (suppression.type, suppression.source) == ("hard_bounce", "bounce")
    assert MessageEvent.objects.filter(message=message, type="bounced").count() == 1
    assert Event.objects.filter(type="email.bounced", subject_id=message.pk).count() == 1


def test_a_postmark_hard_bounce(post, message, contact):
    response = post("/webhooks/anymail/postmark/tracking/", postmark_bounce(message))

    assert response.status_code == 200
    assert_hard_bounced(message, contact)
    row = InboundEvent.objects.get()
    assert (row.esp, row.status, row.message) == ("postmark", InboundStatus.APPLIED, message)
    assert Bounce.objects.get().kind == "hard"


def test_the_same_event_twice_changes_nothing_the_second_time(post, message, contact):
    post("/webhooks/anymail/postmark/tracking/", postmark_bounce(message))
    again = post("/webhooks/anymail/postmark/tracking/", postmark_bounce(message))

    assert again.status_code == 200
    assert InboundEvent.objects.count() == 1
    assert Bounce.objects.count() == 1
    assert MessageEvent.objects.filter(type="bounced").count() == 1


@pytest.mark.parametrize(
    "auth",
    [{}, basic_auth("mailcrm:wrong"), basic_auth("someone:" + SECRET.split(":")[1])],
    ids=["none", "wrong password", "wrong user"],
)
def test_no_or_wrong_credentials_write_nothing(client, message, auth):
    response = client.post(
        "/webhooks/anymail/postmark/tracking/",
        json.dumps(postmark_bounce(message)),
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 400
    assert not InboundEvent.objects.exists() and not Suppression.objects.exists()


def test_without_a_configured_secret_the_webhooks_are_off(post, settings, message):
    settings.ANYMAIL = {"WEBHOOK_SECRET": []}
    response = post("/webhooks/anymail/postmark/tracking/", postmark_bounce(message))
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_rotated_secret_overlaps(post, settings, message):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": ["mailcrm:new-secret", SECRET]}
    first = post("/webhooks/anymail/postmark/tracking/", postmark_bounce(message, event_id=1))
    second = post(
        "/webhooks/anymail/postmark/tracking/",
        postmark_bounce(message, event_id=2),
        secret="mailcrm:new-secret",
    )
    assert (first.status_code, second.status_code) == (200, 200)
    assert InboundEvent.objects.count() == 2


def test_an_unknown_esp_is_404(post):
    assert post("/webhooks/anymail/nosuchesp/tracking/", {}).status_code == 404


def test_postmark_delivery_open_and_click(post, message, contact):
    post(
        "/webhooks/anymail/postmark/tracking/",
        postmark("Delivery", message, DeliveredAt="2026-11-20T16:33:54Z", Details="250 OK"),
    )
    post(
        "/webhooks/anymail/postmark/tracking/",
        postmark(
            "Open",
            message,
            FirstOpen=True,
            ReceivedAt="2026-11-20T17:00:00Z",
            UserAgent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15",
            Platform="Mobile",
        ),
    )
    post(
        "/webhooks/anymail/postmark/tracking/",
        postmark(
            "Click",
            message,
            ClickLocation="HTML",
            OriginalLink="https://acme.example/spring",
            ReceivedAt="2026-11-20T17:01:00Z",
            UserAgent="Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            Platform="Desktop",
        ),
    )

    kinds = sorted(MessageEvent.objects.filter(message=message).values_list("type", flat=True))
    assert kinds == ["clicked", "delivered", "opened"]
    assert MessageEvent.objects.get(type="clicked").url == "https://acme.example/spring"
    assert MessageEvent.objects.get(type="opened").device_type == "mobile"
    contact.refresh_from_db()
    assert (contact.opens, contact.clicks) == (1, 1)
    assert contact.last_clicked_at is not None


def test_a_postmark_bad_address_is_a_hard_bounce(post, message, contact):
    payload = postmark_bounce(message, kind="BadEmailAddress")
    assert post("/webhooks/anymail/postmark/tracking/", payload).status_code == 200
    assert InboundEvent.objects.get().event_type == "rejected"
    assert_hard_bounced(message, contact)


def test_a_postmark_spam_complaint(post, message, contact):
    payload = postmark_bounce(message, kind="SpamComplaint")
    payload["RecordType"] = "SpamComplaint"
    post("/webhooks/anymail/postmark/tracking/", payload)

    contact.refresh_from_db()
    assert contact.status == "complained"
    assert Suppression.objects.get().type == "complaint"
    assert Event.objects.filter(type="email.complained").count() == 1


def test_an_ses_permanent_bounce_through_sns(post, message, contact):
    response = post(
        "/webhooks/anymail/amazon_ses/tracking/",
        ses_bounce(message),
        headers=SNS_HEADERS,
    )
    assert response.status_code == 200
    assert_hard_bounced(message, contact)


def test_an_ses_transient_bounce_counts_toward_the_threshold(post, message, contact):
    post(
        "/webhooks/anymail/amazon_ses/tracking/",
        ses_bounce(message, "Transient"),
        headers=SNS_HEADERS,
    )
    assert Bounce.objects.get().kind == "soft"
    assert not Suppression.objects.exists()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_a_signed_mailgun_permanent_failure(post, message, contact):
    payload = mailgun(
        message,
        {
            "event": "failed",
            "severity": "permanent",
            "reason": "bounce",
            "delivery-status": {"code": 550, "message": "5.1.1 No such user", "description": ""},
        },
    )
    assert post("/webhooks/anymail/mailgun/tracking/", payload).status_code == 200
    assert_hard_bounced(message, contact)


def test_a_mailgun_event_with_a_bad_signature_writes_nothing(post, message):
    payload = mailgun(message, {"event": "failed", "severity": "permanent"}, key="not-the-key")
    assert post("/webhooks/anymail/mailgun/tracking/", payload).status_code == 400
    assert not InboundEvent.objects.exists()


def test_a_sendgrid_bounce(post, message, contact):
    # Mail sent through anymail's SendGrid backend carries its id as the anymail_id custom arg.
    payload = [
        {
            "email": message.email,
            "timestamp": int(time.time()),
            "event": "bounce",
            "type": "bounce",
            "status": "5.1.1",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist",
            "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filterdrecv-p3mdw1-756b745b58-kmzbl-18.0",
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "anymail_id": message.provider_message_id,
        }
    ]
    assert post("/webhooks/anymail/sendgrid/tracking/", payload).status_code == 200
    assert_hard_bounced(message, contact)


def test_brevo_hard_bounce_and_unsubscribe(post, message, contact, workspace):
    bounce = {
        "event": "hard_bounce",
        "email": message.email,
        "id": 123456,
        "date": "2026-11-20 17:33:54",
        "ts": 1795710834,
        "message-id": message.provider_message_id,
        "ts_event": 1795710834,
        "subject": "Spring news",
        "tag": "news",
        "sending_ip": "185.41.28.109",
        "ts_epoch": 1795710834000,
        "reason": "550 5.1.1 user unknown",
    }
    assert post("/webhooks/anymail/brevo/tracking/", bounce).status_code == 200
    assert_hard_bounced(message, contact)

    other = ContactFactory(workspace=workspace, email="grace@example.com")
    unsubscribe = {**bounce, "event": "unsubscribe", "email": other.email, "message-id": "x"}
    unsubscribe.pop("reason")
    token = workspace_token(workspace)
    post(f"/webhooks/anymail/w/{token}/brevo/tracking/", unsubscribe)
    assert Unsubscribe.objects.filter(email=other.email, domain__isnull=True).exists()
    other.refresh_from_db()
    assert other.status == "unsubscribed"


def test_a_signed_postal_bounce(post, message, contact, postal_key):
    payload = {
        "event": "MessageBounced",
        "timestamp": time.time(),
        "uuid": "0f1d2b5c-4b49-4b57-8b0a-5f6c0b5a0e11",
        "payload": {
            "original_message": {
                "id": message.provider_message_id,
                "token": "abcdef",
                "direction": "outgoing",
                "message_id": "5817a64332f44_4ec93ff59e79d154565eb@app34.mail",
                "to": message.email,
                "from": "news@acme.example",
                "subject": "Spring news",
                "timestamp": time.time(),
                "spam_status": "NotChecked",
                "tag": "news",
            },
            "bounce": {
                "id": 12345,
                "token": "ghijkl",
                "direction": "incoming",
                "message_id": "5817a64332f44_bounce@mx.example",
                "to": "bounces@postal.example",
                "from": "postmaster@example.com",
                "subject": "Delivery Error",
                "timestamp": time.time(),
                "spam_status": "NotChecked",
                "tag": None,
            },
        },
    }
    body, headers = postal_signed(payload, postal_key)
    assert post("/webhooks/anymail/postal/tracking/", body, headers=headers).status_code == 200
    assert_hard_bounced(message, contact)

    tampered = body.replace(b"MessageBounced", b"MessageBouncer")
    assert post("/webhooks/anymail/postal/tracking/", tampered, headers=headers).status_code == 400


def test_an_unknown_message_at_a_workspace_url_still_suppresses_the_address(
    post, workspace, contact
):
    outsider = WorkspaceFactory()
    theirs = ContactFactory(workspace=outsider, email=contact.email)
    fake = Message(provider_message_id="not-ours", email=contact.email)
    token = workspace_token(workspace)

    post(f"/webhooks/anymail/w/{token}/postmark/tracking/", postmark_bounce(fake))

    row = InboundEvent.objects.get()
    assert (row.workspace, row.status, row.message) == (workspace, InboundStatus.APPLIED, None)
    contact.refresh_from_db()
    theirs.refresh_from_db()
    assert contact.status == "bounced"
    assert theirs.status == "active"
    assert Suppression.objects.get().workspace == workspace


def test_an_unknown_message_at_the_shared_url_is_kept_as_an_orphan(post, contact):
    fake = Message(provider_message_id="not-ours", email=contact.email)
    assert post("/webhooks/anymail/postmark/tracking/", postmark_bounce(fake)).status_code == 200

    row = InboundEvent.objects.get()
    assert row.status == InboundStatus.ORPHAN and row.workspace is None
    assert not Suppression.objects.exists()


def test_a_workspace_url_never_touches_another_workspaces_message(post, message, contact):
    outsider = WorkspaceFactory()
    token = workspace_token(outsider)

    post(f"/webhooks/anymail/w/{token}/postmark/tracking/", postmark_bounce(message))

    message.refresh_from_db()
    contact.refresh_from_db()
    assert message.status == MessageStatus.SENT and contact.status == "active"
    assert Suppression.objects.get().workspace == outsider  # its own address, if it had one


def test_a_forged_workspace_url_is_404(post, message):
    response = post("/webhooks/anymail/w/forged.token/postmark/tracking/", postmark_bounce(message))
    assert response.status_code == 404
    assert not InboundEvent.objects.exists()


def test_the_bounce_reaches_an_outbound_webhook(
    post, workspace, message, contact, receiver, django_capture_on_commit_callbacks
):
    WebhookEndpointFactory(workspace=workspace, url=receiver.url, events=["email.bounced"])
    post("/webhooks/anymail/postmark/tracking/", postmark_bounce(message))
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.dispatch_pending()

    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["event"] == "email.bounced"
    assert body["email_id"] == str(message.pk)
    assert body["data"]["bounce"] == "hard"


def test_events_of_no_interest_are_kept_but_ignored(post, message):
    post(
        "/webhooks/anymail/postmark/tracking/",
        postmark("SubscriptionChange", message, SuppressSending=False, ChangedAt="2026-11-20"),
    )
    assert InboundEvent.objects.get().status in (InboundStatus.IGNORED, InboundStatus.APPLIED)
    assert Contact.objects.get(pk=message.contact_id).status == "active"


@pytest.mark.django_db(transaction=True)
def test_the_same_event_twice_at_once_is_stored_and_applied_once(message, contact):
    import threading

    from django.db import connection

    from webhooks import inbound

    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite has one writer)")
    from anymail.signals import AnymailTrackingEvent

    event = AnymailTrackingEvent(
        event_type="bounced",
        event_id="postmark-4323372036",
        message_id=message.provider_message_id,
        recipient=message.email,
        timestamp=timezone.now(),
        esp_event=postmark_bounce(message),
        mta_response="550 5.1.1 user unknown",
    )
    barrier, results = threading.Barrier(2), []

    def post_once():
        barrier.wait()
        try:
            results.append(inbound.store(event, "Postmark"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    inbound.apply_pending()

    assert sorted(results) == [False, True]
    assert InboundEvent.objects.count() == 1
    assert Bounce.objects.count() == 1
    assert MessageEvent.objects.filter(type="bounced").count() == 1


# --- delivery, open, click and complaint from each ESP -----------------------------------

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
LINK = "https://acme.example/spring"


def ses_event(message, kind):
    body = {
        "delivered": {
            "eventType": "Delivery",
            "delivery": {
                "timestamp": "2026-11-20T16:33:54.000Z",
                "processingTimeMillis": 546,
                "recipients": [message.email],
                "smtpResponse": "250 2.6.0 Message received",
                "reportingMTA": "a8-70.smtp-out.amazonses.com",
            },
        },
        "opened": {
            "eventType": "Open",
            "open": {
                "ipAddress": "192.0.2.1",
                "timestamp": "2026-11-20T17:00:00.000Z",
                "userAgent": CHROME,
            },
        },
        "clicked": {
            "eventType": "Click",
            "click": {
                "ipAddress": "192.0.2.1",
                "timestamp": "2026-11-20T17:01:00.000Z",
                "userAgent": CHROME,
                "link": LINK,
                "linkTags": {},
            },
        },
        "complained": {
            "eventType": "Complaint",
            "complaint": {
                "feedbackId": "0100017f-complaint",
                "complaintSubType": None,
                "complainedRecipients": [{"emailAddress": message.email}],
                "timestamp": "2026-11-20T17:05:00.000Z",
                "userAgent": "Amazon SES Mailbox Simulator",
                "complaintFeedbackType": "abuse",
                "arrivalDate": "2026-11-20T17:04:00.000Z",
            },
        },
    }[kind]
    return (
        "/webhooks/anymail/amazon_ses/tracking/",
        ses_notification(message, body, sns_id=f"{SNS_ID[:-2]}{len(kind):02d}"),
        {**SNS_HEADERS, "HTTP_X_AMZ_SNS_MESSAGE_ID": f"{SNS_ID[:-2]}{len(kind):02d}"},
    )


def mailgun_event(message, kind):
    data = {
        "delivered": {"event": "delivered", "delivery-status": {"code": 250, "message": "OK"}},
        "opened": {"event": "opened", "client-info": {"user-agent": CHROME}},
        "clicked": {"event": "clicked", "url": LINK, "client-info": {"user-agent": CHROME}},
        "complained": {"event": "complained"},
    }[kind]
    return "/webhooks/anymail/mailgun/tracking/", mailgun(message, data), {}


def sendgrid_event(message, kind):
    base = {
        "email": message.email,
        "timestamp": int(time.time()),
        "sg_event_id": f"sg-{kind}",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filterdrecv-p3mdw1.0",
        "anymail_id": message.provider_message_id,
    }
    extra = {
        "delivered": {"event": "delivered", "response": "250 OK"},
        "opened": {"event": "open", "useragent": CHROME, "ip": "192.0.2.1"},
        "clicked": {"event": "click", "url": LINK, "useragent": CHROME, "ip": "192.0.2.1"},
        "complained": {"event": "spamreport"},
    }[kind]
    return "/webhooks/anymail/sendgrid/tracking/", [{**base, **extra}], {}


def brevo_event(message, kind):
    base = {
        "email": message.email,
        "id": 123456,
        "date": "2026-11-20 17:33:54",
        "message-id": message.provider_message_id,
        "ts_epoch": 1795710834000 + len(kind),
        "subject": "Spring news",
        "tag": "news",
    }
    extra = {
        "delivered": {"event": "delivered"},
        "opened": {"event": "opened", "user_agent": CHROME},
        "clicked": {"event": "click", "link": LINK},
        "complained": {"event": "spam"},
    }[kind]
    return "/webhooks/anymail/brevo/tracking/", {**base, **extra}, {}


def postmark_event(message, kind):
    if kind == "complained":
        payload = postmark_bounce(message, kind="SpamComplaint")
        payload["RecordType"] = "SpamComplaint"
    else:
        payload = {
            "delivered": postmark("Delivery", message, DeliveredAt="2026-11-20T16:33:54Z"),
            "opened": postmark(
                "Open", message, ReceivedAt="2026-11-20T17:00:00Z", UserAgent=CHROME, FirstOpen=True
            ),
            "clicked": postmark(
                "Click",
                message,
                ReceivedAt="2026-11-20T17:01:00Z",
                UserAgent=CHROME,
                OriginalLink=LINK,
                ClickLocation="HTML",
            ),
        }[kind]
    return "/webhooks/anymail/postmark/tracking/", payload, {}


ESPS = {
    "amazon_ses": ses_event,
    "postmark": postmark_event,
    "mailgun": mailgun_event,
    "sendgrid": sendgrid_event,
    "brevo": brevo_event,
}


@pytest.mark.parametrize("esp", ESPS)
def test_delivery_open_click_and_complaint_from_each_esp(post, esp, message, contact):
    for kind in ("delivered", "opened", "clicked", "complained"):
        path, payload, headers = ESPS[esp](message, kind)
        assert post(path, payload, headers=headers).status_code == 200, (esp, kind)

    kinds = set(MessageEvent.objects.filter(message=message).values_list("type", flat=True))
    assert kinds == {"delivered", "opened", "clicked", "complained"}
    assert MessageEvent.objects.get(type="clicked").url == LINK
    contact.refresh_from_db()
    assert (contact.opens, contact.clicks, contact.status) == (1, 1, "complained")
    assert Suppression.objects.get().type == "complaint"
    assert not InboundEvent.objects.exclude(status=InboundStatus.APPLIED).exists()


def test_postal_delivery_and_click(post, message, contact, postal_key):
    """Postal reports deliveries and clicks (anymail maps no open or complaint from it)."""
    original = {
        "id": message.provider_message_id,
        "to": message.email,
        "direction": "outgoing",
        "tag": "news",
        "token": "abc",
        "message_id": "x@app.mail",
    }
    sent = {
        "event": "MessageSent",
        "timestamp": time.time(),
        "uuid": "uuid-sent",
        "payload": {
            "message": original,
            "status": "Sent",
            "details": "Message sent",
            "output": "250 OK",
            "time": 0.2,
            "sent_with_ssl": True,
        },
    }
    clicked = {
        "event": "MessageLinkClicked",
        "timestamp": time.time(),
        "uuid": "uuid-click",
        "payload": {
            "message": original,
            "url": LINK,
            "token": "VJzsFA0S",
            "ip_address": "192.0.2.1",
            "user_agent": CHROME,
        },
    }
    for payload in (sent, clicked):
        body, headers = postal_signed(payload, postal_key)
        assert post("/webhooks/anymail/postal/tracking/", body, headers=headers).status_code == 200

    assert set(MessageEvent.objects.values_list("type", flat=True)) == {"delivered", "clicked"}
    contact.refresh_from_db()
    assert contact.clicks == 1
