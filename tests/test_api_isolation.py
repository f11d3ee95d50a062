"""Walks every API route: no key → 401; another workspace's ids → 404 for every method, on
nested routes too, and nothing of the other workspace changes; lists stay within a query
budget and never show another workspace's rows.

The walk is repeated with a read-only and a sending-only key (mailcrm/api/scopes.py): a call
the scope allows answers 404 for another workspace's ids; a call it refuses answers the same
403 ``missing_scope`` for another workspace's ids as for ids that exist nowhere, so the
refusal says nothing about the other workspace. Exports, searches, segment previews,
statistics and events are asked for the other workspace's names and must show none of it."""

import re
import uuid

import pytest
from rest_framework.test import APIClient

from automations.models import Automation, Step
from campaigns.models import Campaign, Message
from contacts.models import (
    Activity,
    Company,
    Contact,
    ContactList,
    ImportJob,
    PropertyDefinition,
    Segment,
    Tag,
)
from contacts.tests.factories import (
    ActivityFactory,
    CompanyFactory,
    CompanyRoleFactory,
    ContactFactory,
    PropertyDefinitionFactory,
    SegmentFactory,
)
from deliverability.models import (
    SendingDomain,
    Suppression,
    SuppressionWhitelist,
    TrackingDomain,
    Unsubscribe,
)
from deliverability.services import suppression_add, unsubscribe_record, whitelist_add
from mailcrm.models import ApiKey, ApiKeyScope, Event
from mailcrm.tests.factories import ApiKeyFactory
from subscriptions.models import SubscriptionForm
from templates.models import EmailTemplate
from tests.routes import all_routes
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.tests.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db

LIST_ENDPOINTS = [
    "/api/v1/contacts",
    "/api/v1/tags",
    "/api/v1/lists",
    "/api/v1/properties",
    "/api/v1/companies",
    "/api/v1/segments",
    "/api/v1/customer/api-keys",
    "/api/v1/suppressions",
    "/api/v1/suppressions/whitelist",
    "/api/v1/unsubscribes",
    "/api/v1/campaigns",
    "/api/v1/events",
    "/api/v1/templates",
    "/api/v1/imports",
    "/api/v1/customer/domains",
    "/api/v1/customer/tracking-domains",
    "/api/v1/customer/webhooks",
    "/api/v1/automations",
    "/api/v1/forms",
]


def _all_api_paths() -> list[str]:
    paths = [route.path for route in all_routes()]
    return [p for p in paths if p.startswith("api/v1/") and "schema" not in p and "docs" not in p]


@pytest.fixture
def foreign(outsider):
    """One of everything in the outsider workspace, by URL placeholder."""
    company = CompanyFactory(workspace=outsider.workspace)
    CompanyRoleFactory(contact=outsider.contact, company=company)
    ActivityFactory(contact=outsider.contact)
    prop = PropertyDefinitionFactory(workspace=outsider.workspace, key="secret_prop")
    segment = SegmentFactory(workspace=outsider.workspace, name="Outsider segment")
    ws, email = outsider.workspace, outsider.contact.email
    suppression = suppression_add(workspace=ws, email=email, type="manual")
    entry = whitelist_add(workspace=ws, email=email)
    unsubscribe = unsubscribe_record(workspace=ws, email=email, source="api")
    campaign = Campaign.objects.create(workspace=ws, name="Outsider campaign")
    email_message = Message.objects.create(
        workspace=ws, kind="transactional", email=email, payload={"subject": "secret"}
    )
    template = EmailTemplate.objects.create(workspace=ws, name="Outsider template")
    import_job = ImportJob.objects.create(workspace=ws, filename="outsider.csv")
    tracking_domain = TrackingDomain.objects.create(
        workspace=ws, domain="links.outsider.example", cname_target="track.mailcrm.test"
    )
    sending_domain = SendingDomain.objects.create(
        workspace=ws, domain="outsider.example", tracking_domain=tracking_domain
    )
    endpoint = WebhookEndpointFactory(workspace=ws)
    delivery = WebhookDelivery.objects.create(
        workspace=ws, endpoint=endpoint, event_type="webhook.test", payload={}
    )
    automation = Automation.objects.create(workspace=ws, name="Outsider automation")
    step = Step.objects.create(automation=automation, type="wait", config={"days": 1})
    form = SubscriptionForm.objects.create(
        workspace=ws, name="Outsider form", contact_list=outsider.list
    )
    return {
        "automations": automation.id,
        "step_id": step.id,
        "contacts": outsider.contact.id,
        "tags": outsider.tag.id,
        "lists": outsider.list.id,
        "companies": company.id,
        "properties": prop.key,
        "segments": segment.id,
        "suppressions": suppression.id,
        "whitelist": entry.id,
        "unsubscribes": unsubscribe.id,
        "campaigns": campaign.id,
        "emails": email_message.id,
        "templates": template.id,
        "events": Event.objects.filter(workspace=ws).first().id,
        "api-keys": outsider.key.id,
        "imports": import_job.id,
        "domains": sending_domain.id,
        "tracking-domains": tracking_domain.id,
        "webhooks": endpoint.id,
        "deliveries": delivery.id,
        "forms": form.id,
    }


