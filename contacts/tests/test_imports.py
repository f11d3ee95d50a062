"""CSV import: reading messy files, validating rows, writing in chunks, the API, isolation."""

import codecs
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts import imports
from contacts.imports import (
    ImportFileError,
    ImportTooLarge,
    import_run,
    import_start,
    jobs,
    writing,
)
from contacts.models import (
    Activity,
    ActivityKind,
    Company,
    Contact,
    ContactTag,
    ImportJob,
    ImportUpload,
    JobStatus,
    ListMembership,
    PropertyDefinition,
    PropertyType,
    SegmentDirtyContact,
)
from contacts.segmentation import segment_create
from contacts.tests.factories import (
    CompanyFactory,
    ContactFactory,
    ContactListFactory,
    PropertyDefinitionFactory,
)
from mailcrm.models import Event

MESSY = (
    "\ufeffE-mail;First Name;Last Name;Plan;Notes\r\n"
    "jane@example.com;Jane;Smith;pro;likes tea\r\n"
    "\r\n"
    'bob@example.com;Bob;"Multi\nLine";starter;"semi;colon"\r\n'
    "not-an-email;Nope;Bad;pro;\r\n"
    "JANE@EXAMPLE.COM;Again;Dup;pro;\r\n"
    "carol@example.com;Carol;;platinum;\r\n"
    ";No;Email;pro;\r\n"
    "dave@Example.COM;Dave;;;\r\n"
    ";;;;\r\n"
)
MESSY_MAPPING = {
    "E-mail": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Plan": "properties.plan",
}


@pytest.fixture
def plan_property(workspace):
    return PropertyDefinitionFactory(
        workspace=workspace, key="plan", type=PropertyType.SELECT, options=["starter", "pro"]
    )


def run(workspace, data, mapping=None, **options):
    """Start an import and run it at once, as a worker would."""
    if isinstance(data, str):
        data = data.encode()
    job = import_start(workspace=workspace, data=data, filename="t.csv", mapping=mapping, **options)
    return import_run(job.pk)


def emails(workspace):
    return sorted(Contact.objects.for_workspace(workspace).values_list("email", flat=True))


# --- reading -----------------------------------------------------------------------------------


def test_preview_reads_bom_semicolons_and_suggests_a_mapping():
    preview = imports.read_preview(MESSY.encode())
    assert preview.encoding == "utf-8-sig"
    assert preview.delimiter == ";"
    assert preview.columns == ["E-mail", "First Name", "Last Name", "Plan", "Notes"]
    assert preview.rows[1] == ["bob@example.com", "Bob", "Multi\nLine", "starter", "semi;colon"]
    assert len(preview.rows) == 5
    assert preview.suggested_mapping == {
        "E-mail": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
    }


def test_preview_suggests_properties_of_the_workspace(workspace, plan_property):
    preview = imports.read_preview(MESSY.encode(), workspace)
    assert preview.suggested_mapping["Plan"] == "properties.plan"


def test_preview_reads_latin1_with_tabs():
    data = "email\tname\tcompany\nrene@example.com\tRené Müller\tCafé Zoë\n".encode("latin-1")
    preview = imports.read_preview(data)
    assert preview.delimiter == "\t"
    assert preview.encoding in ("cp1252", "latin-1")
    assert preview.rows == [["rene@example.com", "René Müller", "Café Zoë"]]
    assert preview.suggested_mapping == {"email": "email", "name": "name", "company": "company"}


def test_preview_reads_utf16_excel_text():
    data = "Email,Company\nzoe@example.com,Ünïcode Ltd\n".encode("utf-16")
    preview = imports.read_preview(data)
    assert preview.encoding == "utf-16"
    assert preview.rows == [["zoe@example.com", "Ünïcode Ltd"]]


def test_a_file_without_header_maps_its_address_column():
    preview = imports.read_preview(b"Jane,jane@example.com\nBob,bob@example.com\n")
    assert not preview.has_header
    assert preview.columns == ["Column 1", "Column 2"]
    assert preview.suggested_mapping == {"Column 2": "email"}
    assert preview.rows[0] == ["Jane", "jane@example.com"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \r\n\r\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel"),
        (bytes(range(256)) * 40, "binary"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(data, reason):
    with pytest.raises(ImportFileError) as exc:
        imports.read_preview(data)
    assert reason in exc.value.reason
    assert "file" in exc.value.message_dict


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"email;name\r\n"]),
    data=st.binary(max_size=300),
)
def test_any_bytes_either_preview_or_give_a_file_error(prefix, data):
    try:
        preview = imports.read_preview(prefix + data)
    except ImportFileError as exc:
        assert exc.reason
    else:
        assert preview.columns


