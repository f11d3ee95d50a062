"""No list does one query per row (N+1): every API list endpoint and every dashboard page is
requested with a few rows of everything, then again after many more rows (with tags, lists,
companies, members, messages, events, deliveries …), and must send the same number of queries.

The routes are read from the URL configuration, so a new list is checked without being named
here; a new API list whose rows ``grow`` does not create fails ``test_every_api_list_is_grown``
until it does."""

from __future__ import annotations

import re
from datetime import timedelta
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations.models import Automation, Enrollment, Step
from campaigns.models import Campaign, CapturedEmail, Message, MessageEvent
from contacts.models import (
    BulkJob,
    ContactList,
    ContactTag,
    ImportJob,
    ListMembership,
    PropertyDefinition,
    Segment,
    SegmentKind,
    SegmentMembership,
    Tag,
)
from contacts.tests.factories import (
    ActivityFactory,
    CompanyFactory,
    CompanyRoleFactory,
    ContactFactory,
)
from deliverability.models import (
    SendingDomain,
    Suppression,
    SuppressionWhitelist,
    TrackingDomain,
    Unsubscribe,
)
from mailcrm.models import Event, Invitation, Membership, Role
from mailcrm.tests.factories import ApiKeyFactory, UserFactory
from subscriptions.models import SubscriptionForm
from templates.models import EmailTemplate
from tests.routes import all_routes
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

FEW, MANY = 2, 12
_serial = count()


def _n() -> int:
    return next(_serial)


def _routes(prefix_filter) -> list[tuple[str, object]]:
    return [(route.path, route.callback) for route in all_routes() if prefix_filter(route.path)]


def _api_get_routes() -> list[str]:
    """GET routes of the API that answer many rows: a viewset's ``list``, or one of its
    actions that pages (members, messages, deliveries, enrollments …)."""
    paths = []
    for path, callback in _routes(lambda p: p.startswith("api/v1/")):
        actions = getattr(callback, "actions", None) or {}
        action = actions.get("get")
        if action is None or action in ("retrieve", "stats", "recipients_count", "export"):
            continue
        paths.append(path.replace("/^", "/").removesuffix("$"))
    return sorted(set(paths))


# Dashboard pages that are not lists or pages at all (logins, actions answering a POST,
# downloads, public pages reached by token).
NOT_PAGES = re.compile(
    r"(login|logout|workspace/$|invite/|/(delete|send|pause|resume|cancel|schedule|test|verify|"
    r"activate|refresh|rotate|revoke|remove|resubscribe|role|erase|restore|archive|tags|lists|"
    r"activities|html|export|export\.json|preview|progress|tracking|steps)/|export/$|"
    r"imports/new/<str|audience/$|segments/preview/$|templates/preview/$|content-score/$|"
    r"validation/$|contacts/bulk/$|contacts/merge/$|settings/backends/<|campaigns/<uuid:pk>/edit/|"
    r"campaigns/<uuid:pk>/ab/|"
    r"outbox/<int)"
)


def _answers_get(callback) -> bool:
    view_class = getattr(callback, "view_class", None)
    return view_class is None or hasattr(view_class, "get")


def _dashboard_routes() -> list[str]:
    def is_dashboard(path: str) -> bool:
        return not path.startswith(("api/", "admin/", "webhooks/", "t/", "t.js", "u/", "p/", "f/"))

    paths = [
        p for p, view in _routes(is_dashboard) if not p.startswith("tls/") and _answers_get(view)
    ]
    return sorted({p for p in paths if not NOT_PAGES.search(p)})


