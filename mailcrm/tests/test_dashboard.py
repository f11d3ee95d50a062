"""The dashboard shell: sign-in, sign-out, the workspace switcher, the home page, and the
access rules every dashboard page inherits (WorkspaceMixin)."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

from conftest import PASSWORD
from contacts.models import Contact
from contacts.tests.factories import ContactFactory, ContactListFactory, TagFactory
from mailcrm.dashboard.middleware import SESSION_KEY
from mailcrm.dashboard.views import capped_count
from mailcrm.models import Role
from mailcrm.tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

HOME = reverse("dashboard:home")
LOGIN = reverse("dashboard:login")
SWITCH = reverse("dashboard:switch_workspace")


# --- sign in and out ---------------------------------------------------------------------------


def test_it_signs_in_with_email_and_password(client, owner):
    response = client.post(LOGIN, {"username": owner.email.upper(), "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == HOME
    home = client.get(HOME)
    assert home.status_code == 200
    assert owner.email in home.content.decode()


def test_the_sign_in_page_asks_for_an_email(client):
    response = client.get(LOGIN)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'type="email"' in body
    assert 'name="username"' in body


def test_a_wrong_password_is_refused_with_a_message(client, owner):
    response = client.post(LOGIN, {"username": owner.email, "password": "wrong"})
    assert response.status_code == 200
    assert "correct email and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_goes_back_to_the_page_asked_for(client, owner):
    contacts = reverse("dashboard:contacts:contacts")
    response = client.post(
        f"{LOGIN}?next={contacts}",
        {"username": owner.email, "password": PASSWORD, "next": contacts},
    )
    assert response.url == contacts


def test_sign_out_ends_the_session(dashboard):
    response = dashboard.post(reverse("dashboard:logout"))
    assert response.status_code == 302
    assert dashboard.get(HOME).status_code == 302


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get(HOME)
    assert response.status_code == 302
    assert response.url.startswith(f"{LOGIN}?next=")


# --- membership and roles ----------------------------------------------------------------------


def test_a_user_without_a_workspace_sees_a_friendly_page(client):
    loner = UserFactory()
    client.force_login(loner)
    response = client.get(HOME)
    body = response.content.decode()
    assert response.status_code == 403
    assert "not in a workspace yet" in body
    assert loner.email in body


def test_a_user_without_a_workspace_cannot_post_either(client):
    client.force_login(UserFactory())
    response = client.post(reverse("dashboard:contacts:contact_new"), {"email": "a@b.example"})
    assert response.status_code == 403
    assert not Contact.objects.exists()


@pytest.mark.parametrize("role", ["owner", "admin_user", "member", "viewer"])
def test_home_renders_for_every_role(client, role, request):
    client.force_login(request.getfixturevalue(role))
    response = client.get(HOME)
    assert response.status_code == 200
    assert "Acme" in response.content.decode()


def test_viewers_see_no_add_buttons(client, viewer):
    client.force_login(viewer)
    body = client.get(HOME).content.decode()
    assert reverse("dashboard:contacts:contact_new") not in body


def test_a_refusal_is_a_friendly_page(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("dashboard:contacts:contact_new"))
    assert response.status_code == 403
    assert "Viewers can look but not change anything." in response.content.decode()


# --- home --------------------------------------------------------------------------------------


def test_home_counts_the_audience_and_lists_recent_contacts(dashboard, workspace, outsider):
    ContactFactory(workspace=workspace, email="newest@example.com", status="active")
    ContactFactory(workspace=workspace, status="unsubscribed")
    ContactFactory(workspace=workspace, archived_at="2025-01-01T00:00:00Z")
    TagFactory(workspace=workspace)
    ContactListFactory(workspace=workspace)
    response = dashboard.get(HOME)
    stats = {s["label"]: s["count"] for s in response.context["stats"]}
    assert stats == {"Contacts": 2, "Active": 1, "Tags": 1, "Lists": 1}
    body = response.content.decode()
    assert "newest@example.com" in body
    assert "secret@outsider.example" not in body


def test_home_says_what_to_do_when_empty(dashboard):
    body = dashboard.get(HOME).content.decode()
    assert "No contacts yet." in body
    assert reverse("dashboard:contacts:contact_new") in body


def test_counts_stop_at_the_cap(workspace):
    ContactFactory.create_batch(3, workspace=workspace)
    contacts = Contact.objects.for_workspace(workspace)
    assert capped_count(contacts, cap=2) == (2, True)
    assert capped_count(contacts, cap=5) == (3, False)


# --- workspace switcher ------------------------------------------------------------------------


@pytest.fixture
def second_workspace(owner):
    other = WorkspaceFactory(name="Zeta")
    MembershipFactory(workspace=other, user=owner, role=Role.VIEWER)
    return other


def test_the_switcher_lists_only_the_users_workspaces(dashboard, second_workspace, outsider):
    body = dashboard.get(HOME).content.decode()
    assert SWITCH in body
    assert str(second_workspace.pk) in body
    assert str(outsider.workspace.pk) not in body


def test_no_switcher_with_a_single_workspace(dashboard):
    assert SWITCH not in dashboard.get(HOME).content.decode()


def test_the_switcher_switches_workspace(dashboard, workspace, second_workspace):
    ContactFactory(workspace=second_workspace, email="zeta@example.com")
    response = dashboard.post(SWITCH, {"workspace": str(second_workspace.pk), "next": "/contacts/"})
    assert response.status_code == 302
    assert response.url == "/contacts/"
    assert dashboard.session[SESSION_KEY] == str(second_workspace.pk)
    page = dashboard.get(reverse("dashboard:contacts:contacts"))
    assert page.context["request"].workspace == second_workspace
    assert "zeta@example.com" in page.content.decode()
    # The owner is only a viewer in Zeta: the role follows the workspace.
    assert dashboard.get(reverse("dashboard:contacts:contact_new")).status_code == 403


def test_the_switcher_refuses_a_workspace_the_user_is_not_in(dashboard, workspace, outsider):
    response = dashboard.post(SWITCH, {"workspace": str(outsider.workspace.pk)})
    assert response.status_code == 404
    assert SESSION_KEY not in dashboard.session
    assert dashboard.get(HOME).context["request"].workspace == workspace


@pytest.mark.parametrize("value", ["", "not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_the_switcher_refuses_nonsense(dashboard, value):
    assert dashboard.post(SWITCH, {"workspace": value}).status_code == 404


def test_the_switcher_ignores_an_offsite_next(dashboard, second_workspace):
    response = dashboard.post(
        SWITCH, {"workspace": str(second_workspace.pk), "next": "https://evil.example/"}
    )
    assert response.url == HOME


def test_the_switcher_needs_a_signed_in_user_and_a_post(client, dashboard, second_workspace):
    assert dashboard.get(SWITCH).status_code == 405
    client.logout()
    response = client.post(SWITCH, {"workspace": str(second_workspace.pk)})
    assert response.status_code == 302
    assert response.url.startswith(LOGIN)


def test_viewers_may_switch_workspace(client, viewer, workspace):
    other = WorkspaceFactory(name="Beta")
    MembershipFactory(workspace=other, user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    assert client.post(SWITCH, {"workspace": str(other.pk)}).status_code == 302
    assert client.session[SESSION_KEY] == str(other.pk)


# --- layout ------------------------------------------------------------------------------------


def test_the_layout_vendors_its_assets_and_sends_the_csrf_token_with_htmx(dashboard):
    body = dashboard.get(HOME).content.decode()
    for path in ("vendor/pico.min.css", "vendor/htmx.min.js", "mailcrm/app.css"):
        assert f"{settings.STATIC_URL}{path}" in body or f"/{settings.STATIC_URL}{path}" in body
        assert finders.find(path), path
    assert 'hx-headers=\'{"X-CSRFToken": "' in body
    # Nothing loaded from another host (a bare "cdn" check failed on a CSRF token holding it).
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", body)
    for name in ("contacts", "tags", "lists", "properties"):
        assert reverse(f"dashboard:contacts:{name}") in body
