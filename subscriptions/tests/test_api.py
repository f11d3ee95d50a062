"""/api/v1/forms: the contract (create, list, filter, read, change, delete), the rules the
service keeps (known fields, one name per workspace, the workspace's own lists), the other
workspace's side, and the schema."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from contacts.tests.factories import ContactListFactory, PropertyDefinitionFactory
from subscriptions.models import SubscriptionForm

pytestmark = pytest.mark.django_db

URL = "/api/v1/forms"


@pytest.fixture
def news(workspace):
    return ContactListFactory(workspace=workspace, name="News")


@pytest.fixture
def footer(workspace, news):
    return SubscriptionForm.objects.create(workspace=workspace, name="Footer", contact_list=news)


def test_it_creates_a_form_with_its_hosted_url(api, workspace, news, settings):
    settings.PUBLIC_BASE_URL = "https://mail.acme.example"
    PropertyDefinitionFactory(workspace=workspace, key="industry", type="text")
    response = api.post(
        URL,
        {
            "name": " Sidebar ",
            "list_id": str(news.pk),
            "fields": ["first_name", "properties.industry", "first_name"],
            "success_url": "https://acme.example/thanks",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    form = SubscriptionForm.objects.get(pk=body["id"])
    assert (form.workspace, form.contact_list, form.name) == (workspace, news, "Sidebar")
    assert body["fields"] == ["first_name", "properties.industry"]
    assert body["list_id"] == str(news.pk) and body["is_active"] is True
    assert body["hosted_url"] == f"https://mail.acme.example/f/{form.pk}"
    assert body["success_message"] == "Thanks for subscribing!"


def test_it_lists_filters_and_reads_forms(api, workspace, footer, news):
    other = ContactListFactory(workspace=workspace, name="Events")
    SubscriptionForm.objects.create(
        workspace=workspace, name="Conference", contact_list=other, is_active=False
    )
    names = [f["name"] for f in api.get(URL).json()["results"]]
    assert names == ["Conference", "Footer"]
    assert [f["name"] for f in api.get(URL, {"list": str(news.pk)}).json()["results"]] == ["Footer"]
    assert [f["name"] for f in api.get(URL, {"is_active": "false"}).json()["results"]] == [
        "Conference"
    ]
    assert [f["name"] for f in api.get(URL, {"q": "foot"}).json()["results"]] == ["Footer"]
    assert api.get(f"{URL}/{footer.pk}").json()["name"] == "Footer"


def test_it_changes_and_deletes_a_form(api, footer):
    response = api.patch(
        f"{URL}/{footer.pk}", {"title": "Join us", "is_active": False}, format="json"
    )
    assert response.status_code == 200, response.json()
    footer.refresh_from_db()
    assert (footer.title, footer.is_active, footer.name) == ("Join us", False, "Footer")
    assert api.delete(f"{URL}/{footer.pk}").status_code == 204
    assert not SubscriptionForm.objects.filter(pk=footer.pk).exists()


def test_a_taken_name_is_a_conflict(api, footer, news):
    response = api.post(URL, {"name": "Footer", "list_id": str(news.pk)}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    other = SubscriptionForm.objects.create(
        workspace=footer.workspace, name="Sidebar", contact_list=news
    )
    assert api.patch(f"{URL}/{other.pk}", {"name": "Footer"}, format="json").status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "fields": ["password"]}, "fields"),
        ({"name": "X", "fields": ["properties.nope"]}, "fields"),
        ({"name": "  "}, "name"),
        ({"name": "X", "success_url": "ftp://acme.example/"}, "success_url"),
        ({"name": "X", "list_id": None}, "list_id"),
        ({"name": "X", "list_id": "not-a-uuid"}, "list_id"),
        ({"name": "X", "fields": "first_name"}, "fields"),
    ],
)
def test_it_refuses_bad_input_naming_the_field(api, news, body, field):
    response = api.post(URL, {"list_id": str(news.pk), **body}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert not SubscriptionForm.objects.exists()


def test_another_workspaces_list_and_form_are_not_found(api, outsider, news):
    theirs = SubscriptionForm.objects.create(
        workspace=outsider.workspace, name="Theirs", contact_list=outsider.list
    )
    response = api.post(URL, {"name": "X", "list_id": str(outsider.list.pk)}, format="json")
    assert response.status_code == 400 and "list_id" in response.json()["error"]["fields"]
    for method in ("get", "patch", "delete"):
        assert getattr(api, method)(f"{URL}/{theirs.pk}", {}, format="json").status_code == 404
    assert api.get(URL).json()["results"] == []
    assert outsider.api.get(URL).json()["results"][0]["name"] == "Theirs"
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_a_key_is_required(anon_api):
    assert anon_api.get(URL).status_code == 401
    assert anon_api.post(URL, {}, format="json").status_code == 401


def test_the_schema_describes_forms():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert set(schema["paths"][URL]) >= {"get", "post"}
    assert set(schema["paths"][URL + "/{id}"]) >= {"get", "patch", "delete"}
    assert "put" not in schema["paths"][URL + "/{id}"]
    form = schema["components"]["schemas"]["SubscriptionForm"]
    assert form["properties"]["list_id"]["format"] == "uuid"
    assert form["properties"]["hosted_url"]["readOnly"] is True
    assert set(form["required"]) >= {"name", "list_id"}
    parameters = {p["name"] for p in schema["paths"][URL]["get"]["parameters"]}
    assert parameters >= {"q", "list", "is_active"}


def test_the_dashboard_list_filters_like_the_api(dashboard, workspace, footer):
    SubscriptionForm.objects.create(
        workspace=workspace, name="Conference", contact_list=footer.contact_list
    )
    page = dashboard.get("/forms/", {"q": "conf"}).content.decode()
    assert "Conference" in page and "Footer" not in page