class World:
    """The parents every nested route names, and ``grow`` to add rows under all of them."""

    def __init__(self, workspace, owner):
        self.workspace, self.owner = workspace, owner
        ws = workspace
        self.tag = Tag.objects.create(workspace=ws, name="vip")
        self.list = ContactList.objects.create(workspace=ws, name="Customers")
        self.segment = Segment.objects.create(workspace=ws, name="Static", kind=SegmentKind.STATIC)
        self.dynamic = Segment.objects.create(workspace=ws, name="Active", query="status = active")
        self.contact = ContactFactory(workspace=ws)
        self.campaign = Campaign.objects.create(workspace=ws, name="Launch", status="sent")
        self.endpoint = WebhookEndpoint.objects.create(
            workspace=ws, url="https://hooks.example.com/in", events=["contact.created"]
        )
        self.automation = Automation.objects.create(workspace=ws, name="Welcome")
        self.step = Step.objects.create(automation=self.automation, type="wait", config={"days": 1})
        self.template = EmailTemplate.objects.create(workspace=ws, name="Base", subject="Hi")
        self.domain = SendingDomain.objects.create(workspace=ws, domain="mail.acme.example")
        self.form = SubscriptionForm.objects.create(
            workspace=ws, name="Sign up", contact_list=self.list
        )
        self.import_job = ImportJob.objects.create(workspace=ws, filename="people.csv")
        self.bulk_job = BulkJob.objects.create(workspace=ws, action="tag", value="vip")
        self.transactional = Message.objects.create(
            workspace=ws, kind="transactional", email="t@example.com", payload={"subject": "x"}
        )
        self.captured = CapturedEmail.objects.create(
            from_email="a@example.com", to=["b@example.com"], subject="Hello", message="Hi"
        )
        self.ids = {
            "contacts": self.contact.pk,
            "tags": self.tag.pk,
            "lists": self.list.pk,
            "segments": self.segment.pk,
            "campaigns": self.campaign.pk,
            "webhooks": self.endpoint.pk,
            "automations": self.automation.pk,
            "templates": self.template.pk,
            "domains": self.domain.pk,
            "forms": self.form.pk,
            "imports": self.import_job.pk,
            "bulk": self.bulk_job.pk,
            "emails": self.transactional.pk,
            "outbox": self.captured.pk,
            "campaign-risk": self.campaign.pk,
            "properties": PropertyDefinition.objects.create(workspace=ws, key="plan").pk,
        }

    def grow(self, rows: int) -> None:
        """``rows`` more of everything, each linked to the parents and to each other."""
        ws, now = self.workspace, timezone.now()
        for _ in range(rows):
            n = _n()
            tag = Tag.objects.create(workspace=ws, name=f"tag-{n}")
            contact_list = ContactList.objects.create(workspace=ws, name=f"List {n}")
            contact = ContactFactory(workspace=ws, email=f"grown{n}@example.com")
            company = CompanyFactory(workspace=ws)
            CompanyRoleFactory(contact=contact, company=company)
            CompanyRoleFactory(contact=self.contact, company=company)
            for each_tag in (tag, self.tag):
                ContactTag.objects.create(contact=contact, tag=each_tag)
            ContactTag.objects.create(contact=self.contact, tag=tag)
            for each_list in (contact_list, self.list):
                ListMembership.objects.create(contact=contact, contact_list=each_list)
            SegmentMembership.objects.create(segment=self.segment, contact=contact)
            SegmentMembership.objects.create(segment=self.dynamic, contact=contact)
            ActivityFactory(contact=self.contact, created_by=self.owner)
            ActivityFactory(contact=contact)
            PropertyDefinition.objects.create(workspace=ws, key=f"prop_{n}")
            Segment.objects.create(workspace=ws, name=f"Segment {n}", query=f"tag = tag-{n}")
            message = Message.objects.create(
                workspace=ws,
                campaign=self.campaign,
                contact=contact,
                kind="campaign",
                email=contact.email,
                status="sent",
                sent_at=now,
            )
            MessageEvent.objects.create(
                workspace=ws, message=message, type="opened", occurred_at=now
            )
            transactional = Message.objects.create(
                workspace=ws,
                kind="transactional",
                contact=contact,
                email=contact.email,
                status="sent",
                payload={"subject": f"Receipt {n}"},
            )
            MessageEvent.objects.create(
                workspace=ws, message=transactional, type="delivered", occurred_at=now
            )
            MessageEvent.objects.create(
                workspace=ws, message=self.transactional, type="opened", occurred_at=now
            )
            Campaign.objects.create(workspace=ws, name=f"Campaign {n}", status="draft")
            EmailTemplate.objects.create(workspace=ws, name=f"Template {n}", subject="Hi")
            tracking = TrackingDomain.objects.create(
                workspace=ws, domain=f"links{n}.acme.example", cname_target="t.example"
            )
            SendingDomain.objects.create(
                workspace=ws, domain=f"mail{n}.acme.example", tracking_domain=tracking
            )
            Suppression.objects.create(workspace=ws, email=f"s{n}@example.com", type="manual")
            Suppression.objects.create(
                workspace=ws, email=f"d{n}@example.com", type="manual", domain=self.domain
            )
            SuppressionWhitelist.objects.create(workspace=ws, email=f"w{n}@example.com")
            Unsubscribe.objects.create(
                workspace=ws, email=f"u{n}@example.com", source="link", domain=self.domain
            )
            endpoint = WebhookEndpoint.objects.create(
                workspace=ws, url=f"https://hooks{n}.example.com/in", events=["contact.created"]
            )
            event = Event.objects.create(
                workspace=ws, type="contact.created", subject_id=contact.pk, data={}
            )
            for each_endpoint in (endpoint, self.endpoint):
                WebhookDelivery.objects.create(
                    workspace=ws,
                    endpoint=each_endpoint,
                    event=event,
                    event_type="contact.created",
                    payload={},
                )
            automation = Automation.objects.create(workspace=ws, name=f"Automation {n}")
            step = Step.objects.create(automation=automation, type="wait", config={"days": 1})
            for each_automation, each_step in ((automation, step), (self.automation, self.step)):
                Enrollment.objects.create(
                    workspace=ws,
                    automation=each_automation,
                    contact=contact,
                    step=each_step,
                    entered_at=now,
                    due_at=now + timedelta(days=1),
                )
            SubscriptionForm.objects.create(
                workspace=ws, name=f"Form {n}", contact_list=contact_list
            )
            ImportJob.objects.create(
                workspace=ws, filename=f"file{n}.csv", contact_list=contact_list
            )
            BulkJob.objects.create(workspace=ws, action="tag", value="vip", created_by=self.owner)
            ApiKeyFactory(workspace=ws, created_by=self.owner)
            user = UserFactory()
            Membership.objects.create(workspace=ws, user=user, role=Role.MEMBER)
            Invitation.objects.create(
                workspace=ws,
                email=f"invited{n}@example.com",
                invited_by=self.owner,
                expires_at=now + timedelta(days=7),
            )
            CapturedEmail.objects.create(
                from_email="a@example.com", to=[contact.email], subject=f"Mail {n}", message="Hi"
            )

    def url(self, path: str) -> str:
        """A route pattern with every placeholder naming one of the parents."""
        url = "/" + path

        def fill(match):
            before = url[: match.start()].rstrip("/").split("/")[-1]
            if match.group("name") == "step_id":
                return str(self.step.pk)
            if match.group("name") == "contact_pk":
                return str(self.contact.pk)
            return str(self.ids[before])

        return re.sub(
            r"\(\?P<(?P<name>\w+)>[^)]*\)|<(?:\w+:)?(?P<name2>\w+)>",
            lambda m: fill(_Named(m)),
            url,
        )


