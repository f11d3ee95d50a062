"""GET /customer/smtp and POST /customer/smtp/rotate: the contract, the password shown once
and stored hashed, and each workspace seeing only its own login."""

from __future__ import annotations

import hashlib

import pytest
from django.test import override_settings

from smtprelay import services
from smtprelay.models import SmtpCredential

pytestmark = pytest.mark.django_db


@override_settings(
    SMTP_RELAY_PUBLIC_HOST="smtp.mailcrm.test",
    SMTP_RELAY_PUBLIC_PORT=587,
    SMTP_RELAY_TLS_CERT="/etc/ssl/relay.pem",
    SMTP_RELAY_IMPLICIT_TLS=False,
)
def test_get_gives_host_port_and_username_without_a_password(api, workspace):
    body = api.get("/api/v1/customer/smtp").json()
    credential = SmtpCredential.objects.get(workspace=workspace)
    assert body["host"] == "smtp.mailcrm.test" and body["port"] == 587
    assert body["tls"] == "starttls"
    assert body["username"] == credential.username
    assert body["password_set"] is False and "password" not in body
    assert api.get("/api/v1/customer/smtp").json()["username"] == credential.username


def test_rotate_shows_a_new_password_once_and_stores_only_its_digest(api, workspace):
    first = api.post("/api/v1/customer/smtp/rotate").json()
    second = api.post("/api/v1/customer/smtp/rotate").json()
    assert first["username"] == second["username"]
    assert first["password"] != second["password"]
    credential = SmtpCredential.objects.get(workspace=workspace)
    assert credential.password_hash == hashlib.sha256(second["password"].encode()).hexdigest()
    assert second["password"] not in str(SmtpCredential.objects.values().get())
    assert services.smtp_authenticate(credential.username, first["password"]) is None
    assert services.smtp_authenticate(credential.username, second["password"]) == credential
    listed = api.get("/api/v1/customer/smtp").json()
    assert listed["password_set"] is True and "password" not in listed
    assert listed["password_prefix"] == second["password"][:6]


def test_each_workspace_has_its_own_login(api, outsider):
    outsider_login = outsider.api.post("/api/v1/customer/smtp/rotate").json()
    mine = api.get("/api/v1/customer/smtp").json()
    assert mine["username"] != outsider_login["username"]
    api.post("/api/v1/customer/smtp/rotate")
    # Rotating mine leaves the outsider's password working.
    theirs = SmtpCredential.objects.get(workspace=outsider.workspace)
    assert services.smtp_authenticate(theirs.username, outsider_login["password"]) == theirs


def test_no_key_no_smtp_settings(anon_api):
    assert anon_api.get("/api/v1/customer/smtp").status_code == 401
    assert anon_api.post("/api/v1/customer/smtp/rotate").status_code == 401
    assert not SmtpCredential.objects.exists()


def test_queries_stay_few(api, django_assert_max_num_queries):
    api.get("/api/v1/customer/smtp")
    with django_assert_max_num_queries(6):
        api.get("/api/v1/customer/smtp")


# --- dashboard ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_only_admins_and_owners_see_the_smtp_page(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get("/settings/smtp/").status_code == 403
    assert client.post("/settings/smtp/").status_code == 403


def test_the_dashboard_shows_the_password_once(client, admin_user, workspace):
    client.force_login(admin_user)
    page = client.get("/settings/smtp/")
    credential = SmtpCredential.objects.get(workspace=workspace)
    assert page.status_code == 200 and credential.username in page.content.decode()
    shown = client.post("/settings/smtp/")
    password = shown.context["password"]
    assert password in shown.content.decode()
    assert services.smtp_authenticate(credential.username, password) is not None
    assert password not in client.get("/settings/smtp/").content.decode()
