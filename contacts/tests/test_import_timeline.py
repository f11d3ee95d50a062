"""An imported contact's timeline shows "Imported" from the import that created it
(``Contact.source_import``), though the import writes no timeline row per contact."""

from django.urls import reverse

from contacts.imports import import_run, import_start
from contacts.models import Activity, Contact
from contacts.tests.factories import ContactFactory


def _import(workspace, data: str, **options):
    job = import_start(
        workspace=workspace, data=data.encode(), filename="fair.csv", mapping=None, **options
    )
    return import_run(job.pk)


def _kinds(api, contact):
    response = api.get(f"/api/v1/contacts/{contact.pk}/activities")
    assert response.status_code == 200
    return [(a["kind"], a["subject"]) for a in response.json()["results"]]


def test_the_api_timeline_shows_the_import_once(api, workspace, owner):
    job = _import(workspace, "email,first_name\nann@example.com,Ann\n")
    ann = Contact.objects.get(email="ann@example.com")
    assert ann.source_import_id == job.pk
    assert not Activity.objects.exists()  # nothing written by the import itself
    assert _kinds(api, ann) == [("imported", "fair.csv")]
    assert _kinds(api, ann) == [("imported", "fair.csv")]  # read again: still one entry
    entry = Activity.objects.get(contact=ann)
    assert entry.data == {"import_id": str(job.pk), "created": True}
    assert entry.occurred_at == job.started_at


def test_the_entry_sorts_where_the_import_happened(api, workspace):
    _import(workspace, "email\nann@example.com\n")
    ann = Contact.objects.get(email="ann@example.com")
    note = api.post(
        f"/api/v1/contacts/{ann.pk}/activities",
        {"kind": "note", "subject": "Called"},
        format="json",
    )
    assert note.status_code == 201
    assert [kind for kind, _ in _kinds(api, ann)] == ["note", "imported"]


def test_the_dashboard_timeline_shows_the_import(dashboard, workspace):
    _import(workspace, "email\nann@example.com\n")
    ann = Contact.objects.get(email="ann@example.com")
    page = dashboard.get(reverse("dashboard:contacts:contact", args=[ann.pk]))
    assert page.status_code == 200
    assert "Imported</strong>: fair.csv" in page.content.decode()


def test_a_contact_the_import_only_updated_keeps_its_own_source(api, workspace):
    old = ContactFactory(workspace=workspace, email="old@example.com")
    job = _import(workspace, "email,first_name\nold@example.com,Olga\n")
    assert job.updated == 1
    old.refresh_from_db()
    assert old.source_import_id is None
    assert ("imported", "fair.csv") not in _kinds(api, old)


def test_a_deleted_import_leaves_no_entry_and_no_error(api, workspace):
    job = _import(workspace, "email\nann@example.com\n")
    job.delete()
    ann = Contact.objects.get(email="ann@example.com")
    assert _kinds(api, ann) == []


def test_another_workspaces_contact_is_not_found(api, workspace, outsider):
    _import(outsider.workspace, "email\nsecret2@outsider.example\n")
    theirs = Contact.objects.get(email="secret2@outsider.example")
    response = api.get(f"/api/v1/contacts/{theirs.pk}/activities")
    assert response.status_code == 404
    assert not Activity.objects.filter(contact=theirs).exists()


def test_a_bad_contact_id_is_a_clear_client_error(api, workspace):
    response = api.get("/api/v1/contacts/not-a-uuid/activities")
    assert 400 <= response.status_code < 500
