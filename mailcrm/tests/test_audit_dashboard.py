"""The audit log through the dashboard: changes made on the settings pages are recorded as the
signed-in user's, via "dashboard"; Settings → Audit log shows the workspace's own entries to
owners and admins only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from mailcrm import audit, members
from mailcrm.models import ApiKey, AuditEntry, AuditVia, Membership
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

PAGE = reverse("dashboard:settings_audit_log")


def _entry(workspace, action: str) -> AuditEntry:
    return AuditEntry.objects.for_workspace(workspace).get(action=action)


def _assert_by(entry: AuditEntry, user) -> None:
    assert entry.via == AuditVia.DASHBOARD
    assert (entry.actor_user, entry.actor_label) == (user, user.email)
    assert entry.actor_api_key is None and entry.ip_address == "127.0.0.1"


def test_workspace_settings_are_recorded_with_what_changed(dashboard, workspace, owner):
    form = {"name": "Acme Inc", "time_zone": "Europe/Paris", "default_from_name": "Acme"}
    assert dashboard.post(reverse("dashboard:settings"), form).status_code == 302
    entry = _entry(workspace, "workspace.updated")
    _assert_by(entry, owner)
    assert entry.changes["name"] == ["Acme", "Acme Inc"]
    assert entry.changes["time_zone"] == ["UTC", "Europe/Paris"]


def test_members_and_invitations_are_recorded(dashboard, workspace, owner, member):
    dashboard.post(
        reverse("dashboard:settings_members"), {"email": "new@example.com", "role": "admin"}
    )
    membership = Membership.objects.get(user=member)
    role_url = reverse("dashboard:settings_member_role", args=[membership.pk])
    dashboard.post(role_url, {"role": "viewer"})
    dashboard.post(reverse("dashboard:settings_member_remove", args=[membership.pk]))
    _assert_by(_entry(workspace, "invitation.created"), owner)
    assert _entry(workspace, "membership.role_changed").changes == {"role": ["member", "viewer"]}
    removed = _entry(workspace, "membership.removed")
    _assert_by(removed, owner)
    assert member.email in removed.target_label


def test_api_keys_are_recorded_without_their_secret(dashboard, workspace, owner):
    secret = dashboard.post(reverse("dashboard:settings_api_keys"), {"name": "Site"}).context[
        "secret"
    ]
    key = ApiKey.objects.get(workspace=workspace, name="Site")
    new_secret = dashboard.post(
        reverse("dashboard:settings_api_key_rotate", args=[key.pk])
    ).context["secret"]
    dashboard.post(reverse("dashboard:settings_api_key_revoke", args=[key.pk]))
    for action in ("api_key.created", "api_key.rotated", "api_key.revoked"):
        _assert_by(_entry(workspace, action), owner)
    text = str(list(AuditEntry.objects.values()))
    assert secret not in text and new_secret not in text and key.key_hash not in text


def test_webhooks_domains_and_backends_are_recorded(dashboard, workspace, owner, receiver):
    dashboard.post(
        reverse("dashboard:webhooks:endpoint_new"),
        {"name": "Sync", "url": receiver.url, "events": ["contact.created"], "is_active": "on"},
    )
    endpoint = WebhookEndpoint.objects.get(workspace=workspace)
    dashboard.post(reverse("dashboard:webhooks:endpoint_rotate", args=[endpoint.pk]))
    dashboard.post(reverse("dashboard:webhooks:endpoint_delete", args=[endpoint.pk]))
    dashboard.post("/domains/", {"domain": "acme.test"})
    backend_form = {"name": "Relay", "kind": "smtp", "host": "smtp.example.com", "port": "587"}
    backend_form |= {"security": "starttls", "is_active": "on", "new_password": "hunter2-x"}
    assert (
        dashboard.post(reverse("dashboard:settings_backend_new"), backend_form).status_code == 302
    )
    for action in (
        "webhook_endpoint.created",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.deleted",
        "sending_domain.created",
        "sending_backend.created",
    ):
        _assert_by(_entry(workspace, action), owner)
    assert _entry(workspace, "sending_backend.created").changes["password"] == "changed"
    assert "hunter2-x" not in str(list(AuditEntry.objects.values()))


def test_the_page_shows_the_workspaces_own_entries(client, admin_user, workspace, outsider):
    with audit.acting(label="ops"):
        members.workspace_update(workspace=workspace, name="Acme Renamed")
        members.workspace_update(workspace=outsider.workspace, name="Outsider Renamed")
    client.force_login(admin_user)
    page = client.get(PAGE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "workspace.updated" in text and "Acme Renamed" in text
    assert "Outsider Renamed" not in text


def test_the_page_filters_with_the_apis_filterset(dashboard, workspace):
    with audit.acting(label="ops"):
        members.workspace_update(workspace=workspace, name="Renamed")
        members.invitation_create(workspace=workspace, email="x@example.com", role="member")
    page = dashboard.get(PAGE, {"action": "invitation.*"}).content.decode()
    assert 'data-action="invitation.created"' in page
    assert 'data-action="workspace.updated"' not in page
    assert dashboard.get(PAGE, {"since": "not a date"}).status_code == 200


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_read_the_log(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(PAGE).status_code == 403


def test_an_invitation_accepted_by_a_new_user_is_theirs(dashboard, client, workspace):
    response = dashboard.post(
        reverse("dashboard:settings_members"), {"email": "new@example.com", "role": "member"}
    )
    path = response.context["link"].split("//", 1)[1].split("/", 1)[1]
    dashboard.logout()
    client.post(f"/{path}", {"password": "a-long-new-pass-42", "full_name": "New"})
    entry = _entry(workspace, "invitation.accepted")
    assert (entry.via, entry.actor_label) == (AuditVia.DASHBOARD, "new@example.com")
    assert entry.actor_user.email == "new@example.com"


def test_smtp_breakers_and_tracking_domains_are_recorded(dashboard, workspace, owner):
    shown = dashboard.post("/settings/smtp/")
    assert shown.status_code == 200
    breakers = {"bounce_rate_threshold": "2", "complaint_rate_threshold": "0.1"}
    assert dashboard.post("/settings/circuit-breakers/", breakers).status_code == 302
    dashboard.post("/tracking-domains/", {"domain": "links.acme.test"})
    for action in (
        "smtp_credential.rotated",
        "deliverability_settings.updated",
        "tracking_domain.created",
    ):
        _assert_by(_entry(workspace, action), owner)
    assert _entry(workspace, "smtp_credential.rotated").changes == {"password": "changed"}
    changes = _entry(workspace, "deliverability_settings.updated").changes
    assert [Decimal(value) for value in changes["bounce_rate_threshold"]] == [5, 2]