# --- starting ----------------------------------------------------------------------------------


def test_mapping_errors_name_the_mapping(workspace):
    data = b"email,plan\na@example.com,pro\n"
    cases = [
        ({"email": "email", "plan": "properties.nope"}, "unknown property 'nope'"),
        ({"email": "email", "plan": "favourite_colour"}, "unknown field"),
        ({"email": "email", "missing": "first_name"}, "not in the file"),
        ({"plan": "first_name"}, "Map one column to email"),
        ({"email": "email", "plan": "email"}, "both map to 'email'"),
    ]
    for mapping, reason in cases:
        with pytest.raises(ValidationError) as exc:
            import_start(workspace=workspace, data=data, filename="x.csv", mapping=mapping)
        assert reason in " ".join(exc.value.message_dict["mapping"])
    assert not ImportJob.objects.exists()


def test_too_large_files_are_refused_before_anything_is_stored(workspace):
    data = b"email\n" + b"a" * imports.MAX_IMPORT_BYTES
    with pytest.raises(ImportTooLarge) as exc:
        import_start(workspace=workspace, data=data, filename="big.csv", mapping=None)
    assert exc.value.status_code == 413
    assert not ImportJob.objects.exists()


def test_a_header_without_rows_is_refused(workspace):
    with pytest.raises(ImportFileError):
        import_start(workspace=workspace, data=b"email,name\n", filename="x.csv", mapping=None)


def test_another_workspaces_list_is_refused(workspace, outsider):
    with pytest.raises(ValidationError) as exc:
        import_start(
            workspace=workspace,
            data=b"email\na@example.com\n",
            filename="x.csv",
            mapping=None,
            contact_list=outsider.list,
        )
    assert "list_id" in exc.value.message_dict


def test_create_properties_defines_them_first(workspace):
    job = run(
        workspace,
        "email,industry,seats\na@example.com,SaaS,12\nb@example.com,Retail,many\n",
        {"email": "email", "industry": "properties.industry", "seats": "properties.seats"},
        create_properties={"industry": "text", "seats": "number"},
    )
    assert PropertyDefinition.objects.get(workspace=workspace, key="seats").type == "number"
    assert job.created == 1
    assert job.errors == [{"row": 3, "reason": "seats (number) must be a number: 'many'"}]
    assert Contact.objects.get(email="a@example.com").properties == {
        "industry": "SaaS",
        "seats": 12,
    }


def test_create_properties_refuses_unknown_types(workspace):
    with pytest.raises(ValidationError) as exc:
        import_start(
            workspace=workspace,
            data=b"email,x\na@example.com,1\n",
            filename="x.csv",
            mapping={"email": "email", "x": "properties.x"},
            create_properties={"x": "colour"},
        )
    assert "create_properties" in exc.value.message_dict
    assert not PropertyDefinition.objects.filter(key="x").exists()


# --- running -----------------------------------------------------------------------------------


def test_a_messy_file_keeps_good_rows_and_reports_bad_ones(workspace, plan_property):
    job = run(workspace, MESSY, MESSY_MAPPING)
    assert job.status == JobStatus.DONE
    assert emails(workspace) == ["bob@example.com", "dave@example.com", "jane@example.com"]
    assert (job.total_rows, job.processed) == (7, 7)
    assert (job.created, job.updated, job.skipped, job.error_count) == (3, 0, 0, 4)
    # Rows are numbered as in a spreadsheet: the header is row 1, the blank line row 3.
    assert job.errors == [
        {"row": 5, "reason": "'not-an-email' is not a valid email address"},
        {"row": 6, "reason": "JANE@example.com already appears in row 2"},
        {
            "row": 7,
            "reason": "plan (select) must be one of: starter, pro: 'platinum'",
        },
        {"row": 8, "reason": "no email address"},
    ]
    bob = Contact.objects.get(email="bob@example.com")
    assert (bob.first_name, bob.last_name, bob.properties) == (
        "Bob",
        "Multi\nLine",
        {"plan": "starter"},
    )
    assert bob.source == "import"
    assert not ImportUpload.objects.exists()


