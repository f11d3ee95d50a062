"""The import task reads its stored upload in slices into a temporary file (memory: a large
upload fetched whole costs several times its size), and gets back exactly the bytes that were
stored."""

from contacts.imports import import_run, import_start, jobs
from contacts.models import Contact, ImportJob, JobStatus


def _start(workspace, data: bytes) -> ImportJob:
    return import_start(workspace=workspace, data=data, filename="f.csv", mapping=None)


def test_an_upload_larger_than_a_slice_is_read_back_byte_for_byte(workspace, monkeypatch):
    monkeypatch.setattr(jobs, "UPLOAD_SLICE", 100)
    # Latin-1 bytes and a slice boundary falling inside rows: nothing may be lost or decoded.
    data = "email;name\r\n" + "".join(f"p{n}@example.com;Zoë {n}\r\n" for n in range(40))
    data = data.encode("latin-1")
    job = _start(workspace, data)

    assert len(data) > 5 * jobs.UPLOAD_SLICE
    with jobs._spooled_upload(job.pk) as spooled:
        assert spooled.read_bytes() == data
    assert not spooled.exists()  # the temporary file goes with the import


def test_an_import_read_in_slices_imports_every_row(workspace, outsider, monkeypatch):
    monkeypatch.setattr(jobs, "UPLOAD_SLICE", 64)
    data = (
        "email,first_name\n" + "".join(f"s{n}@example.com,Sam{n}\n" for n in range(30))
    ).encode()
    job = import_run(_start(workspace, data).pk)

    assert (job.status, job.created, job.error_count) == (JobStatus.DONE, 30, 0)
    assert (
        Contact.objects.for_workspace(workspace).get(email="s29@example.com").first_name == "Sam29"
    )
    assert not Contact.objects.for_workspace(outsider.workspace).filter(email__startswith="s2")


def test_a_missing_upload_fails_the_job_with_a_reason(workspace):
    job = _start(workspace, b"email\na@example.com\n")
    job.upload.delete()

    job = import_run(job.pk)

    assert job.status == JobStatus.FAILED
    assert job.failure_reason == "The uploaded file is gone."
    with jobs._spooled_upload(job.pk) as spooled:
        assert spooled is None
