"""Settings pages and the member/invitation services behind them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Message, SendingBackend
from mailcrm import crypto, members
from mailcrm.models import ApiKey, Invitation, Membership, Role, User

pytestmark = pytest.mark.django_db


def _membership(user, workspace) -> Membership:
    return Membership.objects.get(user=user, workspace=workspace)


def test_workspace_settings_are_saved(dashboard, workspace):
    response = dashboard.post(
        reverse("dashboard:settings"),
        {
            "name": "Acme Inc",
            "default_from_name": "Acme",
            "default_from_email": "news@acme.example",
            "physical_address": "1 Road, Town",
            "time_zone": "Europe/Paris",
        },
        follow=True,
    )
    assert b"Saved the workspace settings." in response.content
    workspace.refresh_from_db()
    assert (workspace.name, workspace.time_zone) == ("Acme Inc", "Europe/Paris")
    assert workspace.default_from_email == "news@acme.example"


def test_an_unknown_time_zone_is_a_form_error(dashboard, workspace):
    response = dashboard.post(
        reverse("dashboard:settings"), {"name": "A", "time_zone": "Mars/Base"}
    )
    assert response.status_code == 200
    assert b"Unknown time zone" in response.content


@pytest.mark.parametrize("fixture", ["member", "viewer"])
def test_only_admins_and_owners_see_settings(client, request, fixture):
    client.force_login(request.getfixturevalue(fixture))
    for name in ("settings", "settings_members", "settings_api_keys", "settings_backends"):
        assert client.get(reverse(f"dashboard:{name}")).status_code == 403


def test_an_admin_sees_settings(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("dashboard:settings_members")).status_code == 200


def test_the_last_owner_cannot_be_removed_or_demoted(workspace, owner):
    mine = _membership(owner, workspace)
    with pytest.raises(ValidationError):
        members.membership_remove(membership=mine, actor=mine)
    with pytest.raises(ValidationError):
        members.membership_change_role(membership=mine, role=Role.ADMIN, actor=mine)
    assert Membership.objects.filter(workspace=workspace, role=Role.OWNER).count() == 1


def test_an_owner_can_leave_once_another_owner_exists(workspace, owner, admin_user):
    mine, theirs = _membership(owner, workspace), _membership(admin_user, workspace)
    members.membership_change_role(membership=theirs, role=Role.OWNER, actor=mine)
    members.membership_remove(membership=mine, actor=mine)
    assert not Membership.objects.filter(pk=mine.pk).exists()


def test_an_admin_cannot_make_owners(workspace, admin_user, member):
    actor = _membership(admin_user, workspace)
    with pytest.raises(ValidationError):
        members.membership_change_role(
            membership=_membership(member, workspace), role=Role.OWNER, actor=actor
        )


def test_removing_a_member_asks_first_then_removes(dashboard, workspace, member):
    target = _membership(member, workspace)
    url = reverse("dashboard:settings_member_remove", args=[target.pk])
    assert b"loses access" in dashboard.get(url).content
    response = dashboard.post(url, follow=True)
    assert b"Removed" in response.content
    assert not Membership.objects.filter(pk=target.pk).exists()


def test_another_workspaces_member_is_not_found(dashboard, outsider):
    theirs = Membership.objects.get(workspace=outsider.workspace)
    url = reverse("dashboard:settings_member_remove", args=[theirs.pk])
    assert dashboard.post(url).status_code == 404


def test_an_invitation_is_mailed_and_accepting_creates_the_user(dashboard, client, workspace):
    response = dashboard.post(
        reverse("dashboard:settings_members"), {"email": "new@example.com", "role": "member"}
    )
    assert response.status_code == 200
    link = response.context["link"]
    mailed = Message.objects.get(email="new@example.com")
    assert link in mailed.payload["text"]
    dashboard.logout()
    path = link.split("//", 1)[1].split("/", 1)[1]
    page = client.get(f"/{path}")
    assert b"Join Acme" in page.content
    response = client.post(f"/{path}", {"password": "a-long-new-pass-42", "full_name": "New"})
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert _membership(user, workspace).role == Role.MEMBER
    # Used once: the link is dead now.
    assert client.get(f"/{path}").status_code == 404


def test_an_expired_or_forged_invitation_is_refused(client, workspace, owner):
    invitation, link = members.invitation_create(
        workspace=workspace,
        email="late@example.com",
        role=Role.VIEWER,
        actor=_membership(owner, workspace),
    )
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert members.invitation_from_token(members.invitation_token(invitation)) is None
    assert members.invitation_from_token("forged:token") is None
    assert client.get(reverse("dashboard:invitation_accept", args=["nope"])).status_code == 404


def test_an_existing_user_signs_in_to_accept(client, workspace, owner, outsider):
    invitation, _ = members.invitation_create(
        workspace=workspace,
        email=outsider.owner.email,
        role=Role.ADMIN,
        actor=_membership(owner, workspace),
    )
    url = reverse("dashboard:invitation_accept", args=[members.invitation_token(invitation)])
    assert "/login/" in client.get(url)["Location"]
    client.force_login(outsider.owner)
    assert client.post(url).status_code == 302
    assert _membership(outsider.owner, workspace).role == Role.ADMIN


def test_an_api_key_secret_is_shown_once_then_rotated_and_revoked(dashboard, workspace):
    response = dashboard.post(reverse("dashboard:settings_api_keys"), {"name": "Website"})
    secret = response.context["secret"]
    key = ApiKey.objects.get(workspace=workspace, name="Website")
    assert secret.startswith(key.prefix)
    listing = dashboard.get(reverse("dashboard:settings_api_keys")).content.decode()
    assert secret not in listing and key.prefix in listing

    rotate = reverse("dashboard:settings_api_key_rotate", args=[key.pk])
    assert b"stops working" in dashboard.get(rotate).content
    new_secret = dashboard.post(rotate).context["secret"]
    assert new_secret != secret

    revoke = reverse("dashboard:settings_api_key_revoke", args=[key.pk])
    dashboard.post(revoke)
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_sending_backend_keeps_its_password_encrypted(dashboard, workspace):
    response = dashboard.post(
        reverse("dashboard:settings_backend_new"),
        {
            "name": "Relay",
            "kind": "smtp",
            "is_active": "on",
            "host": "smtp.example.com",
            "port": "587",
            "security": "starttls",
            "username": "u",
            "new_password": "hunter2",
        },
    )
    assert response.status_code == 302, response.content
    backend = SendingBackend.objects.get(workspace=workspace)
    assert backend.password != "hunter2"
    assert crypto.decrypt(backend.password) == "hunter2"
    # A blank password on edit keeps the stored one.
    edit = reverse("dashboard:settings_backend_edit", args=[backend.pk])
    page = dashboard.get(edit).content.decode()
    assert "hunter2" not in page
    dashboard.post(
        edit,
        {
            "name": "Relay",
            "kind": "smtp",
            "host": "smtp2.example.com",
            "port": "587",
            "security": "starttls",
        },
    )
    backend.refresh_from_db()
    assert backend.host == "smtp2.example.com"
    assert crypto.decrypt(backend.password) == "hunter2"


def test_an_smtp_backend_without_a_host_is_refused(dashboard, workspace):
    response = dashboard.post(
        reverse("dashboard:settings_backend_new"),
        {"name": "X", "kind": "smtp", "port": "587", "security": "starttls"},
    )
    assert response.status_code == 200
    assert b"needs a host" in response.content


def test_the_settings_tabs_link_the_smtp_relay_page(dashboard):
    page = dashboard.get(reverse("dashboard:settings")).content.decode()
    assert f'href="{reverse("dashboard:smtprelay:smtp")}"' in page
    assert f'href="{reverse("dashboard:contacts:scoring")}"' in page