def _foreign_url(path: str, foreign: dict) -> str:
    """Turn a route pattern into a URL that names the outsider's objects."""
    url = "/" + path.replace("^", "").replace("$", "")
    url = url.replace("(?P<tag_name>[^/]+)", "outsider-tag")
    url = re.sub(r"<str:contact_pk>", str(foreign["contacts"]), url)

    def lookup(match):
        before = url[: match.start()].rstrip("/").split("/")[-1]
        return str(foreign[before])

    url = url.replace("(?P<step_id>[^/]+)", str(foreign["step_id"]))
    url = re.sub(r"\(\?P<(pk|key|delivery_id)>[^)]*\)", lookup, url)
    return url


def _snapshot(workspace):
    return (
        list(Contact.objects.filter(workspace=workspace).values()),
        list(Tag.objects.filter(workspace=workspace).values()),
        list(ContactList.objects.filter(workspace=workspace).values()),
        list(Company.objects.filter(workspace=workspace).values()),
        list(PropertyDefinition.objects.filter(workspace=workspace).values()),
        list(Activity.objects.filter(workspace=workspace).values()),
        list(ApiKey.objects.filter(workspace=workspace).values()),
        list(Segment.objects.filter(workspace=workspace).values()),
        list(Suppression.objects.filter(workspace=workspace).values()),
        list(SuppressionWhitelist.objects.filter(workspace=workspace).values()),
        list(Unsubscribe.objects.filter(workspace=workspace).values()),
        list(Campaign.objects.filter(workspace=workspace).values()),
        list(Message.objects.filter(workspace=workspace).values()),
        list(EmailTemplate.objects.filter(workspace=workspace).values()),
        list(ImportJob.objects.filter(workspace=workspace).values()),
        list(SendingDomain.objects.filter(workspace=workspace).values()),
        list(TrackingDomain.objects.filter(workspace=workspace).values()),
        list(WebhookEndpoint.objects.filter(workspace=workspace).values()),
        list(WebhookDelivery.objects.filter(workspace=workspace).values()),
        list(Automation.objects.filter(workspace=workspace).values()),
        list(Step.objects.filter(automation__workspace=workspace).values()),
        list(SubscriptionForm.objects.filter(workspace=workspace).values()),
    )


def test_every_route_needs_a_key(anon_api):
    paths = _all_api_paths()
    assert len(paths) >= 15
    for path in paths:
        url = "/" + path.replace("^", "").replace("$", "")
        url = url.replace("(?P<pk>[^/]+)", "00000000-0000-0000-0000-000000000000")
        url = url.replace("(?P<key>[^/]+)", "k").replace("(?P<tag_name>[^/]+)", "t")
        url = url.replace("(?P<delivery_id>[^/]+)", "00000000-0000-0000-0000-000000000000")
        url = url.replace("(?P<step_id>[^/]+)", "00000000-0000-0000-0000-000000000000")
        url = url.replace("<str:contact_pk>", "00000000-0000-0000-0000-000000000000")
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(anon_api, method)(url, {}, format="json")
            assert response.status_code in (401, 405), (method, url, response.status_code)
            if response.status_code == 401:
                assert response.json()["error"]["code"] == "unauthenticated"


def _unknown_url(path: str) -> str:
    """The route with ids that exist in no workspace: what a refusal must look like."""
    url = "/" + path.replace("^", "").replace("$", "")
    url = url.replace("(?P<key>[^/]+)", "no_such_key").replace("(?P<tag_name>[^/]+)", "no-tag")
    url = re.sub(r"<str:contact_pk>", str(uuid.uuid4()), url)
    return re.sub(r"\(\?P<\w+>[^)]*\)", lambda _: str(uuid.uuid4()), url)


# A body naming the outsider's objects in every field a route might read.
def _hijack_body(outsider) -> dict:
    return {
        "name": "hijack",
        "email": "x@example.com",
        "tags": ["x"],
        "ids": [str(outsider.contact.id)],
        "kind": "note",
        "body": "x",
    }


def _answer(response) -> tuple[int, str | None]:
    code = None
    if response.status_code >= 400 and response.get("Content-Type", "").startswith(
        "application/json"
    ):
        code = response.json().get("error", {}).get("code")
    return response.status_code, code


