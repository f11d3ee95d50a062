"""Walks every dashboard URL from the URL configuration as the owner of workspace A, with
workspace B full of distinctive data (issue 12 §3):

- every route with path parameters, filled with B's ids, answers 404 to GET and POST (a
  redirect to the login or a 403 is a failure: the member is signed in), and none of B's rows
  changes; nested routes are also called with A's parent and B's child;
- every route without parameters (lists, exports, searches, statistics, settings) answers
  without any of B's distinctive strings, with and without search and filter query strings
  (also ones naming B's objects by id or name), and does not change when B gets more rows;
- A's own pages and forms given B's ids (query string or body) show and link nothing of B;
- controls: B's owner does see the markers and opens every page the walk names with B's ids.

The routes are read from the URL configuration, so a new dashboard URL is walked without being
named here; a new path parameter that ``World.fill`` cannot name fails with a message saying
where to add it."""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.apps import apps
from django.db.models import ForeignKey, Q
from django.test import Client
from django.urls import resolve
from django.utils import timezone

from automations.models import Automation, Enrollment, Step
from campaigns.models import (
    AbTest,
    AbVariant,
    Campaign,
    CapturedEmail,
    Message,
    MessageEvent,
    SendingBackend,
)
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
from mailcrm.models import Event, Invitation, Role, Workspace
from mailcrm.tests.factories import (
    ApiKeyFactory,
    MembershipFactory,
    UserFactory,
    WorkspaceFactory,
)
from privacy.models import Erasure
from smtprelay.models import SmtpCredential
from subscriptions.models import SubscriptionForm
from templates.models import EmailTemplate
from tests.routes import all_routes
from webhooks.models import InboundEvent, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

# Routes that are not the signed-in dashboard, each with the reason.
EXCLUDED_PREFIXES = {
    "admin/": "the Django admin: superusers only, its own permission checks",
    "api/": "the REST API: walked by tests/test_api_isolation.py",
    "webhooks/anymail/": "ESP tracking webhooks: authenticated by the ESP's secret, not a session",
    "t/": "public tracking (open pixel, click, collect, health): reached by token",
    "t.js": "the public site snippet",
    "u/": "public unsubscribe page: reached by token",
    "p/": "public preference centre: reached by token",
    "f/": "public subscription forms and their confirmation: reached by form id or token",
    "tls/": "the proxy's on-demand TLS question: public, answers for a domain name",
}
EXCLUDED_NAMES = {
    "dashboard:login": "the sign-in page",
    "dashboard:logout": "signs out: the walk would end its own session",
    "dashboard:invitation_accept": "reached by the invitee's signed token, before membership",
}
# Routes whose parameter is not a row's id, and what they answer for another workspace's value
# instead of 404 (it must be this, and nothing of B may show or change).
NOT_FOUND_AS_REDIRECT = {
    # The token is a cache key under the workspace and the user: another workspace's token is
    # simply unknown here, like an expired one, and goes back to step 1
    # (contacts/tests/test_views_imports.py).
    "dashboard:contacts:import_map": "/imports/new/",
}

# A's searches and filters; B's rows match all of them.
QUERY_STRINGS = [
    "",
    "?q=secret",
    "?q=bravo",
    '?query=email contains "secret"',
    "?query=status = active",
    "?search=secret",
    "?status=sent",
    "?status=active",
    "?type=manual",
]

# What B's rows are named: none may appear in any of A's answers.
SECRET_EMAIL = "secret-b@bravo.example"
MARKERS = [
    SECRET_EMAIL,
    "Bravo Workspace",
    "BravoFirst",
    "BravoLast",
    "Bravo Corp",
    "bravo-tag",
    "Bravo list",
    "Bravo segment",
    "Bravo campaign",
    "Bravo subject line",
    "Bravo template",
    "Bravo automation",
    "Bravo form",
    "bravo_prop",
    "bravo.example",
    "hooks.bravo.example",
    "bravo-import.csv",
    "Bravo backend",
    "invited-b@bravo.example",
    "member-b@bravo.example",
    "supp-b@bravo.example",
    "unsub-b@bravo.example",
    "white-b@bravo.example",
    "bravo-smtp-user",
]


def dashboard_routes() -> list[tuple[str, str]]:
    """(path pattern, namespaced name) of every dashboard route, exclusions removed."""
    return [
        (route.path, route.name)
        for route in all_routes()
        if not route.path.startswith(tuple(EXCLUDED_PREFIXES)) and route.name not in EXCLUDED_NAMES
    ]


