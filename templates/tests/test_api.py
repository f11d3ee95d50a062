"""The /templates API: the contract, syntax errors with their line, preview for a contact or
variables, and another workspace's templates and contacts out of reach."""

import pytest

from contacts.tests.factories import ContactFactory
from templates.models import EmailTemplate
from templates.tests.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db

BODY = {
    "name": "Welcome",
    "subject": "Welcome {{ contact.first_name|default('friend') }}",
    "html": "<style>p { color: #333 }</style><p>Hi {{ contact.first_name }}</p>",
    "from_name": "Acme",
    "from_email": "hello@acme.example",
}


def test_create_read_update_delete(api, workspace):
    response = api.post("/api/v1/templates", BODY, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert {key: created[key] for key in BODY} == BODY
    assert created["text"] == ""
    template_id = created["id"]
    assert EmailTemplate.objects.get(pk=template_id).workspace == workspace
    assert api.get(f"/api/v1/templates/{template_id}").json()["name"] == "Welcome"
    patched = api.patch(f"/api/v1/templates/{template_id}", {"name": "Hello"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["name"] == "Hello"
    assert patched.json()["subject"] == BODY["subject"]
    assert api.get("/api/v1/templates").json()["results"][0]["id"] == template_id
    assert api.delete(f"/api/v1/templates/{template_id}").status_code == 204
    assert not EmailTemplate.objects.filter(pk=template_id).exists()


def test_the_list_searches_names_and_subjects(api, workspace):
    EmailTemplateFactory(workspace=workspace, name="Welcome", subject="Hi")
    EmailTemplateFactory(workspace=workspace, name="Receipt", subject="Your order")
    EmailTemplateFactory(workspace=workspace, name="Other", subject="Welcome aboard")
    names = [t["name"] for t in api.get("/api/v1/templates?q=welcome").json()["results"]]
    assert sorted(names) == ["Other", "Welcome"]
    assert len(api.get("/api/v1/templates?q=").json()["results"]) == 3


def test_put_is_not_part_of_the_contract(api, workspace):
    template = EmailTemplateFactory(workspace=workspace)
    assert api.put(f"/api/v1/templates/{template.pk}", BODY, format="json").status_code == 405


def test_the_list_is_paginated_and_counted(api, workspace):
    EmailTemplateFactory.create_batch(3, workspace=workspace)
    page = api.get("/api/v1/templates?page_size=2&count=true").json()
    assert len(page["results"]) == 2
    assert page["count"] == 3
    assert page["next"]


@pytest.mark.parametrize(
    "extra,field,starts",
    [
        ({"html": "<p>\n{% if x %}\n</p>"}, "html", "Line 2: Unexpected end of template"),
        ({"subject": "Hi {{ contact.first_name"}, "subject", "Line 1: "),
        ({"text": "ok\n{{ x|attr('y') }}"}, "text", "Line 2: No filter named 'attr'"),
        ({"html": "{% include 'x' %}"}, "html", "Line 1: {% include %}"),
        ({"from_email": "not-an-address"}, "from_email", ""),
        ({"name": ""}, "name", ""),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(api, extra, field, starts):
    response = api.post("/api/v1/templates", BODY | extra, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"][field][0].startswith(starts)
    assert not EmailTemplate.objects.exists()


def test_a_patch_that_breaks_the_syntax_changes_nothing(api, workspace):
    template = EmailTemplateFactory(workspace=workspace)
    response = api.patch(
        f"/api/v1/templates/{template.pk}", {"html": "{% for x in y %}"}, format="json"
    )
    assert response.status_code == 400
    assert "Line 1" in response.json()["error"]["fields"]["html"][0]
    template.refresh_from_db()
    assert template.html == EmailTemplateFactory.html


def test_preview_for_a_contact(api, workspace):
    contact = ContactFactory(workspace=workspace, first_name="Jane", properties={"plan": "pro"})
    template = EmailTemplateFactory(
        workspace=workspace,
        subject="Hi {{ contact.first_name }}",
        html="<style>p{color:red}</style><p>{{ contact.properties.plan }} {{ workspace.name }}</p>"
        "<a href='{{ unsubscribe_url }}'>Unsubscribe</a>",
    )
    response = api.post(
        f"/api/v1/templates/{template.pk}/preview", {"contact_id": str(contact.pk)}, format="json"
    )
    assert response.status_code == 200
    rendered = response.json()
    assert rendered["subject"] == "Hi Jane"
    assert '<p style="color: red;">pro Acme</p>' in rendered["html"]
    assert rendered["text"] == "pro Acme\n\nUnsubscribe"


def test_preview_with_variables(api, workspace):
    template = EmailTemplateFactory(
        workspace=workspace,
        subject="Order {{ order.number }}",
        html="<p>{% for item in order.items %}{{ item.name }} x{{ item.qty }};{% endfor %}</p>",
        text="Total {{ order.total|default('?') }}",
    )
    variables = {"order": {"number": "A-1", "items": [{"name": "Pen", "qty": 2}]}}
    response = api.post(
        f"/api/v1/templates/{template.pk}/preview", {"variables": variables}, format="json"
    )
    assert response.json() == {"subject": "Order A-1", "html": "<p>Pen x2;</p>", "text": "Total ?"}


def test_preview_without_anything_renders_the_defaults(api, workspace):
    template = EmailTemplateFactory(workspace=workspace)
    response = api.post(f"/api/v1/templates/{template.pk}/preview", {}, format="json")
    assert response.status_code == 200
    assert response.json()["subject"] == "Hello there"


def test_preview_over_a_limit_is_a_422(api, workspace):
    template = EmailTemplateFactory(
        workspace=workspace, html="{% for i in range(10**9) %}x{% endfor %}"
    )
    response = api.post(f"/api/v1/templates/{template.pk}/preview", {}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "template_limit_exceeded"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"contact_id": "not-a-uuid"}, "contact_id"),
        ({"contact_id": "00000000-0000-0000-0000-000000000000"}, "contact_id"),
        ({"variables": ["a", "list"]}, "variables"),
    ],
)
def test_a_bad_preview_body_is_a_400(api, workspace, body, field):
    template = EmailTemplateFactory(workspace=workspace)
    response = api.post(f"/api/v1/templates/{template.pk}/preview", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_another_workspace_is_out_of_reach(api, workspace, outsider):
    theirs = EmailTemplateFactory(workspace=outsider.workspace, name="Secret template")
    url = f"/api/v1/templates/{theirs.pk}"
    assert api.get(url).status_code == 404
    assert api.patch(url, {"name": "mine"}, format="json").status_code == 404
    assert api.delete(url).status_code == 404
    assert api.post(f"{url}/preview", {}, format="json").status_code == 404
    assert "Secret template" not in api.get("/api/v1/templates").content.decode()
    theirs.refresh_from_db()
    assert theirs.name == "Secret template"


def test_a_preview_cannot_use_another_workspaces_contact(api, workspace, outsider):
    template = EmailTemplateFactory(workspace=workspace, subject="{{ contact.email }}")
    response = api.post(
        f"/api/v1/templates/{template.pk}/preview",
        {"contact_id": str(outsider.contact.pk)},
        format="json",
    )
    assert response.status_code == 400
    assert outsider.contact.email not in response.content.decode()


def test_it_needs_a_key(anon_api, workspace):
    template = EmailTemplateFactory(workspace=workspace)
    assert anon_api.get("/api/v1/templates").status_code == 401
    assert anon_api.post(f"/api/v1/templates/{template.pk}/preview", {}).status_code == 401
