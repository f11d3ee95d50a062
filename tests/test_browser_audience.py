"""Dashboard journeys in a real browser (chromium over playwright, against a live server):
build a segment with the row builder and watch the live count, bulk-tag contacts from the
list, import a CSV through the wizard and watch it finish."""

from __future__ import annotations

import re

import pytest

from contacts.models import Segment
from contacts.tests.factories import ContactFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def people(workspace):
    return [
        ContactFactory(workspace=workspace, email="ada@example.com", first_name="Ada", score=90),
        ContactFactory(workspace=workspace, email="bob@example.com", first_name="Bob", score=30),
        ContactFactory(workspace=workspace, email="cy@example.com", first_name="Cy", score=5),
    ]


def test_building_a_segment_with_rows_shows_the_live_count(sign_in, owner, workspace, people):
    page = sign_in(owner, workspace)
    page.goto("/segments/new/")
    count = page.locator(".preview-count")
    page.get_by_label("Name").fill("Engaged")
    page.get_by_role("button", name="Add a condition").click()
    row = page.locator(".builder-row").first
    row.get_by_label("Field").select_option("score")
    row.get_by_label("Operator").select_option(">")
    row.get_by_label("Value").fill("50")
    expect()(page.locator("#id_query")).to_have_value("score > 50")
    expect()(count).to_have_attribute("data-count", "1")

    row.get_by_label("Value").fill("10")
    expect()(count).to_have_attribute("data-count", "2")

    page.get_by_role("button", name="Add a condition").click()
    second = page.locator(".builder-row").nth(1)
    second.get_by_label("Field").select_option("first_name")
    second.get_by_label("Operator").select_option("in")
    second.get_by_label("Value").fill("Ada, Cy")
    expect()(page.locator("#id_query")).to_have_value("score > 10 AND first_name IN (Ada, Cy)")
    expect()(count).to_have_attribute("data-count", "1")

    page.get_by_label("Match all or any").select_option("OR")
    expect()(count).to_have_attribute("data-count", "3")

    page.get_by_role("button", name="Create segment").click()
    expect()(page.get_by_role("heading", name="Engaged")).to_be_visible()
    members = page.locator("#main table")
    for person in people:
        expect()(members).to_contain_text(person.email)
    assert Segment.objects.get(workspace=workspace).query == (
        "score > 10 OR first_name IN (Ada, Cy)"
    )


def test_a_typed_query_shows_its_error_then_its_count(sign_in, owner, workspace, people):
    page = sign_in(owner, workspace)
    page.goto("/segments/new/")
    page.locator("#id_query").fill("score >")
    expect()(page.locator(".preview-error")).to_contain_text("position")
    page.locator("#id_query").fill("score > 20")
    expect()(page.locator(".preview-count")).to_have_attribute("data-count", "2")


def test_editing_a_segment_loads_its_query_into_rows(sign_in, owner, workspace, people):
    segment = Segment.objects.create(workspace=workspace, name="Hot", query="score >= 90")
    page = sign_in(owner, workspace)
    page.goto(f"/segments/{segment.pk}/edit/")
    row = page.locator(".builder-row").first
    expect()(row.get_by_label("Field")).to_have_value("score")
    expect()(row.get_by_label("Operator")).to_have_value(">=")
    expect()(row.get_by_label("Value")).to_have_value("90")
    expect()(page.locator(".preview-count")).to_have_attribute("data-count", "1")
    page.get_by_role("button", name="Remove condition").click()
    expect()(page.locator("#id_query")).to_have_value("")
    expect()(page.locator(".preview")).to_contain_text(re.compile("Write a query"))


CSV = (
    b"Email,First Name,Plan\n"
    b"ada@example.com,Ada,pro\n"
    b"broken-address,Bob,free\n"
    b"cy@example.com,Cy,free\n"
)


def test_importing_a_csv_through_the_wizard(sign_in, owner, workspace):
    pytest.importorskip("contacts.imports")
    page = sign_in(owner, workspace)
    page.goto("/imports/")
    page.get_by_role("button", name="Import a CSV").first.click()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": CSV}]
    )
    page.get_by_role("button", name="Upload and continue").click()

    expect()(page.get_by_role("heading", name="Map the columns of people.csv")).to_be_visible()
    expect()(page.get_by_label("Import Email as")).to_have_value("email")
    page.get_by_label("Import Plan as").select_option("new")
    page.get_by_label("New property key for Plan").fill("plan")
    page.get_by_label("Tags").fill("fair")
    page.get_by_role("button", name="Run the import").click()

    expect()(page.locator("[data-status]")).to_have_attribute("data-status", "done")
    expect()(page.locator("[data-count=created]")).to_have_text("2")
    expect()(page.locator("table.errors")).to_contain_text("broken-address")
    ada = workspace_contact(workspace, "ada@example.com")
    assert ada.properties == {"plan": "pro"}
    assert list(ada.tags.values_list("name", flat=True)) == ["fair"]

    page.get_by_role("link", name="Imports").first.click()
    expect()(page.locator("#main table")).to_contain_text("people.csv")


