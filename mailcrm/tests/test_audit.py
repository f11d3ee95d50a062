"""The audit log's service: who acts (system, command line, request), what is kept of a change
(a diff, never a secret), and that nothing is written for no change or a rolled-back one."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import transaction

from campaigns import senders
from campaigns.models import SendingBackend
from mailcrm import audit, crypto, members, services
from mailcrm.models import AuditEntry, AuditVia
from smtprelay import services as smtp_services
from webhooks import services as webhook_services

pytestmark = pytest.mark.django_db


def _entries(workspace, action: str | None = None):
    entries = AuditEntry.objects.for_workspace(workspace)
    return entries.filter(action=action) if action else entries


def _settings(**changes) -> dict:
    base = {
        "name": "Acme",
        "default_from_name": "",
        "default_from_email": "",
        "physical_address": "",
        "time_zone": "UTC",
    }
    return base | changes


def test_a_change_outside_any_request_is_the_systems(workspace):
    members.workspace_update(workspace=workspace, **_settings(name="Acme Inc"))
    entry = _entries(workspace, "workspace.updated").get()
    assert (entry.via, entry.actor_label, entry.actor_user) == (AuditVia.SYSTEM, "system", None)
    assert entry.changes == {"name": ["Acme", "Acme Inc"]}
    assert (entry.target_type, entry.target_id) == ("workspace", str(workspace.pk))


def test_acting_names_the_actor_of_a_command(workspace, owner):
    with audit.acting(via=AuditVia.CLI, user=owner):
        members.workspace_update(workspace=workspace, **_settings(time_zone="Europe/Paris"))
    entry = _entries(workspace, "workspace.updated").get()
    assert (entry.via, entry.actor_user, entry.actor_label) == ("cli", owner, owner.email)
    assert entry.changes == {"time_zone": ["UTC", "Europe/Paris"]}


def test_saving_unchanged_settings_records_nothing(workspace):
    members.workspace_update(workspace=workspace, **_settings())
    assert not _entries(workspace, "workspace.updated").exists()


def test_a_change_that_rolls_back_leaves_no_entry(workspace):
    with pytest.raises(RuntimeError), transaction.atomic():
        members.workspace_update(workspace=workspace, **_settings(name="Gone"))
        raise RuntimeError
    assert not _entries(workspace).filter(action="workspace.updated").exists()


@pytest.mark.parametrize(
    "field", ["password", "secret", "previous_secret", "key_hash", "key", "esp_settings", "token"]
)
def test_a_secret_field_is_kept_only_as_changed(field):
    cleaned = audit.clean_changes({field: ["old-secret-1", "new-secret-2"], "name": ["a", "b"]})
    assert cleaned == {field: "changed", "name": ["a", "b"]}


def test_no_secret_reaches_the_log_from_any_service(workspace, owner, receiver):
    """Every secret a service makes or takes is looked for in every entry's text."""
    key, key_secret = services.api_key_create(workspace=workspace, name="Site")
    _, rotated_secret = services.api_key_rotate(key=key)
    endpoint, webhook_secret = webhook_services.endpoint_create(
        workspace=workspace, url=receiver.url
    )
    new_webhook_secret = webhook_services.endpoint_rotate_secret(endpoint=endpoint)
    _, smtp_password = smtp_services.smtp_credential_rotate(workspace=workspace)
    backend = SendingBackend(workspace=workspace, name="Relay", host="smtp.example.com")
    senders.sending_backend_save(backend, password="hunter2-backend")
    backend.host = "smtp2.example.com"
    senders.sending_backend_save(backend, password="hunter3-backend")

    text = json.dumps(list(_entries(workspace).values()), default=str)
    secrets = [key_secret, rotated_secret, webhook_secret, new_webhook_secret, smtp_password]
    secrets += ["hunter2-backend", "hunter3-backend", crypto.decrypt(endpoint.secret)]
    secrets += [key.key_hash, backend.password]
    for secret in secrets:
        assert secret not in text
    rotated = _entries(workspace, "api_key.rotated").get()
    assert rotated.changes["key"] == "changed"
    updated = _entries(workspace, "sending_backend.updated").get()
    assert updated.changes["password"] == "changed"
    assert updated.changes["host"] == ["smtp.example.com", "smtp2.example.com"]
    assert _entries(workspace, "smtp_credential.rotated").get().changes == {"password": "changed"}


def test_members_and_invitations_are_recorded(workspace, owner, member):
    actor = members.Membership.objects.get(user=owner)
    invitation, _ = members.invitation_create(
        workspace=workspace, email="new@example.com", role="admin", actor=actor
    )
    members.invitation_revoke(invitation=invitation)
    membership = members.Membership.objects.get(user=member)
    members.membership_change_role(membership=membership, role="admin", actor=actor)
    members.membership_remove(membership=membership, actor=actor)
    actions = list(_entries(workspace).order_by("id").values_list("action", "changes"))
    assert actions[-4:] == [
        ("invitation.created", {"email": "new@example.com", "role": "admin"}),
        ("invitation.revoked", {}),
        ("membership.role_changed", {"role": ["member", "admin"]}),
        ("membership.removed", {"role": "admin"}),
    ]


def test_the_actor_label_outlives_the_user(workspace, owner):
    with audit.acting(via=AuditVia.CLI, user=owner):
        members.workspace_update(workspace=workspace, **_settings(name="Renamed"))
    email = owner.email
    owner.delete()
    entry = _entries(workspace, "workspace.updated").get()
    assert (entry.actor_user, entry.actor_label) == (None, email)


def test_a_backend_made_by_the_service_is_a_creation(workspace):
    backend = SendingBackend(workspace=workspace, name="Relay", host="smtp.example.com")
    senders.sending_backend_save(backend)
    entry = _entries(workspace, "sending_backend.created").get()
    assert entry.changes["host"] == "smtp.example.com" and entry.changes["name"] == "Relay"


def test_create_workspace_on_the_command_line_is_recorded_via_cli(db):
    call_command("create_workspace", "Cli Co", "--owner", "cli@example.com", stdout=io.StringIO())
    entries = AuditEntry.objects.filter(workspace__name="Cli Co")
    assert set(entries.values_list("action", flat=True)) == {
        "workspace.created",
        "membership.created",
        "api_key.created",
    }
    assert set(entries.values_list("via", "actor_label")) == {("cli", "manage.py create_workspace")}