def test_every_row_is_accounted_for(workspace, plan_property):
    job = run(workspace, MESSY, MESSY_MAPPING)
    assert job.created + job.updated + job.skipped + job.error_count == job.total_rows


def test_existing_contacts_are_updated_and_blank_cells_keep_values(workspace, plan_property):
    jane = ContactFactory(
        workspace=workspace,
        email="Jane@Example.com",
        first_name="Janet",
        last_name="Old",
        phone="+1 555 0100",
        properties={"plan": "starter", "other": 1},
    )
    job = run(
        workspace,
        "email,first,last,phone,plan\njane@example.com,Jane,,,pro\n",
        {
            "email": "email",
            "first": "first_name",
            "last": "last_name",
            "phone": "phone",
            "plan": "properties.plan",
        },
    )
    assert (job.created, job.updated) == (0, 1)
    jane.refresh_from_db()
    assert jane.email == "Jane@Example.com"
    assert (jane.first_name, jane.last_name, jane.phone) == ("Jane", "Old", "+1 555 0100")
    assert jane.properties == {"plan": "pro", "other": 1}
    assert Contact.objects.for_workspace(workspace).count() == 1


def test_update_existing_false_skips_known_contacts(workspace):
    jane = ContactFactory(workspace=workspace, email="jane@example.com", first_name="Janet")
    job = run(
        workspace,
        "email,first\nJANE@example.com,Jane\nnew@example.com,New\n",
        {"email": "email", "first": "first_name"},
        update_existing=False,
        tags=["imported"],
    )
    assert (job.created, job.updated, job.skipped) == (1, 0, 1)
    jane.refresh_from_db()
    assert jane.first_name == "Janet"
    assert not ContactTag.objects.filter(contact=jane).exists()


def test_tags_and_list_are_applied_to_every_imported_contact(workspace):
    contact_list = ContactListFactory(workspace=workspace, name="Fair 2025")
    existing = ContactFactory(workspace=workspace, email="old@example.com")
    job = run(
        workspace,
        "email\nold@example.com\nnew@example.com\n",
        None,
        tags=["fair", "Lead"],
        contact_list=contact_list,
    )
    assert (job.created, job.updated) == (1, 1)
    for contact in Contact.objects.for_workspace(workspace):
        assert sorted(contact.tags.values_list("name", flat=True)) == ["Lead", "fair"]
        assert list(contact.lists.all()) == [contact_list]
    assert ListMembership.objects.filter(contact=existing).count() == 1


def test_tags_may_be_given_as_comma_separated_text(workspace):
    run(workspace, "email\na@example.com\n", None, tags="fair, 2025,")
    contact = Contact.objects.get(email="a@example.com")
    assert sorted(contact.tags.values_list("name", flat=True)) == ["2025", "fair"]


def test_standard_fields_are_validated(workspace):
    job = run(
        workspace,
        "email,name,status,stage,opt\n"
        "a@example.com,Ann Lee Jones,Unsubscribed,Marketing qualified,yes\n"
        "b@example.com,Bo,gone,lead,\n"
        "c@example.com,Cy,,wizard,maybe\n",
        {
            "email": "email",
            "name": "name",
            "status": "status",
            "stage": "lifecycle_stage",
            "opt": "tracking_opt_out",
        },
    )
    ann = Contact.objects.get(email="a@example.com")
    assert (ann.first_name, ann.last_name) == ("Ann", "Lee Jones")
    assert (ann.status, ann.lifecycle_stage, ann.tracking_opt_out) == (
        "unsubscribed",
        "marketing_qualified",
        True,
    )
    assert [error["row"] for error in job.errors] == [3, 4]
    assert "status 'gone' is not one of" in job.errors[0]["reason"]
    assert "lifecycle_stage 'wizard'" in job.errors[1]["reason"]
    assert "tracking_opt_out 'maybe'" in job.errors[1]["reason"]


