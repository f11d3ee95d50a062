"""Multipart form bodies: an optional field sent empty is taken as not sent (DRF's rule for
form input), and the schema says so ("" beside each such field's own type), so clients and the
fuzzer know (found by the API fuzzing: ``type=`` on ``POST /suppressions/import``)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from contacts.models import ImportJob
from deliverability.models import Suppression

pytestmark = pytest.mark.django_db


def csv_file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("list.csv", text.encode(), content_type="text/csv")


def _form_body(schema: dict, path: str) -> dict:
    body = schema["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
    return schema["components"]["schemas"][body["schema"]["$ref"].rpartition("/")[2]]


def test_the_schema_gives_empty_as_a_value_of_each_optional_form_field():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    suppressions = _form_body(schema, "/api/v1/suppressions/import")["properties"]
    empty = {"type": "string", "enum": [""]}
    assert suppressions["type"]["anyOf"] == [
        {"$ref": "#/components/schemas/SuppressionTypeEnum"},
        empty,
    ]
    assert suppressions["type"]["default"] == "manual"
    assert suppressions["domain_id"]["anyOf"][1] == empty
    assert suppressions["file"] == {
        "type": "string",
        "format": "binary",
        "description": suppressions["file"]["description"],
    }, "required, and a file part: never empty"
    imports = _form_body(schema, "/api/v1/imports")["properties"]
    for name in ("mapping", "update_existing", "validate_emails", "list_id"):
        assert imports[name]["anyOf"][1] == empty, name
    assert imports["tags"] == {"type": "string", "description": imports["tags"]["description"]}


def test_the_json_bodies_are_unchanged():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["paths"]["/api/v1/suppressions"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json"}
    component = schema["components"]["schemas"]["SuppressionRequest"]
    assert not any("anyOf" in prop for prop in component["properties"].values())


def test_empty_form_fields_take_their_defaults(api, workspace):
    response = api.post(
        "/api/v1/suppressions/import",
        {"file": csv_file("a@example.com\n"), "type": "", "domain_id": ""},
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    assert Suppression.objects.get(workspace=workspace).type == "manual"
    assert Suppression.objects.get(workspace=workspace).domain is None


def test_empty_import_options_take_their_defaults(api, workspace):
    response = api.post(
        "/api/v1/imports",
        {
            "file": csv_file("email\nb@example.com\n"),
            "mapping": "",
            "update_existing": "",
            "validate_emails": "",
            "list_id": "",
        },
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert (job.update_existing, job.validate_emails, job.contact_list) == (True, False, None)


@pytest.mark.parametrize(
    "path,field,value",
    [
        ("/api/v1/suppressions/import", "type", "spam"),
        ("/api/v1/imports", "update_existing", "perhaps"),
        ("/api/v1/imports", "list_id", "not-a-uuid"),
    ],
)
def test_a_wrong_non_empty_value_is_still_a_400(api, path, field, value):
    response = api.post(
        path, {"file": csv_file("email\nc@example.com\n"), field: value}, format="multipart"
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
