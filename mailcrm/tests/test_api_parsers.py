"""JSON bodies carrying text no database column can hold are a 400, not a 500 at the INSERT
(found by the API fuzzing on PostgreSQL)."""

import json

import pytest

from contacts.models import Contact

pytestmark = pytest.mark.django_db


def post(api, body: str):
    return api.post("/api/v1/contacts", body, content_type="application/json")


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "nul@acme.example", "first_name": "a\\u0000b"}',
        '{"email": "nul@acme.example", "properties": {"k\\u0000": 1}}',
        '{"email": "lone@acme.example", "properties": {"deep": [[{"x": "\\ud800"}]]}}',
        '{"email": "lone@acme.example", "properties": {"\\udfff": "key"}}',
    ],
)
def test_nul_and_unpaired_surrogates_are_a_400(api, workspace, body):
    response = post(api, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert not Contact.objects.filter(workspace=workspace).exists()


def test_other_unicode_is_kept(api, workspace):
    body = json.dumps({"email": "ok@acme.example", "first_name": "Zoë 😀\u2028x"})
    assert post(api, body).status_code == 201
    assert Contact.objects.get(workspace=workspace).first_name == "Zoë 😀\u2028x"


def test_deep_nesting_is_no_500(api):
    body = '{"email": "deep@acme.example", "properties": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
    assert post(api, body).status_code == 400


def test_a_bad_body_without_a_key_is_a_401(anon_api):
    assert post(anon_api, '{"first_name": "\\u0000"}').status_code == 401
