"""Warm-up schedules and circuit-breaker thresholds as configured: the schedule's daily caps,
the sending-domain API's ``warmup`` fields, ``/customer/circuit-breakers``, the dashboard's
warm-up form and settings page, and the admin — each with bad input (400 or form errors, never
a 500) and another workspace (404, nothing of it changed)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deliverability.models import DeliverabilitySettings, SendingDomain, ThrottleState
from deliverability.warmup import daily_cap, domain_set_warmup, warmup_status

pytestmark = pytest.mark.django_db

DAY0 = date(2026, 3, 2)


@pytest.fixture
def domain(workspace):
    return SendingDomain.objects.create(workspace=workspace, domain="news.example")


@pytest.fixture
def theirs(outsider):
    return SendingDomain.objects.create(workspace=outsider.workspace, domain="theirs.example")


def test_the_cap_starts_small_grows_each_day_and_ends_at_the_target(domain):
    domain_set_warmup(domain=domain, target=1000, daily_start=50, growth="1.5", started_on=DAY0)
    caps = [daily_cap(domain, DAY0 + timedelta(days=n)) for n in range(9)]
    assert caps == [50, 75, 112, 168, 253, 379, 569, 854, None]  # day 9: 1,281 ≥ 1,000
    assert daily_cap(domain, DAY0 - timedelta(days=3)) == 50
    assert warmup_status(domain, DAY0 + timedelta(days=2))["day"] == 3


def test_a_steep_growth_long_ago_is_simply_warm(domain):
    domain_set_warmup(
        domain=domain, target=2_000_000_000, daily_start=1, growth=10, started_on=DAY0
    )
    assert daily_cap(domain, DAY0 + timedelta(days=350)) is None  # 10 ** 350 is past a float


def test_no_warmup_means_no_cap_and_stopping_clears_it(domain):
    assert daily_cap(domain, DAY0) is None and warmup_status(domain) is None
    domain_set_warmup(domain=domain, target=500)
    assert domain.warmup_started_on == timezone.now().date()
    domain_set_warmup(domain=domain, target=None)
    domain.refresh_from_db()
    assert domain.warmup_target is None and daily_cap(domain, DAY0) is None


# --- API ---------------------------------------------------------------------------------------


def test_the_api_starts_changes_and_stops_a_warmup(api, domain):
    url = f"/api/v1/customer/domains/{domain.pk}"
    body = {"warmup_target": 2000, "warmup_daily_start": 40, "warmup_growth": 2}
    response = api.patch(url, body, format="json")
    assert response.status_code == 200, response.content
    warmup = response.json()["warmup"]
    assert (warmup["target"], warmup["daily_start"], warmup["growth"]) == (2000, 40, 2.0)
    assert warmup["day"] == 1 and warmup["cap_today"] == 40 and warmup["done"] is False

    started = (timezone.now().date() - timedelta(days=2)).isoformat()
    response = api.patch(url, {"warmup_started_on": started}, format="json")
    assert response.json()["warmup"]["cap_today"] == 160  # 40 × 2²
    assert api.get(url).json()["warmup"]["target"] == 2000

    response = api.patch(url, {"warmup_target": None}, format="json")
    assert response.status_code == 200 and response.json()["warmup"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"warmup_target": 0}, "warmup_target"),
        ({"warmup_target": 10**12}, "warmup_target"),
        ({"warmup_target": "lots"}, "warmup_target"),
        ({"warmup_target": 100, "warmup_growth": 20}, "warmup_growth"),
        ({"warmup_target": 100, "warmup_growth": "x"}, "warmup_growth"),
        ({"warmup_target": 100, "warmup_daily_start": 0}, "warmup_daily_start"),
        ({"warmup_target": 10, "warmup_daily_start": 50}, "warmup_daily_start"),
        ({"warmup_started_on": "yesterday"}, "warmup_started_on"),
    ],
)
def test_bad_warmup_input_is_400_naming_the_field(api, domain, body, field):
    response = api.patch(f"/api/v1/customer/domains/{domain.pk}", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    domain.refresh_from_db()
    assert domain.warmup_target is None


def test_another_workspaces_domain_warmup_is_404(api, theirs):
    response = api.patch(
        f"/api/v1/customer/domains/{theirs.pk}", {"warmup_target": 10}, format="json"
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.warmup_target is None


def test_the_breaker_thresholds_default_and_change_for_this_workspace_only(api, outsider):
    url = "/api/v1/customer/circuit-breakers"
    body = api.get(url).json()
    assert body == {
        "bounce_rate_threshold": 5.0,
        "complaint_rate_threshold": 0.3,
        "window": 1000,
        "min_sample": 100,
    }
    response = api.patch(url, {"complaint_rate_threshold": "0.1"}, format="json")
    assert response.status_code == 200
    assert response.json()["complaint_rate_threshold"] == 0.1
    assert response.json()["bounce_rate_threshold"] == 5.0
    assert outsider.api.get(url).json()["complaint_rate_threshold"] == 0.3
    assert not DeliverabilitySettings.objects.filter(
        workspace=outsider.workspace, complaint_rate_threshold=Decimal("0.1")
    ).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"bounce_rate_threshold": 150},
        {"bounce_rate_threshold": -1},
        {"complaint_rate_threshold": "often"},
        {"complaint_rate_threshold": "0.001"},
        {"bounce_rate_threshold": None},
    ],
)
def test_bad_thresholds_are_400(api, body):
    response = api.patch("/api/v1/customer/circuit-breakers", body, format="json")
    assert response.status_code == 400
    assert set(body) <= set(response.json()["error"]["fields"])


def test_the_progress_api_shows_throttled_domains_and_is_404_for_others(api, workspace, outsider):
    from campaigns import services

    ThrottleState.objects.create(
        backend="server", domain="gmail.com", rate_per_minute=60, ceiling=240
    )
    mine = services.campaign_create(workspace=workspace, name="Mine")
    response = api.get(f"/api/v1/campaigns/{mine.pk}/progress")
    assert response.status_code == 200
    body = response.json()
    assert body["delivery"]["throttled_domains"][0]["domain"] == "gmail.com"
    assert body["delivery"]["throttled_domains"][0]["rate_per_minute"] == 60
    assert body["delivery"]["waiting"] == {"throttled": 0, "warmup": 0}
    theirs = services.campaign_create(workspace=outsider.workspace, name="Theirs")
    assert api.get(f"/api/v1/campaigns/{theirs.pk}/progress").status_code == 404


# --- dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_sets_a_warmup_and_shows_todays_cap(dashboard, domain):
    url = f"/domains/{domain.pk}/warmup/"
    response = dashboard.post(
        url,
        {"warmup_target": "1000", "warmup_daily_start": "20", "warmup_growth": "1.5"},
        follow=True,
    )
    assert response.status_code == 200
    domain.refresh_from_db()
    assert domain.warmup_target == 1000 and domain.warmup_daily_start == 20
    page = dashboard.get(f"/domains/{domain.pk}/").content.decode()
    assert 'data-warmup="active"' in page and "<strong>20</strong>" in page


def test_bad_warmup_input_in_the_dashboard_is_a_message_not_a_500(dashboard, domain):
    response = dashboard.post(
        f"/domains/{domain.pk}/warmup/",
        {"warmup_target": "10", "warmup_daily_start": "50", "warmup_growth": "1.5"},
        follow=True,
    )
    assert response.status_code == 200
    assert "The warm-up was not saved" in response.content.decode()
    domain.refresh_from_db()
    assert domain.warmup_target is None


def test_another_workspaces_domain_warmup_is_404_in_the_dashboard(dashboard, theirs):
    response = dashboard.post(
        f"/domains/{theirs.pk}/warmup/",
        {"warmup_target": "10", "warmup_daily_start": "5", "warmup_growth": "1.5"},
    )
    assert response.status_code == 404


def test_the_settings_page_changes_the_thresholds(dashboard, workspace, outsider):
    url = "/settings/circuit-breakers/"
    page = dashboard.get(url)
    assert page.status_code == 200 and 'name="bounce_rate_threshold"' in page.content.decode()
    assert page.context["form"].initial["bounce_rate_threshold"] == 5
    response = dashboard.post(
        url, {"bounce_rate_threshold": "2.5", "complaint_rate_threshold": "0.2"}
    )
    assert response.status_code == 302
    settings = DeliverabilitySettings.objects.get(workspace=workspace)
    assert settings.bounce_rate_threshold == Decimal("2.5")
    assert not DeliverabilitySettings.objects.filter(workspace=outsider.workspace).exists()


def test_bad_thresholds_in_the_settings_page_are_form_errors(dashboard, workspace):
    response = dashboard.post(
        "/settings/circuit-breakers/",
        {"bounce_rate_threshold": "120", "complaint_rate_threshold": "abc"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert {"bounce_rate_threshold", "complaint_rate_threshold"} <= set(form.errors)
    assert DeliverabilitySettings.for_workspace(workspace).bounce_rate_threshold == 5


def test_a_viewer_cannot_change_the_thresholds(client, viewer):
    client.force_login(viewer)
    response = client.post(
        "/settings/circuit-breakers/",
        {"bounce_rate_threshold": "50", "complaint_rate_threshold": "50"},
    )
    assert response.status_code == 403


# --- admin -------------------------------------------------------------------------------------


def test_the_admin_lists_throttle_states_and_edits_thresholds_and_warmups(
    admin_client, workspace, domain
):
    ThrottleState.objects.create(
        backend="server", domain="gmail.com", rate_per_minute=60, ceiling=240, last_reply="454"
    )
    page = admin_client.get("/admin/deliverability/throttlestate/")
    assert page.status_code == 200 and "gmail.com" in page.content.decode()

    settings = DeliverabilitySettings.for_workspace(workspace)
    url = f"/admin/deliverability/deliverabilitysettings/{workspace.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data |= {"bounce_rate_threshold": "3", "complaint_rate_threshold": "101"}
    response = admin_client.post(url, data)
    assert response.status_code == 200  # 101 % is refused on the form
    data["complaint_rate_threshold"] = "0.25"
    assert admin_client.post(url, data).status_code == 302
    settings.refresh_from_db()
    assert settings.complaint_rate_threshold == Decimal("0.25")

    url = f"/admin/deliverability/sendingdomain/{domain.pk}/change/"
    response = admin_client.post(
        url,
        {
            "tracking_domain": "",
            "warmup_target": "100",
            "warmup_daily_start": "500",
            "warmup_growth": "1.5",
        },
    )
    assert response.status_code == 200  # the first day's cap past the target
    response = admin_client.post(
        url,
        {
            "tracking_domain": "",
            "warmup_target": "100",
            "warmup_daily_start": "10",
            "warmup_growth": "1.5",
        },
    )
    assert response.status_code == 302
    domain.refresh_from_db()
    assert domain.warmup_target == 100 and domain.warmup_started_on is not None