# Merge tags: a preview rendered for B's contact inside A's campaign would show B's names.
HTML = "<p>Hi {{ contact.first_name }} {{ contact.last_name }} ({{ contact.email }})</p>"

PLACEHOLDER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def has_parameters(path: str) -> bool:
    return bool(PLACEHOLDER.search(path))


class World:
    """One of every object that has a dashboard page, in one workspace."""

    def __init__(self, workspace: Workspace, owner, marker: str, client=None):
        ws, now, m = workspace, timezone.now(), marker
        self.workspace = ws
        domain = f"{m.lower()}.example"
        self.contact = ContactFactory(
            workspace=ws,
            email=f"secret-{m[0].lower()}@{domain}" if m == "Bravo" else f"own@{domain}",
            first_name=f"{m}First",
            last_name=f"{m}Last",
            status="active",
        )
        self.company = CompanyFactory(workspace=ws, name=f"{m} Corp")
        CompanyRoleFactory(contact=self.contact, company=self.company)
        ActivityFactory(contact=self.contact)
        self.tag = Tag.objects.create(workspace=ws, name=f"{m.lower()}-tag")
        self.list = ContactList.objects.create(workspace=ws, name=f"{m} list")
        ContactTag.objects.create(contact=self.contact, tag=self.tag)
        ListMembership.objects.create(contact=self.contact, contact_list=self.list)
        self.segment = Segment.objects.create(
            workspace=ws, name=f"{m} segment", kind=SegmentKind.STATIC
        )
        SegmentMembership.objects.create(segment=self.segment, contact=self.contact)
        self.property = PropertyDefinition.objects.create(workspace=ws, key=f"{m.lower()}_prop")
        self.import_job = ImportJob.objects.create(
            workspace=ws, filename=f"{m.lower()}-import.csv", contact_list=self.list
        )
        self.bulk_job = BulkJob.objects.create(
            workspace=ws, action="tag", value=self.tag.name, created_by=owner
        )
        self.template = EmailTemplate.objects.create(
            workspace=ws, name=f"{m} template", subject=f"{m} subject line", html=HTML
        )
        self.tracking_domain = TrackingDomain.objects.create(
            workspace=ws, domain=f"links.{domain}", cname_target="track.mailcrm.test"
        )
        self.sending_domain = SendingDomain.objects.create(
            workspace=ws, domain=domain, tracking_domain=self.tracking_domain
        )
        self.campaign = Campaign.objects.create(
            workspace=ws, name=f"{m} campaign", subject=f"{m} subject line", html=HTML
        )
        self.message = Message.objects.create(
            workspace=ws,
            campaign=self.campaign,
            contact=self.contact,
            kind="campaign",
            email=self.contact.email,
            status="sent",
            sent_at=now,
            provider_message_id=f"<campaign@{domain}>",
        )
        MessageEvent.objects.create(
            workspace=ws, message=self.message, type="opened", occurred_at=now
        )
        self.transactional = Message.objects.create(
            workspace=ws,
            kind="transactional",
            contact=self.contact,
            email=self.contact.email,
            status="sent",
            payload={"subject": f"{m} subject line"},
            provider_message_id=f"<receipt@{domain}>",
        )
        self.captured = CapturedEmail.objects.create(
            from_email=f"news@{domain}",
            to=[self.contact.email],
            subject=f"{m} subject line",
            message=(
                f"Message-ID: <receipt@{domain}>\nSubject: {m} subject line\n"
                f"From: news@{domain}\nTo: {self.contact.email}\n"
                "Content-Type: text/plain\n\nHello"
            ),
        )
        self.ab_campaign = Campaign.objects.create(
            workspace=ws, name=f"{m} campaign A/B", subject=f"{m} subject line"
        )
        AbTest.objects.create(campaign=self.ab_campaign)
        for position in (0, 1):
            AbVariant.objects.create(
                campaign=self.ab_campaign, position=position, subject=f"{m} subject line"
            )
        self.suppression = Suppression.objects.create(
            workspace=ws, email=f"supp-{m[0].lower()}@{domain}", type="manual"
        )
        self.whitelist = SuppressionWhitelist.objects.create(
            workspace=ws, email=f"white-{m[0].lower()}@{domain}"
        )
        self.unsubscribe = Unsubscribe.objects.create(
            workspace=ws, email=f"unsub-{m[0].lower()}@{domain}", source="link"
        )
        self.endpoint = WebhookEndpoint.objects.create(
            workspace=ws, url=f"https://hooks.{domain}/in", events=["contact.created"]
        )
        event = Event.objects.create(
            workspace=ws, type="contact.created", subject_id=self.contact.pk, data={}
        )
        self.delivery = WebhookDelivery.objects.create(
            workspace=ws,
            endpoint=self.endpoint,
            event=event,
            event_type="contact.created",
            payload={"email": self.contact.email},
        )
        InboundEvent.objects.create(
            workspace=ws,
            esp="postmark",
            event_id=f"{m}-1",
            event_type="opened",
            recipient=self.contact.email,
            occurred_at=now,
            message=self.transactional,
        )
        self.automation = Automation.objects.create(workspace=ws, name=f"{m} automation")
        self.step = Step.objects.create(automation=self.automation, type="wait", config={"days": 1})
        Enrollment.objects.create(
            workspace=ws,
            automation=self.automation,
            contact=self.contact,
            step=self.step,
            entered_at=now,
            due_at=now + timedelta(days=1),
        )
        self.form = SubscriptionForm.objects.create(
            workspace=ws, name=f"{m} form", contact_list=self.list
        )
        SmtpCredential.objects.create(workspace=ws, username=f"{m.lower()}-smtp-user")
        self.backend = SendingBackend.objects.create(
            workspace=ws, name=f"{m} backend", host=f"smtp.{domain}"
        )
        self.api_key = ApiKeyFactory(workspace=ws, created_by=owner)
        member = UserFactory(email=f"member-{m[0].lower()}@{domain}")
        self.membership = MembershipFactory(workspace=ws, user=member, role=Role.MEMBER)
        self.invitation = Invitation.objects.create(
            workspace=ws,
            email=f"invited-{m[0].lower()}@{domain}",
            invited_by=owner,
            expires_at=now + timedelta(days=7),
        )
        Erasure.objects.create(workspace=ws, contact_id=self.contact.pk, via="dashboard")
        self.upload_token = self._upload(client) if client is not None else "no-such-upload"

    def _upload(self, client) -> str:
        """A CSV uploaded through the dashboard by this workspace's owner: the mapping page's
        token lives only in the cache, so it is made the way a person makes it."""
        from django.core.files.uploadedfile import SimpleUploadedFile

        csv = SimpleUploadedFile(
            "bravo.csv", f"email\n{SECRET_EMAIL}\n".encode(), content_type="text/csv"
        )
        response = client.post("/imports/new/", {"file": csv})
        assert response.status_code == 302, response.content[:300]
        return response["Location"].rstrip("/").split("/")[-1]

    def ids(self) -> dict[str, object]:
        """The object a placeholder names, by the path segment before it."""
        return {
            "contacts": self.contact.pk,
            "bulk": self.bulk_job.pk,
            "tags": self.tag.pk,
            "lists": self.list.pk,
            "segments": self.segment.pk,
            "imports": self.import_job.pk,
            "new": self.upload_token,  # imports/new/<token>/
            "properties": self.property.pk,
            "campaigns": self.campaign.pk,
            "emails": self.transactional.pk,
            "outbox": self.captured.pk,
            "templates": self.template.pk,
            "whitelist": self.whitelist.pk,
            "suppressions": self.suppression.pk,
            "unsubscribes": self.unsubscribe.pk,
            "domains": self.sending_domain.pk,
            "tracking-domains": self.tracking_domain.pk,
            "campaign-risk": self.campaign.pk,
            "forms": self.form.pk,
            "webhooks": self.endpoint.pk,
            "deliveries": self.delivery.pk,
            "automations": self.automation.pk,
            "steps": self.step.pk,
            "members": self.membership.pk,
            "invitations": self.invitation.pk,
            "api-keys": self.api_key.pk,
            "backends": self.backend.pk,
        }

    def fill(self, path: str, owners: list[World] | None = None) -> str:
        """The route with every placeholder naming this world's object of the right kind;
        ``owners`` gives, per placeholder, another world to take that one from."""
        ids = self.ids()
        position = 0

        def replace(match):
            nonlocal position
            world = owners[position] if owners else self
            position += 1
            segment = path[: match.start()].rstrip("/").split("/")[-1]
            if segment not in ids:
                raise AssertionError(
                    f"{path}: no object for <{match.group('name')}> after '{segment}/'; "
                    "add one to World.ids() in tests/test_dashboard_isolation.py"
                )
            return str(world.ids()[segment])

        if "campaigns/<uuid:pk>/ab/" in path:
            # A/B pages name the campaign that has the test.
            return "/" + path.replace(
                "<uuid:pk>", str(owners[0].ab_campaign.pk if owners else self.ab_campaign.pk)
            )
        return "/" + PLACEHOLDER.sub(replace, path)


