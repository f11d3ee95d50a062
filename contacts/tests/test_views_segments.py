"""Dashboard segment pages: list, builder form with the live count, members, refresh, export,
delete; viewers read only, another workspace's segments are not found."""

import json

import pytest
from django.urls import reverse

from contacts import segmentation
from contacts.forms import query_builder_fields, query_builder_rows
from contacts.models import Segment, SegmentKind
from contacts.tests.factories import (
    ContactFactory,
    ContactTagFactory,
    PropertyDefinitionFactory,
    SegmentFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"dashboard:contacts:{name}", args=args)


@pytest.fixture
def audience(workspace):
    vip = TagFactory(workspace=workspace, name="vip")
    jane = ContactFactory(workspace=workspace, email="jane@example.com", score=80)
    ContactTagFactory(contact=jane, tag=vip)
    ContactFactory(workspace=workspace, email="bob@example.com", score=5)
    segment = SegmentFactory(workspace=workspace, name="Hot", query="score > 50")
    segmentation.segment_refresh(segment=segment)
    return segment


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- pages -------------------------------------------------------------------------------------


def test_the_list_and_the_detail_show_segments_and_members(dashboard, audience):
    listing = dashboard.get(url("segments")).content.decode()
    assert "Hot" in listing and "score &gt; 50" in listing
    detail = dashboard.get(url("segment", audience.pk)).content.decode()
    assert "jane@example.com" in detail
    assert "bob@example.com" not in detail
    assert url("segment_export", audience.pk) in detail
    assert url("segment_edit", audience.pk) in detail


def test_viewers_read_but_cannot_change(client, viewer, audience):
    client.force_login(viewer)
    assert client.get(url("segments")).status_code == 200
    detail = client.get(url("segment", audience.pk))
    assert detail.status_code == 200
    assert url("segment_edit", audience.pk) not in detail.content.decode()
    assert client.get(url("segment_preview"), {"query": "score > 1"}).status_code == 200
    for page in (
        url("segment_new"),
        url("segment_edit", audience.pk),
        url("segment_delete", audience.pk),
    ):
        assert client.get(page).status_code == 403, page
    posts = [
        (url("segment_new"), {"name": "X", "kind": "dynamic", "query": "score > 1"}),
        (url("segment_edit", audience.pk), {"name": "Renamed", "query": "score > 1"}),
        (url("segment_delete", audience.pk), {}),
        (url("segment_refresh", audience.pk), {}),
    ]
    for target, body in posts:
        assert client.post(target, body).status_code == 403, target
    assert list(Segment.objects.values_list("name", "query")) == [("Hot", "score > 50")]


def test_another_workspaces_segment_is_not_found(dashboard, outsider):
    theirs = SegmentFactory(workspace=outsider.workspace, name="Theirs")
    for name in ("segment", "segment_edit", "segment_delete", "segment_export"):
        assert dashboard.get(url(name, theirs.pk)).status_code == 404, name
    for name in ("segment_edit", "segment_delete", "segment_refresh"):
        response = dashboard.post(url(name, theirs.pk), {"name": "Mine", "query": "score > 1"})
        assert response.status_code == 404, name
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_anonymous_users_are_sent_to_sign_in(client, audience):
    for page in (url("segments"), url("segment", audience.pk), url("segment_preview")):
        response = client.get(page)
        assert response.status_code == 302
        assert response.url.startswith(reverse("dashboard:login"))


# --- create and edit ---------------------------------------------------------------------------


def test_creating_a_segment_counts_its_members_and_goes_to_its_page(
    dashboard, workspace, audience, run_on_commit
):
    with run_on_commit():
        response = dashboard.post(
            url("segment_new"), {"name": "VIPs", "kind": "dynamic", "query": "tag = vip"}
        )
    segment = Segment.objects.get(workspace=workspace, name="VIPs")
    assert response.status_code == 302
    assert response.url == url("segment", segment.pk)
    segment.refresh_from_db()
    assert segment.count == 1
    assert "jane@example.com" in dashboard.get(response.url).content.decode()


def test_a_bad_query_is_a_form_error_with_its_position(dashboard, audience):
    response = dashboard.post(
        url("segment_new"), {"name": "Broken", "kind": "dynamic", "query": "score >> 5"}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "position" in errors["query"][0]
    assert not Segment.objects.filter(name="Broken").exists()


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"name": "", "kind": "dynamic", "query": "score > 1"}, "name", "required"),
        ({"name": "Empty", "kind": "dynamic", "query": "  "}, "query", "needs a query"),
        ({"name": "Hot", "kind": "dynamic", "query": "score > 1"}, "name", "already exists"),
        ({"name": "Odd", "kind": "weird", "query": "score > 1"}, "kind", "valid choice"),
        ({"name": "Tags", "kind": "dynamic", "query": "tag = nope"}, "query", "no tag named"),
    ],
)
def test_bad_input_is_shown_on_the_form(dashboard, audience, body, field, text):
    response = dashboard.post(url("segment_new"), body)
    assert response.status_code == 200
    assert text in " ".join(response.context["form"].errors[field])
    assert Segment.objects.count() == 1


def test_a_static_segment_needs_no_query(dashboard, workspace):
    response = dashboard.post(url("segment_new"), {"name": "Picked", "kind": "static"})
    assert response.status_code == 302
    segment = Segment.objects.get(workspace=workspace, name="Picked")
    assert segment.kind == SegmentKind.STATIC and segment.query == ""
    edit = dashboard.get(url("segment_edit", segment.pk))
    assert "query" not in edit.context["form"].fields


