"""The audit log through the Django admin: changes saved there are recorded as the staff
user's, via "admin"; the log itself is read-only there."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns import senders
from campaigns.models import SendingBackend
from deliverability.models import DeliverabilitySettings, SendingDomain
from mailcrm import audit, members
from mailcrm.models import ApiKey, AuditEntry, AuditVia, Membership, Workspace
from mailcrm.tests.factories import ApiKeyFactory
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _entry(workspace, action: str, **lookup) -> AuditEntry:
    return AuditEntry.objects.for_workspace(workspace).get(action=action, **lookup)


def _assert_by(entry: AuditEntry, user) -> None:
    assert entry.via == AuditVia.ADMIN
    assert (entry.actor_user, entry.actor_label) == (user, user.email)


def _workspace_form(workspace, **extra) -> dict:
    return {
        "name": workspace.name,
        "limit_contacts": "50",
        "limit_monthly_sends": "",
        "limit_sending_domains": "2",
        "limit_webhook_endpoints": "3",
        "limit_api_requests_per_minute": "60",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "api_keys-TOTAL_FORMS": "0",
        "api_keys-INITIAL_FORMS": "0",
    } | extra


def test_plan_limits_are_recorded(admin_client, superuser, workspace):
    response = admin_client.post(
        _url(Workspace, "change", workspace.pk), _workspace_form(workspace)
    )
    assert response.status_code == 302
    entry = _entry(workspace, "workspace.updated")
    _assert_by(entry, superuser)
    assert entry.changes["limit_contacts"] == [100_000, 50]
    assert entry.changes["limit_monthly_sends"] == [500_000, None]


def test_a_role_changed_in_the_workspaces_membership_inline_is_recorded(
    admin_client, superuser, workspace, member
):
    membership = Membership.objects.get(user=member)
    form = _workspace_form(
        workspace,
        **{
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-0-id": str(membership.pk),
            "memberships-0-workspace": str(workspace.pk),
            "memberships-0-user": str(member.pk),
            "memberships-0-role": "admin",
        },
    )
    response = admin_client.post(_url(Workspace, "change", workspace.pk), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = _entry(workspace, "membership.role_changed")
    _assert_by(entry, superuser)
    assert entry.changes == {"role": ["member", "admin"]}


def test_a_membership_changed_on_its_own_page_is_recorded(
    admin_client, superuser, workspace, member
):
    membership = Membership.objects.get(user=member)
    form = {"user": str(member.pk), "workspace": str(workspace.pk), "role": "viewer"}
    assert admin_client.post(_url(Membership, "change", membership.pk), form).status_code == 302
    entry = _entry(workspace, "membership.updated")
    _assert_by(entry, superuser)
    assert entry.changes == {"role": ["member", "viewer"]}


def test_api_keys_made_and_revoked_in_the_admin_are_recorded(admin_client, superuser, workspace):
    admin_client.post(_url(ApiKey, "add"), {"workspace": workspace.pk, "name": "CI"})
    key = ApiKey.objects.get(name="CI")
    _assert_by(_entry(workspace, "api_key.created", target_id=str(key.pk)), superuser)
    other = ApiKeyFactory(workspace=workspace)
    admin_client.post(
        _url(ApiKey, "changelist"),
        {"action": "revoke", "_selected_action": [other.pk], "index": "0"},
    )
    _assert_by(_entry(workspace, "api_key.revoked", target_id=str(other.pk)), superuser)


def test_an_endpoint_switched_off_and_a_backend_deleted_are_recorded(
    admin_client, superuser, workspace
):
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.com/in", name="Sync", secret="x"
    )
    response = admin_client.post(_url(WebhookEndpoint, "change", endpoint.pk), {"name": "Sync"})
    assert response.status_code == 302
    entry = _entry(workspace, "webhook_endpoint.updated")
    _assert_by(entry, superuser)
    assert entry.changes == {"is_active": [True, False]}

    backend = senders.sending_backend_save(
        SendingBackend(workspace=workspace, name="Relay", host="smtp.example.com")
    )
    admin_client.post(_url(SendingBackend, "delete", backend.pk), {"post": "yes"})
    _assert_by(_entry(workspace, "sending_backend.deleted"), superuser)


def test_the_log_is_read_only_in_the_admin(admin_client, workspace):
    with audit.acting(label="ops"):
        members.workspace_update(workspace=workspace, name="Renamed")
    entry = _entry(workspace, "workspace.updated")
    assert admin_client.get(_url(AuditEntry, "changelist")).status_code == 200
    page = admin_client.get(_url(AuditEntry, "change", entry.pk)).content.decode()
    assert "Renamed" in page and 'name="_save"' not in page
    assert admin_client.get(_url(AuditEntry, "add")).status_code == 403
    assert (
        admin_client.post(_url(AuditEntry, "delete", entry.pk), {"post": "yes"}).status_code == 403
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_domains_and_deliverability_settings_changed_in_the_admin_are_recorded(
    admin_client, superuser, workspace
):
    admin_client.post(
        "/admin/deliverability/sendingdomain/add/",
        {"workspace": str(workspace.pk), "domain": "admin.test", "tracking_domain": ""},
    )
    domain = SendingDomain.objects.get(domain="admin.test")
    warmup = {"tracking_domain": "", "warmup_target": "100", "warmup_daily_start": "10"}
    warmup |= {"warmup_growth": "1.5"}
    url = f"/admin/deliverability/sendingdomain/{domain.pk}/change/"
    assert admin_client.post(url, warmup).status_code == 302
    _assert_by(_entry(workspace, "sending_domain.created"), superuser)
    changes = _entry(workspace, "sending_domain.warmup_updated").changes
    assert changes["warmup_target"] == [None, 100]

    DeliverabilitySettings.for_workspace(workspace)
    url = f"/admin/deliverability/deliverabilitysettings/{workspace.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data["complaint_rate_threshold"] = "0.25"
    assert admin_client.post(url, data).status_code == 302
    entry = _entry(workspace, "deliverability_settings.updated")
    _assert_by(entry, superuser)
    assert list(entry.changes) == ["complaint_rate_threshold"]