def _walk_foreign_ids(client, outsider, foreign) -> list[str]:
    """Every detail route, every method, with the outsider's ids: 404 (or 405), or the very
    refusal (403 ``missing_scope``) that ids of no workspace get."""
    problems = []
    detail_paths = [p for p in _all_api_paths() if "(?P<" in p or "<str:" in p]
    assert len(detail_paths) >= 10
    for path in detail_paths:
        url = _foreign_url(path, foreign)
        for method in ("get", "post", "put", "patch", "delete"):
            answer = _answer(getattr(client, method)(url, _hijack_body(outsider), format="json"))
            if answer[0] in (404, 405):
                continue
            unknown = _unknown_url(path)
            refusal = _answer(
                getattr(client, method)(unknown, _hijack_body(outsider), format="json")
            )
            if answer == refusal == (403, "missing_scope"):
                continue
            problems.append(f"{method.upper()} {url} → {answer} (no such id: {refusal})")
    return problems


def test_no_route_reaches_another_workspaces_objects(api, outsider, foreign):
    before = _snapshot(outsider.workspace)
    assert _walk_foreign_ids(api, outsider, foreign) == []
    assert _snapshot(outsider.workspace) == before


SCOPED = [ApiKeyScope.READ_ONLY, ApiKeyScope.SENDING]


def _scoped_client(workspace, scope) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=ApiKeyFactory(workspace=workspace, scope=scope).secret)
    return client


@pytest.mark.parametrize("scope", SCOPED)
def test_no_scope_reaches_another_workspaces_objects(workspace, outsider, foreign, scope):
    client = _scoped_client(workspace, scope)
    before = _snapshot(outsider.workspace)
    assert _walk_foreign_ids(client, outsider, foreign) == []
    assert _snapshot(outsider.workspace) == before


def _outsider_markers(outsider) -> list[str]:
    return [
        outsider.contact.email,
        outsider.contact.first_name,
        outsider.tag.name,
        outsider.list.name,
        "secret_prop",
        "Outsider segment",
        "Outsider campaign",
        "Outsider template",
        "outsider.csv",
        "outsider.example",
        outsider.key.prefix,
    ]


@pytest.mark.parametrize("scope", SCOPED)
@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_lists_show_only_the_own_workspace_to_every_scope(workspace, outsider, foreign, scope, url):
    response = _scoped_client(workspace, scope).get(url)
    assert _answer(response) in ((200, None), (403, "missing_scope"))
    assert [m for m in _outsider_markers(outsider) if m in response.content.decode()] == []


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_lists_show_only_the_own_workspace(api, outsider, foreign, url):
    response = api.get(url)
    assert response.status_code == 200
    text = response.content.decode()
    for value in [
        outsider.contact.email,
        outsider.tag.name,
        outsider.list.name,
        "secret_prop",
        outsider.key.prefix,
    ]:
        assert value not in text


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_lists_keep_to_a_query_budget(api, workspace, url, django_assert_max_num_queries):
    for contact in ContactFactory.create_batch(20, workspace=workspace):
        CompanyRoleFactory(contact=contact, company=CompanyFactory(workspace=workspace))
    with django_assert_max_num_queries(10):
        assert api.get(url).status_code == 200


def _searches(outsider, foreign) -> list[str]:
    """Searches, filters, exports, events and statistics, several naming the outsider's
    objects by name, address or id: each must answer without any of the outsider's data."""
    email, tag, list_id = outsider.contact.email, outsider.tag.name, foreign["lists"]
    return [
        "/api/v1/contacts?q=secret",
        "/api/v1/contacts?q=Olive",
        f"/api/v1/contacts?tag={tag}",
        f"/api/v1/contacts?list={list_id}",
        f"/api/v1/contacts?segment={foreign['segments']}",
        f"/api/v1/contacts?query=tag = {tag}",
        '/api/v1/contacts?query=list = "Outsider list"',
        f"/api/v1/contacts?query=list = {list_id}",
        "/api/v1/contacts?query=properties.secret_prop IS SET",
        f'/api/v1/contacts/search?query=email = "{email}"',
        "/api/v1/contacts/search?query=email CONTAINS outsider",
        "/api/v1/contacts/search?query=Olive",
        "/api/v1/contacts/export",
        "/api/v1/contacts/export?q=secret",
        f"/api/v1/contacts/export?tag={tag}",
        f"/api/v1/contacts/export?list={list_id}",
        "/api/v1/suppressions/export",
        f"/api/v1/suppressions?email={email}",
        f"/api/v1/suppressions/whitelist?email={email}",
        f"/api/v1/unsubscribes?email={email}",
        "/api/v1/events",
        f"/api/v1/events?email={email}",
        f"/api/v1/events?email_id={foreign['emails']}",
        "/api/v1/events?type=contact.created",
        "/api/v1/companies?q=outsider",
        "/api/v1/tags?q=outsider",
        "/api/v1/lists?q=Outsider",
        "/api/v1/segments?q=Outsider",
        "/api/v1/campaigns?q=Outsider",
        "/api/v1/templates?q=Outsider",
        "/api/v1/imports",
        "/api/v1/health-score",
        "/api/v1/customer/profile",
    ]


