"""The A/B test in the dashboard: the set-up page (saved through the service, errors on the
fields, viewers refused, another workspace's campaign not found), and the report's variants
table with the pick of a winner, which sends it to the rest (a real SMTP sink)."""

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.models import AbTest, AbVariant, Message, MessageStatus
from campaigns.tests.ab_factories import HTML, ab_campaign, audience_list
from tests.smtp import SmtpSink

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("verified_domains")]


@pytest.fixture
def draft(workspace):
    return services.campaign_create(
        workspace=workspace,
        name="June",
        subject="Base",
        html=HTML,
        from_email="news@acme.io",
        audience={"lists": [str(audience_list(workspace, 4).id)]},
    )


def ab_url(campaign, name: str = "campaign_ab") -> str:
    return reverse(f"dashboard:campaigns:{name}", args=[campaign.pk])


FORM = {
    "share": "25",
    "criterion": "click",
    "wait_hours": "2.5",
    "v0_subject": "Short",
    "v1_subject": "A much longer subject",
    "v1_from_name": "Ann at Acme",
}


def test_the_composer_links_to_the_ab_page(dashboard, draft):
    page = dashboard.get(reverse("dashboard:campaigns:campaign_edit", args=[draft.pk]))
    assert ab_url(draft).encode() in page.content
    assert (
        ab_url(draft).encode()
        in dashboard.get(reverse("dashboard:campaigns:campaign", args=[draft.pk])).content
    )


def test_an_ab_test_is_set_up_from_the_form(dashboard, draft):
    page = dashboard.get(ab_url(draft))
    assert page.status_code == 200
    assert b"Variant A" in page.content and b"Variant D" in page.content
    response = dashboard.post(ab_url(draft), FORM)
    assert response.status_code == 302
    test = AbTest.objects.get(campaign=draft)
    assert (test.share, test.criterion, test.wait_minutes) == (25, "click", 150)
    variants = AbVariant.objects.filter(campaign=draft).order_by("position")
    assert [v.subject for v in variants] == ["Short", "A much longer subject"]  # C, D blank
    assert variants[1].from_name == "Ann at Acme"
    # Shown again as saved; a third variant when something is filled in for C.
    assert b"A much longer subject" in dashboard.get(ab_url(draft)).content
    dashboard.post(ab_url(draft), FORM | {"v2_html": "<p>Plain</p>"})
    assert AbVariant.objects.filter(campaign=draft).count() == 3
    dashboard.post(ab_url(draft, "campaign_ab_remove"))
    assert not AbTest.objects.filter(campaign=draft).exists()


@pytest.mark.parametrize(
    "change,field",
    [
        ({"share": "0"}, "share"),
        ({"share": "101"}, "share"),
        ({"criterion": "revenue"}, "criterion"),
        ({"v1_html": "{% if %}"}, "v1_html"),
    ],
)
def test_bad_input_is_shown_on_the_field(dashboard, draft, change, field):
    response = dashboard.post(ab_url(draft), FORM | change)
    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert not AbTest.objects.filter(campaign=draft).exists()


def test_viewers_and_other_workspaces_are_refused(client, viewer, draft, outsider):
    client.force_login(viewer)
    assert client.get(ab_url(draft)).status_code == 403
    assert client.post(ab_url(draft), FORM).status_code == 403
    client.force_login(outsider.owner)
    assert client.get(ab_url(draft)).status_code == 404
    assert client.post(ab_url(draft), FORM).status_code == 404
    assert client.post(ab_url(draft, "campaign_ab_winner"), {"variant": "A"}).status_code == 404
    assert not AbTest.objects.filter(campaign=draft).exists()


@pytest.mark.django_db(transaction=True)
def test_the_report_shows_the_variants_and_a_pick_sends_the_winner(dashboard, workspace):
    sink = SmtpSink()
    with sink, sink.as_email_backend():
        campaign = ab_campaign(
            workspace, audience_list(workspace, 30), share=50, criterion="manual"
        )
        services.campaign_send(campaign=campaign)
        tested = len(sink.received)
        report = dashboard.get(reverse("dashboard:campaigns:campaign_report", args=[campaign.pk]))
        html = report.content.decode()
        assert 'id="ab-report"' in html and "Subject B" in html
        assert "Send B to the rest" in html and "waiting for your pick" in html
        response = dashboard.post(ab_url(campaign, "campaign_ab_winner"), {"variant": "B"})
        assert response.status_code == 302
        rest = Message.objects.filter(campaign=campaign, ab_variant__isnull=True)
        assert not rest.filter(status=MessageStatus.HELD).exists()
        assert len(sink.received) == tested + rest.count()
        assert {m.message["Subject"] for m in sink.received[tested:]} == {"Subject B"}
        report = dashboard.get(reverse("dashboard:campaigns:campaign_report", args=[campaign.pk]))
        assert "variant B won" in report.content.decode()
        assert "Send B to the rest" not in report.content.decode()
