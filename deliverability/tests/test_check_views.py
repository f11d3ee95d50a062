"""Dashboard pages of the checks (validation tool, content score fragment, risk panel) and
their admin."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from campaigns import services as campaign_services
from deliverability.models import EmailValidation, RiskAssessment
from deliverability.validation import validate_many

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def zone(dns_zone):
    dns_zone.add("acme-mail.example. 300 IN MX 10 mx.acme-mail.example.")
    return dns_zone


@pytest.fixture
def campaign(workspace):
    return campaign_services.campaign_create(
        workspace=workspace,
        name="October",
        subject="OCTOBER NEWS!!!",
        html="<p>Hello</p>",
        from_email="news@acme.example",
    )


def test_the_validation_tool_validates_a_pasted_list(dashboard, zone, workspace):
    response = dashboard.post(
        "/validation/", {"emails": "jane@acme-mail.example, info@acme-mail.example\nnot-an-email"}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "1 valid · 1 risky · 1 invalid · 0 unknown" in page
    assert "role account" in page
    assert EmailValidation.objects.filter(workspace=workspace).count() == 3


def test_the_validation_tool_shows_suggestions(dashboard, zone):
    page = dashboard.post("/validation/", {"emails": "jane@gmial.com"}).content.decode()

    assert "jane@gmail.com" in page


def test_the_validation_tool_refuses_over_a_thousand(dashboard):
    emails = "\n".join(f"u{i}@acme-mail.example" for i in range(1001))

    page = dashboard.post("/validation/", {"emails": emails}).content.decode()

    assert "At most 1,000 addresses" in page
    assert not EmailValidation.objects.exists()


def test_viewers_see_the_tool_but_cannot_run_it(client, viewer):
    client.force_login(viewer)

    assert "Viewers cannot run validations" in client.get("/validation/").content.decode()
    assert client.post("/validation/", {"emails": "a@b.example"}).status_code == 403


def test_the_validation_tool_needs_a_sign_in(client):
    assert client.get("/validation/").status_code == 302


def test_the_content_score_fragment(dashboard):
    response = dashboard.post(
        "/content-score/", {"subject": "WIN BIG NOW!!!", "html": "<p>Click here</p>"}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-code="subject_all_caps"' in page
    assert 'data-code="spam_phrases"' in page


def test_the_content_score_takes_the_template_for_empty_parts(dashboard, workspace):
    from templates.tests.factories import EmailTemplateFactory

    template = EmailTemplateFactory(workspace=workspace, subject="SHOUTING IN THE TEMPLATE")

    page = dashboard.post("/content-score/", {"template": str(template.pk)}).content.decode()

    assert 'data-code="subject_all_caps"' in page


def test_the_risk_panel_assesses_once_then_shows_the_latest(dashboard, campaign):
    url = f"/campaign-risk/{campaign.pk}/"

    first = dashboard.get(url)
    dashboard.get(url)

    assert first.status_code == 200
    assert 'id="risk-score"' in first.content.decode()
    assert 'data-code="subject_all_caps"' in first.content.decode()
    assert RiskAssessment.objects.filter(campaign_id=campaign.pk).count() == 1
    dashboard.post(url)
    assert RiskAssessment.objects.filter(campaign_id=campaign.pk).count() == 2


def test_the_risk_panel_of_another_workspace_is_not_found(client, outsider, campaign):
    client.force_login(outsider.owner)

    assert client.get(f"/campaign-risk/{campaign.pk}/").status_code == 404
    assert client.post(f"/campaign-risk/{campaign.pk}/").status_code == 404


def test_the_campaign_page_loads_the_risk_panel_and_the_composer_the_score(dashboard, campaign):
    detail = dashboard.get(f"/campaigns/{campaign.pk}/").content.decode()
    composer = dashboard.get(f"/campaigns/{campaign.pk}/edit/").content.decode()

    assert f"/campaign-risk/{campaign.pk}/" in detail
    assert "/content-score/" in composer


def test_the_admin_lists_validations_and_assessments_read_only(admin_client, zone, workspace):
    validate_many(workspace, ["jane@acme-mail.example"])
    row = EmailValidation.objects.get()

    assert admin_client.get("/admin/deliverability/emailvalidation/").status_code == 200
    assert admin_client.get("/admin/deliverability/riskassessment/").status_code == 200
    assert admin_client.get("/admin/deliverability/emailvalidation/add/").status_code == 403
    detail = admin_client.get(f"/admin/deliverability/emailvalidation/{row.pk}/change/")
    assert detail.status_code == 200
    assert 'name="result"' not in detail.content.decode()
