"""Shared fixtures: a workspace with an owner, an admin, a member and a viewer, an API client
with a key, and an outsider workspace with data of its own (STYLE.md, "Tests")."""

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