def _belongs_to(model, workspace: Workspace) -> Q | None:
    """Rows of ``model`` that belong to ``workspace``: by its own workspace, or a parent's."""
    names = {field.name for field in model._meta.get_fields()}
    if "workspace" in names:
        return Q(workspace=workspace)
    q = None
    for field in model._meta.get_fields():
        if isinstance(field, ForeignKey) and "workspace" in {
            f.name for f in field.related_model._meta.get_fields()
        }:
            term = Q(**{f"{field.name}__workspace": workspace})
            q = term if q is None else q | term
    return q


def snapshot(workspace: Workspace) -> dict[str, list[dict]]:
    """Every row of the project's models that belongs to ``workspace`` (all columns, so
    ``updated_at`` too), and the workspace row itself."""
    rows: dict[str, list[dict]] = {
        "workspace": list(Workspace.objects.filter(pk=workspace.pk).values())
    }
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        q = _belongs_to(model, workspace)
        if q is not None:
            rows[model._meta.label] = list(
                model.objects.filter(q).distinct().order_by(model._meta.pk.name).values()
            )
    return rows


PROJECT_APPS = {
    "mailcrm",
    "contacts",
    "templates",
    "campaigns",
    "deliverability",
    "webhooks",
    "automations",
    "smtprelay",
    "subscriptions",
    "privacy",
}


