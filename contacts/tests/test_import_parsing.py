"""Rows are parsed on a thread of their own while the previous chunk is written
(contacts/imports/parsing.py): same chunks and rejections as before, errors on either side end
the import cleanly, and the thread never outlives the run."""

import threading

import pytest

from contacts.imports import import_run, import_start, jobs, parsing
from contacts.imports.reading import data_rows, file_layout
from contacts.imports.rows import Plan
from contacts.models import Contact, JobStatus


def _parser_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "import-parser" and t.is_alive()]


def test_ahead_yields_everything_in_order_and_ends():
    assert list(parsing.ahead(iter(range(100)), depth=2)) == list(range(100))
    assert _parser_threads() == []


def test_an_error_while_producing_is_raised_to_the_consumer():
    def items():
        yield 1
        raise ValueError("bad cell")

    got = []
    with pytest.raises(ValueError, match="bad cell"):
        for item in parsing.ahead(items()):
            got.append(item)
    assert got == [1]
    assert _parser_threads() == []


def test_a_consumer_that_stops_early_stops_the_thread():
    endless = iter(int, 1)  # never ends
    with pytest.raises(RuntimeError):
        for _ in parsing.ahead(endless):
            raise RuntimeError("the database failed")
    assert _parser_threads() == []


def test_chunks_carry_the_rows_refused_while_reading_them(workspace):
    data = (
        b"email,first_name\n"
        b"a@example.com,A\n"
        b"not-an-email,B\n"
        b"b@example.com,B\n"
        b"A@EXAMPLE.COM,again\n"
        b"c@example.com,C\n"
    )
    layout = file_layout(data)
    plan = Plan.build(workspace, {"email": "email", "first_name": "first_name"}, layout.columns)
    chunks = list(parsing.ahead(parsing.chunks(data_rows(data, layout), plan, 2)))
    assert [[row.email for row in chunk.rows] for chunk in chunks] == [
        ["a@example.com", "b@example.com"],
        ["c@example.com"],
    ]
    assert [number for number, _ in chunks[0].rejected] == [3]
    assert chunks[1].rejected == [(5, "A@example.com already appears in row 2")]
    assert all(row.copy is not None for chunk in chunks for row in chunk.rows)


def test_an_error_on_the_parsing_thread_fails_the_import_and_keeps_written_chunks(
    workspace, monkeypatch
):
    monkeypatch.setattr(jobs, "CHUNK_ROWS", 2)
    real = parsing.clean_row

    def clean_row(plan, number, cells):
        if number == 6:
            raise RuntimeError("boom")
        return real(plan, number, cells)

    monkeypatch.setattr(parsing, "clean_row", clean_row)
    rows = "".join(f"p{n}@example.com\n" for n in range(8))
    job = import_start(
        workspace=workspace, data=f"email\n{rows}".encode(), filename="f.csv", mapping=None
    )
    job = import_run(job.pk)
    assert job.status == JobStatus.FAILED
    assert "RuntimeError" in job.failure_reason
    # The chunks committed before the error stay (each chunk is its own transaction).
    assert Contact.objects.for_workspace(workspace).count() == job.created >= 2
    assert _parser_threads() == []


def test_another_workspace_is_untouched(workspace, outsider):
    job = import_start(
        workspace=workspace,
        data=b"email\nsecret@outsider.example\nnew@example.com\n",
        filename="f.csv",
        mapping=None,
    )
    job = import_run(job.pk)
    assert job.created == 2
    assert Contact.objects.for_workspace(outsider.workspace).get() == outsider.contact
    outsider.contact.refresh_from_db()
    assert outsider.contact.source_import_id is None