def test_editing_changes_the_query_and_refreshes(dashboard, audience, run_on_commit):
    page = dashboard.get(url("segment_edit", audience.pk))
    assert page.context["form"].initial["query"] == "score > 50"
    with run_on_commit():
        response = dashboard.post(
            url("segment_edit", audience.pk), {"name": "Warm", "query": "score > 1"}
        )
    assert response.status_code == 302
    audience.refresh_from_db()
    assert (audience.name, audience.query, audience.count) == ("Warm", "score > 1", 2)


def test_the_form_carries_the_builders_vocabulary(dashboard, workspace, audience):
    PropertyDefinitionFactory(workspace=workspace, key="plan", type="select", options=["pro"])
    response = dashboard.get(url("segment_edit", audience.pk))
    body = response.content.decode()
    assert 'id="builder-fields"' in body and "segment-builder.js" in body
    fields = {f["name"]: f for f in response.context["builder"]["fields"]}
    assert fields["properties.plan"]["choices"] == ["pro"]
    assert "vip" in fields["tag"]["choices"]
    assert "Hot" not in fields["segment"]["choices"]  # a segment cannot contain itself
    assert response.context["builder"]["initial"] == {
        "join": "AND",
        "rows": [{"field": "score", "op": ">", "value": "50"}],
    }


# --- the builder's vocabulary ------------------------------------------------------------------


def test_builder_fields_offer_only_the_operators_a_field_accepts(workspace):
    number = PropertyDefinitionFactory(workspace=workspace, key="seats", type="number")
    fields = {f["name"]: f for f in query_builder_fields({"seats": number}, {})}
    ops = lambda name: [op["value"] for op in fields[name]["ops"]]  # noqa: E731
    assert "contains" in ops("email") and "contains" not in ops("status")
    assert ">" in ops("properties.seats") and "starts" not in ops("properties.seats")
    assert fields["status"]["choices"][0] == "active"
    assert {op["label"] for op in fields["tag"]["ops"]} >= {"IN", "IS SET"}


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        (
            "status = active",
            {"join": "AND", "rows": [{"field": "status", "op": "=", "value": "active"}]},
        ),
        (
            'tag IN (vip, "big fish") OR score >= 10',
            {
                "join": "OR",
                "rows": [
                    {"field": "tag", "op": "in", "value": "vip, big fish"},
                    {"field": "score", "op": ">=", "value": "10"},
                ],
            },
        ),
        (
            "phone IS SET",
            {"join": "AND", "rows": [{"field": "phone", "op": "is_set", "value": ""}]},
        ),
        ("NOT tag = vip", None),
        ("(a = 1 OR b = 2) AND c = 3", None),
        ("score >>", None),
    ],
)
def test_builder_rows_come_from_flat_queries_only(text, rows):
    assert query_builder_rows(text) == rows


# --- live count --------------------------------------------------------------------------------


def test_the_preview_counts_matches_in_this_workspace_only(dashboard, audience, outsider):
    response = dashboard.get(url("segment_preview"), {"query": "email CONTAINS example"})
    assert response.status_code == 200
    assert response.context["count"] == 2
    body = response.content.decode()
    assert 'data-count="2"' in body and "secret@outsider.example" not in body


def test_the_preview_of_a_bad_query_shows_where(dashboard, audience):
    response = dashboard.get(url("segment_preview"), {"query": "score > 5 AND"})
    assert response.context["position"] == 13
    assert "at position 13" in response.content.decode()


def test_the_preview_of_nothing_asks_for_a_query(dashboard):
    body = dashboard.get(url("segment_preview"), {"query": " "}).content.decode()
    assert "Write a query" in body


# --- refresh, export, delete -------------------------------------------------------------------


def test_refresh_recounts(dashboard, workspace, audience, run_on_commit):
    ContactFactory(workspace=workspace, email="new@example.com", score=99)
    with run_on_commit():
        response = dashboard.post(url("segment_refresh", audience.pk))
    assert response.status_code == 302
    audience.refresh_from_db()
    assert audience.count == 2


def test_export_streams_the_members_as_csv(dashboard, audience):
    pytest.importorskip("contacts.exports")
    response = dashboard.get(url("segment_export", audience.pk))
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert "jane@example.com" in body and "bob@example.com" not in body


def test_delete_asks_then_deletes(dashboard, audience):
    assert "Delete segment" in dashboard.get(url("segment_delete", audience.pk)).content.decode()
    response = dashboard.post(url("segment_delete", audience.pk))
    assert response.status_code == 302
    assert not Segment.objects.filter(pk=audience.pk).exists()


def test_a_segment_used_by_another_is_not_deleted(dashboard, workspace, audience):
    SegmentFactory(workspace=workspace, name="Uses hot", query="segment = Hot")
    response = dashboard.post(url("segment_delete", audience.pk), follow=True)
    assert Segment.objects.filter(pk=audience.pk).exists()
    assert "Uses hot" in response.content.decode()


def test_builder_json_is_safe_in_the_page(dashboard, workspace, audience):
    TagFactory(workspace=workspace, name="</script><b>x")
    body = dashboard.get(url("segment_new")).content.decode()
    data = body.split('id="builder-fields" type="application/json">')[1].split("</script>")[0]
    assert "</script><b>x" in [c for f in json.loads(data) for c in f["choices"]]


def test_the_members_page_queries_a_bounded_number_of_times(
    dashboard, workspace, audience, django_assert_max_num_queries
):
    for i in range(30):
        contact = ContactFactory(workspace=workspace, score=90 + i)
        ContactTagFactory(contact=contact, tag__workspace=workspace, tag__name=f"t{i}")
    segmentation.segment_refresh(segment=audience)
    with django_assert_max_num_queries(10) as captured:
        response = dashboard.get(url("segment", audience.pk))
    assert len(response.context["page"].rows) == 31
    assert "OFFSET" not in " ".join(q["sql"].upper() for q in captured.captured_queries)
    assert f"?segment={audience.pk}" in response.content.decode()