@pytest.fixture
def bravo(client):
    """Workspace B, full of distinctive rows, made through its own owner's session."""
    workspace = WorkspaceFactory(name="Bravo Workspace")
    owner = MembershipFactory(workspace=workspace, user=UserFactory(), role=Role.OWNER).user
    client.force_login(owner)
    world = World(workspace, owner, "Bravo", client=client)
    client.logout()
    return world


@pytest.fixture
def alpha(workspace, owner):
    return World(workspace, owner, "Alpha")


@pytest.fixture
def signed_in(client, owner, alpha, bravo):
    client.force_login(owner)
    # A 500 is collected with the other findings instead of ending the walk.
    client.raise_request_exception = False
    return client


def _body(world: World) -> dict[str, object]:
    """A POST body naming B's objects in every field a dashboard form might read."""
    return {
        "name": "hijack",
        "email": "hijack@alpha.example",
        "role": "viewer",
        "tag": str(world.tag.pk),
        "tags": [str(world.tag.pk)],
        "list": str(world.list.pk),
        "contact_list": str(world.list.pk),
        "lists": [str(world.list.pk)],
        "ids": [str(world.contact.pk)],
        "contact": str(world.contact.pk),
        "segment": str(world.segment.pk),
        "segments": [str(world.segment.pk)],
        "exclude_segments": [str(world.segment.pk)],
        "template": str(world.template.pk),
        "template_id": str(world.template.pk),
        "list_id": str(world.list.pk),
        "domain": str(world.sending_domain.pk),
        "sending_domain": str(world.sending_domain.pk),
        "tracking_domain": str(world.tracking_domain.pk),
        "automation": str(world.automation.pk),
        "step": str(world.step.pk),
        "form": str(world.form.pk),
        "primary": str(world.contact.pk),
        "action": "add_to_list",
        "value": str(world.tag.pk),
        "kind": "note",
        "body": "x",
        "confirm": "1",
        "type": "wait",
    }


def _problem(method: str, url: str, response) -> str | None:
    if response.status_code == 404:
        return None
    location = response.get("Location", "")
    return f"{method} {url} → {response.status_code} {location}".strip()


def _handles(path: str, method: str) -> bool:
    view_class = getattr(resolve("/" + _any_ids(path)).func, "view_class", None)
    if view_class is None:
        return True
    return method in view_class.http_method_names and hasattr(view_class, method)


def _any_ids(path: str) -> str:
    samples = {"uuid": "00000000-0000-0000-0000-000000000000", "int": "1"}
    return PLACEHOLDER.sub(lambda m: samples.get(m.group("converter") or "", "x"), path)


def test_the_walk_finds_the_dashboard():
    paths = [path for path, _ in dashboard_routes()]
    for expected in ("contacts/<uuid:pk>/", "campaigns/<uuid:pk>/", "settings/api-keys/", ""):
        assert expected in paths
    assert not any(path.startswith(("api/", "admin/", "u/")) for path in paths)
    assert len([p for p in paths if has_parameters(p)]) >= 60
    # Anything else reachable must be a dashboard page, or be excluded above with a reason.
    strays = [name for _, name in dashboard_routes() if not name.startswith("dashboard:")]
    assert strays == [], "exclude these in EXCLUDED_PREFIXES/EXCLUDED_NAMES, or walk them"


