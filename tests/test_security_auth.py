"""Issue 12 §5, authentication: API keys (same work for a wrong secret and an unknown prefix,
revocation at once), sign-in lockout (django-axes) on the dashboard and the admin, and a
password change ending the user's other sessions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from mailcrm import services
from mailcrm.models import User
from mailcrm.tests.factories import ApiKeyFactory

PASSWORD = "secret-pass-1"  # the factories' password
NEW_PASSWORD = "an-entirely-new-pass-2"

pytestmark = pytest.mark.django_db


# --- API keys -------------------------------------------------------------------------------


def test_a_wrong_secret_and_an_unknown_prefix_do_the_same_work(workspace, monkeypatch):
    """No timing assertion: both paths run the same queries and exactly one digest-and-compare,
    which is what makes their time the same."""
    key = ApiKeyFactory(workspace=workspace)
    calls = []
    real = services._secret_matches

    def counting(key_hash: str, secret: str) -> bool:
        calls.append(key_hash)
        return real(key_hash, secret)

    monkeypatch.setattr(services, "_secret_matches", counting)
    prefix, _, secret = key.secret.rpartition("_")
    presented = {
        "wrong secret": f"{prefix}_{'x' * len(secret)}",
        "unknown prefix": f"mc_ffffffff_{secret}",
        "malformed": "not-a-key",
    }
    queries = {}
    for case, value in presented.items():
        calls.clear()
        with CaptureQueriesContext(connection) as captured:
            response = APIClient().get("/api/v1/contacts", HTTP_X_API_KEY=value)
        assert response.status_code == 401, case
        assert len(calls) == 1, case
        queries[case] = len(captured)
    assert len(set(queries.values())) == 1, queries


def test_a_revoked_key_fails_on_the_next_request(workspace):
    key = ApiKeyFactory(workspace=workspace)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key.secret)
    assert client.get("/api/v1/contacts").status_code == 200
    services.api_key_revoke(key=key)
    assert client.get("/api/v1/contacts").status_code == 401


# --- Sign-in lockout ------------------------------------------------------------------------


def _sign_in(client: Client, path: str, email: str, password: str, address: str):
    data = {"username": email, "password": password}
    return client.post(path, data, REMOTE_ADDR=address)


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_sign_in_locks_after_repeated_failures_for_that_user_and_address(owner, settings, path):
    settings.AXES_FAILURE_LIMIT = 3
    if path.startswith("/admin/"):
        owner.is_staff = True
        owner.save(update_fields=["is_staff"])
    client = Client()
    address = "198.51.100.20"
    failures = [_sign_in(client, path, owner.email, "wrong", address) for _ in range(3)]
    assert [response.status_code for response in failures] == [200, 200, 429]
    locked = _sign_in(client, path, owner.email, PASSWORD, address)
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    assert "_auth_user_id" not in client.session
    # Another address may still sign in as that user; the lock is per username and address.
    elsewhere = _sign_in(Client(), path, owner.email, PASSWORD, "198.51.100.21")
    assert elsewhere.status_code == 302


def test_the_lockout_address_honours_trusted_proxies_only(owner, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.TRUSTED_PROXIES = []
    client = Client()
    for attempt in range(2):
        client.post(
            "/login/",
            {"username": owner.email, "password": "wrong"},
            REMOTE_ADDR="198.51.100.30",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}",
        )
    # A new X-Forwarded-For from an untrusted peer is not a new address.
    again = client.post(
        "/login/",
        {"username": owner.email, "password": PASSWORD},
        REMOTE_ADDR="198.51.100.30",
        HTTP_X_FORWARDED_FOR="203.0.113.99",
    )
    assert again.status_code == 429


# --- Sessions end on a password change ------------------------------------------------------


def _signed_in(user: User, address: str = "198.51.100.40") -> Client:
    client = Client()
    response = client.post(
        "/login/", {"username": user.email, "password": PASSWORD}, REMOTE_ADDR=address
    )
    assert response.status_code == 302
    return client


def _still_signed_in(client: Client) -> bool:
    return client.get("/").status_code == 200


def test_changing_ones_own_password_in_the_admin_ends_the_other_sessions(owner):
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    here, elsewhere = _signed_in(owner), _signed_in(owner)
    assert _still_signed_in(here) and _still_signed_in(elsewhere)
    response = here.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    # update_session_auth_hash keeps the session that made the change, and only that one.
    assert _still_signed_in(here)
    assert not _still_signed_in(elsewhere)


def test_an_administrator_setting_a_users_password_ends_that_users_sessions(owner, admin_client):
    session = _signed_in(owner)
    response = admin_client.post(
        f"/admin/mailcrm/user/{owner.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert not _still_signed_in(session)


def test_a_password_reset_ends_the_users_sessions(owner):
    session = _signed_in(owner)
    owner.set_password(NEW_PASSWORD)  # what manage.py changepassword and a reset link do
    owner.save()
    assert not _still_signed_in(session)
