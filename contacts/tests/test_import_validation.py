"""The import option that validates addresses first, against a real DNS server on loopback:
invalid rows are refused with their row number and reason, risky ones imported and flagged."""

from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.imports import import_run, import_start
from contacts.models import Contact
from deliverability.models import EmailValidation

CSV = (
    "email,first_name\n"
    "ada@goodmail.io,Ada\n"
    "bob@nowhere-at-all.io,Bob\n"
    "info@goodmail.io,Info\n"
    "carla@throwaway.mailinator.com,Carla\n"
)


def run(workspace, **options):
    job = import_start(
        workspace=workspace, data=CSV.encode(), filename="t.csv", mapping=None, **options
    )
    return import_run(job.pk)


def test_invalid_rows_are_refused_and_risky_ones_flagged(workspace, dns_zone):
    dns_zone.add(
        "goodmail.io. 300 IN MX 10 mx.goodmail.io.",
        "mailinator.com. 300 IN MX 10 mail.mailinator.com.",
        "throwaway.mailinator.com. 300 IN MX 10 mail.mailinator.com.",
    )

    job = run(workspace, validate_emails=True)

    assert job.validate_emails and job.status == "done"
    assert [error["row"] for error in job.errors] == [3]
    assert "invalid address" in job.errors[0]["reason"]
    assert sorted(Contact.objects.for_workspace(workspace).values_list("email", flat=True)) == [
        "ada@goodmail.io",
        "carla@throwaway.mailinator.com",
        "info@goodmail.io",
    ]
    results = dict(
        EmailValidation.objects.filter(workspace=workspace).values_list("email", "result")
    )
    assert results["ada@goodmail.io"] == "valid"
    assert results["info@goodmail.io"] == "risky"  # a role account
    assert results["bob@nowhere-at-all.io"] == "invalid"


def test_without_the_option_nothing_is_looked_up(workspace, dns_zone):
    job = run(workspace)

    assert job.error_count == 0 and job.created == 4
    assert dns_zone.queries == []
    assert not EmailValidation.objects.exists()


def test_the_api_takes_the_option(api, dns_zone, django_capture_on_commit_callbacks):
    dns_zone.add("goodmail.io. 300 IN MX 10 mx.goodmail.io.")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/imports",
            {
                "file": SimpleUploadedFile("t.csv", CSV.encode(), "text/csv"),
                "validate_emails": "true",
            },
            format="multipart",
        )
    assert response.status_code == 202, response.json()
    job = api.get(f"/api/v1/imports/{response.json()['id']}").json()
    assert job["validate_emails"] is True
    assert {error["row"] for error in job["errors"]} >= {3}
