"""Shared fixtures: a workspace with an owner, an admin, a member and a viewer, an API client
with a key, and an outsider workspace with data of its own (STYLE.md, "Tests")."""

import os
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    TagFactory,
)
from mailcrm.models import Role
from mailcrm.tests.factories import ApiKeyFactory, MembershipFactory, UserFactory, WorkspaceFactory

PASSWORD = "secret-pass-1"


# Kinds of tests whose outcome does not depend on the database backend, which CI's second run
# (SQLite) leaves to its first (PostgreSQL): MAILCRM_TESTS_SKIP=browser,cli (set in .ci/run
# only; unset, everything runs). What a page or the client does with an answer is the same on
# both; the answers themselves are tested on both by the API and dashboard tests.
SKIPPABLE = {
    "browser": "drives chromium: the page's scripts, styles and escaping",
    "cli": "runs mailcrm-cli against the API: the client's side",
}
CLI_TESTS = Path(__file__).resolve().parent / "tests" / "cli"


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "cli: runs the command-line client (tests/cli)")
    _delete_rather_than_truncate()


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if CLI_TESTS in item.path.parents:
            item.add_marker(pytest.mark.cli)
    skipped = {kind for kind in os.environ.get("MAILCRM_TESTS_SKIP", "").split(",") if kind}
    if unknown := skipped - SKIPPABLE.keys():
        raise pytest.UsageError(
            f"MAILCRM_TESTS_SKIP: unknown {sorted(unknown)}; known: {sorted(SKIPPABLE)}"
        )
    for item in items:
        for kind in skipped:
            if item.get_closest_marker(kind):
                reason = f"MAILCRM_TESTS_SKIP={kind}: {SKIPPABLE[kind]} (backend-independent)"
                item.add_marker(pytest.mark.skip(reason=reason))


# Rows that the post_migrate signal after each flush would otherwise create again.
KEPT_BY_FLUSH = ("django_content_type", "auth_permission")


def _delete_rather_than_truncate() -> None:
    """Transactional tests (``transaction=True``, ``live_server``; some 220 of them) empty
    the database when they end, and each paid about 0.5 s on PostgreSQL, several seconds when
    the disk is busy: Django's one TRUNCATE of all ~80 tables (a new file for each table and
    index, synced at commit), then the post_migrate signal creating every content type and
    permission again (160 queries, 32 commits). Here a flush on PostgreSQL DELETEs the few
    rows a test leaves (milliseconds; foreign keys are checked at commit, Django makes them
    DEFERRABLE INITIALLY DEFERRED, so the order does not matter) and keeps the content types
    and permissions the migrations made (the signal then finds them all and writes nothing).
    A flush that resets sequences or cascades keeps Django's TRUNCATE."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or allow_cascade or not tables:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        deletes = [
            f"DELETE FROM {self.quote_name(table)}"  # nosec B608 - Django's table names, quoted
            for table in tables
            if table not in KEPT_BY_FLUSH
        ]
        return [_without_row_checks(self.connection), *deletes]

    DatabaseOperations.sql_flush = sql_flush


def _without_row_checks(connection) -> str:
    """Every table loses all its rows at once, so no foreign key can be left dangling: a
    superuser (as in CI) skips the per-row checks (thousands of rows after the floods and
    the worker tests); anyone else defers them to the commit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser = cursor.fetchone()[0]
    return (
        "SET LOCAL session_replication_role = replica"
        if superuser
        else "SET CONSTRAINTS ALL DEFERRED"
    )


# Real-browser fixtures (browser, page, sign_in) for the dashboard journeys; a real DNS
# server on loopback (dns_zone, dns_silent) for the DNS checks; a real HTTP receiver on
# loopback (receiver) for outbound webhooks.
pytest_plugins = ["tests.browser", "tests.dns", "tests.http_receiver"]


@pytest.fixture
def workspace(db):
    return WorkspaceFactory(name="Acme")


def _member(workspace, role):
    return MembershipFactory(workspace=workspace, user=UserFactory(), role=role).user


@pytest.fixture
def owner(workspace):
    return _member(workspace, Role.OWNER)


@pytest.fixture
def admin_user(workspace):
    return _member(workspace, Role.ADMIN)


@pytest.fixture
def member(workspace):
    return _member(workspace, Role.MEMBER)


@pytest.fixture
def viewer(workspace):
    return _member(workspace, Role.VIEWER)


@pytest.fixture
def api_key(workspace):
    return ApiKeyFactory(workspace=workspace)


@pytest.fixture
def api(api_key):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key.secret)
    return client


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def outsider(db):
    """Another workspace with a contact, a tag and a list, and its own API client."""
    workspace = WorkspaceFactory(name="Outsider")
    # Fixed names: a random one (e.g. "Smith") could match another test's search words.
    contact = ContactFactory(
        workspace=workspace,
        email="secret@outsider.example",
        first_name="Olive",
        last_name="Outlander",
    )
    tag = TagFactory(workspace=workspace, name="outsider-tag")
    contact_list = ContactListFactory(workspace=workspace, name="Outsider list")
    ContactTagFactory(contact=contact, tag=tag)
    ListMembershipFactory(contact=contact, contact_list=contact_list)
    key = ApiKeyFactory(workspace=workspace)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key.secret)

    class Outsider:
        pass

    out = Outsider()
    out.workspace, out.contact, out.tag, out.list, out.key, out.api = (
        workspace,
        contact,
        tag,
        contact_list,
        key,
        client,
    )
    out.owner = _member(workspace, Role.OWNER)
    return out


@pytest.fixture
def dashboard(client, owner, workspace):
    """A Django test client signed in as the workspace's owner."""
    client.force_login(owner)
    return client


@pytest.fixture
def superuser(db):
    from mailcrm.models import User

    return User.objects.create_superuser("root@example.com", "root-pass-1")


@pytest.fixture
def admin_client(client, superuser):
    """A Django test client signed in to the admin as a superuser."""
    client.force_login(superuser)
    return client
