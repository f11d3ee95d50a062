"""Dashboard pages of suppressions, the whitelist, unsubscribes and health: they render, change
things through the services, refuse viewers, and never show or touch another workspace's."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from deliverability import services
from deliverability.models import (
    DeliverabilitySettings,
    Suppression,
    SuppressionWhitelist,
    Unsubscribe,
)
from deliverability.tests.factories import HealthSnapshotFactory, SendingDomainFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def test_the_list_searches_and_filters_with_the_shared_filterset(dashboard, workspace, outsider):
    domain = SendingDomainFactory(workspace=workspace, domain="news.acme.io")
    services.suppression_add(workspace=workspace, email="ann@shop.io", type="complaint")
    services.suppression_add(
        workspace=workspace, email="bob@example.com", type="manual", domain=domain
    )
    services.suppression_add(workspace=outsider.workspace, email="secret@x.io", type="manual")
    page = text(dashboard.get("/suppressions/"))
    assert "ann@shop.io" in page and "bob@example.com" in page and "news.acme.io" in page
    assert "secret@x.io" not in page
    assert "bob@example.com" not in text(dashboard.get("/suppressions/?q=shop"))
    filtered = text(dashboard.get(f"/suppressions/?domain_id={domain.id}&source=manual"))
    assert "bob@example.com" in filtered and "ann@shop.io" not in filtered
    assert "Fix the filters" in text(dashboard.get("/suppressions/?type=nope"))


def test_the_list_takes_a_bounded_number_of_queries(
    dashboard, workspace, django_assert_max_num_queries
):
    domain = SendingDomainFactory(workspace=workspace)
    for n in range(30):
        services.suppression_add(
            workspace=workspace, email=f"u{n}@example.com", type="manual", domain=domain
        )
    with django_assert_max_num_queries(12):
        assert dashboard.get("/suppressions/").status_code == 200


def test_add_and_remove_a_suppression(dashboard, workspace):
    domain = SendingDomainFactory(workspace=workspace)
    response = dashboard.post(
        "/suppressions/new/",
        {"email": "X@Example.com", "type": "hard_bounce", "domain": str(domain.id), "reason": ""},
    )
    assert response.status_code == 302
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.source, suppression.domain) == (
        "x@example.com",
        "manual",
        domain,
    )
    confirm = dashboard.get(f"/suppressions/{suppression.pk}/delete/")
    assert "x@example.com" in text(confirm)
    assert Suppression.objects.exists(), "asking is not removing"
    assert dashboard.post(f"/suppressions/{suppression.pk}/delete/").status_code == 302
    assert not Suppression.objects.exists()


def test_a_bad_suppression_is_shown_on_the_form(dashboard):
    response = dashboard.post("/suppressions/new/", {"email": "nope", "type": "manual"})
    assert response.status_code == 200
    assert "Enter a valid email address" in text(response)
    assert not Suppression.objects.exists()


def test_another_workspaces_domain_cannot_be_chosen(dashboard, outsider):
    theirs = SendingDomainFactory(workspace=outsider.workspace)
    response = dashboard.post(
        "/suppressions/new/", {"email": "a@b.co", "type": "manual", "domain": str(theirs.id)}
    )
    assert response.status_code == 200
    assert not Suppression.objects.exists()


def test_import_shows_counts_and_rejected_rows(dashboard, workspace):
    upload = SimpleUploadedFile(
        "s.csv", b"email,type\na@example.com,complaint\nnope,manual\n", content_type="text/csv"
    )
    response = dashboard.post("/suppressions/import/", {"file": upload, "type": "manual"})
    page = text(response)
    assert response.status_code == 200
    assert "1 added" in page and "1 rejected" in page
    assert "“nope” is not an email address." in page
    assert Suppression.objects.get().source == "import"


def test_export_downloads_the_filtered_rows(dashboard, workspace, outsider):
    services.suppression_add(workspace=workspace, email="a@example.com", type="complaint")
    services.suppression_add(workspace=workspace, email="b@example.com", type="manual")
    services.suppression_add(workspace=outsider.workspace, email="secret@x.io", type="complaint")
    response = dashboard.get("/suppressions/export/?type=complaint")
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Disposition"] == 'attachment; filename="suppressions.csv"'
    assert "a@example.com" in body
    assert "b@example.com" not in body and "secret@x.io" not in body


def test_the_whitelist_page_adds_searches_and_removes(dashboard, workspace):
    contact = ContactFactory(workspace=workspace, email="boss@acme.io")
    services.suppression_add(workspace=workspace, email="boss@acme.io", type="hard_bounce")
    assert dashboard.post(
        "/suppressions/whitelist/", {"email": "Boss@acme.io", "reason": "CEO"}
    ).status_code == (302)
    contact.refresh_from_db()
    assert contact.status == "active"
    assert not services.is_suppressed(workspace, "boss@acme.io")
    assert "boss@acme.io" in text(dashboard.get("/suppressions/whitelist/?q=ceo"))
    assert "boss@acme.io" not in text(dashboard.get("/suppressions/whitelist/?q=zzz"))
    bad = dashboard.post("/suppressions/whitelist/", {"email": "nope"})
    assert bad.status_code == 400
    entry = SuppressionWhitelist.objects.get()
    dashboard.post(f"/suppressions/whitelist/{entry.pk}/delete/")
    assert not SuppressionWhitelist.objects.exists()
    assert services.is_suppressed(workspace, "boss@acme.io")


def test_unsubscribes_filter_and_resubscribe_after_confirming(dashboard, workspace):
    ContactFactory(workspace=workspace, email="gone@example.com")
    unsubscribe = services.unsubscribe_record(
        workspace=workspace, email="gone@example.com", source="one_click"
    )
    services.unsubscribe_record(workspace=workspace, email="other@example.com", source="api")
    page = text(dashboard.get("/unsubscribes/?source=one_click"))
    assert "gone@example.com" in page and "other@example.com" not in page
    confirm = text(dashboard.get(f"/unsubscribes/{unsubscribe.pk}/resubscribe/"))
    assert "Re-subscribe gone@example.com?" in confirm
    response = dashboard.post(f"/unsubscribes/{unsubscribe.pk}/resubscribe/", follow=True)
    assert "Re-subscribed gone@example.com." in text(response)
    assert not Unsubscribe.objects.filter(pk=unsubscribe.pk).exists()
    assert Contact.objects.get(email="gone@example.com").status == "active"


def test_viewers_see_but_change_nothing(client, viewer, workspace):
    client.force_login(viewer)
    suppression = services.suppression_add(workspace=workspace, email="a@b.co", type="manual")
    unsubscribe = services.unsubscribe_record(workspace=workspace, email="u@b.co", source="api")
    page = text(client.get("/suppressions/"))
    assert "a@b.co" in page and "Add suppression" not in page and "Remove" not in page
    assert client.get("/suppressions/new/").status_code == 403
    assert client.get("/suppressions/import/").status_code == 403
    assert client.post(f"/suppressions/{suppression.pk}/delete/").status_code == 403
    assert client.post("/suppressions/whitelist/", {"email": "w@b.co"}).status_code == 403
    assert client.post(f"/unsubscribes/{unsubscribe.pk}/resubscribe/").status_code == 403
    assert Suppression.objects.exists() and Unsubscribe.objects.exists()
    assert not SuppressionWhitelist.objects.exists()


def test_another_workspaces_rows_are_404(dashboard, outsider):
    suppression = services.suppression_add(
        workspace=outsider.workspace, email="secret@x.io", type="manual"
    )
    entry = services.whitelist_add(workspace=outsider.workspace, email="secret@x.io")
    unsubscribe = services.unsubscribe_record(
        workspace=outsider.workspace, email="secret@x.io", source="api"
    )
    for url in (
        f"/suppressions/{suppression.pk}/delete/",
        f"/suppressions/whitelist/{entry.pk}/delete/",
        f"/unsubscribes/{unsubscribe.pk}/resubscribe/",
    ):
        assert dashboard.get(url).status_code == 404
        assert dashboard.post(url).status_code == 404
    assert Suppression.objects.filter(pk=suppression.pk).exists()
    assert SuppressionWhitelist.objects.filter(pk=entry.pk).exists()
    assert Unsubscribe.objects.filter(pk=unsubscribe.pk).exists()


def test_the_health_page_shows_score_insights_and_the_trend(dashboard, workspace, outsider):
    today = timezone.now().date()
    for days, score in ((2, 61), (1, 72), (0, 85)):
        HealthSnapshotFactory(workspace=workspace, day=today - timedelta(days=days), score=score)
    HealthSnapshotFactory(workspace=outsider.workspace, day=today, score=13)
    response = dashboard.get("/health/")
    page = text(response)
    assert response.status_code == 200
    assert 'id="health-score"' in page and "No sending domain yet" in page
    assert page.count("<circle") == 3
    assert "from 61 to 85" in page
    assert ">13<" not in page


def test_the_health_page_without_snapshots_says_the_trend_comes_later(dashboard):
    page = text(dashboard.get("/health/"))
    assert "the trend appears after the first day" in page
    assert "<svg" not in page


def test_the_admin_lists_bounces_settings_and_snapshots(admin_client, workspace):
    services.bounce_record(workspace, "a@example.com", "soft", diagnostic="452 full")
    HealthSnapshotFactory(workspace=workspace)
    settings = DeliverabilitySettings.for_workspace(workspace)
    for url in (
        "/admin/deliverability/bounce/",
        "/admin/deliverability/healthsnapshot/",
        "/admin/deliverability/deliverabilitysettings/",
        "/admin/deliverability/suppression/",
        f"/admin/deliverability/deliverabilitysettings/{workspace.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    response = admin_client.post(
        f"/admin/deliverability/deliverabilitysettings/{workspace.pk}/change/",
        {
            "soft_bounce_threshold": 5,
            "soft_bounce_window_days": 14,
            "soft_bounce_suppression_days": 30,
            "require_verified_domain": "on",
            "risk_warn_at": 40,
            "risk_block_at": 70,
            "bounce_rate_threshold": 5,
            "complaint_rate_threshold": "0.3",
        },
    )
    assert response.status_code == 302
    settings.refresh_from_db()
    assert (settings.soft_bounce_threshold, settings.soft_bounce_window_days) == (5, 14)
    assert admin_client.get("/admin/deliverability/bounce/add/").status_code == 403
