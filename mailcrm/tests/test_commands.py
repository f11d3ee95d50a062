"""create_workspace and load_demo."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from contacts.models import (
    Activity,
    Company,
    CompanyRole,
    Contact,
    ContactList,
    ContactStatus,
    ContactTag,
    ListMembership,
    PropertyDefinition,
    Tag,
)
from contacts.properties import validate_properties
from mailcrm.management.commands.load_demo import DEMO_EMAIL, DEMO_NAME, DEMO_PASSWORD
from mailcrm.models import ApiKey, Membership, Role, User, Workspace
from mailcrm.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KEY_LINE = re.compile(r"^mc_[0-9a-f]{8}_[A-Za-z0-9_\-]+$")


def run(*args, **options) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue().splitlines()


def profile(secret: str):
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=secret)
    return api.get("/api/v1/customer/profile")


# --- create_workspace --------------------------------------------------------------------------


def test_create_workspace_prints_the_key_alone_on_the_last_line(client):
    lines = run("create_workspace", "Acme Inc", owner="boss@acme.example", password="pw-12345-x")
    assert KEY_LINE.match(lines[-1])
    assert any("Acme Inc" in line for line in lines[:-1])
    response = profile(lines[-1])
    assert response.status_code == 200
    assert response.json()["workspace"]["name"] == "Acme Inc"

    workspace = Workspace.objects.get(name="Acme Inc")
    membership = Membership.objects.get(workspace=workspace)
    assert (membership.user.email, membership.role) == ("boss@acme.example", Role.OWNER)
    assert ApiKey.objects.get(workspace=workspace).created_by == membership.user
    assert client.login(email="boss@acme.example", password="pw-12345-x")


def test_create_workspace_reuses_an_existing_user(client):
    user = UserFactory(email="owner@example.com")
    first = run("create_workspace", "One", owner="owner@example.com")
    second = run("create_workspace", "Two", owner="  OWNER@example.com ")
    assert User.objects.filter(email__iexact="owner@example.com").count() == 1
    assert set(Workspace.objects.filter(memberships__user=user).values_list("name", flat=True)) == {
        "One",
        "Two",
    }
    assert "existing user" in "\n".join(second)
    # Without --password an existing user keeps theirs.
    assert client.login(email="owner@example.com", password="secret-pass-1")
    assert profile(first[-1]).json()["workspace"]["name"] == "One"
    assert profile(second[-1]).json()["workspace"]["name"] == "Two"


def test_create_workspace_new_user_without_password_is_told_how_to_set_one():
    lines = run("create_workspace", "Solo", owner="solo@example.com")
    assert "changepassword" in "\n".join(lines)
    assert not User.objects.get(email="solo@example.com").has_usable_password()


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (["Acme"], {"owner": "not-an-email"}, "not a valid email"),
        (["Acme"], {"owner": ""}, "not a valid email"),
        (["   "], {"owner": "a@example.com"}, "needs a name"),
        (["Acme"], {}, "--owner"),
    ],
)
def test_create_workspace_refuses_bad_input(args, options, message):
    with pytest.raises(CommandError, match=message):
        run("create_workspace", *args, **options)
    assert not Workspace.objects.exists()


# --- load_demo ---------------------------------------------------------------------------------


def _demo_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Workspace,
            User,
            Contact,
            Company,
            CompanyRole,
            Tag,
            ContactTag,
            ContactList,
            ListMembership,
            PropertyDefinition,
            Activity,
            ApiKey,
        )
    }


def test_load_demo_builds_a_realistic_workspace(client):
    lines = run("load_demo", contacts=300)
    workspace = Workspace.objects.get(name=DEMO_NAME)
    contacts = Contact.objects.for_workspace(workspace)
    assert contacts.count() == 300
    assert contacts.filter(status=ContactStatus.ACTIVE).count() > 200
    assert set(contacts.values_list("status", flat=True)) == set(ContactStatus.values)
    assert len(set(contacts.values_list("lifecycle_stage", flat=True))) >= 5
    assert len(set(contacts.values_list("source", flat=True))) == 5
    assert len(set(contacts.values_list("last_name", flat=True))) > 50
    assert contacts.filter(opens__gt=0, clicks__gt=0, score__gt=0).exists()
    assert contacts.exclude(job_title="").exists()

    # History spread over about 18 months, ids following it.
    dates = list(contacts.order_by("id").values_list("created_at", flat=True))
    assert (dates[-1] - dates[0]).days > 300
    assert dates == sorted(dates)

    # Every property is valid against its definition, and every type is in use.
    definitions = {d.key: d for d in PropertyDefinition.objects.for_workspace(workspace)}
    assert {"industry", "country", "plan", "lifetime_value", "signup_date"} <= set(definitions)
    assert {"product_interests", "newsletter_opt_in", "website"} <= set(definitions)
    used = set()
    for properties in contacts.values_list("properties", flat=True):
        assert validate_properties(workspace, properties, definitions=definitions) == properties
        used |= set(properties)
    assert used == set(definitions)

    tags = dict(
        Tag.objects.for_workspace(workspace).with_counts().values_list("name", "contact_count")
    )
    assert {"vip", "newsletter", "beta", "webinar-2025"} <= set(tags)
    assert all(tags[name] > 0 for name in ("vip", "newsletter", "beta", "webinar-2025"))
    lists = dict(
        ContactList.objects.for_workspace(workspace)
        .with_counts()
        .values_list("name", "contact_count")
    )
    assert {"Newsletter", "Conference Attendees 2025", "Customers"} <= set(lists)
    assert all(lists[name] > 0 for name in ("Newsletter", "Conference Attendees 2025", "Customers"))
    roles = set(
        CompanyRole.objects.filter(company__workspace=workspace).values_list("role", flat=True)
    )
    assert {"Decision Maker", "Technical Contact", "Billing"} <= roles
    assert Activity.objects.for_workspace(workspace).filter(kind__in=["note", "call"]).exists()

    # The owner signs in; the key on the last line works.
    assert f"{DEMO_EMAIL} / {DEMO_PASSWORD}" in "\n".join(lines)
    assert client.login(email=DEMO_EMAIL, password=DEMO_PASSWORD)
    assert KEY_LINE.match(lines[-1])
    assert profile(lines[-1]).json()["workspace"]["name"] == DEMO_NAME


def test_load_demo_is_idempotent():
    run("load_demo", contacts=100)
    before = _demo_counts()
    lines = run("load_demo", contacts=100)
    assert _demo_counts() == before
    assert "already exists" in "\n".join(lines)


def test_load_demo_reset_rebuilds_it(client):
    run("load_demo", contacts=100)
    old = Workspace.objects.get(name=DEMO_NAME)
    lines = run("load_demo", contacts=120, reset=True, password="another-pass-1")
    new = Workspace.objects.get(name=DEMO_NAME)
    assert new.pk != old.pk
    assert Contact.objects.count() == 120
    assert User.objects.filter(email=DEMO_EMAIL).count() == 1
    assert client.login(email=DEMO_EMAIL, password="another-pass-1")
    assert profile(lines[-1]).status_code == 200


def test_load_demo_is_reproducible():
    run("load_demo", contacts=50, seed=7)
    first = sorted(Contact.objects.values_list("email", "status", "properties"), key=str)
    run("load_demo", contacts=50, seed=7, reset=True)
    assert sorted(Contact.objects.values_list("email", "status", "properties"), key=str) == first


def test_load_demo_makes_the_default_size():
    # How fast it is belongs to the benchmarks; here only what it makes.
    run("load_demo")
    assert Contact.objects.count() == 2000