def test_no_dashboard_url_reaches_another_workspaces_objects(signed_in, alpha, bravo):
    before = snapshot(bravo.workspace)
    problems: list[str] = []
    for path, name in dashboard_routes():
        if not has_parameters(path):
            continue
        urls = [bravo.fill(path)]
        placeholders = len(PLACEHOLDER.findall(path))
        if placeholders > 1:
            # A's parent, B's child: the child must be looked up under the parent's workspace.
            urls.append(bravo.fill(path, owners=[alpha] + [bravo] * (placeholders - 1)))
        for url in urls:
            # htmx posts (HX-Request) answer partials on some pages: walked as well.
            for method, htmx in (("get", False), ("post", False), ("post", True)):
                kwargs = {"data": _body(bravo)} if method == "post" else {}
                if htmx:
                    kwargs["HTTP_HX_REQUEST"] = "true"
                response = getattr(signed_in, method)(url, **kwargs)
                if response.status_code == 405 and not _handles(path, method):
                    continue  # the view has no such method, whatever the id
                if name in NOT_FOUND_AS_REDIRECT and response.status_code == 302:
                    if response["Location"] == NOT_FOUND_AS_REDIRECT[name]:
                        continue
                problem = _problem(method.upper(), url, response)
                if problem:
                    problems.append(f"{problem}  [{name}]")
    assert not problems, "answers other than 404:\n" + "\n".join(problems)
    after = snapshot(bravo.workspace)
    changed = [label for label in before if before[label] != after.get(label)]
    assert not changed, f"workspace B changed: {changed}"


def _naming_b(bravo: World) -> list[str]:
    """Query strings that name B's objects, by id and by name, in every filter the dashboard
    reads (contacts' tag, list and segment; suppressions' domain; unsubscribes' list; the
    preview's contact; a new campaign's template; the outbox's cursor)."""
    return [
        f"?tag={bravo.tag.pk}",
        "?tag=bravo-tag",
        f"?list={bravo.list.pk}",
        "?list=Bravo list",
        f"?segment={bravo.segment.pk}",
        "?query=tag = bravo-tag",
        f"?domain_id={bravo.sending_domain.pk}",
        f"?list_id={bravo.list.pk}",
        f"?email={SECRET_EMAIL}",
        f"?contact={SECRET_EMAIL}",
        f"?contact={bravo.contact.pk}",
        f"?template={bravo.template.pk}",
        f"?before={bravo.captured.pk + 1}",
    ]


def _shown(url: str, response) -> list[str]:
    """B's markers in the answer, leaving out those the query string itself names (a search
    box shows back what was searched for)."""
    asked = unquote(url.partition("?")[2])
    text = _text(response)
    return [marker for marker in MARKERS if marker in text and marker not in asked]


def test_no_dashboard_page_shows_another_workspaces_data(signed_in, alpha, bravo):
    leaks: list[str] = []
    for path, name in dashboard_routes():
        if has_parameters(path):
            continue
        for query in QUERY_STRINGS + _naming_b(bravo):
            url = "/" + path + query
            response = signed_in.get(url)
            if response.status_code >= 500 or response.status_code in (401, 403):
                leaks.append(f"GET {url} → {response.status_code}  [{name}]")
                continue
            if response.status_code == 302 and "/login" in response.get("Location", ""):
                leaks.append(f"GET {url} → login redirect  [{name}]")
                continue
            found = _shown(url, response)
            if found:
                leaks.append(f"GET {url} shows {found}  [{name}]")
    assert not leaks, "another workspace's data or errors:\n" + "\n".join(leaks)


def _text(response) -> str:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode(errors="replace")


def test_posting_another_workspaces_ids_to_the_dashboard_changes_nothing_of_it(
    signed_in, alpha, bravo
):
    """Forms without path parameters (new contact, bulk actions, merge, new campaign, new
    form …) given B's ids in the body: no 500, nothing of B changes, nothing of B shown."""
    before = snapshot(bravo.workspace)
    problems: list[str] = []
    for path, name in dashboard_routes():
        if has_parameters(path) or not _handles(path, "post"):
            continue
        response = signed_in.post("/" + path, data=_body(bravo))
        if response.status_code >= 500 or response.status_code in (401, 403):
            problems.append(f"POST /{path} → {response.status_code}  [{name}]")
        elif response.status_code == 302 and "/login" in response.get("Location", ""):
            problems.append(f"POST /{path} → login redirect  [{name}]")
        else:
            found = [marker for marker in MARKERS if marker in _text(response)]
            if found:
                problems.append(f"POST /{path} shows {found}  [{name}]")
    assert not problems, "\n".join(problems)
    after = snapshot(bravo.workspace)
    changed = [label for label in before if before[label] != after.get(label)]
    assert not changed, f"workspace B changed: {changed}"