def test_the_progress_of_a_running_import_updates_by_itself(sign_in, owner, workspace):
    from contacts.models import ImportJob, JobStatus

    job = ImportJob.objects.create(
        workspace=workspace,
        filename="big.csv",
        status=JobStatus.RUNNING,
        total_rows=1000,
        processed=100,
    )
    page = sign_in(owner, workspace)
    page.goto(f"/imports/{job.pk}/")
    bar = page.get_by_label("Import progress")
    expect()(bar).to_have_attribute("value", "100")
    ImportJob.objects.filter(pk=job.pk).update(processed=600)
    expect()(bar).to_have_attribute("value", "600")
    ImportJob.objects.filter(pk=job.pk).update(
        processed=1000, created=990, error_count=10, status=JobStatus.DONE
    )
    expect()(page.locator("[data-status]")).to_have_attribute("data-status", "done")
    expect()(page.locator("[data-count=created]")).to_have_text("990")


def workspace_contact(workspace, email):
    from contacts.models import Contact

    return Contact.objects.get(workspace=workspace, email=email)


def test_tagging_selected_contacts_in_bulk(sign_in, owner, workspace, people):
    page = sign_in(owner, workspace)
    page.goto("/contacts/")
    page.get_by_label("Select ada@example.com").check()
    page.get_by_label("Select cy@example.com").check()
    page.get_by_label("Bulk action").select_option("tag")
    expect()(page.get_by_label("Lifecycle stage")).to_be_hidden()
    page.get_by_label("Tag name").fill("vip")
    page.get_by_role("button", name="Apply").click()

    expect()(page.locator(".flash-success")).to_have_text("Tag: 2 contacts changed.")
    rows = page.locator("#results tbody tr")
    expect()(rows.filter(has_text="ada@example.com")).to_contain_text("vip")
    expect()(rows.filter(has_text="bob@example.com")).not_to_contain_text("vip")
    tagged = {c.email for c in workspace_contacts(workspace).filter(tags__name="vip")}
    assert tagged == {"ada@example.com", "cy@example.com"}


def test_deleting_everyone_matching_asks_first(sign_in, owner, workspace, people):
    page = sign_in(owner, workspace)
    page.goto("/contacts/?q=example.com")
    page.get_by_label("Select every contact on this page").check()
    expect()(page.get_by_label("Select bob@example.com")).to_be_checked()
    page.get_by_label("Bulk action").select_option("delete")
    page.get_by_role("button", name="Apply").click()
    expect()(page.get_by_role("heading", name="Delete 3 contacts?")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect()(page.locator("#results")).to_contain_text("bob@example.com")
    assert workspace_contacts(workspace).count() == 3


def workspace_contacts(workspace):
    from contacts.models import Contact

    return Contact.objects.filter(workspace=workspace)


def test_the_bulk_bar_still_works_after_filtering(sign_in, owner, workspace, people):
    page = sign_in(owner, workspace)
    page.goto("/contacts/")
    page.get_by_label("Search").fill("ada")
    expect()(page.locator("#results tbody tr")).to_have_count(1)
    page.get_by_label("Select every contact on this page").check()
    expect()(page.get_by_label("Select ada@example.com")).to_be_checked()
    page.get_by_label("Bulk action").select_option("set_lifecycle_stage")
    expect()(page.get_by_label("Tag name")).to_be_hidden()
    page.get_by_label("Lifecycle stage").select_option("customer")
    page.get_by_role("button", name="Apply").click()
    expect()(page.locator(".flash-success")).to_contain_text("1 contact changed")
    stages = dict(workspace_contacts(workspace).values_list("email", "lifecycle_stage"))
    assert stages["ada@example.com"] == "customer"
    assert stages["bob@example.com"] != "customer"


def test_merging_suggested_duplicates(sign_in, owner, workspace):
    ContactFactory(workspace=workspace, email="jane.doe@gmail.com", first_name="")
    ContactFactory(workspace=workspace, email="janedoe+news@gmail.com", first_name="Jane")
    page = sign_in(owner, workspace)
    page.goto("/contacts/")
    page.get_by_role("button", name="Find duplicates").click()
    page.get_by_label("Keep janedoe+news@gmail.com").check()
    page.get_by_label("Merge jane.doe@gmail.com").check()
    page.get_by_role("button", name="Merge into the kept contact").click()
    expect()(page.locator(".flash-success")).to_contain_text(
        "Merged jane.doe@gmail.com into janedoe+news@gmail.com"
    )
    expect()(page.get_by_text("No likely duplicates")).to_be_visible()
    assert list(workspace_contacts(workspace).values_list("email", flat=True)) == [
        "janedoe+news@gmail.com"
    ]