def test_rows_are_written_in_chunks_with_progress(workspace, monkeypatch):
    monkeypatch.setattr(jobs, "CHUNK_ROWS", 3)
    rows = "".join(f"user{n}@example.com\n" for n in range(10)) + "USER1@example.com\n"
    job = run(workspace, "email\n" + rows, None)
    assert (job.total_rows, job.processed, job.created, job.error_count) == (11, 11, 10, 1)
    assert job.errors == [{"row": 12, "reason": "USER1@example.com already appears in row 3"}]


def test_timeline_events_and_segments_are_recorded_in_bulk(
    workspace, django_assert_max_num_queries
):
    segment_create(workspace=workspace, name="Imported", query="source = import")
    ContactFactory(workspace=workspace, email="old@example.com")
    rows = "".join(f"user{n}@example.com\n" for n in range(200)) + "old@example.com\n"
    job = import_start(
        workspace=workspace,
        data=("email\n" + rows).encode(),
        filename="f.csv",
        mapping=None,
        tags=["t"],
    )
    # A constant number per chunk (tags, companies, event, segments), none per row.
    with django_assert_max_num_queries(45):
        job = import_run(job.pk)
    assert (job.created, job.updated) == (200, 1)
    # No timeline row per contact: new contacts name their import (contacts/imports/timeline.py).
    assert not Activity.objects.filter(kind=ActivityKind.IMPORTED).exists()
    assert Contact.objects.filter(source_import=job.pk).count() == 200
    assert SegmentDirtyContact.objects.filter(workspace=workspace).count() == 201
    # One event per chunk naming the contacts, one at the end; no contact.created per row.
    assert not Event.objects.filter(type__startswith="contact.").exists()
    chunk = Event.objects.get(type="contacts.imported")
    old = Contact.objects.get(email="old@example.com")
    assert chunk.data["import_id"] == str(job.pk)
    assert (chunk.data["created"], chunk.data["updated"]) == (200, 1)
    assert chunk.data["updated_ids"] == [str(old.pk)]
    assert set(chunk.data["created_ids"]) == {
        str(pk) for pk in Contact.objects.filter(source="import").values_list("pk", flat=True)
    }
    finished = Event.objects.get(type="import.finished")
    assert finished.subject_id == job.pk
    assert finished.data == {
        "import_id": str(job.pk),
        "status": "done",
        "processed": 201,
        "created": 200,
        "updated": 1,
        "skipped": 0,
        "rejected": 0,
    }


def test_imported_contacts_on_company_domains_are_linked_to_their_company(
    workspace, outsider, monkeypatch
):
    monkeypatch.setattr(jobs, "CHUNK_ROWS", 2)
    globex = CompanyFactory(workspace=workspace, name="Globex", domain="Globex.COM")
    CompanyFactory(workspace=outsider.workspace, domain="initech.example")
    ContactFactory(workspace=workspace, email="old@initech.example", company="")
    job = run(
        workspace,
        "email,company\n"
        "hank@GLOBEX.com,\n"
        "peter@initech.example,Initech LLC\n"
        "old@initech.example,\n"
        "me@gmail.com,Gmail fan\n"
        "x@mailinator.com,\n",
    )
    assert (job.created, job.updated) == (4, 1)
    linked = {
        contact.email: [company.name for company in contact.companies.all()]
        for contact in Contact.objects.for_workspace(workspace).prefetch_related("companies")
    }
    assert linked == {
        "hank@globex.com": ["Globex"],
        "peter@initech.example": ["Initech LLC"],
        "old@initech.example": ["Initech LLC"],
        "me@gmail.com": [],
        "x@mailinator.com": [],
    }
    # The workspace's own company, found by domain in any case; nothing of the outsider's.
    assert Company.objects.for_workspace(workspace).count() == 2
    assert globex.contacts.get().email == "hank@globex.com"
    assert Company.objects.for_workspace(outsider.workspace).get().contacts.count() == 0


