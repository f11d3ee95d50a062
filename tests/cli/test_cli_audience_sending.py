"""segments, campaigns and emails send against a live server."""

import pytest
from django.utils import timezone

from campaigns.models import Message
from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    ListMembershipFactory,
    SegmentFactory,
)
from deliverability.models import SendingDomain

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def verified(workspace):
    return SendingDomain.objects.create(
        workspace=workspace, domain="acme.io", is_verified=True, verified_at=timezone.now()
    )


def test_segments_preview_create_members_refresh_and_list(cli, workspace):
    ContactFactory(workspace=workspace, email="lead@example.com", lifecycle_stage="lead", score=80)
    ContactFactory(workspace=workspace, email="cold@example.com", lifecycle_stage="lead", score=1)
    query = "lifecycle_stage = lead AND score > 50"

    preview = cli.ok("segments", "preview", query).stdout
    assert preview.startswith("1 contact(s) match.") and "lead@example.com" in preview
    assert cli.json("segments", "preview", query)["count"] == 1

    created = cli.json("segments", "create", "Engaged leads", "--query", query)
    assert created["kind"] == "dynamic"
    assert cli.json("segments", "refresh", "Engaged leads")["status"] == "queued"
    members = cli.json("segments", "members", "Engaged leads")
    assert [m["email"] for m in members] == ["lead@example.com"]
    assert "Engaged leads" in cli.ok("segments", "list").stdout
    assert [s["id"] for s in cli.json("segments", "list", "--kind", "dynamic")] == [created["id"]]


def test_segment_errors(cli, workspace):
    result = cli("segments", "preview", "score >")
    assert result.exit_code == 1 and "Error (400 " in result.stderr
    result = cli("segments", "members", "Nobody")
    assert result.exit_code == 1 and "No segment named 'Nobody'" in result.stderr
    SegmentFactory(workspace=workspace, name="Twin", query="score > 1")
    SegmentFactory(workspace=workspace, name="twin", query="score > 2")
    result = cli("segments", "refresh", "twin")
    assert result.exit_code == 1 and "Several segments are named 'twin'" in result.stderr


def _campaign(api, contact_list, name="June"):
    body = {
        "name": name,
        "subject": "Hello",
        "html": "<p>Hi</p>",
        "from_email": "news@acme.io",
        "audience": {"lists": [str(contact_list.id)]},
    }
    response = api.post("/api/v1/campaigns", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_campaign_lifecycle_and_stats(cli, api, workspace, verified):
    newsletter = ContactListFactory(workspace=workspace, name="Newsletter")
    for n in range(2):
        contact = ContactFactory(workspace=workspace, email=f"p{n}@example.com")
        ListMembershipFactory(contact=contact, contact_list=newsletter)
    june = _campaign(api, newsletter)
    july = _campaign(api, newsletter, name="July")

    listed = cli.ok("campaigns", "list").stdout
    assert "June" in listed and "July" in listed and "draft" in listed
    assert cli.json("campaigns", "get", june)["name"] == "June"

    sent = cli.json("campaigns", "send", june)
    assert sent["status"] in ("sending", "sent")
    assert Message.objects.filter(campaign_id=june).count() == 2
    stats = cli.json("campaigns", "stats", june)
    assert stats["recipients"] == 2
    table = cli.ok("campaigns", "stats", june).stdout
    assert "recipients" in table and "RATE" in table

    # A lifecycle the API refuses is a 409 shown with its message.
    result = cli("campaigns", "pause", july)
    assert result.exit_code == 1 and "Error (409 campaign_state)" in result.stderr
    assert cli.json("campaigns", "cancel", july)["status"] == "cancelled"
    result = cli("campaigns", "resume", july)
    assert result.exit_code == 1


def test_sending_a_campaign_without_recipients_is_a_422(cli, api, workspace, verified):
    empty = _campaign(api, ContactListFactory(workspace=workspace, name="Empty"))
    result = cli("campaigns", "send", empty)
    assert result.exit_code == 1
    assert "Error (422 no_recipients)" in result.stderr


def test_emails_send_with_an_idempotency_key_sends_once(cli, workspace, verified):
    args = (
        "emails",
        "send",
        "--from",
        "hello@acme.io",
        "--to",
        "jane@example.com",
        "--subject",
        "Welcome",
        "--html",
        "<p>Hi {{ first_name }}</p>",
        "--var",
        "first_name=Jane",
        "--tag",
        "onboarding",
        "--metadata",
        "order=1234",
        "--idempotency-key",
        "order-1234",
    )
    first = cli.json(*args)
    again = cli.json(*args)
    assert first["id"] == again["id"]
    assert Message.objects.filter(workspace=workspace, tag="onboarding").count() == 1

    # The same key with another body is refused.
    result = cli(*args[:-2], "--subject", "Other", "--idempotency-key", "order-1234")
    assert result.exit_code == 1 and "Idempotency-Key" in result.stderr


def test_emails_send_reads_a_body_file_and_reports_field_errors(cli, workspace, verified, tmp_path):
    html = tmp_path / "welcome.html"
    html.write_text("<p>Welcome</p>")
    queued = cli.ok(
        "emails",
        "send",
        "--from",
        "hello@acme.io",
        "--to",
        "jane@example.com",
        "--subject",
        "Hi",
        "--html",
        f"@{html}",
    ).stdout
    assert "status" in queued
    result = cli("emails", "send", "--from", "hello@acme.io", "--to", "not-an-address")
    assert result.exit_code == 1
    assert "Error (400 invalid): to" in result.stderr
