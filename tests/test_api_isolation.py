"""Walks every API route: no key → 401; another workspace's ids → 404 for every method, on
nested routes too, and nothing of the other workspace changes; lists stay within a query
budget and never show another workspace's rows."""

import pytest

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
from mailcrm.models import ApiKey, Event
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
    import re

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


def test_no_route_reaches_another_workspaces_objects(api, outsider, foreign):
    before = _snapshot(outsider.workspace)
    detail_paths = [p for p in _all_api_paths() if "(?P<" in p or "<str:" in p]
    assert len(detail_paths) >= 10
    for path in detail_paths:
        url = _foreign_url(path, foreign)
        for method in ("get", "post", "put", "patch", "delete"):
            body = {
                "name": "hijack",
                "email": "x@example.com",
                "tags": ["x"],
                "ids": [str(outsider.contact.id)],
                "kind": "note",
                "body": "x",
            }
            response = getattr(api, method)(url, body, format="json")
            assert response.status_code in (404, 405), (method, url, response.status_code)
    assert _snapshot(outsider.workspace) == before


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
