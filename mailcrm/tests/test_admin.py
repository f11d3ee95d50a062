"""The core's admin: users by email, workspaces and plan limits, keys, the outbox."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.urls import reverse

from mailcrm.models import ApiKey, Event, Membership, Role, User, Workspace
from mailcrm.tests.factories import (
    ApiKeyFactory,
    EventFactory,
    MembershipFactory,
    UserFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

MODELS = [User, Workspace, Membership, ApiKey, Event]


@pytest.fixture
def data(workspace, owner, api_key):
    EventFactory(workspace=workspace, type="contact.created", data={"email": "a@example.com"})
    return workspace


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_changelist_and_change_page_renders(admin_client, data, model):
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    obj = model.objects.first()
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", [User, Workspace, Membership, ApiKey], ids=lambda m: m.__name__)
def test_add_pages_render(admin_client, data, model):
    assert admin_client.get(_url(model, "add")).status_code == 200


def test_events_are_read_only(admin_client, data):
    event = Event.objects.first()
    assert admin_client.get(_url(Event, "add")).status_code == 403
    page = admin_client.get(_url(Event, "change", event.pk)).content.decode()
    assert "a@example.com" in page
    assert 'name="_save"' not in page


def test_event_changelist_filters_by_type_and_workspace(admin_client, data, outsider):
    EventFactory(workspace=outsider.workspace, type="contact.deleted")
    page = admin_client.get(_url(Event, "changelist"), {"type": "contact.deleted"})
    assert page.context["cl"].result_count == 1
    page = admin_client.get(_url(Event, "changelist"), {"workspace__id__exact": data.pk})
    assert {e.workspace_id for e in page.context["cl"].result_list} == {data.pk}


def test_user_search_finds_by_email(admin_client, data):
    UserFactory(email="needle@example.com")
    page = admin_client.get(_url(User, "changelist"), {"q": "needle"})
    assert [u.email for u in page.context["cl"].result_list] == ["needle@example.com"]


def test_admin_creates_a_user_who_signs_in_with_email_and_password(admin_client, client):
    response = admin_client.post(
        _url(User, "add"),
        {
            "email": "  New.Person@Example.COM ",
            "full_name": "New Person",
            "usable_password": "true",
            "password1": "a-long-enough-pass-9",
            "password2": "a-long-enough-pass-9",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email__iexact="new.person@example.com")
    assert user.email == "New.Person@example.com"
    client.logout()
    assert client.login(email="new.person@example.com", password="a-long-enough-pass-9")


def test_user_email_is_unique_ignoring_case(admin_client, owner):
    response = admin_client.post(
        _url(User, "add"),
        {
            "email": owner.email.upper(),
            "usable_password": "true",
            "password1": "a-long-enough-pass-9",
            "password2": "a-long-enough-pass-9",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors["email"])


def test_user_change_form_saves(admin_client, owner):
    response = admin_client.post(
        _url(User, "change", owner.pk),
        {
            "email": owner.email,
            "full_name": "Renamed Owner",
            "is_active": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "10:00:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    owner.refresh_from_db()
    assert owner.full_name == "Renamed Owner"


def test_workspace_page_shows_usage_against_limits(admin_client, data):
    from contacts.tests.factories import ContactFactory

    ContactFactory.create_batch(3, workspace=data)
    page = admin_client.get(_url(Workspace, "change", data.pk)).content.decode()
    assert re.search(r"<td>contacts</td><td>3</td><td>100000</td>", page)
    changelist = admin_client.get(_url(Workspace, "changelist"))
    row = next(w for w in changelist.context["cl"].result_list if w.pk == data.pk)
    assert (row.contact_count, row.member_count) == (3, 1)


def test_superuser_edits_plan_limits(admin_client, data):
    response = admin_client.post(
        _url(Workspace, "change", data.pk),
        {
            "name": "Acme",
            "limit_contacts": "50",
            "limit_monthly_sends": "",
            "limit_sending_domains": "2",
            "limit_webhook_endpoints": "3",
            "limit_api_requests_per_minute": "60",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    data.refresh_from_db()
    assert (data.limit_contacts, data.limit_monthly_sends) == (50, None)


def test_staff_without_superuser_cannot_edit_limits(client, data):
    from django.contrib.auth.models import Permission

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__endswith="_workspace"))
    client.force_login(staff)
    form = client.get(_url(Workspace, "change", data.pk)).context["adminform"].form
    assert "name" in form.fields
    assert "limit_contacts" not in form.fields


def test_adding_a_workspace_makes_its_owner(admin_client, db):
    response = admin_client.post(
        _url(Workspace, "add"),
        {
            "name": "  Fresh Co ",
            "owner_email": "boss@fresh.example",
            "limit_contacts": "10",
            "limit_monthly_sends": "100",
            "limit_sending_domains": "1",
            "limit_webhook_endpoints": "1",
            "limit_api_requests_per_minute": "10",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    workspace = Workspace.objects.get(name="Fresh Co")
    assert workspace.limit_contacts == 10
    membership = Membership.objects.get(workspace=workspace)
    assert (membership.user.email, membership.role) == ("boss@fresh.example", Role.OWNER)


def test_api_key_created_in_admin_shows_the_secret_once_and_stores_the_digest(
    admin_client, superuser, workspace
):
    response = admin_client.post(
        _url(ApiKey, "add"), {"workspace": workspace.pk, "name": "CI"}, follow=True
    )
    secret = re.search(r"<code>(mc_[^<]+)</code>", response.content.decode()).group(1)
    key = ApiKey.objects.get(name="CI")
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(key.prefix) and key.created_by == superuser
    assert not ApiKey.objects.filter(key_hash=secret).exists()
    # Later pages never show the secret nor the digest, and the key cannot be edited.
    page = admin_client.get(_url(ApiKey, "change", key.pk)).content.decode()
    assert secret not in page and key.key_hash not in page
    assert 'name="_save"' not in page
    assert secret not in admin_client.get(_url(ApiKey, "changelist")).content.decode()


def test_api_key_made_in_admin_authenticates(admin_client, workspace):
    from rest_framework.test import APIClient

    response = admin_client.post(
        _url(ApiKey, "add"), {"workspace": workspace.pk, "name": "CI"}, follow=True
    )
    secret = re.search(r"<code>(mc_[^<]+)</code>", response.content.decode()).group(1)
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=secret)
    assert api.get("/api/v1/customer/profile").status_code == 200


def test_revoke_action_revokes_the_selected_keys(admin_client, workspace):
    keep, revoke = ApiKeyFactory(workspace=workspace), ApiKeyFactory(workspace=workspace)
    response = admin_client.post(
        _url(ApiKey, "changelist"),
        {"action": "revoke", "_selected_action": [revoke.pk], "index": "0"},
    )
    assert response.status_code == 302
    revoke.refresh_from_db()
    keep.refresh_from_db()
    assert revoke.revoked_at is not None and keep.revoked_at is None
    from mailcrm.services import api_key_authenticate

    assert api_key_authenticate(revoke.secret) is None


def test_api_key_changelist_filters_revoked(admin_client, workspace):
    from mailcrm.services import api_key_revoke

    ApiKeyFactory(workspace=workspace)
    api_key_revoke(key=ApiKeyFactory(workspace=workspace))
    page = admin_client.get(_url(ApiKey, "changelist"), {"state": "revoked"})
    assert page.context["cl"].result_count == 1


def test_changelists_do_not_query_per_row(admin_client, django_assert_max_num_queries):
    for _ in range(15):
        workspace = WorkspaceFactory()
        MembershipFactory(workspace=workspace)
        ApiKeyFactory(workspace=workspace)
        EventFactory(workspace=workspace)
    for model in (Workspace, Membership, ApiKey, Event):
        with django_assert_max_num_queries(12):
            assert admin_client.get(_url(model, "changelist")).status_code == 200


def test_admin_sets_a_users_password(admin_client, client, owner):
    url = reverse("admin:auth_user_password_change", args=[owner.pk])  # Django's fixed name
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url,
        {
            "usable_password": "true",
            "password1": "brand-new-pass-7",
            "password2": "brand-new-pass-7",
        },
    )
    assert response.status_code == 302
    client.logout()
    assert client.login(email=owner.email, password="brand-new-pass-7")


@pytest.mark.parametrize(
    ("model_name", "field_name"),
    [("membership", "user"), ("membership", "workspace"), ("apikey", "workspace")],
)
def test_autocomplete_lookups_work(admin_client, owner, model_name, field_name):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "mailcrm", "model_name": model_name, "field_name": field_name, "term": ""},
    )
    assert response.status_code == 200
    assert response.json()["results"]


def test_admin_index_lists_every_app(admin_client, data):
    page = admin_client.get(reverse("admin:index")).content.decode()
    for name in ("Workspaces", "API keys", "Events", "Contacts", "Companies", "Activities"):
        assert name in page