class _Named:
    """A match whose placeholder name is in one of the two syntaxes (regex or converter)."""

    def __init__(self, match):
        self._match = match

    def start(self):
        return self._match.start()

    def group(self, _):
        return self._match.group("name") or self._match.group("name2")


@pytest.fixture
def world(workspace, owner):
    world = World(workspace, owner)
    world.grow(FEW)
    return world


def _queries(client, url: str) -> tuple[int, object]:
    # Once before counting: the first request of a key or a session also records that it was
    # used (last_used_at), which is not part of the list.
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return len(captured.captured_queries), response


def _rows(response) -> int | None:
    """How many rows a list answered; None when the body is not a list (API.md: lists are
    ``{"results", "next"}``; tracking domains answer ``{"tracking_domains": […]}``)."""
    body = response.json()
    if isinstance(body, list):
        return len(body)
    for key in ("results", "tracking_domains"):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return len(body[key])
    return None


@pytest.mark.parametrize("path", _api_get_routes())
def test_api_list_queries_do_not_grow_with_rows(api, world, path):
    url = world.url(path)
    if "contacts/search" in url:
        url += "?query=status%20%3D%20active"
    few, response = _queries(api, url)
    assert response.status_code == 200, (url, response.content[:300])
    if _rows(response) is None:
        pytest.skip("a detail action, not a list (e.g. progress)")
    world.grow(MANY)
    many, response = _queries(api, url)
    assert response.status_code == 200, (url, response.content[:300])
    assert (_rows(response) or 0) > FEW, f"{url}: grow() adds no rows this list shows"
    assert many == few, f"{url}: {few} queries with a few rows, {many} with many"


@pytest.mark.parametrize("path", _dashboard_routes())
def test_dashboard_page_queries_do_not_grow_with_rows(dashboard, world, path):
    url = world.url(path)
    few, response = _queries(dashboard, url)
    assert response.status_code == 200, (url, response.status_code)
    world.grow(MANY)
    many, response = _queries(dashboard, url)
    assert response.status_code == 200, (url, response.status_code)
    assert many == few, f"{url}: {few} queries with a few rows, {many} with many"


def test_the_walk_finds_the_lists():
    api = _api_get_routes()
    for expected in ("api/v1/contacts", "api/v1/campaigns/(?P<pk>[^/]+)/messages", "api/v1/events"):
        assert expected in api
    dashboard = _dashboard_routes()
    for expected in ("contacts/", "lists/<uuid:pk>/", "campaigns/", "suppressions/"):
        assert expected in dashboard
