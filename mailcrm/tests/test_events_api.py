"""GET /api/v1/events: the workspace's event stream with its filters."""

import datetime

import pytest

from contacts import services
from mailcrm.ids import uuid7, uuid7_floor
from mailcrm.models import Event

pytestmark = pytest.mark.django_db


def test_the_event_stream_lists_and_filters(api, workspace, outsider):
    ann = services.contact_create(workspace=workspace, email="ann@example.com")
    services.contact_create(workspace=workspace, email="bob@example.com")
    services.contact_update(contact=ann, first_name="Ann")
    services.contact_create(workspace=outsider.workspace, email="secret2@outsider.example")

    def types(query=""):
        response = api.get(f"/api/v1/events{query}")
        assert response.status_code == 200, response.json()
        return [e["type"] for e in response.json()["results"]]

    assert types() == ["contact.updated", "contact.created", "contact.created"]
    assert types("?type=contact.updated") == ["contact.updated"]
    assert types("?type=contact.*") == types()
    assert types("?email=ANN@example.com") == ["contact.updated", "contact.created"]
    assert types(f"?email_id={ann.id}") == ["contact.updated", "contact.created"]
    first = Event.objects.filter(workspace=workspace).order_by("created_at").first()
    after = first.created_at.isoformat().replace("+00:00", "Z")
    assert len(types(f"?from={after}")) == 3
    assert types("?to=2000-01-01T00:00:00Z") == []
    assert "secret2" not in api.get("/api/v1/events").content.decode()
    assert api.get("/api/v1/events?from=yesterday").status_code == 400


def test_date_time_filters_take_any_offset_in_utc(api, workspace):
    # Found by the API fuzzing: PostgreSQL refuses offsets beyond ±15:59 (a 500).
    services.contact_create(workspace=workspace, email="tz@acme.example")
    response = api.get("/api/v1/events", {"from": "2000-01-01T10:00:00-18:05"})
    assert response.status_code == 200
    assert [e["type"] for e in response.json()["results"]] == ["contact.created"]
    assert api.get("/api/v1/events", {"from": "3000-01-01T00:00:00-18:05"}).json()["results"] == []
    for bad in ("0001-01-01T00:00:00+01:00", "not a date"):
        response = api.get("/api/v1/events", {"to": bad})
        assert response.status_code == 400
        assert "to" in response.json()["error"]["fields"]


def test_from_and_to_bound_the_id_without_losing_an_event(api, workspace):
    """The id bound (uuid7 of the moment, an hour's margin) never drops an event in the
    window: an event made at a moment lists under from=that moment, not under to=it."""
    moment = datetime.datetime.now(datetime.UTC)
    assert uuid7_floor(moment) <= uuid7()
    assert uuid7_floor(datetime.datetime.min.replace(tzinfo=datetime.UTC)) is None
    services.contact_create(workspace=workspace, email="edge@acme.example")
    event = Event.objects.get(workspace=workspace)
    stamp = event.created_at.isoformat().replace("+00:00", "Z")

    def listed(query):
        response = api.get("/api/v1/events", query)
        assert response.status_code == 200, response.json()
        return [e["id"] for e in response.json()["results"]]

    assert listed({"from": stamp}) == [str(event.id)]
    assert listed({"to": stamp}) == []
    assert listed({"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}) == [str(event.id)]
