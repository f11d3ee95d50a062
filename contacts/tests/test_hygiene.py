"""Engagement hygiene: lead-score decay and sunsetting (contacts.hygiene), through the daily
task, the campaign audience, automations, the API, the dashboard and the admin."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automations import services as automation_services
from automations.models import Enrollment
from campaigns.audience import audience_contacts
from campaigns.models import Campaign
from contacts import hygiene
from contacts.models import Contact, ContactList, ListMembership, ScoringSettings
from contacts.query import compile_query
from contacts.scoring import SCORED_EVENTS, record_engagement, scoring_settings
from contacts.tests.factories import ContactFactory
from deliverability.models import Suppression
from deliverability.services import is_suppressed
from mailcrm import outbox
from mailcrm.models import Event

pytestmark = pytest.mark.django_db

SCORING_URL = reverse("dashboard:contacts:scoring")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def person(workspace, email, *, score=0, engaged=None, created=T0 - 200 * DAY, **fields):
    contact = ContactFactory(workspace=workspace, email=email)
    Contact.objects.filter(pk=contact.pk).update(
        score=score, last_engaged_at=engaged, created_at=created, **fields
    )
    return contact


def scores(workspace) -> dict[str, int]:
    return dict(Contact.objects.filter(workspace=workspace).values_list("email", "score"))


def configure(workspace, **values) -> ScoringSettings:
    settings = scoring_settings(workspace)
    ScoringSettings.objects.filter(pk=settings.pk).update(**values)
    settings.refresh_from_db()
    return settings


# --- decay -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engaged_days_ago", "since_days", "until_days", "expected"),
    [
        (5, 0, 6, 1),  # ten days without engagement reached on day 5
        (25, 0, 6, 1),  # the third boundary (30 days) on day 5
        (25, 6, 30, 2),  # 40 and 50 days
        (3, 0, 6, 0),  # not ten days yet
        (100, 0, 0, 0),  # nothing between a moment and itself
        (100, 0, 30, 3),  # 110, 120, 130
    ],
)
def test_halvings_counts_the_boundaries_crossed(engaged_days_ago, since_days, until_days, expected):
    assert (
        hygiene.halvings(
            engaged_at=T0 - engaged_days_ago * DAY,
            since=T0 + since_days * DAY,
            until=T0 + until_days * DAY,
            half_life=10 * DAY,
        )
        == expected
    )


def test_scores_halve_per_half_life_without_engagement(workspace, outsider):
    configure(workspace, decay_half_life_days=10)
    person(workspace, "idle@example.com", score=40, engaged=T0 - 25 * DAY)
    person(workspace, "recent@example.com", score=40, engaged=T0 - 5 * DAY)
    person(workspace, "never@example.com", score=-50, created=T0 - 100 * DAY)
    person(workspace, "zero@example.com", score=0, engaged=T0 - 300 * DAY)
    Contact.objects.filter(pk=outsider.contact.pk).update(score=40, last_engaged_at=T0 - 99 * DAY)
    configure(outsider.workspace, decay_half_life_days=10, decayed_until=T0)

    # Turning decay on halves nothing at once: it counts from then.
    assert hygiene.decay_scores(workspace, T0) == 0
    assert scoring_settings(workspace).decayed_until == T0

    assert hygiene.decay_scores(workspace, T0 + 6 * DAY) == 2
    assert scores(workspace) == {
        "idle@example.com": 20,
        "recent@example.com": 20,
        "never@example.com": -50,
        "zero@example.com": 0,
    }
    hygiene.decay_scores(workspace, T0 + 30 * DAY)
    assert scores(workspace) == {
        "idle@example.com": 5,
        "recent@example.com": 5,
        "never@example.com": -6,  # -50 / 8: towards zero
        "zero@example.com": 0,
    }
    assert Contact.objects.get(email="idle@example.com").score_tier == "cold"
    assert Contact.objects.get(pk=outsider.contact.pk).score == 40


def test_daily_runs_give_the_same_scores_as_one_run(workspace, outsider):
    for ws in (workspace, outsider.workspace):
        configure(ws, decay_half_life_days=7, decayed_until=T0)
        for n, days in enumerate((0, 3, 8, 15, 40, 77)):
            person(ws, f"p{n}@example.com", score=97 - 30 * n, engaged=T0 - days * DAY)
    Contact.objects.filter(pk=outsider.contact.pk).delete()
    for day in range(1, 46):
        hygiene.decay_scores(workspace, T0 + day * DAY)
    hygiene.decay_scores(outsider.workspace, T0 + 45 * DAY)
    assert scores(workspace) == scores(outsider.workspace)
    assert scores(workspace) != {f"p{n}@example.com": 97 - 30 * n for n in range(6)}


def test_engagement_restarts_the_clock(workspace):
    configure(workspace, decay_half_life_days=10, decayed_until=T0)
    contact = person(workspace, "a@example.com", score=64, engaged=T0 - 9 * DAY)
    record_engagement(contact=contact, event="visited_page", at=T0 + DAY)  # +20 points
    contact.refresh_from_db()
    assert (contact.score, contact.last_engaged_at) == (84, T0 + DAY)
    hygiene.decay_scores(workspace, T0 + 5 * DAY)
    assert scores(workspace)["a@example.com"] == 84  # the day-1 boundary was moved away
    hygiene.decay_scores(workspace, T0 + 11 * DAY)
    assert scores(workspace)["a@example.com"] == 42


def test_decay_off_changes_nothing_and_restarts_when_turned_on_again(workspace):
    configure(workspace, decay_half_life_days=None, decayed_until=T0)
    person(workspace, "a@example.com", score=64, engaged=T0 - 90 * DAY)
    assert hygiene.decay_scores(workspace, T0 + 30 * DAY) == 0
    assert scores(workspace)["a@example.com"] == 64
    assert scoring_settings(workspace).decayed_until is None


# --- sunsetting --------------------------------------------------------------------------------


@pytest.fixture
def sunset_people(workspace, outsider):
    configure(workspace, sunset_after_days=30, sunset_min_sends=2)
    now = timezone.now()
    people = {
        "idle": person(workspace, "idle@example.com", sends=3, last_opened_at=now - 40 * DAY),
        "reader": person(workspace, "reader@example.com", sends=3, last_opened_at=now - 5 * DAY),
        "clicker": person(workspace, "clicker@example.com", sends=9, last_clicked_at=now - DAY),
        "few": person(workspace, "few@example.com", sends=1),
        "new": person(workspace, "new@example.com", sends=4, created=now - 3 * DAY),
        "archived": person(workspace, "gone@example.com", sends=4, archived_at=now),
        "never": person(workspace, "never@example.com", sends=2),
    }
    Contact.objects.filter(pk=outsider.contact.pk).update(sends=50, created_at=now - 300 * DAY)
    return people


def sunset_emails(workspace) -> set[str]:
    return set(
        Contact.objects.filter(workspace=workspace, sunset_at__isnull=False).values_list(
            "email", flat=True
        )
    )


def test_unengaged_contacts_are_flagged_and_announced(workspace, outsider, sunset_people):
    outbox.dispatch_pending()
    flagged, cleared = hygiene.sunset_contacts(workspace)
    assert (flagged, cleared) == (2, 0)
    assert sunset_emails(workspace) == {"idle@example.com", "never@example.com"}
    announced = Event.objects.filter(workspace=workspace, type="contact.sunset")
    assert {e.subject_id for e in announced} == {
        sunset_people["idle"].pk,
        sunset_people["never"].pk,
    }
    assert announced.first().data["sunset_after_days"] == 30
    assert not Contact.objects.filter(pk=outsider.contact.pk, sunset_at__isnull=False).exists()
    # A second run flags nobody twice.
    assert hygiene.sunset_contacts(workspace) == (0, 0)
    assert announced.count() == 2


def test_a_human_open_clears_the_flag(workspace, sunset_people):
    hygiene.sunset_contacts(workspace)
    record_engagement(contact=sunset_people["idle"], event="opened")
    assert sunset_emails(workspace) == {"never@example.com"}
    # Engagement recorded some other way is noticed by the next run.
    Contact.objects.filter(pk=sunset_people["never"].pk).update(last_clicked_at=timezone.now())
    assert hygiene.sunset_contacts(workspace) == (0, 1)
    assert sunset_emails(workspace) == set()


def test_campaigns_leave_sunset_contacts_out_when_the_workspace_says_so(workspace, sunset_people):
    newsletter = ContactList.objects.create(workspace=workspace, name="News")
    ListMembership.objects.bulk_create(
        ListMembership(contact=c, contact_list=newsletter) for c in sunset_people.values()
    )
    campaign = Campaign.objects.create(
        workspace=workspace, name="C", audience={"lists": [str(newsletter.pk)]}
    )
    hygiene.sunset_contacts(workspace)
    assert audience_contacts(campaign).filter(email="idle@example.com").exists()
    configure(workspace, sunset_exclude=True)
    reached = set(audience_contacts(campaign).values_list("email", flat=True))
    assert "idle@example.com" not in reached
    assert "never@example.com" not in reached
    assert "reader@example.com" in reached


def test_still_unengaged_contacts_are_suppressed_after_the_grace_period(
    workspace, outsider, sunset_people
):
    configure(workspace, sunset_suppress_after_days=14)
    now = timezone.now()
    hygiene.sunset_contacts(workspace, now)
    assert hygiene.suppress_sunset(workspace, now + 13 * DAY) == 0
    record_engagement(contact=sunset_people["never"], event="clicked")  # re-engaged meanwhile
    assert hygiene.suppress_sunset(workspace, now + 15 * DAY) == 1
    assert is_suppressed(workspace, "idle@example.com")
    assert not is_suppressed(workspace, "never@example.com")
    suppression = Suppression.objects.get(workspace=workspace)
    assert suppression.reason.startswith("Sunset: no human open or click in 30 days")
    assert hygiene.suppress_sunset(workspace, now + 16 * DAY) == 0  # once
    assert not Suppression.objects.filter(workspace=outsider.workspace).exists()


def test_a_re_engagement_automation_starts_on_the_flag(workspace, sunset_people):
    automation = automation_services.automation_create(
        workspace=workspace, name="Win back", trigger_type="contact_sunset", trigger_config={}
    )
    automation_services.step_add(automation=automation, type="add_tag", config={"tag": "winback"})
    automation_services.automation_activate(automation=automation)
    outbox.dispatch_pending()
    hygiene.sunset_contacts(workspace)
    outbox.dispatch_pending()
    enrolled = Enrollment.objects.filter(automation=automation)
    assert set(enrolled.values_list("contact__email", flat=True)) == {
        "idle@example.com",
        "never@example.com",
    }


def test_the_daily_task_runs_every_workspace(workspace, outsider, sunset_people):
    from contacts.tasks import engagement_hygiene

    configure(outsider.workspace, sunset_after_days=30, sunset_min_sends=2)
    totals = engagement_hygiene()
    assert totals["sunset"] == 3  # two here, the outsider's contact there
    assert sunset_emails(outsider.workspace) == {outsider.contact.email}


def test_the_query_language_knows_the_new_fields(workspace, sunset_people):
    hygiene.sunset_contacts(workspace)
    flagged = Contact.objects.filter(workspace=workspace).filter(
        compile_query("sunset_at IS SET", workspace=workspace)
    )
    assert set(flagged.values_list("email", flat=True)) == {
        "idle@example.com",
        "never@example.com",
    }


# --- API, dashboard, admin ---------------------------------------------------------------------


def test_api_reads_and_writes_the_settings(api, workspace):
    body = api.get("/api/v1/scoring").json()
    assert body["decay_half_life_days"] is None
    assert (body["sunset_after_days"], body["sunset_min_sends"]) == (180, 5)
    assert body["sunset_exclude"] is False
    response = api.put(
        "/api/v1/scoring",
        {
            **{k: body[k] for k in ("rules", "hot_threshold", "warm_threshold")},
            "recompute": False,
            "decay_half_life_days": 30,
            "sunset_exclude": True,
            "sunset_suppress_after_days": 21,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    settings = scoring_settings(workspace)
    assert (settings.decay_half_life_days, settings.sunset_exclude) == (30, True)
    assert settings.sunset_suppress_after_days == 21
    assert settings.sunset_after_days == 180  # left out: kept


def test_api_refuses_bad_settings(api, workspace):
    body = api.get("/api/v1/scoring").json()
    base = {k: body[k] for k in ("rules", "hot_threshold", "warm_threshold")}
    response = api.put(
        "/api/v1/scoring",
        {**base, "decay_half_life_days": 0, "sunset_min_sends": "many"},
        format="json",
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "decay_half_life_days" in text and "sunset_min_sends" in text
    assert scoring_settings(workspace).decay_half_life_days is None


def test_contacts_show_the_flag_in_the_api(api, workspace, outsider, sunset_people):
    hygiene.sunset_contacts(workspace)
    body = api.get(f"/api/v1/contacts/{sunset_people['idle'].pk}").json()
    assert body["sunset_at"] is not None
    assert "last_engaged_at" in body["stats"]
    assert api.get(f"/api/v1/contacts/{outsider.contact.pk}").status_code == 404


def test_dashboard_scoring_page_saves_the_settings(dashboard, workspace, sunset_people):
    hygiene.sunset_contacts(workspace)
    page = dashboard.get(SCORING_URL)
    assert page.status_code == 200
    assert "2 contacts flagged as sunset" in page.content.decode()
    form = {
        "hot_threshold": 50,
        "warm_threshold": 20,
        **{f"points_{event}": 0 for event in SCORED_EVENTS},
        "points_opened": 1,
        "decay_half_life_days": 14,
        "sunset_after_days": 90,
        "sunset_min_sends": 3,
        "sunset_exclude": "on",
        "sunset_suppress_after_days": "",
    }
    response = dashboard.post(SCORING_URL, form)
    assert response.status_code == 302
    settings = scoring_settings(workspace)
    assert (settings.decay_half_life_days, settings.sunset_after_days) == (14, 90)
    assert settings.sunset_exclude is True
    assert settings.sunset_suppress_after_days is None
    bad = dashboard.post(SCORING_URL, {**form, "sunset_after_days": 0})
    assert bad.status_code == 200
    assert scoring_settings(workspace).sunset_after_days == 90


def test_contact_page_shows_the_flag(dashboard, workspace, sunset_people):
    hygiene.sunset_contacts(workspace)
    page = dashboard.get(
        reverse("dashboard:contacts:contact", args=[sunset_people["idle"].pk])
    ).content.decode()
    assert "Stopped engaging" in page
    assert (
        "Stopped engaging"
        not in dashboard.get(
            reverse("dashboard:contacts:contact", args=[sunset_people["reader"].pk])
        ).content.decode()
    )


def test_admin_lists_settings_and_filters_sunset_contacts(admin_client, workspace, sunset_people):
    scoring_settings(workspace)
    hygiene.sunset_contacts(workspace)
    assert admin_client.get("/admin/contacts/scoringsettings/").status_code == 200
    page = admin_client.get("/admin/contacts/contact/?sunset=yes").content.decode()
    assert "idle@example.com" in page and "reader@example.com" not in page