def test_a_reimport_rewrites_only_the_contacts_it_changes(workspace):
    run(workspace, "email,first_name\nsame@example.com,Sam\nmoved@example.com,Mo\n")
    before = dict(Contact.objects.for_workspace(workspace).values_list("email", "updated_at"))
    job = run(workspace, "email,first_name\nsame@example.com,Sam\nmoved@example.com,Maurice\n")
    after = dict(Contact.objects.for_workspace(workspace).values_list("email", "updated_at"))
    assert (job.created, job.updated) == (0, 2)  # both met; only one needed writing
    assert after["same@example.com"] == before["same@example.com"]
    assert after["moved@example.com"] > before["moved@example.com"]
    assert Contact.objects.get(email="moved@example.com").first_name == "Maurice"
    # The first import created them and stays their source.
    first = Contact.objects.get(email="same@example.com").source_import_id
    assert first is not None and first != job.pk


def test_the_plan_limit_holds_for_imports(workspace):
    workspace.limit_contacts = 3
    workspace.save()
    ContactFactory(workspace=workspace, email="old@example.com")
    job = run(workspace, "email\na@example.com\nb@example.com\nold@example.com\nc@example.com\n")
    assert (job.created, job.updated, job.error_count) == (2, 1, 1)
    assert job.errors == [{"row": 5, "reason": "the workspace's plan allows 3 contacts"}]
    assert Contact.objects.for_workspace(workspace).count() == 3


def test_a_finished_import_is_not_run_again(workspace):
    job = run(workspace, "email\na@example.com\n")
    assert import_run(job.pk) is None
    assert ImportJob.objects.get(pk=job.pk).created == 1


def test_an_unreadable_row_keeps_the_rows_before_it(workspace):
    # The open quote runs to the end of the file: nothing after it can be told apart.
    job = run(workspace, 'email,first\na@example.com,A\nb@example.com,"B\nc@example.com,C\n')
    assert job.status == JobStatus.DONE
    assert emails(workspace) == ["a@example.com"]
    assert job.errors[0]["row"] == 3
    assert "cannot be read (a quote opened in this row is never closed)" in job.errors[0]["reason"]
    assert job.processed == job.total_rows == 2


def test_a_cell_beyond_the_csv_modules_field_limit_is_one_bad_row(workspace):
    huge = "x" * 200_000  # the csv module's default limit is 131,072 characters
    job = run(workspace, f"email,first\na@example.com,A\nb@example.com,{huge}\nc@example.com,C\n")
    assert job.status == JobStatus.DONE
    assert emails(workspace) == ["a@example.com", "c@example.com"]
    assert job.errors == [{"row": 3, "reason": "first_name is longer than 100 characters"}]


def test_a_failure_midway_fails_the_job_and_keeps_finished_chunks(workspace, monkeypatch):
    monkeypatch.setattr(jobs, "CHUNK_ROWS", 2)
    real_write = writing.write_chunk
    calls = []

    def write_then_break(job, rows, **options):
        calls.append(rows)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_write(job, rows, **options)

    monkeypatch.setattr(writing, "write_chunk", write_then_break)
    rows = "".join(f"user{n}@example.com\n" for n in range(5))
    job = run(workspace, "email\n" + rows)
    assert job.status == JobStatus.FAILED
    assert "internal error" in job.failure_reason
    assert (job.created, job.processed) == (2, 2)
    assert emails(workspace) == ["user0@example.com", "user1@example.com"]
    assert not ImportUpload.objects.exists()


def test_a_running_job_is_not_taken_twice_unless_abandoned(workspace):
    from datetime import timedelta

    from django.utils import timezone

    job = import_start(
        workspace=workspace, data=b"email\na@example.com\n", filename="f", mapping=None
    )
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    assert import_run(job.pk) is None
    ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(hours=1))
    assert import_run(job.pk).status == JobStatus.DONE
    assert import_run("not-a-uuid") is None


