"""``?format=`` picks one of an endpoint's formats; any other is a 400 naming them, not DRF's
bare 404 (found by the API fuzzing: the exports' schema lists csv and json only)."""

import pytest

from deliverability.tests.factories import SuppressionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/suppressions/export", "/api/v1/contacts/export"])
def test_an_unknown_format_is_a_400_naming_the_known_ones(api, path):
    response = api.get(path, {"format": "xml"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {"format": ["Unknown format 'xml': use json or csv."]}


@pytest.mark.parametrize("path", ["/api/v1/tags", "/api/v1/statistics", "/api/v1/health-score"])
def test_an_unknown_format_on_a_json_only_endpoint_is_a_400(api, path):
    # Views of every kind: workspace-scoped viewsets and plain API views alike.
    response = api.get(path, {"format": "csv"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"format": ["Unknown format 'csv': use json."]}


def test_the_known_formats_still_work(api, workspace):
    SuppressionFactory(workspace=workspace, email="gone@example.com")
    as_csv = api.get("/api/v1/suppressions/export", {"format": "csv"})
    assert as_csv.status_code == 200
    assert b"gone@example.com" in b"".join(as_csv.streaming_content)
    assert api.get("/api/v1/tags", {"format": "json"}).json()["results"] == []
    assert api.get("/api/v1/tags", {"format": ""}).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"HTTP_X_API_KEY": "mc_00000000_not-a-key"}])
def test_without_a_valid_key_it_is_still_a_401(anon_api, headers):
    response = anon_api.get("/api/v1/suppressions/export", {"format": "xml"}, **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