def test_switching_to_another_workspace_is_not_found(signed_in, alpha, bravo):
    response = signed_in.post("/workspace/", {"workspace": str(bravo.workspace.pk)})
    assert response.status_code == 404
    assert SECRET_EMAIL not in _text(signed_in.get("/contacts/"))


def test_the_markers_are_what_b_sees(client, bravo):
    """The walk above would pass vacuously if B's pages did not show the markers at all."""
    owner = bravo.workspace.memberships.get(role=Role.OWNER).user
    client.force_login(owner)
    shown = "".join(
        _text(client.get(url))
        for url in ("/contacts/", "/contacts/export/", "/campaigns/", "/suppressions/", "/lists/")
    )
    for marker in (SECRET_EMAIL, "BravoFirst", "Bravo campaign", "supp-b@bravo.example"):
        assert marker in shown
    # The preview does render the asked-for contact's names (so asking for B's would show).
    preview = client.get(f"/campaigns/{bravo.campaign.pk}/preview/?contact={SECRET_EMAIL}")
    assert "BravoFirst" in _text(preview)


def test_own_pages_asked_for_another_workspaces_objects_show_none(signed_in, alpha, bravo):
    """A's own detail pages (its campaign's preview, its contact, its report …) with query
    strings naming B's objects."""
    leaks: list[str] = []
    for path, name in dashboard_routes():
        if not has_parameters(path) or not _handles(path, "get"):
            continue
        for query in (f"?contact={SECRET_EMAIL}", f"?contact={bravo.contact.pk}", "?q=secret"):
            url = alpha.fill(path) + query
            response = signed_in.get(url)
            if response.status_code >= 500 or response.status_code in (401, 403):
                leaks.append(f"GET {url} → {response.status_code}  [{name}]")
            elif found := _shown(url, response):
                leaks.append(f"GET {url} shows {found}  [{name}]")
    assert not leaks, "another workspace's data or errors:\n" + "\n".join(leaks)


DESTRUCTIVE = re.compile(r"/(delete|erase|remove|revoke|archive|cancel|rotate)/")


def _ids_of(world: World) -> set[str]:
    """The world's UUIDs (small integer ids would match any number)."""
    ids = {str(value) for value in world.ids().values()}
    ids |= {str(world.contact.pk), str(world.workspace.pk), str(world.ab_campaign.pk)}
    return {value for value in ids if len(value) == 36}


def test_own_forms_given_another_workspaces_ids_link_nothing_to_it(signed_in, alpha, bravo):
    """POST to A's own objects (its contact's tags and lists, its campaign's audience, its
    form's list, its automation's steps …) with B's ids in the body: nothing of B changes and
    no row of A names a row of B. Destructive actions go last so the others find A's rows."""
    before = snapshot(bravo.workspace)
    problems: list[str] = []
    routes = [
        (path, name)
        for path, name in dashboard_routes()
        if has_parameters(path) and _handles(path, "post")
    ]
    for path, name in sorted(routes, key=lambda route: bool(DESTRUCTIVE.search(route[0]))):
        url = alpha.fill(path)
        response = signed_in.post(url, data=_body(bravo))
        if response.status_code >= 500 or response.status_code in (401, 403):
            problems.append(f"POST {url} → {response.status_code}  [{name}]")
        elif found := _shown(url, response):
            problems.append(f"POST {url} shows {found}  [{name}]")
    assert not problems, "\n".join(problems)
    after = snapshot(bravo.workspace)
    assert [label for label in before if before[label] != after.get(label)] == []
    alpha_rows = repr(snapshot(alpha.workspace))
    assert [value for value in _ids_of(bravo) if value in alpha_rows] == []


def test_the_ids_name_real_objects(client, bravo):
    """The 404s above would prove nothing if the walk's ids named nothing: B's owner opens
    every page of B's objects the walk asks for."""
    with pytest.raises(AssertionError, match=r"add one to World.ids\(\)"):
        bravo.fill("widgets/<uuid:pk>/")  # a new kind of page must be mapped, not skipped
    client.force_login(bravo.workspace.memberships.get(role=Role.OWNER).user)
    client.raise_request_exception = False
    missing = []
    for path, name in dashboard_routes():
        if has_parameters(path) and _handles(path, "get"):
            url = bravo.fill(path)
            status = client.get(url).status_code
            if status != 200:
                missing.append(f"GET {url} → {status}  [{name}]")
    assert missing == []