def test_the_same_email_in_two_workspaces_stays_separate(workspace, outsider):
    outsider.contact.first_name = "Secret"
    outsider.contact.save()
    job = run(workspace, "email,first\nSECRET@outsider.example,Mine\n", None)
    assert job.created == 1
    outsider.contact.refresh_from_db()
    assert outsider.contact.first_name == "Secret"
    mine = Contact.objects.for_workspace(workspace).get()
    assert mine.email == "SECRET@outsider.example"
    assert Contact.objects.for_workspace(outsider.workspace).count() == 1


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.lists(
        st.lists(
            st.text(
                alphabet=st.characters(
                    blacklist_categories=["Cs", "Cc"], whitelist_characters='",;\n'
                ),
                max_size=12,
            ),
            min_size=1,
            max_size=4,
        ),
        max_size=8,
    )
)
def test_any_rows_end_in_a_finished_job(workspace, body):
    """...or, when a quote opened in the first row is never closed, in a refusal saying so."""
    PropertyDefinition.objects.get_or_create(
        workspace=workspace, key="n", defaults={"type": PropertyType.NUMBER}
    )
    lines = ["email,first_name,n"] + [",".join(cells) for cells in body] + ["ok@example.com,a,1"]
    try:
        job = run(
            workspace,
            "\n".join(lines),
            {"email": "email", "first_name": "first_name", "n": "properties.n"},
        )
    except ImportFileError as exc:
        assert "quote opened in this row is never closed" in exc.reason
        return
    assert job.status == JobStatus.DONE, job.failure_reason
    assert job.created + job.updated + job.skipped + job.error_count == job.total_rows


# --- API ---------------------------------------------------------------------------------------


def post_import(api, data: bytes, name="contacts.csv", **fields):
    body = {"file": SimpleUploadedFile(name, data, content_type="text/csv"), **fields}
    return api.post("/api/v1/imports", body, format="multipart")


def test_api_import_runs_and_reports(
    api, workspace, plan_property, django_capture_on_commit_callbacks
):
    contact_list = ContactListFactory(workspace=workspace)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_import(
            api,
            MESSY.encode(),
            mapping=json.dumps(MESSY_MAPPING),
            tags="vip, fair",
            list_id=str(contact_list.id),
            update_existing="false",
        )
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"
    job = api.get(f"/api/v1/imports/{response.json()['id']}").json()
    assert job["status"] == "done"
    assert (job["total_rows"], job["processed"], job["created"]) == (7, 7, 3)
    assert job["errors"][0] == {"row": 5, "reason": "'not-an-email' is not a valid email address"}
    assert job["tags"] == ["vip", "fair"] and job["list_id"] == str(contact_list.id)
    history = api.get("/api/v1/imports").json()
    assert [item["id"] for item in history["results"]] == [job["id"]]
    assert "errors" not in history["results"][0]


def test_api_refuses_a_binary_file(api):
    response = post_import(api, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", name="cat.png")
    assert response.status_code == 400
    assert "PNG" in response.json()["error"]["fields"]["file"][0]


def test_api_refuses_a_large_file_with_413(api, monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 1000)
    response = post_import(api, b"email\n" + b"a@example.com\n" * 100)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert not ImportJob.objects.exists()


def test_api_refuses_an_oversized_body_before_reading_it(api, monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 10)
    response = post_import(api, b"email\n" + b"a@example.com\n" * 100_000)
    assert response.status_code == 413


def test_api_bad_mapping_and_options_are_400(api):
    data = b"email,plan\na@example.com,pro\n"
    response = post_import(api, data, mapping="{not json")
    assert response.status_code == 400
    assert "mapping" in response.json()["error"]["fields"]
    response = post_import(api, data, mapping=json.dumps({"plan": "properties.nope"}))
    assert response.status_code == 400
    assert "mapping" in response.json()["error"]["fields"]
    response = post_import(api, data, list_id="not-a-uuid")
    assert response.status_code == 400


def test_api_refuses_another_workspaces_list(api, outsider):
    response = post_import(api, b"email\na@example.com\n", list_id=str(outsider.list.id))
    assert response.status_code == 400
    assert "list_id" in response.json()["error"]["fields"]
    assert not ImportJob.objects.exists()


def test_api_hides_another_workspaces_imports(api, outsider, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        theirs = post_import(outsider.api, b"email\nx@example.com\n").json()
    assert api.get(f"/api/v1/imports/{theirs['id']}").status_code == 404
    assert api.get("/api/v1/imports").json()["results"] == []
    assert outsider.api.get(f"/api/v1/imports/{theirs['id']}").status_code == 200


def test_api_wants_multipart(api):
    response = api.post("/api/v1/imports", {"file": "email\na@example.com"}, format="json")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_api_needs_a_key(anon_api):
    assert anon_api.get("/api/v1/imports").status_code == 401
    assert anon_api.post("/api/v1/imports", {}, format="multipart").status_code == 401
