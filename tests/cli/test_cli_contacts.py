"""contacts list|search|get|create|update|delete|tag|untag|merge against a live server."""

import pytest

from contacts.models import Contact, PropertyType
from contacts.tests.factories import (
    ContactFactory,
    ContactTagFactory,
    PropertyDefinitionFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_get_update_and_delete_a_contact(cli, workspace):
    PropertyDefinitionFactory(workspace=workspace, key="plan")
    PropertyDefinitionFactory(workspace=workspace, key="lifetime_value", type=PropertyType.NUMBER)
    created = cli.json(
        "contacts",
        "create",
        "jane@example.com",
        "--first-name",
        "Jane",
        "--prop",
        "plan=pro",
        "--prop",
        "lifetime_value=2500",
        "--tag",
        "vip",
    )
    assert created["email"] == "jane@example.com"
    assert created["properties"] == {"plan": "pro", "lifetime_value": 2500}
    assert created["tags"] == ["vip"]

    shown = cli.ok("contacts", "get", "jane@example.com").stdout
    assert "jane@example.com" in shown and created["id"] in shown and "Jane" in shown

    updated = cli.json("contacts", "update", created["id"], "--lifecycle-stage", "customer")
    assert updated["lifecycle_stage"] == "customer"
    assert Contact.objects.get(pk=created["id"]).lifecycle_stage == "customer"
    updated = cli.json("contacts", "update", "jane@example.com", "--prop", "plan=enterprise")
    assert updated["properties"] == {"plan": "enterprise", "lifetime_value": 2500}
    result = cli("contacts", "update", "jane@example.com")
    assert result.exit_code == 2 and "Nothing to change" in result.stderr

    cli.ok("contacts", "delete", "jane@example.com", "--yes")
    assert not Contact.objects.filter(pk=created["id"]).exists()


def test_list_prints_a_table_and_follows_pages(cli, workspace):
    for n in range(7):
        ContactFactory(workspace=workspace, email=f"p{n}@example.com", first_name=f"P{n}")
    table = cli.ok("contacts", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "EMAIL", "NAME"]
    assert len(table) == 8

    # --limit 3 reads one page of 3; --all follows every cursor page of 500.
    assert len(cli.json("contacts", "list", "--limit", "3")) == 3
    assert "7 contact(s) match." in cli.ok("contacts", "list", "--count", "--limit", "1").stderr
    everyone = cli.json("contacts", "list", "--all")
    assert sorted(c["email"] for c in everyone) == [f"p{n}@example.com" for n in range(7)]


def test_list_pages_with_small_pages(cli, workspace):
    # More rows than one page of --limit: the client asks for pages of `limit` and stops.
    for n in range(5):
        ContactFactory(workspace=workspace, email=f"q{n}@example.com")
    client_rows = cli.json("contacts", "list", "--limit", "2", "--status", "active")
    assert len(client_rows) == 2


def test_search_uses_the_segment_query_language(cli, workspace):
    vip = TagFactory(workspace=workspace, name="vip")
    jane = ContactFactory(workspace=workspace, email="jane@example.com", score=80)
    ContactTagFactory(contact=jane, tag=vip)
    ContactFactory(workspace=workspace, email="bob@other.test", score=90)
    found = cli.json("contacts", "search", "tag = vip AND score > 50")
    assert [c["email"] for c in found] == ["jane@example.com"]
    found = cli.json("contacts", "search", 'email ENDS WITH "@other.test"')
    assert [c["email"] for c in found] == ["bob@other.test"]


def test_a_bad_query_shows_the_apis_message_and_exits_1(cli, workspace):
    result = cli("contacts", "search", "score >>> 5")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error (400 ")
    assert result.stdout == ""


def test_validation_errors_show_each_field(cli, workspace):
    result = cli("contacts", "create", "not-an-address")
    assert result.exit_code == 1
    assert result.stderr == "Error (400 invalid): email: Enter a valid email address.\n"
    body = '{"email": "jane@example.com", "lifecycle_stage": "nope", "status": "gone"}'
    result = cli("contacts", "create", "--data", body)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error (400 invalid): ")
    assert '  lifecycle_stage: "nope" is not a valid choice.' in lines
    assert '  status: "gone" is not a valid choice.' in lines


def test_a_duplicate_is_a_409_naming_the_existing_contact(cli, workspace):
    existing = ContactFactory(workspace=workspace, email="jane@example.com")
    result = cli("contacts", "create", "jane@example.com")
    assert result.exit_code == 1
    assert "Error (409 " in result.stderr
    assert str(existing.pk) in result.stderr


def test_json_errors_are_the_apis_body_on_stderr(cli, workspace):
    result = cli("contacts", "get", "00000000-0000-0000-0000-000000000000", "--json")
    assert result.exit_code == 1
    assert '"code": "not_found"' in result.stderr


def test_not_found_and_another_workspaces_contact(cli, workspace, outsider):
    result = cli("contacts", "get", str(outsider.contact.pk))
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error (404 not_found): Not found."
    result = cli("contacts", "get", "nobody@example.com")
    assert result.exit_code == 1
    assert "No contact with the email address nobody@example.com" in result.stderr


def test_a_wrong_key_exits_4(cli, workspace):
    result = cli("contacts", "list", key="mc_wrong")
    assert result.exit_code == 4
    assert "Error (401 unauthenticated)" in result.stderr


def test_tag_untag_and_merge(cli, workspace):
    jane = ContactFactory(workspace=workspace, email="jane@example.com")
    dup = ContactFactory(workspace=workspace, email="jane.smith@example.com")
    tagged = cli.json("contacts", "tag", "jane@example.com", "vip", "newsletter")
    assert sorted(tagged["tags"]) == ["newsletter", "vip"]
    assert "vip" in cli.ok("contacts", "untag", str(jane.pk), "newsletter").stdout
    result = cli("contacts", "untag", str(jane.pk), "nope")
    assert result.exit_code == 1 and "has no tag 'nope'" in result.stderr

    merged = cli.json("contacts", "merge", "jane@example.com", str(dup.pk))
    assert merged["id"] == str(jane.pk)
    assert not Contact.objects.filter(pk=dup.pk).exists()


def test_delete_asks_first(cli, workspace):
    jane = ContactFactory(workspace=workspace, email="jane@example.com")
    result = cli("contacts", "delete", str(jane.pk), input="n\n")
    assert result.exit_code == 1  # click's Abort
    assert Contact.objects.filter(pk=jane.pk).exists()
    cli.ok("contacts", "delete", str(jane.pk), input="y\n")
    assert not Contact.objects.filter(pk=jane.pk).exists()