# Masked before pages are compared: CSRF tokens and CSP nonces (new on every answer) and
# relative times ("now", "a second ago", "2 minutes ago") that move while the test runs.
TOKENS = re.compile(
    r"[A-Za-z0-9]{64}|\b(?:now|(?:a|an|\d+)[\s\xa0]+\w+(?:,[\s\xa0]+\d+[\s\xa0]+\w+)?[\s\xa0]+ago)\b"
    r'|(?:Nonce": "|nonce=")[^"]*'
)


def _grow(bravo: World) -> None:
    """More of what A's counts, statistics and feeds could add up, all in B."""
    now = timezone.now()
    ws = bravo.workspace
    for n in range(3):
        contact = ContactFactory(workspace=ws, email=f"grown{n}@b.example", status="active")
        ContactTag.objects.create(contact=contact, tag=bravo.tag)
        ListMembership.objects.create(contact=contact, contact_list=bravo.list)
        message = Message.objects.create(
            workspace=ws,
            campaign=bravo.campaign,
            contact=contact,
            kind="campaign",
            email=contact.email,
            status="sent",
            sent_at=now,
        )
        for kind in ("delivered", "opened", "clicked", "bounced", "complained"):
            MessageEvent.objects.create(workspace=ws, message=message, type=kind, occurred_at=now)
        Suppression.objects.create(workspace=ws, email=f"s{n}@b.example", type="manual")
        Unsubscribe.objects.create(workspace=ws, email=f"u{n}@b.example", source="link")
        Event.objects.create(workspace=ws, type="contact.created", subject_id=contact.pk, data={})
        Campaign.objects.create(workspace=ws, name=f"More {n}", status="sent")
        ImportJob.objects.create(workspace=ws, filename=f"more{n}.csv")
        WebhookDelivery.objects.create(
            workspace=ws, endpoint=bravo.endpoint, event_type="contact.created", payload={}
        )


def test_no_count_on_a_page_moves_with_another_workspaces_rows(signed_in, alpha, bravo):
    """Counts and statistics carry no names: every page without parameters is rendered
    before and after B gets more rows of everything, and must not change."""
    paths = [
        (path, name)
        for path, name in dashboard_routes()
        if not has_parameters(path) and _handles(path, "get")
    ]
    render = {path: _render(signed_in, path) for path, _ in paths}  # settings made on first sight
    before = {path: _render(signed_in, path) for path, _ in paths}
    unsteady = {path for path, _ in paths if render[path] != before[path]}
    b_owner = Client()
    b_owner.force_login(bravo.workspace.memberships.get(role=Role.OWNER).user)
    b_before = [_render(b_owner, path) for path in BRAVO_GROWS]
    _grow(bravo)
    # The growth shows where it should: on B's own pages.
    assert [_render(b_owner, path) for path in BRAVO_GROWS] != b_before
    moved = [
        f"/{path}  [{name}]\n" + "\n".join(_changes(before[path], _render(signed_in, path)))
        for path, name in paths
        if path not in unsteady and _render(signed_in, path) != before[path]
    ]
    assert moved == [], "pages of A that change when B grows:\n" + "\n".join(moved)
    assert len(unsteady) < 5, f"pages that change by themselves: {sorted(unsteady)}"


BRAVO_GROWS = ["", "contacts/", "campaigns/", "suppressions/", "imports/"]


def _render(client, path: str) -> str:
    return TOKENS.sub("", _text(client.get("/" + path)))


def _changes(before: str, after: str) -> list[str]:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line.strip() for line in lines if line[:1] in "+-"][2:10]


# The walks above sign in as A's owner; the ones below as a member and as a viewer of A. A
# viewer is refused every change (403) and a member the settings pages (403): a refusal is
# right when it does not depend on whose id the URL names, so it is compared with the answer
# the same role gets for A's own object. Never a 500, never anything of B, for any role.
ROLES = [Role.MEMBER, Role.VIEWER]


@pytest.fixture(params=ROLES, ids=lambda role: role.value)
def as_role(request, client, workspace, alpha, bravo):
    user = MembershipFactory(workspace=workspace, user=UserFactory(), role=request.param).user
    client.force_login(user)
    client.raise_request_exception = False
    return client


