"""Dashboard pages of sending: every page per role, viewers refused every change, isolation
between workspaces, the composer, sending actions (their state errors shown as messages, never a
500), the sandboxed preview, live progress, the report, the email log and the local outbox."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from campaigns import services, stats
from campaigns.models import (
    Campaign,
    CampaignStatus,
    CapturedEmail,
    EventType,
    Message,
    MessageEvent,
    MessageKind,
    MessageStatus,
)
from campaigns.views import header_message_id, outbox_page
from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    TagFactory,
)
from templates.services import template_create

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("capture_mail", "verified_domains"),
]

ROLES = ["owner", "admin_user", "member", "viewer"]
EDITORS = ["owner", "admin_user", "member"]
SANDBOX_CSP = "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'"
HTML = (
    "<html><body><h1>Hello {{ contact.first_name|default('friend') }}</h1>"
    '<p><a href="https://example.org/news">News</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)


def url(name, *args):
    return reverse(f"dashboard:campaigns:{name}", args=args)


def flashes(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def capture_mail():
    """Mail goes to the capture backend (the outbox), as under `make run`."""
    with override_settings(EMAIL_BACKEND="campaigns.backends.CaptureBackend"):
        yield


@pytest.fixture
def as_role(client, request):
    def sign_in(role):
        client.force_login(request.getfixturevalue(role))
        return client

    return sign_in


@pytest.fixture
def send_now(django_capture_on_commit_callbacks):
    """Run what a request hands to the workers after commit (django-q2 runs sync in tests)."""

    def run(client, target, data=None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(target, data or {})

    return run


@pytest.fixture
def world(workspace):
    class World:
        pass

    w = World()
    w.list = ContactListFactory(workspace=workspace, name="Newsletter")
    w.people = [
        ContactFactory(workspace=workspace, email=f"{name}@example.com", first_name=name.title())
        for name in ("ann", "bob", "cy")
    ]
    for contact in w.people:
        ListMembershipFactory(contact=contact, contact_list=w.list)
    w.tag = TagFactory(workspace=workspace, name="vip")
    ContactTagFactory(contact=w.people[0], tag=w.tag)
    w.template = template_create(
        workspace=workspace, name="Welcome", subject="Hi {{ contact.first_name }}", html=HTML
    )
    w.draft = services.campaign_create(
        workspace=workspace,
        name="Spring news",
        subject="Spring is here, {{ contact.first_name|default('friend') }}",
        html=HTML,
        from_email="news@acme.example",
        from_name="Acme",
        audience={"lists": [str(w.list.pk)]},
    )
    w.email = Message.objects.create(
        workspace=workspace,
        kind=MessageKind.TRANSACTIONAL,
        email="ann@example.com",
        status=MessageStatus.SENT,
        payload={"subject": "Your receipt", "from_email": "shop@acme.example"},
    )
    return w


@pytest.fixture
def outsider_campaign(outsider):
    return services.campaign_create(
        workspace=outsider.workspace,
        name="Secret plans",
        subject="Secret",
        html="<p>secret body</p>",
        from_email="x@outsider.example",
        audience={"lists": [str(outsider.list.pk)]},
    )


def sent_campaign(client, send_now, campaign):
    response = send_now(client, url("campaign_send", campaign.pk))
    assert response.status_code == 302
    campaign.refresh_from_db()
    return campaign


def read_pages(w):
    return [
        url("campaigns"),
        url("campaign", w.draft.pk),
        url("campaign_preview", w.draft.pk),
        url("campaign_progress", w.draft.pk),
        url("campaign_report", w.draft.pk),
        url("audience_count") + f"?lists={w.list.pk}",
        url("emails"),
        url("email", w.email.pk),
        url("email_preview", w.email.pk),
        url("outbox"),
    ]


def form_pages(w):
    return [
        url("campaign_new"),
        url("campaign_edit", w.draft.pk),
        url("campaign_delete", w.draft.pk),
    ]


def changing_posts(w):
    return [
        (url("campaign_new"), {"name": "New one"}),
        (url("campaign_edit", w.draft.pk), {"name": "Renamed"}),
        (url("campaign_delete", w.draft.pk), {}),
        (url("campaign_send", w.draft.pk), {}),
        (url("campaign_pause", w.draft.pk), {}),
        (url("campaign_resume", w.draft.pk), {}),
        (url("campaign_cancel", w.draft.pk), {}),
        (url("campaign_schedule", w.draft.pk), {"send_at": "2099-01-01T10:00"}),
        (url("campaign_test", w.draft.pk), {"emails": "me@example.com"}),
    ]


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_every_role(as_role, role, world):
    client = as_role(role)
    for page in read_pages(world):
        assert client.get(page).status_code == 200, page
    assert "Spring news" in client.get(url("campaigns")).content.decode()


@pytest.mark.parametrize("role", EDITORS)
def test_every_form_page_renders_for_editors(as_role, role, world):
    client = as_role(role)
    for page in form_pages(world):
        assert client.get(page).status_code == 200, page


def test_viewers_are_refused_every_form_page_and_every_change(as_role, world):
    client = as_role("viewer")
    for page in form_pages(world):
        assert client.get(page).status_code == 403, page
    before = list(Campaign.objects.values())
    messages_before = Message.objects.count()
    for target, body in changing_posts(world):
        assert client.post(target, body).status_code == 403, target
    assert list(Campaign.objects.values()) == before
    assert Message.objects.count() == messages_before
    assert CapturedEmail.objects.count() == 0


def test_viewers_see_no_sending_controls(as_role, world):
    body = as_role("viewer").get(url("campaign", world.draft.pk)).content.decode()
    assert url("campaign_send", world.draft.pk) not in body
    assert url("campaign_edit", world.draft.pk) not in body
    assert url("campaign_test", world.draft.pk) not in body
    assert "Spring news" in body


def test_another_workspaces_campaign_is_not_found(dashboard, world, outsider_campaign, outsider):
    pk = outsider_campaign.pk
    for name in (
        "campaign",
        "campaign_edit",
        "campaign_delete",
        "campaign_preview",
        "campaign_progress",
        "campaign_report",
    ):
        assert dashboard.get(url(name, pk)).status_code == 404, name
    for name in ("campaign_send", "campaign_pause", "campaign_cancel", "campaign_test"):
        assert dashboard.post(url(name, pk), {"emails": "a@example.com"}).status_code == 404, name
    outsider_campaign.refresh_from_db()
    assert outsider_campaign.status == CampaignStatus.DRAFT
    assert "Secret plans" not in dashboard.get(url("campaigns")).content.decode()


def test_another_workspaces_email_is_not_found(dashboard, world, outsider):
    theirs = Message.objects.create(
        workspace=outsider.workspace,
        kind=MessageKind.TRANSACTIONAL,
        email="secret@outsider.example",
    )
    assert dashboard.get(url("email", theirs.pk)).status_code == 404
    assert "secret@outsider.example" not in dashboard.get(url("emails")).content.decode()


def test_anonymous_users_are_sent_to_sign_in(client, world):
    for page in read_pages(world) + form_pages(world):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response.url.startswith(reverse("dashboard:login")), page


# --- composer ----------------------------------------------------------------------------------


def test_the_composer_creates_a_draft_with_its_audience_and_template(dashboard, world, workspace):
    response = dashboard.post(
        url("campaign_new"),
        {
            "name": "Launch",
            "template": str(world.template.pk),
            "from_email": "hello@acme.example",
            "lists": [str(world.list.pk)],
            "tags": [str(world.tag.pk)],
            "track_opens": "on",
        },
    )
    campaign = Campaign.objects.for_workspace(workspace).get(name="Launch")
    assert response.status_code == 302
    assert response.url == url("campaign", campaign.pk)
    assert campaign.status == CampaignStatus.DRAFT
    assert str(campaign.template_id) == str(world.template.pk)
    assert campaign.audience["lists"] == [str(world.list.pk)]
    assert campaign.audience["tags"] == [str(world.tag.pk)]
    assert campaign.track_opens and not campaign.track_clicks
    page = dashboard.get(response.url).content.decode()
    assert "list: Newsletter" in page and "tag: vip" in page


def test_the_composer_offers_the_template_it_was_opened_from(dashboard, world):
    body = dashboard.get(url("campaign_new") + f"?template={world.template.pk}").content.decode()
    assert f'<option value="{world.template.pk}" selected>Welcome</option>' in body


def test_the_composer_shows_clear_errors(dashboard, world, outsider):
    response = dashboard.post(
        url("campaign_new"),
        {"name": "", "from_email": "not-an-email", "lists": [str(outsider.list.pk)]},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "name" in form.errors
    assert "from_email" in form.errors
    assert "valid choice" in form.errors["lists"][0]
    assert not Campaign.objects.filter(name="").exists()


def test_editing_saves_through_the_service(dashboard, world):
    response = dashboard.post(
        url("campaign_edit", world.draft.pk),
        {"name": "Summer news", "html": "<p>Hot</p>", "from_email": "news@acme.example"},
    )
    assert response.status_code == 302
    world.draft.refresh_from_db()
    assert world.draft.name == "Summer news"
    assert world.draft.html == "<p>Hot</p>"
    assert world.draft.audience["lists"] == []


def test_a_sent_campaign_cannot_be_edited_and_says_why(dashboard, world, send_now):
    sent_campaign(dashboard, send_now, world.draft)
    response = dashboard.get(url("campaign_edit", world.draft.pk))
    assert response.status_code == 302
    assert "cannot be changed" in flashes(response)[-1]
    response = dashboard.post(url("campaign_edit", world.draft.pk), {"name": "Too late"})
    assert response.status_code == 200
    assert "cannot be changed" in str(response.context["form"].non_field_errors())
    world.draft.refresh_from_db()
    assert world.draft.name == "Spring news"


def test_the_live_audience_count_follows_the_picked_lists_and_tags(dashboard, world, outsider):
    response = dashboard.get(url("audience_count"), {"lists": str(world.list.pk)})
    assert response.context["count"] == 3
    assert "<strong>3</strong> recipients" in response.content.decode()
    response = dashboard.get(url("audience_count"), {"tags": str(world.tag.pk)})
    assert response.context["count"] == 1
    response = dashboard.get(url("audience_count"))
    assert response.context["count"] == 0
    response = dashboard.get(url("audience_count"), {"lists": str(outsider.list.pk)})
    assert response.status_code == 200
    assert response.context["count"] is None
    assert "valid choice" in response.content.decode()


# --- sending -----------------------------------------------------------------------------------


def test_send_now_sends_to_the_audience_and_the_mail_lands_in_the_outbox(
    dashboard, world, send_now
):
    response = send_now(dashboard, url("campaign_send", world.draft.pk))
    assert response.status_code == 302
    assert "Sending Spring news now." in flashes(response)
    world.draft.refresh_from_db()
    assert world.draft.status == CampaignStatus.SENT
    assert world.draft.recipients == 3
    captured = CapturedEmail.objects.order_by("id")
    assert sorted(c.to[0] for c in captured) == [p.email for p in world.people]
    assert any("Spring is here, Ann" == c.subject for c in captured)
    outbox = dashboard.get(url("outbox")).content.decode()
    assert "Spring is here, Bob" in outbox
    report = dashboard.get(url("campaign_report", world.draft.pk))
    assert [(s["label"], s["count"]) for s in report.context["funnel"]][:3] == [
        ("Recipients", 3),
        ("Sent", 3),
        ("Delivered", 3),
    ]


def test_sending_twice_is_a_message_not_a_500(dashboard, world, send_now):
    sent_campaign(dashboard, send_now, world.draft)
    response = dashboard.post(url("campaign_send", world.draft.pk))
    assert response.status_code == 302
    assert "sent campaign cannot be sent" in flashes(response)[-1]


def test_a_campaign_without_recipients_says_so(dashboard, world, workspace):
    empty = services.campaign_create(
        workspace=workspace,
        name="Nobody",
        subject="Hi",
        html="<p>hi</p>",
        from_email="a@acme.example",
        audience={"lists": [str(ContactListFactory(workspace=workspace).pk)]},
    )
    response = dashboard.post(url("campaign_send", empty.pk))
    assert "no recipients" in flashes(response)[-1]
    empty.refresh_from_db()
    assert empty.status == CampaignStatus.DRAFT


def test_a_campaign_that_is_not_ready_names_what_is_missing(dashboard, world, workspace):
    bare = services.campaign_create(workspace=workspace, name="Bare")
    response = dashboard.post(url("campaign_send", bare.pk))
    text = flashes(response)[-1]
    assert "not ready to send" in text
    assert "subject" in text and "from address" in text


def test_pause_resume_and_cancel_follow_the_campaign_state(dashboard, world, workspace):
    response = dashboard.post(url("campaign_pause", world.draft.pk))
    assert "Only a sending campaign can be paused." in flashes(response)
    Campaign.objects.filter(pk=world.draft.pk).update(status=CampaignStatus.SENDING)
    dashboard.post(url("campaign_pause", world.draft.pk))
    world.draft.refresh_from_db()
    assert world.draft.status == CampaignStatus.PAUSED
    response = dashboard.post(url("campaign_resume", world.draft.pk))
    assert "Resumed Spring news." in flashes(response)
    dashboard.post(url("campaign_cancel", world.draft.pk))
    world.draft.refresh_from_db()
    assert world.draft.status == CampaignStatus.CANCELLED
    response = dashboard.post(url("campaign_cancel", world.draft.pk))
    assert "cannot be cancelled" in flashes(response)[-1]


def test_scheduling_needs_a_future_time(dashboard, world):
    response = dashboard.post(
        url("campaign_schedule", world.draft.pk), {"send_at": "2001-01-01T10:00"}
    )
    assert "future" in flashes(response)[-1]
    response = dashboard.post(url("campaign_schedule", world.draft.pk), {"send_at": "tomorrow"})
    assert "Choose a date and time" in flashes(response)[-1]
    world.draft.refresh_from_db()
    assert world.draft.status == CampaignStatus.DRAFT
    response = dashboard.post(
        url("campaign_schedule", world.draft.pk), {"send_at": "2099-05-01T09:30"}
    )
    assert "Scheduled for 2099-05-01 09:30 UTC." in flashes(response)
    world.draft.refresh_from_db()
    assert world.draft.status == CampaignStatus.SCHEDULED
    assert world.draft.send_at == datetime(2099, 5, 1, 9, 30, tzinfo=UTC)


def test_a_test_send_goes_to_the_given_addresses_only(dashboard, world):
    response = dashboard.post(
        url("campaign_test", world.draft.pk), {"emails": "me@example.com, boss@example.com"}
    )
    assert "Test sent to 2 of 2" in flashes(response)[-1]
    assert sorted(c.to[0] for c in CapturedEmail.objects.all()) == [
        "boss@example.com",
        "me@example.com",
    ]
    assert CapturedEmail.objects.first().subject.startswith("[Test] Spring is here")
    world.draft.refresh_from_db()
    assert world.draft.status == CampaignStatus.DRAFT


def test_a_test_send_to_a_bad_address_says_so(dashboard, world):
    response = dashboard.post(url("campaign_test", world.draft.pk), {"emails": "me@, x"})
    assert "is not an email address" in flashes(response)[-1]
    assert CapturedEmail.objects.count() == 0


def test_deleting_a_sending_campaign_is_refused_with_a_message(dashboard, world):
    Campaign.objects.filter(pk=world.draft.pk).update(status=CampaignStatus.SENDING)
    response = dashboard.post(url("campaign_delete", world.draft.pk))
    assert response.status_code == 302
    assert "Cancel the campaign before deleting it." in flashes(response)
    assert Campaign.objects.filter(pk=world.draft.pk).exists()


def test_deleting_a_draft(dashboard, world):
    response = dashboard.post(url("campaign_delete", world.draft.pk))
    assert response.url == url("campaigns")
    assert not Campaign.objects.filter(pk=world.draft.pk).exists()


# --- preview -----------------------------------------------------------------------------------


def test_the_preview_is_personalised_and_served_sandboxed(dashboard, world):
    response = dashboard.get(
        url("campaign_preview", world.draft.pk), {"contact": "BOB@example.com"}
    )
    assert response["Content-Security-Policy"] == SANDBOX_CSP
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "Hello Bob" in response.content.decode()
    page = dashboard.get(url("campaign", world.draft.pk), {"contact": "bob@example.com"})
    body = page.content.decode()
    assert '<iframe class="email-preview" sandbox src=' in body
    assert "contact=bob%40example.com" in body


def test_a_script_in_the_campaign_is_only_ever_served_under_the_sandbox(dashboard, world):
    services.campaign_update(
        campaign=world.draft, html="<p>Hi</p><script>document.title='owned'</script>"
    )
    preview = dashboard.get(url("campaign_preview", world.draft.pk))
    assert "<script>" in preview.content.decode()
    assert preview["Content-Security-Policy"].startswith("sandbox;")
    for page in (url("campaign", world.draft.pk), url("campaign_report", world.draft.pk)):
        body = dashboard.get(page).content.decode()
        assert "document.title='owned'" not in body, page
    assert "allow-scripts" not in dashboard.get(url("campaign", world.draft.pk)).content.decode()


def test_a_preview_that_does_not_render_says_why(dashboard, world):
    Campaign.objects.filter(pk=world.draft.pk).update(html="<p>{% for x in %}</p>")
    response = dashboard.get(url("campaign_preview", world.draft.pk))
    assert response.status_code == 200
    assert "Cannot render" in response.content.decode()


def test_an_unknown_preview_contact_is_said_plainly(dashboard, world):
    body = dashboard.get(url("campaign", world.draft.pk), {"contact": "nobody@x.example"})
    assert "No contact nobody@x.example in this workspace" in body.content.decode()


# --- progress and report -----------------------------------------------------------------------


def test_progress_polls_while_sending_and_stops_after(dashboard, world, send_now):
    Campaign.objects.filter(pk=world.draft.pk).update(status=CampaignStatus.SENDING)
    Message.objects.bulk_create(
        Message(
            workspace=world.draft.workspace,
            campaign=world.draft,
            contact=contact,
            kind=MessageKind.CAMPAIGN,
            email=contact.email,
            status=status,
        )
        for contact, status in zip(
            world.people,
            (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.QUEUED),
            strict=True,
        )
    )
    body = dashboard.get(url("campaign_progress", world.draft.pk)).content.decode()
    assert 'hx-trigger="every 2s"' in body
    assert 'data-stat="sent">1<' in body
    assert 'data-stat="failed">1<' in body
    assert 'data-stat="remaining">1<' in body
    polled = dashboard.get(url("campaign_progress", world.draft.pk), HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in polled
    Campaign.objects.filter(pk=world.draft.pk).update(status=CampaignStatus.SENT)
    done = dashboard.get(url("campaign_progress", world.draft.pk), HTTP_HX_REQUEST="true")
    assert "every 2s" not in done.content.decode()
    assert done["HX-Refresh"] == "true"  # the page reloads to show the outcome


def _events(campaign, when):
    messages = list(Message.objects.filter(campaign=campaign).order_by("email"))
    rows = [
        (messages[0], EventType.OPENED, when, ""),
        (messages[0], EventType.OPENED, when + timedelta(hours=2), ""),
        (messages[0], EventType.CLICKED, when + timedelta(hours=2), "https://example.org/news"),
        (messages[1], EventType.OPENED, when + timedelta(hours=3), ""),
    ]
    MessageEvent.objects.bulk_create(
        MessageEvent(workspace=campaign.workspace, message=m, type=t, occurred_at=at, url=link)
        for m, t, at, link in rows
    )
    return messages


def test_the_report_shows_funnel_chart_top_links_and_filters(dashboard, world, send_now):
    campaign = sent_campaign(dashboard, send_now, world.draft)
    when = timezone.now().replace(minute=5, second=0, microsecond=0) - timedelta(hours=5)
    _events(campaign, when)
    response = dashboard.get(url("campaign_report", campaign.pk))
    body = response.content.decode()
    assert [s["count"] for s in response.context["funnel"]] == [3, 3, 3, 2, 1]
    assert "<polyline" in body and 'class="series-opened"' in body
    assert response.context["chart"]["bucket"] == "hour"
    assert [r["opened"] for r in response.context["chart"]["rows"]] == [1, 0, 1, 1]
    assert "https://example.org/news" in body
    opened = dashboard.get(url("campaign_report", campaign.pk), {"opened": "true"})
    assert sorted(m.email for m in opened.context["page"].rows) == [
        "ann@example.com",
        "bob@example.com",
    ]
    clicked = dashboard.get(url("campaign_report", campaign.pk), {"clicked": "true"})
    assert [m.email for m in clicked.context["page"].rows] == ["ann@example.com"]
    not_opened = dashboard.get(url("campaign_report", campaign.pk), {"opened": "false"})
    assert [m.email for m in not_opened.context["page"].rows] == ["cy@example.com"]
    by_email = dashboard.get(url("campaign_report", campaign.pk), {"email": "BO"})
    assert [m.email for m in by_email.context["page"].rows] == ["bob@example.com"]
    bad = dashboard.get(url("campaign_report", campaign.pk), {"status": "bogus"})
    assert bad.status_code == 200 and bad.context["page"] is None
    assert "valid choice" in bad.content.decode()
    daily = dashboard.get(url("campaign_report", campaign.pk), {"bucket": "day"})
    assert daily.context["chart"]["bucket"] == "day"


def test_engagement_timeline_buckets_in_sql_and_fills_gaps(dashboard, world, send_now):
    campaign = sent_campaign(dashboard, send_now, world.draft)
    when = datetime(2026, 3, 1, 10, 20, tzinfo=UTC)
    _events(campaign, when)
    hourly = stats.engagement_timeline(campaign, "hour")
    assert [(p["at"].hour, p["opened"], p["clicked"]) for p in hourly] == [
        (10, 1, 0),
        (11, 0, 0),
        (12, 1, 1),
        (13, 1, 0),
    ]
    assert hourly[0]["at"] == datetime(2026, 3, 1, 10, tzinfo=UTC)
    daily = stats.engagement_timeline(campaign, "day")
    assert [(p["opened"], p["clicked"]) for p in daily] == [(3, 1)]
    assert stats.timeline_bucket(campaign) == "hour"
    assert stats.engagement_timeline(world.template and Campaign(), "hour") == []


def test_an_empty_report_renders(dashboard, world):
    response = dashboard.get(url("campaign_report", world.draft.pk))
    assert response.status_code == 200
    assert "No opens or clicks yet." in response.content.decode()


# --- transactional emails ----------------------------------------------------------------------


def test_the_email_log_lists_and_filters_transactional_email(dashboard, world, workspace):
    Message.objects.create(
        workspace=workspace,
        kind=MessageKind.TRANSACTIONAL,
        email="zed@example.com",
        status=MessageStatus.FAILED,
        error="550 no such user",
        payload={"subject": "Reset your password"},
    )
    Message.objects.create(workspace=workspace, kind=MessageKind.TEST, email="test@example.com")
    response = dashboard.get(url("emails"))
    emails = sorted(m.email for m in response.context["page"].rows)
    assert emails == ["ann@example.com", "zed@example.com"]
    assert "550 no such user" in response.content.decode()
    failed = dashboard.get(url("emails"), {"status": "failed"})
    assert [m.email for m in failed.context["page"].rows] == ["zed@example.com"]
    found = dashboard.get(url("emails"), {"email": "ANN"})
    assert [m.email for m in found.context["page"].rows] == ["ann@example.com"]


def test_an_email_shows_its_events_and_not_a_campaign_message(dashboard, world, send_now):
    MessageEvent.objects.create(
        workspace=world.email.workspace,
        message=world.email,
        type=EventType.OPENED,
        occurred_at=timezone.now(),
    )
    body = dashboard.get(url("email", world.email.pk)).content.decode()
    assert "Your receipt" in body and "Opened" in body
    campaign = sent_campaign(dashboard, send_now, world.draft)
    campaign_message = Message.objects.filter(campaign=campaign).first()
    assert dashboard.get(url("email", campaign_message.pk)).status_code == 404


def test_an_emails_content_is_rendered_for_its_recipient_in_the_sandbox(
    dashboard, workspace, world, outsider
):
    email = Message.objects.create(
        workspace=workspace,
        kind=MessageKind.TRANSACTIONAL,
        email="ann@example.com",
        contact=world.people[0],
        payload={
            "subject": "Order {{ order }}",
            "html": "<p>{{ contact.first_name }}, order {{ order }} ships</p><script>x()</script>",
            "variables": {"order": "A-42"},
        },
    )
    response = dashboard.get(url("email_preview", email.pk))
    assert response["Content-Security-Policy"] == SANDBOX_CSP
    assert "Ann, order A-42 ships" in response.content.decode()
    page = dashboard.get(url("email", email.pk)).content.decode()
    assert f'sandbox src="{url("email_preview", email.pk)}"' in page
    assert "x()" not in page
    theirs = Message.objects.create(
        workspace=outsider.workspace, kind=MessageKind.TRANSACTIONAL, email="s@outsider.example"
    )
    assert dashboard.get(url("email_preview", theirs.pk)).status_code == 404
    campaign_message = Message.objects.create(
        workspace=workspace, kind=MessageKind.CAMPAIGN, email="c@example.com"
    )
    assert dashboard.get(url("email_preview", campaign_message.pk)).status_code == 404


# --- outbox ------------------------------------------------------------------------------------


def test_the_outbox_shows_only_this_workspaces_mail(dashboard, world, outsider, send_now):
    services.campaign_test_send(campaign=world.draft, emails=["me@example.com"])
    theirs = services.campaign_create(
        workspace=outsider.workspace,
        name="Theirs",
        subject="Outsider secret",
        html="<p>secret</p>",
        from_email="x@outsider.example",
    )
    services.campaign_test_send(campaign=theirs, emails=["them@outsider.example"])
    CapturedEmail.objects.create(from_email="django@x", to=["a@b.c"], subject="No id", message="x")
    ours, theirs_captured = (
        CapturedEmail.objects.get(to=["me@example.com"]),
        CapturedEmail.objects.get(to=["them@outsider.example"]),
    )
    body = dashboard.get(url("outbox")).content.decode()
    assert "[Test] Spring is here" in body
    assert "Outsider secret" not in body and "No id" not in body
    assert dashboard.get(url("outbox_email", theirs_captured.pk)).status_code == 404
    assert dashboard.get(url("outbox_html", theirs_captured.pk)).status_code == 404
    assert dashboard.get(url("outbox_email", 999999)).status_code == 404
    detail = dashboard.get(url("outbox_email", ours.pk))
    assert detail.status_code == 200
    assert "Message-ID" in detail.content.decode()
    assert "Hello friend" in detail.context["text"]
    html = dashboard.get(url("outbox_html", ours.pk))
    assert html["Content-Security-Policy"] == SANDBOX_CSP
    assert "Hello friend" in html.content.decode()


def test_the_outbox_pages_back_through_older_mail(dashboard, world, workspace):
    for n in range(5):
        services.campaign_test_send(campaign=world.draft, emails=[f"t{n}@example.com"])
    rows, older = outbox_page(workspace, before=None, size=2)
    assert [r.to[0] for r in rows] == ["t4@example.com", "t3@example.com"]
    rows, older = outbox_page(workspace, before=older, size=2)
    assert [r.to[0] for r in rows] == ["t2@example.com", "t1@example.com"]
    rows, older = outbox_page(workspace, before=older, size=2)
    assert [r.to[0] for r in rows] == ["t0@example.com"] and older is None
    page = dashboard.get(url("outbox"), {"before": "junk"})
    assert page.status_code == 200


def test_header_message_id_reads_only_the_header():
    raw = "From: a@b.c\nMessage-ID: <1.2@acme.example>\n\nMessage-ID: <fake@evil>\n"
    assert header_message_id(raw) == "<1.2@acme.example>"
    assert header_message_id("Subject: x\n\nbody") == ""


def test_the_email_log_links_to_its_captured_copy(
    dashboard, workspace, django_capture_on_commit_callbacks
):
    from campaigns.transactional import email_queue

    with django_capture_on_commit_callbacks(execute=True):
        message = email_queue(
            workspace=workspace,
            data={
                "from_email": "shop@acme.example",
                "to": ["buyer@example.com"],
                "subject": "Order 42",
                "html": "<p>Thanks</p>",
            },
        )
    captured = CapturedEmail.objects.get(to=["buyer@example.com"])
    body = dashboard.get(url("email", message.pk)).content.decode()
    assert url("outbox_email", captured.pk) in body


def test_a_campaign_takes_content_and_sender_from_its_template(dashboard, workspace, world):
    template = template_create(
        workspace=workspace,
        name="Promo",
        subject="Deal for {{ contact.first_name }}",
        html="<p>Only for {{ contact.first_name }}</p>",
        from_name="Promo team",
        from_email="promo@acme.example",
    )
    campaign = services.campaign_create(
        workspace=workspace,
        name="From a template",
        template_id=str(template.pk),
        audience={"lists": [str(world.list.pk)]},
    )
    body = dashboard.get(url("campaign", campaign.pk)).content.decode()
    assert "Promo team &lt;promo@acme.example&gt;" in body
    assert "(the template's)" in body
    assert "Deal for {{ contact.first_name }}" in body
    preview = dashboard.get(url("campaign_preview", campaign.pk), {"contact": "cy@example.com"})
    assert "Only for Cy" in preview.content.decode()


# --- query counts ------------------------------------------------------------------------------


def test_lists_cost_the_same_queries_however_many_rows(
    dashboard, world, workspace, send_now, django_assert_max_num_queries
):
    for n in range(30):
        services.campaign_create(workspace=workspace, name=f"Campaign {n}")
    sent_campaign(dashboard, send_now, world.draft)
    _events(world.draft, timezone.now() - timedelta(hours=3))
    for n in range(10):
        services.campaign_test_send(campaign=world.draft, emails=[f"t{n}@example.com"])
    bounds = {
        url("campaigns"): 6,
        url("campaign_report", world.draft.pk): 14,  # + the recipients' id range
        url("emails"): 6,
        url("outbox"): 8,
        url("campaign", world.draft.pk): 9,
        url("email", world.email.pk): 7,
    }
    for page, bound in bounds.items():
        with django_assert_max_num_queries(bound):
            assert dashboard.get(page).status_code == 200, page
