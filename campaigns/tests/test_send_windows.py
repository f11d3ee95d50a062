"""Send windows and local-time delivery (campaigns.windows): each message is released in its
recipient's time zone, sent to a real SMTP sink with time moved by the test; the contact's
time zone, guessed from its country; the API, the composer, the workspace settings."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from campaigns import pipeline, services, windows
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.sending import send_batch
from campaigns.stats import campaign_progress
from contacts.models import Contact
from contacts.query import compile_query
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from contacts.time_zones import effective_zone_name, zone_of_country
from tests.smtp import SmtpSink

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("verified_domains"),
]

# Wednesday 15 January 2031 (a future date: a scheduled campaign must lie ahead).
DAY = datetime(2031, 1, 15, tzinfo=UTC)
HOUR = timedelta(hours=1)
WEEKDAYS_9_TO_5 = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}


@pytest.fixture
def smtp():
    sink = SmtpSink()
    with sink, sink.as_email_backend():
        yield sink


@pytest.fixture
def people(workspace):
    """Four recipients in four zones: their own, guessed from a country (a name, an ISO
    code), and none (the workspace's: UTC)."""
    newsletter = ContactListFactory(workspace=workspace, name="Newsletter")
    found = {
        "tokyo": ContactFactory(workspace=workspace, email="tokyo@example.com"),
        "paris": ContactFactory(workspace=workspace, email="paris@example.com"),
        "newyork": ContactFactory(workspace=workspace, email="newyork@example.com"),
        "plain": ContactFactory(workspace=workspace, email="plain@example.com"),
    }
    Contact.objects.filter(pk=found["tokyo"].pk).update(time_zone="Asia/Tokyo")
    Contact.objects.filter(pk=found["paris"].pk).update(properties={"country": "France"})
    Contact.objects.filter(pk=found["newyork"].pk).update(properties={"country": "US"})
    for contact in found.values():
        ListMembershipFactory(contact=contact, contact_list=newsletter)
    return newsletter


def make_campaign(workspace, newsletter, **extra) -> Campaign:
    return services.campaign_create(
        workspace=workspace,
        name="Local news",
        subject="Hello",
        html="<p>Hi {{ contact.first_name }}</p>",
        from_email="news@acme.io",
        audience={"lists": [str(newsletter.pk)]},
        **extra,
    )


def received(smtp) -> list[str]:
    return sorted(r.recipients[0].split("@")[0] for r in smtp.received)


def waiting_until(campaign) -> dict[str, datetime]:
    return dict(
        Message.objects.filter(campaign=campaign, status=MessageStatus.WAITING).values_list(
            "email", "next_attempt_at"
        )
    )


def move_to(campaign, moment: datetime) -> int:
    """What the minutely housekeeping does at ``moment``: release what is due, send it."""
    windows.release_due(moment)
    sent = 0
    while True:
        settled = send_batch(str(campaign.pk), now=moment)
        sent += settled
        if not settled:
            return sent


# --- the pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("DE", "Europe/Berlin"),
        ("Germany", "Europe/Berlin"),
        ("france", "Europe/Paris"),
        ("USA", "America/New_York"),
        ("United States", "America/New_York"),
        ("UK", "Europe/London"),
        ("Korea (South)", "Asia/Seoul"),
        ("South Korea", "Asia/Seoul"),
        ("Brazil", "America/Sao_Paulo"),
        ("Atlantis", None),
        ("", None),
    ],
)
def test_a_zone_is_guessed_from_the_country(country, zone):
    assert zone_of_country(country) == zone


def test_the_contacts_own_zone_comes_first_then_the_country_then_the_workspace():
    assert effective_zone_name("Asia/Tokyo", "France", "UTC") == "Asia/Tokyo"
    assert effective_zone_name("", "France", "UTC") == "Europe/Paris"
    assert effective_zone_name("", "Atlantis", "Europe/Lisbon") == "Europe/Lisbon"
    assert effective_zone_name("", ["not", "a", "name"], "UTC") == "UTC"


def test_windows_open_on_their_days_and_hours():
    window = windows.parse_window(WEEKDAYS_9_TO_5)
    paris = ZoneInfo("Europe/Paris")
    wednesday_noon = datetime(2031, 1, 15, 12, tzinfo=paris)
    assert window.contains(wednesday_noon)
    assert window.next_opening(wednesday_noon) == wednesday_noon
    assert window.next_opening(datetime(2031, 1, 15, 7, tzinfo=paris)) == datetime(
        2031, 1, 15, 9, tzinfo=paris
    )
    friday_evening = datetime(2031, 1, 17, 17, 0, tzinfo=paris)  # the end is exclusive
    assert not window.contains(friday_evening)
    assert window.next_opening(friday_evening) == datetime(2031, 1, 20, 9, tzinfo=paris)
    late = windows.parse_window({"days": ["sun"], "start": "22:00", "end": "24:00"})
    assert late.contains(datetime(2031, 1, 19, 23, 59, tzinfo=paris))