def _foreign_ids(foreign) -> list[str]:
    return [str(value) for value in foreign.values() if len(str(value)) == 36]


@pytest.mark.parametrize("scope", [ApiKeyScope.FULL_ACCESS, *SCOPED])
def test_searches_exports_and_events_show_nothing_of_another_workspace(
    workspace, outsider, foreign, scope
):
    client = _scoped_client(workspace, scope)
    leaks = []
    for url in _searches(outsider, foreign):
        response = client.get(url)
        answer = _answer(response)
        # A filter naming the outsider's tag or list may answer 404, like its id in a path.
        if (
            answer[0] >= 500
            or answer[0] == 401
            or answer[0] == 403
            and (scope == ApiKeyScope.FULL_ACCESS or answer[1] != "missing_scope")
        ):
            leaks.append(f"GET {url} → {answer}")
            continue
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode(errors="replace")
        asked = url.partition("?")[2]
        shown = [m for m in _outsider_markers(outsider) + _foreign_ids(foreign) if m in text]
        if shown := [m for m in shown if m not in asked]:
            leaks.append(f"GET {url} shows {shown}")
    assert leaks == []


@pytest.mark.parametrize(
    "query",
    [
        "tag = outsider-tag",
        'list = "Outsider list"',
        'email = "secret@outsider.example"',
        'email ENDS WITH "@outsider.example"',
        'first_name = "Olive"',
        "properties.secret_prop IS SET",
        "status = active",
    ],
)
def test_segment_preview_counts_nothing_of_another_workspace(api, outsider, foreign, query):
    response = api.post("/api/v1/segments/preview", {"query": query}, format="json")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        assert response.json()["count"] == 0
        assert response.json()["sample"] == []
    assert outsider.contact.email not in response.content.decode()


def test_list_segment_preview_by_another_workspaces_list_id_counts_nothing(api, outsider):
    query = f'list = "{outsider.list.id}"'
    response = api.post("/api/v1/segments/preview", {"query": query}, format="json")
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["count"] == 0


def _grow(outsider) -> None:
    """More of everything the own workspace's statistics could add up, all in the outsider."""
    from django.utils import timezone

    from campaigns.models import MessageEvent

    ws, now = outsider.workspace, timezone.now()
    campaign = Campaign.objects.create(workspace=ws, name="Outsider grows", status="sent")
    for n in range(3):
        contact = ContactFactory(workspace=ws, email=f"grown{n}@outsider.example")
        message = Message.objects.create(
            workspace=ws,
            campaign=campaign,
            contact=contact,
            kind="campaign",
            email=contact.email,
            status="sent",
            sent_at=now,
        )
        for kind in ("delivered", "opened", "clicked", "bounced", "complained"):
            MessageEvent.objects.create(workspace=ws, message=message, type=kind, occurred_at=now)
        suppression_add(workspace=ws, email=f"s{n}@outsider.example", type="manual")
        unsubscribe_record(workspace=ws, email=f"u{n}@outsider.example", source="api")


def test_statistics_do_not_move_with_another_workspaces_rows(api, workspace, outsider, foreign):
    campaign = Campaign.objects.create(workspace=workspace, name="Own campaign")
    urls = [
        f"/api/v1/campaigns/{campaign.pk}/stats",
        f"/api/v1/campaigns/{campaign.pk}/recipients/count",
        f"/api/v1/campaigns/{campaign.pk}/messages",
        "/api/v1/health-score",
        "/api/v1/customer/profile",
        "/api/v1/tags",
        "/api/v1/lists",
        "/api/v1/events",
        "/api/v1/contacts?count=true",
        "/api/v1/suppressions?count=true",
    ]

    def answers() -> dict[str, object]:
        found = {url: api.get(url).json() for url in urls}
        # Our own requests this minute: the one usage figure that moves with the test itself.
        found["/api/v1/customer/profile"]["usage"].pop("api_requests_per_minute")
        return found

    before = answers()
    _grow(outsider)
    after = answers()
    assert {url for url in urls if before[url] != after[url]} == set()
