"""Streaming CSV export: columns, filters, formula neutralising, isolation."""

import csv
import io

import pytest

from contacts import exports
from contacts.exports import export_contacts, export_response
from contacts.models import Contact, PropertyType
from contacts.segmentation import segment_create, segment_refresh
from contacts.tests.factories import (
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    PropertyDefinitionFactory,
    TagFactory,
)


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def read_response(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return parse(b"".join(response.streaming_content).decode())


@pytest.fixture
def people(workspace):
    PropertyDefinitionFactory(workspace=workspace, key="plan", type=PropertyType.TEXT)
    PropertyDefinitionFactory(
        workspace=workspace,
        key="interests",
        type=PropertyType.MULTI_SELECT,
        options=["crm", "email"],
    )
    vip = TagFactory(workspace=workspace, name="vip")
    fair = ContactListFactory(workspace=workspace, name="Fair")
    jane = ContactFactory(
        workspace=workspace,
        email="jane@example.com",
        first_name="Jane",
        properties={"plan": "pro", "interests": ["crm", "email"]},
    )
    bob = ContactFactory(
        workspace=workspace, email="bob@example.com", first_name="Bob", status="unsubscribed"
    )
    ContactTagFactory(contact=jane, tag=vip)
    ListMembershipFactory(contact=jane, contact_list=fair)
    return jane, bob


def test_the_header_has_standard_fields_tags_lists_then_properties(workspace, people):
    header = next(csv.reader(io.StringIO(next(export_contacts(workspace, Contact.objects.all())))))
    assert header[:3] == ["id", "email", "first_name"]
    assert header[-4:] == ["tags", "lists", "properties.interests", "properties.plan"]


def test_rows_carry_tags_lists_and_properties(workspace, people):
    jane, bob = people
    rows = parse("".join(export_contacts(workspace, Contact.objects.for_workspace(workspace))))
    assert [row["email"] for row in rows] == ["jane@example.com", "bob@example.com"]
    assert rows[0]["id"] == str(jane.id)
    assert rows[0]["tags"] == "vip" and rows[0]["lists"] == "Fair"
    assert rows[0]["properties.plan"] == "pro"
    assert rows[0]["properties.interests"] == "crm, email"
    assert rows[0]["tracking_opt_out"] == "false"
    assert rows[0]["created_at"].endswith("Z")
    assert rows[1]["tags"] == "" and rows[1]["properties.plan"] == ""


def test_it_pages_through_many_rows_in_order(workspace, monkeypatch):
    monkeypatch.setattr(exports, "PAGE_SIZE", 3)
    made = [ContactFactory(workspace=workspace) for _ in range(8)]
    chunks = list(export_contacts(workspace, Contact.objects.for_workspace(workspace)))
    assert len(chunks) == 1 + 3  # the header, then pages of 3, 3 and 2
    rows = parse("".join(chunks))
    assert [row["id"] for row in rows] == sorted(str(contact.id) for contact in made)


@pytest.mark.parametrize(
    "dangerous",
    ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"],
)
def test_formula_cells_are_neutralised(workspace, dangerous):
    PropertyDefinitionFactory(workspace=workspace, key="note", type=PropertyType.TEXT)
    ContactFactory(workspace=workspace, first_name=dangerous, properties={"note": dangerous})
    (row,) = parse("".join(export_contacts(workspace, Contact.objects.all())))
    for cell in (row["first_name"], row["properties.note"]):
        assert cell.startswith("'"), cell
        assert cell[1:].replace("\\|", "|") == dangerous


def test_plain_negative_numbers_stay_numbers(workspace):
    PropertyDefinitionFactory(workspace=workspace, key="balance", type=PropertyType.NUMBER)
    ContactFactory(workspace=workspace, properties={"balance": -12.5})
    (row,) = parse("".join(export_contacts(workspace, Contact.objects.all())))
    assert row["properties.balance"] == "-12.5"


def test_another_workspaces_rows_are_never_exported(workspace, outsider, people):
    # Even a careless caller handing over every contact gets only the workspace's own.
    rows = parse("".join(export_contacts(workspace, Contact.objects.all())))
    assert "secret@outsider.example" not in {row["email"] for row in rows}
    assert len(rows) == 2


def test_export_response_is_a_streamed_download(workspace, people):
    response = export_response(workspace, Contact.objects.all(), "segment-My list/../x.csv")
    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="')
    assert "/" not in response["Content-Disposition"]
    assert len(read_response(response)) == 2


# --- API ---------------------------------------------------------------------------------------


def test_api_export_takes_the_list_filters(api, workspace, people):
    segment = segment_create(workspace=workspace, name="Active", query="status = active")
    segment_refresh(segment=segment)
    cases = {
        "": {"jane@example.com", "bob@example.com"},
        "?status=unsubscribed": {"bob@example.com"},
        "?tag=vip": {"jane@example.com"},
        "?list=Fair": {"jane@example.com"},
        "?segment=Active": {"jane@example.com"},
        "?query=first_name%20%3D%20Bob": {"bob@example.com"},
        "?q=jane": {"jane@example.com"},
    }
    for params, expected in cases.items():
        rows = read_response(api.get(f"/api/v1/contacts/export{params}"))
        assert {row["email"] for row in rows} == expected, params


def test_api_export_accepts_text_csv(api, people):
    response = api.get("/api/v1/contacts/export", HTTP_ACCEPT="text/csv")
    assert len(read_response(response)) == 2


def test_api_export_bad_filters_are_clear_errors(api, outsider, people):
    response = api.get("/api/v1/contacts/export?query=status%20%3D%3D")
    assert response.status_code == 400
    assert "query" in response.json()["error"]["fields"]
    # Another workspace's tag or list is unknown here.
    assert api.get(f"/api/v1/contacts/export?tag={outsider.tag.id}").status_code == 404
    assert api.get(f"/api/v1/contacts/export?list={outsider.list.id}").status_code == 404


def test_api_export_query_quoting_a_percent_sign_is_a_clear_error(api, people):
    # Found by the API fuzzing: the reason quotes the query, which was %-formatted (a 500).
    response = api.get("/api/v1/contacts/export?query=%C3%A3%25")
    assert response.status_code == 400
    assert "%" in response.json()["error"]["fields"]["query"][0]
    assert api.get("/api/v1/contacts?query=%C3%A3%25").status_code == 400


def test_api_export_never_includes_another_workspace(api, outsider, people):
    rows = read_response(api.get("/api/v1/contacts/export?q=secret"))
    assert rows == []
    theirs = read_response(outsider.api.get("/api/v1/contacts/export"))
    assert [row["email"] for row in theirs] == ["secret@outsider.example"]


def test_api_export_needs_a_key(anon_api):
    assert anon_api.get("/api/v1/contacts/export").status_code == 401