def test_a_window_opening_in_a_daylight_saving_gap_moves_forward():
    window = windows.parse_window({"days": ["sun"], "start": "02:30", "end": "04:00"})
    paris = ZoneInfo("Europe/Paris")
    opening = window.next_opening(datetime(2031, 3, 30, 0, 0, tzinfo=paris))  # clocks 2 → 3
    assert opening.astimezone(UTC) == datetime(2031, 3, 30, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"days": [], "start": "09:00", "end": "17:00"}, "send_window.days"),
        ({"days": ["funday"], "start": "09:00", "end": "17:00"}, "send_window.days"),
        ({"days": ["mon"], "start": "9am", "end": "17:00"}, "send_window.start"),
        ({"days": ["mon"], "start": "18:00", "end": "17:00"}, "send_window.end"),
        ({"days": ["mon"], "start": "09:00", "end": "17:00", "tz": "x"}, "send_window.tz"),
        ("weekdays", "send_window"),
    ],
)
def test_bad_windows_are_refused_with_the_field(value, field):
    with pytest.raises(ValidationError) as caught:
        windows.clean_window(value)
    assert field in caught.value.message_dict


# --- end to end, with a real SMTP sink and time moved -------------------------------------------


def test_local_time_delivery_releases_each_zone_at_its_nine(workspace, people, smtp):
    campaign = make_campaign(workspace, people, local_time=time(9, 0))
    services.campaign_schedule(campaign=campaign, send_at=DAY)
    services.campaign_send(campaign=Campaign.objects.get(pk=campaign.pk))
    assert received(smtp) == []  # nobody's nine o'clock has come
    assert waiting_until(campaign) == {
        "tokyo@example.com": datetime(2031, 1, 15, 0, 0, tzinfo=UTC),
        "paris@example.com": datetime(2031, 1, 15, 8, 0, tzinfo=UTC),
        "plain@example.com": datetime(2031, 1, 15, 9, 0, tzinfo=UTC),
        "newyork@example.com": datetime(2031, 1, 15, 14, 0, tzinfo=UTC),
    }
    assert campaign_progress(campaign)["waiting"] == 4

    assert move_to(campaign, DAY + timedelta(minutes=1)) == 1
    assert received(smtp) == ["tokyo"]
    move_to(campaign, DAY + 8 * HOUR)
    assert received(smtp) == ["paris", "tokyo"]
    move_to(campaign, DAY + 10 * HOUR)
    assert received(smtp) == ["paris", "plain", "tokyo"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING  # New York still waits
    move_to(campaign, DAY + 14 * HOUR)
    move_to(campaign, DAY + 15 * HOUR)  # nothing is sent twice
    assert received(smtp) == ["newyork", "paris", "plain", "tokyo"]
    pipeline.finish_if_done(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def test_the_window_holds_back_recipients_outside_it(workspace, people, smtp):
    campaign = make_campaign(workspace, people, send_window=WEEKDAYS_9_TO_5)
    now = DAY + 15 * HOUR  # Wed 15:00 UTC: Tokyo is past midnight, New York at 10:00
    pipeline.snapshot(campaign)
    assert windows.schedule(campaign, now) == 1
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    move_to(campaign, now)
    assert received(smtp) == ["newyork", "paris", "plain"]
    assert waiting_until(campaign) == {
        "tokyo@example.com": datetime(2031, 1, 16, 0, 0, tzinfo=UTC),  # Thu 09:00 in Tokyo
    }
    move_to(campaign, DAY + 20 * HOUR)  # still night in Tokyo
    assert received(smtp) == ["newyork", "paris", "plain"]
    move_to(campaign, DAY + 24 * HOUR)
    assert received(smtp) == ["newyork", "paris", "plain", "tokyo"]


def test_a_window_that_closes_during_the_send_holds_the_rest(workspace, people, smtp):
    campaign = make_campaign(workspace, people, send_window=WEEKDAYS_9_TO_5)
    Contact.objects.filter(email="tokyo@example.com").update(time_zone="Europe/Paris")
    pipeline.snapshot(campaign)  # no schedule: as if the window was open at the snapshot
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    friday = datetime(2031, 1, 17, 16, 30, tzinfo=UTC)  # 17:30 in Paris, 11:30 in New York
    move_to(campaign, friday)
    assert received(smtp) == ["newyork", "plain"]
    monday_nine_in_paris = datetime(2031, 1, 20, 8, 0, tzinfo=UTC)
    assert set(waiting_until(campaign).values()) == {monday_nine_in_paris}
    move_to(campaign, monday_nine_in_paris)
    assert received(smtp) == ["newyork", "paris", "plain", "tokyo"]


def test_the_workspace_window_applies_unless_the_campaign_has_its_own(workspace, people, smtp):
    workspace.send_window = {"days": ["sat"], "start": "10:00", "end": "11:00"}
    workspace.save()
    inherits = make_campaign(workspace, people)
    anytime = make_campaign(workspace, people, send_window={})
    now = DAY + 12 * HOUR
    for campaign in (inherits, anytime):
        pipeline.snapshot(campaign)
        windows.schedule(campaign, now)
    assert len(waiting_until(inherits)) == 4
    assert waiting_until(anytime) == {}


def test_a_cancelled_campaign_drops_its_waiting_messages(workspace, people, smtp):
    campaign = make_campaign(workspace, people, local_time=time(9, 0))
    services.campaign_schedule(campaign=campaign, send_at=DAY)
    services.campaign_send(campaign=Campaign.objects.get(pk=campaign.pk))
    services.campaign_cancel(campaign=Campaign.objects.get(pk=campaign.pk))
    move_to(campaign, DAY + 20 * HOUR)
    assert received(smtp) == []
    assert not Message.objects.filter(campaign=campaign, status=MessageStatus.WAITING).exists()


# --- API, composer, settings ---------------------------------------------------------------------


def test_api_takes_a_window_and_a_local_time(api, workspace, outsider, people):
    body = {
        "name": "Timed",
        "subject": "Hi",
        "html": "<p>Hi</p>",
        "from_email": "news@acme.io",
        "send_window": {"days": ["Mon", "tue"], "start": "08:00", "end": "18:30"},
        "local_time": "09:15",
    }
    response = api.post("/api/v1/campaigns", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["send_window"] == {"days": ["mon", "tue"], "start": "08:00", "end": "18:30"}
    assert created["local_time"] == "09:15"
    assert outsider.api.get(f"/api/v1/campaigns/{created['id']}").status_code == 404
    bad = api.post(
        "/api/v1/campaigns",
        body | {"send_window": {"days": ["mon"], "start": "10:00", "end": "09:00"}},
        format="json",
    )
    assert bad.status_code == 400
    assert "send_window.end" in bad.content.decode()
    assert (
        api.post("/api/v1/campaigns", body | {"local_time": "25:00"}, format="json").status_code
        == 400
    )


def test_contacts_take_an_iana_time_zone(api, workspace):
    response = api.post(
        "/api/v1/contacts", {"email": "z@example.com", "time_zone": "Europe/Paris"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["time_zone"] == "Europe/Paris"
    bad = api.post(
        "/api/v1/contacts", {"email": "y@example.com", "time_zone": "Mars/Olympus"}, format="json"
    )
    assert bad.status_code == 400 and "time_zone" in bad.content.decode()
    in_paris = Contact.objects.filter(compile_query('time_zone = "Europe/Paris"', workspace))
    assert list(in_paris.values_list("email", flat=True)) == ["z@example.com"]


def test_the_composer_saves_the_timing(dashboard, workspace, people):
    response = dashboard.post(
        reverse("dashboard:campaigns:campaign_new"),
        {
            "name": "Timed",
            "from_email": "news@acme.io",
            "html": "<p>Hi</p>",
            "lists": [str(people.pk)],
            "local_time": "09:30",
            "window_mode": "custom",
            "window_days": ["mon", "wed"],
            "window_start": "08:00",
            "window_end": "20:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = Campaign.objects.get(workspace=workspace, name="Timed")
    assert campaign.local_time == time(9, 30)
    assert campaign.send_window == {"days": ["mon", "wed"], "start": "08:00", "end": "20:00"}
    edit = dashboard.get(reverse("dashboard:campaigns:campaign_edit", args=[campaign.pk]))
    assert 'value="08:00"' in edit.content.decode()
    bad = dashboard.post(
        reverse("dashboard:campaigns:campaign_new"),
        {"name": "Bad", "window_mode": "custom", "window_days": ["mon"], "window_start": "x"},
    )
    assert bad.status_code == 200
    assert not Campaign.objects.filter(name="Bad").exists()


def test_the_progress_view_counts_the_waiting(dashboard, workspace, people, smtp):
    campaign = make_campaign(workspace, people, local_time=time(9, 0))
    services.campaign_schedule(campaign=campaign, send_at=DAY)
    services.campaign_send(campaign=Campaign.objects.get(pk=campaign.pk))
    page = dashboard.get(reverse("dashboard:campaigns:campaign_progress", args=[campaign.pk]))
    assert "4 of the remaining are waiting" in page.content.decode()


def test_the_workspace_window_is_set_in_the_settings(dashboard, workspace):
    base = {"name": "Acme", "time_zone": "Europe/Paris"}
    response = dashboard.post(
        reverse("dashboard:settings"),
        base | {"window_days": ["mon", "tue"], "window_start": "09:00", "window_end": "17:00"},
    )
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.send_window == {"days": ["mon", "tue"], "start": "09:00", "end": "17:00"}
    bad = dashboard.post(
        reverse("dashboard:settings"),
        base | {"window_days": ["mon"], "window_start": "17:00", "window_end": "09:00"},
    )
    assert bad.status_code == 200
    workspace.refresh_from_db()
    assert workspace.send_window["start"] == "09:00"
    dashboard.post(reverse("dashboard:settings"), base)  # no days: any time
    workspace.refresh_from_db()
    assert workspace.send_window == {}
