"""The import wizard: upload (the file waits in the cache), map columns and options, run
(``import_start``; the task runs inline in tests), progress and history pages."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.models import Contact, ImportJob, JobStatus, PropertyDefinition
from contacts.tests.factories import ContactFactory, ContactListFactory, PropertyDefinitionFactory

imports = pytest.importorskip("contacts.imports")

pytestmark = pytest.mark.django_db

CSV = (
    b"Email,First Name,Plan,Seats\n"
    b"ada@example.com,Ada,pro,3\n"
    b"not-an-email,Bob,free,1\n"
    b"cy@example.com,Cy,free,2\n"
)


def url(name, *args):
    return reverse(f"dashboard:contacts:{name}", args=args)


def upload(client, data=CSV, name="people.csv"):
    return client.post(url("import_new"), {"file": SimpleUploadedFile(name, data, "text/csv")})


def token_of(response) -> str:
    return re.search(r"/imports/new/([^/]+)/", response.url).group(1)


@pytest.fixture
def uploaded(dashboard):
    response = upload(dashboard)
    assert response.status_code == 302
    return token_of(response)


def mapping_body(**changes):
    body = {
        "map_0": "email",
        "map_1": "first_name",
        "map_2": "",
        "map_3": "",
        "update_existing": "true",
        "tags": "",
        "contact_list": "",
    }
    return body | changes


# --- step 1 ------------------------------------------------------------------------------------


def test_uploading_shows_the_columns_with_suggestions(dashboard, uploaded):
    page = dashboard.get(url("import_map", uploaded))
    assert page.status_code == 200
    body = page.content.decode()
    assert "First Name" in body and "ada@example.com" in body
    assert page.context["form"].initial["map_0"] == "email"
    assert not ImportJob.objects.exists()  # nothing is created before the run


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "CSV"),
        (b"email\n", "no rows"),
    ],
)
def test_a_file_that_is_not_a_csv_is_a_form_error(dashboard, data, text):
    response = upload(dashboard, data)
    assert response.status_code == 200
    assert text.lower() in " ".join(response.context["form"].errors["file"]).lower()


def test_no_file_is_a_form_error(dashboard):
    response = dashboard.post(url("import_new"), {})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]


def test_an_expired_or_foreign_upload_goes_back_to_step_one(client, dashboard, member, uploaded):
    response = dashboard.get(url("import_map", "no-such-token"))
    assert response.status_code == 302 and response.url == url("import_new")
    client.force_login(member)  # same workspace, another person
    response = client.get(url("import_map", uploaded))
    assert response.url == url("import_new")


# --- step 2 and the run ------------------------------------------------------------------------


def test_running_imports_the_good_rows_and_reports_the_bad(
    dashboard, workspace, uploaded, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = dashboard.post(url("import_map", uploaded), mapping_body(tags="fair, 2025"))
    job = ImportJob.objects.get(workspace=workspace)
    assert response.status_code == 302 and response.url == url("import", job.pk)
    job.refresh_from_db()
    assert (job.status, job.created, job.error_count) == (JobStatus.DONE, 2, 1)
    ada = Contact.objects.get(workspace=workspace, email="ada@example.com")
    assert ada.first_name == "Ada"
    assert sorted(ada.tags.values_list("name", flat=True)) == ["2025", "fair"]
    page = dashboard.get(response.url).content.decode()
    assert "Refused rows" in page and "hx-trigger" not in page
    # The upload is used once.
    assert dashboard.get(url("import_map", uploaded)).status_code == 302


def test_columns_can_create_new_properties_and_join_a_list(
    dashboard, workspace, uploaded, django_capture_on_commit_callbacks
):
    PropertyDefinitionFactory(workspace=workspace, key="plan", type="text")
    newsletter = ContactListFactory(workspace=workspace, name="Newsletter")
    body = mapping_body(
        map_2="properties.plan",
        map_3="new",
        new_key_3="seats",
        new_type_3="number",
        contact_list=str(newsletter.pk),
    )
    with django_capture_on_commit_callbacks(execute=True):
        dashboard.post(url("import_map", uploaded), body)
    assert PropertyDefinition.objects.get(workspace=workspace, key="seats").type == "number"
    ada = Contact.objects.get(workspace=workspace, email="ada@example.com")
    assert ada.properties == {"plan": "pro", "seats": 3}
    assert ada.lists.get() == newsletter


def test_skipping_existing_contacts_leaves_them(
    dashboard, workspace, uploaded, django_capture_on_commit_callbacks
):
    ContactFactory(workspace=workspace, email="ada@example.com", first_name="Adele")
    with django_capture_on_commit_callbacks(execute=True):
        dashboard.post(url("import_map", uploaded), mapping_body(update_existing="false"))
    assert Contact.objects.get(workspace=workspace, email="ada@example.com").first_name == "Adele"
    assert ImportJob.objects.get().skipped == 1


@pytest.mark.parametrize(
    ("changes", "where", "text"),
    [
        ({"map_0": "", "map_1": "first_name"}, None, "email"),
        ({"map_1": "email"}, None, "both map"),
        ({"map_3": "new"}, "new_key_3", "Name the new property"),
        ({"map_3": "new", "new_key_3": "bad key!"}, "new_key_3", "letters"),
        ({"map_1": "shoe_size"}, "map_1", "valid choice"),
    ],
)
def test_a_bad_mapping_is_a_form_error_and_nothing_runs(dashboard, uploaded, changes, where, text):
    response = dashboard.post(url("import_map", uploaded), mapping_body(**changes))
    assert response.status_code == 200
    form = response.context["form"]
    errors = form.non_field_errors() if where is None else form.errors[where]
    assert text.lower() in " ".join(errors).lower()
    assert not ImportJob.objects.exists()


def test_another_workspaces_list_is_refused(dashboard, uploaded, outsider):
    response = dashboard.post(
        url("import_map", uploaded), mapping_body(contact_list=str(outsider.list.pk))
    )
    assert response.status_code == 200
    assert response.context["form"].errors["contact_list"]
    assert not ImportJob.objects.exists()


# --- progress and history ----------------------------------------------------------------------


def test_a_running_import_polls_its_progress(dashboard, workspace):
    job = ImportJob.objects.create(
        workspace=workspace,
        filename="big.csv",
        status=JobStatus.RUNNING,
        total_rows=200,
        processed=50,
    )
    body = dashboard.get(url("import", job.pk)).content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert 'value="50" max="200"' in body


def test_a_failed_import_says_why(dashboard, workspace):
    job = ImportJob.objects.create(
        workspace=workspace, status=JobStatus.FAILED, failure_reason="the file vanished"
    )
    assert "the file vanished" in dashboard.get(url("import", job.pk)).content.decode()


def test_history_lists_this_workspaces_imports_only(dashboard, workspace, outsider):
    ImportJob.objects.create(workspace=workspace, filename="ours.csv", status=JobStatus.DONE)
    theirs = ImportJob.objects.create(workspace=outsider.workspace, filename="theirs.csv")
    body = dashboard.get(url("imports")).content.decode()
    assert "ours.csv" in body and "theirs.csv" not in body
    assert dashboard.get(url("import", theirs.pk)).status_code == 404


def test_viewers_see_history_but_cannot_import(client, viewer, workspace, dashboard, uploaded):
    job = ImportJob.objects.create(workspace=workspace, filename="ours.csv")
    client.force_login(viewer)
    assert client.get(url("imports")).status_code == 200
    assert client.get(url("import", job.pk)).status_code == 200
    assert client.get(url("import_new")).status_code == 403
    assert upload(client).status_code == 403
    assert client.post(url("import_map", uploaded), mapping_body()).status_code == 403
    assert ImportJob.objects.count() == 1


def test_history_queries_a_bounded_number_of_times(
    dashboard, workspace, owner, django_assert_max_num_queries
):
    newsletter = ContactListFactory(workspace=workspace)
    for i in range(20):
        ImportJob.objects.create(
            workspace=workspace, filename=f"f{i}.csv", created_by=owner, contact_list=newsletter
        )
    with django_assert_max_num_queries(8):
        response = dashboard.get(url("imports"))
    assert len(response.context["page"].rows) == 20