def _request(client, method: str, url: str, bravo: World, htmx: bool = False):
    kwargs = {"data": _body(bravo)} if method == "post" else {}
    if htmx:
        kwargs["HTTP_HX_REQUEST"] = "true"
    return getattr(client, method)(url, **kwargs)


def test_no_role_reaches_another_workspaces_objects(as_role, alpha, bravo):
    before = snapshot(bravo.workspace)
    problems: list[str] = []
    for path, name in dashboard_routes():
        if not has_parameters(path):
            continue
        url = bravo.fill(path)
        for method, htmx in (("get", False), ("post", False), ("post", True)):
            response = _request(as_role, method, url, bravo, htmx)
            status = response.status_code
            if status == 405 and not _handles(path, method):
                continue
            if (
                name in NOT_FOUND_AS_REDIRECT
                and response.get("Location") == (NOT_FOUND_AS_REDIRECT[name])
            ):
                continue
            if found := _shown(url, response):
                problems.append(f"{method.upper()} {url} shows {found}  [{name}]")
            elif status == 403:
                # A refusal for the role: the same one A's own object gets?
                own = _request(as_role, method, alpha.fill(path), bravo, htmx).status_code
                if own != 403:
                    problems.append(f"{method.upper()} {url} → 403, A's own → {own}  [{name}]")
            elif status != 404:
                problems.append(f"{_problem(method.upper(), url, response)}  [{name}]")
    assert not problems, "answers other than 404 or the role's refusal:\n" + "\n".join(problems)
    after = snapshot(bravo.workspace)
    assert [label for label in before if before[label] != after.get(label)] == []


def test_no_page_shows_another_workspaces_data_to_any_role(as_role, alpha, bravo):
    leaks: list[str] = []
    for path, name in dashboard_routes():
        if has_parameters(path) or not _handles(path, "get"):
            continue
        for query in QUERY_STRINGS + _naming_b(bravo):
            url = "/" + path + query
            response = as_role.get(url)
            if response.status_code >= 500 or response.status_code == 401:
                leaks.append(f"GET {url} → {response.status_code}  [{name}]")
            elif response.status_code == 302 and "/login" in response.get("Location", ""):
                leaks.append(f"GET {url} → login redirect  [{name}]")
            elif found := _shown(url, response):
                leaks.append(f"GET {url} shows {found}  [{name}]")
    assert not leaks, "another workspace's data or errors:\n" + "\n".join(leaks)


def test_no_role_changes_another_workspace_by_posting_its_ids(as_role, alpha, bravo):
    """Forms with and without path parameters, A's own objects, B's ids in the body."""
    before = snapshot(bravo.workspace)
    problems: list[str] = []
    routes = [(p, n) for p, n in dashboard_routes() if _handles(p, "post")]
    for path, name in sorted(routes, key=lambda route: bool(DESTRUCTIVE.search(route[0]))):
        url = alpha.fill(path) if has_parameters(path) else "/" + path
        response = as_role.post(url, data=_body(bravo))
        if response.status_code >= 500 or response.status_code == 401:
            problems.append(f"POST {url} → {response.status_code}  [{name}]")
        elif response.status_code == 302 and "/login" in response.get("Location", ""):
            problems.append(f"POST {url} → login redirect  [{name}]")
        elif found := _shown(url, response):
            problems.append(f"POST {url} shows {found}  [{name}]")
    assert not problems, "\n".join(problems)
    after = snapshot(bravo.workspace)
    assert [label for label in before if before[label] != after.get(label)] == []
    assert [value for value in _ids_of(bravo) if value in repr(snapshot(alpha.workspace))] == []


def test_a_viewer_is_refused_every_change(client, workspace, alpha, bravo):
    """The role walks above would prove little if a viewer could post: every form of A's
    answers a viewer 403 (or 405 where the view takes no POST), and A does not change."""
    viewer = MembershipFactory(workspace=workspace, user=UserFactory(), role=Role.VIEWER).user
    client.force_login(viewer)
    client.raise_request_exception = False
    before = snapshot(alpha.workspace)
    allowed = []
    for path, name in dashboard_routes():
        if not _handles(path, "post") or name == "dashboard:switch_workspace":
            continue
        url = alpha.fill(path) if has_parameters(path) else "/" + path
        status = client.post(url, data=_body(alpha)).status_code
        if status not in (403, 405):
            allowed.append(f"POST {url} → {status}  [{name}]")
    assert allowed == []
    after = snapshot(alpha.workspace)
    assert [label for label in before if before[label] != after.get(label)] == []
