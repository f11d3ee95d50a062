"""/api/v1/unsubscribes with layers: scope, list_id, reason and reason_text (additive to the
fixed contract), filters by scope and list, DELETE re-subscribes in that layer; bad input is a
400 naming the field, another workspace's list is refused and its rows are not found."""

from __future__ import annotations

import pytest

from contacts.tests.factories import ContactListFactory
from deliverability.models import SendingDomain, Unsubscribe

pytestmark = pytest.mark.django_db

URL = "/api/v1/unsubscribes"


@pytest.fixture
def weekly(workspace):
    return ContactListFactory(workspace=workspace, name="Weekly")


def test_a_list_unsubscribe_with_a_reason(api, weekly):
    response = api.post(
        URL,
        {
            "email": "Jane@Example.com",
            "scope": "list",
            "list_id": str(weekly.id),
            "reason": "too_frequent",
            "reason_text": "Every day is too much",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["scope"] == "list" and body["list_id"] == str(weekly.id)
    assert body["domain_id"] is None and body["reason"] == "too_frequent"
    assert body["email"] == "jane@example.com"


def test_scope_is_derived_when_left_out(api, workspace, weekly):
    brand = SendingDomain.objects.create(workspace=workspace, domain="brand.example")
    by_list = api.post(URL, {"email": "a@example.com", "list_id": str(weekly.id)}, format="json")
    by_domain = api.post(URL, {"email": "a@example.com", "domain_id": str(brand.id)}, format="json")
    everything = api.post(URL, {"email": "a@example.com"}, format="json")
    assert [r.json()["scope"] for r in (by_list, by_domain, everything)] == [
        "list",
        "domain",
        "global",
    ]


def test_filters_by_scope_and_list(api, weekly):
    api.post(URL, {"email": "a@example.com", "list_id": str(weekly.id)}, format="json")
    api.post(URL, {"email": "b@example.com"}, format="json")
    listed = api.get(URL, {"scope": "list"}).json()["results"]
    assert [row["email"] for row in listed] == ["a@example.com"]
    assert [r["email"] for r in api.get(URL, {"scope": "global"}).json()["results"]] == [
        "b@example.com"
    ]
    assert len(api.get(URL, {"list_id": str(weekly.id)}).json()["results"]) == 1


def test_delete_resubscribes_to_that_list_only(api, weekly):
    made = api.post(URL, {"email": "a@example.com", "list_id": str(weekly.id)}, format="json")
    api.post(URL, {"email": "a@example.com"}, format="json")
    assert api.delete(f"{URL}/{made.json()['id']}").status_code == 204
    assert list(Unsubscribe.objects.values_list("contact_list", flat=True)) == [None]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"email": "a@example.com", "reason": "bored"}, "reason"),
        ({"email": "a@example.com", "scope": "list"}, "list_id"),
        ({"email": "a@example.com", "scope": "domain"}, "domain_id"),
        ({"email": "a@example.com", "scope": "planet"}, "scope"),
        ({"email": "a@example.com", "list_id": "nope"}, "list_id"),
        ({"email": "a@example.com", "reason_text": "x" * 1001}, "reason_text"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Unsubscribe.objects.exists()


def test_a_list_and_a_domain_together_are_400(api, workspace, weekly):
    brand = SendingDomain.objects.create(workspace=workspace, domain="brand.example")
    response = api.post(
        URL,
        {"email": "a@example.com", "list_id": str(weekly.id), "domain_id": str(brand.id)},
        format="json",
    )
    assert response.status_code == 400
    assert "list_id" in response.json()["error"]["fields"]


def test_another_workspaces_list_is_refused_and_its_rows_not_found(api, outsider):
    response = api.post(
        URL, {"email": "a@example.com", "list_id": str(outsider.list.id)}, format="json"
    )
    assert response.status_code == 400
    theirs = outsider.api.post(
        URL, {"email": "a@example.com", "list_id": str(outsider.list.id)}, format="json"
    ).json()
    assert api.delete(f"{URL}/{theirs['id']}").status_code == 404
    assert api.get(URL, {"list_id": str(outsider.list.id)}).json()["results"] == []
