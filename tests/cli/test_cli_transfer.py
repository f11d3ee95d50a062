"""import (CSV upload followed to the end with --wait) and export (streamed CSV)."""

import csv
import io

import pytest

from contacts.models import Contact, ListMembership
from contacts.tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db(transaction=True)

CSV = (
    "E-mail;First Name;Plan\r\n"
    "jane@example.com;Jane;pro\r\n"
    "bob@example.com;Bob;starter\r\n"
    "not-an-email;Nope;pro\r\n"
)


def test_import_wait_follows_the_job_to_done(cli, workspace, tmp_path):
    ContactListFactory(workspace=workspace, name="Fair 2025")
    path = tmp_path / "people.csv"
    path.write_text(CSV)
    result = cli.ok(
        "import",
        str(path),
        "--map",
        "E-mail=email",
        "--map",
        "First Name=first_name",
        "--list",
        "Fair 2025",
        "--tags",
        "fair,imported",
        "--wait",
        "--interval",
        "0.1",
    )
    # The progress bar on stderr reached the end; the summary and refused rows on stdout.
    last = result.stderr.splitlines()[-1]
    assert last.startswith("Importing people.csv [###") and last.endswith("3/3 100% done")
    assert "status      done" in result.stdout
    assert "row 4: 'not-an-email' is not a valid email address" in result.stdout
    jane = Contact.objects.get(workspace=workspace, email="jane@example.com")
    assert jane.first_name == "Jane"
    assert sorted(jane.tags.values_list("name", flat=True)) == ["fair", "imported"]
    assert ListMembership.objects.filter(contact=jane, contact_list__name="Fair 2025").exists()


def test_import_json_and_import_status(cli, workspace, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,first_name\njane@example.com,Jane\n")
    job = cli.json("import", str(path), "--wait", "--interval", "0.1")
    assert (job["status"], job["created"], job["total_rows"]) == ("done", 1, 1)

    started = cli.ok("import", str(path), "--skip-existing").stdout.strip()
    status = cli.json("import-status", started, "--wait")
    assert status["id"] == started and status["skipped"] + status["updated"] == 1


def test_import_errors(cli, workspace, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email\njane@example.com\n")
    result = cli("import", str(path), "--map", "email=properties.nope")
    assert result.exit_code == 1 and "mapping" in result.stderr
    result = cli("import", str(path), "--map", "no-equals-sign")
    assert result.exit_code == 2 and "expected KEY=VALUE" in result.stderr
    result = cli("import", str(path), "--list", "No such list")
    assert result.exit_code == 1 and "No list named 'No such list'" in result.stderr
    result = cli("import", str(tmp_path / "missing.csv"))
    assert result.exit_code == 2


def test_import_that_fails_exits_1(cli, workspace, tmp_path):
    path = tmp_path / "cat.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = cli("import", str(path), "--wait")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error (400 ")


def test_export_streams_csv_to_stdout_and_to_a_file(cli, workspace, tmp_path):
    ContactFactory(workspace=workspace, email="jane@example.com", first_name="Jane")
    ContactFactory(workspace=workspace, email="bob@example.com", status="unsubscribed")
    result = cli.ok("export")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(row["email"] for row in rows) == ["bob@example.com", "jane@example.com"]

    out = tmp_path / "active.csv"
    cli.ok("export", "--query", "status = active", "-o", str(out))
    rows = list(csv.DictReader(out.open()))
    assert [row["email"] for row in rows] == ["jane@example.com"]

    result = cli("export", "--query", "status = = active")
    assert result.exit_code == 1 and "Error (400" in result.stderr
