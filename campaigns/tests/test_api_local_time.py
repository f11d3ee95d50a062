"""A campaign's ``local_time`` is a time of day written and answered as HH:MM, and its schema
says so (a pattern, not OpenAPI's ``time`` format, which is a full-time with seconds and an
offset that the API never answers; found by the API fuzzing)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

BODY = {"name": "Timed", "subject": "Hi", "html": "<p>Hi</p>", "from_email": "news@acme.io"}


@pytest.mark.parametrize(
    "sent,answered", [("09:15", "09:15"), ("23:59:30", "23:59"), ("00:00", "00:00"), (None, None)]
)
def test_a_clock_time_is_taken_and_answered_as_hh_mm(api, sent, answered):
    response = api.post("/api/v1/campaigns", BODY | {"local_time": sent}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["local_time"] == answered


@pytest.mark.parametrize(
    "sent", ["9:15", "24:00", "09:60", "15:55:32Z", "15:55+01:00", "0915", "09:15\n", "", 915]
)
def test_anything_else_is_a_400_naming_the_format(api, sent):
    response = api.post("/api/v1/campaigns", BODY | {"local_time": sent}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["local_time"] == [
        "Time has wrong format. Use one of these formats instead: HH:MM."
    ]


def test_the_schema_gives_the_pattern_both_ways():
    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    for name in ("Campaign", "CampaignRequest", "PatchedCampaignRequest"):
        field = schemas[name]["properties"]["local_time"]
        assert "format" not in field, name
        assert field["pattern"] == "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
        assert field["nullable"] is True
