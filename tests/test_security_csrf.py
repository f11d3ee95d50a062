"""Issue 12 §5, CSRF on every form: every route outside the API, posted to by a signed-in user
without a CSRF token, is refused with 403 before its view runs, except an explicit list of
public endpoints that cannot carry a token and guard themselves otherwise."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from rest_framework.views import APIView

from mailcrm.models import Role
from mailcrm.tests.factories import MembershipFactory
from tests.routes import all_routes

# The csrf_exempt routes, each with what protects it instead. A new exemption fails this test
# until it is added here, with its reason.
CSRF_EXEMPT = {
    # Inbound ESP events: server-to-server, basic-auth secret (ANYMAIL_WEBHOOK_SECRET) or the
    # workspace's secret token in the path, plus the ESP's signature where it has one.
    ":anymail_tracking",
    ":anymail_workspace_tracking",
    # RFC 8058 one-click unsubscribe: the mail client POSTs "List-Unsubscribe=One-Click" with no
    # cookie; the signed token in the path is the authority.
    "public:unsubscribe",
    # The site snippet's page views, sent by sendBeacon from customers' sites: no cookie, rate
    # limited per address and visitor.
    "automations_public:collect",
    # Hosted and embedded sign-up forms, posted from customers' sites: no session to ride,
    # guarded by a honeypot, a rate limit per address and double opt-in.
    "subscriptions_public:form",
}
API_PREFIX = "api/v1/"
SAMPLES = {"uuid": str(uuid.uuid4()), "int": "1", "slug": "x", "str": "x", "path": "x"}


def _url(path: str) -> str:
    """A concrete URL for a route pattern; the CSRF check runs before the view, so the objects
    need not exist."""
    path = path.replace("(?P<app_label>", "(").replace("(?P<url>.*)$", "unknown/")
    path = re.sub(r"\^\(([a-z_]+)\|[^)]*\)", r"\1", path).replace("^", "").replace("$", "")
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m.group(1) or "str"], path)


def _is_exempt(route) -> bool:
    return bool(getattr(route.callback, "csrf_exempt", False))


def _site_routes():
    return [route for route in all_routes() if not route.path.startswith(API_PREFIX)]


def test_the_exempt_routes_are_exactly_the_listed_public_endpoints():
    assert {route.name for route in _site_routes() if _is_exempt(route)} == CSRF_EXEMPT


def test_the_api_takes_no_session_so_it_needs_no_csrf_token():
    """DRF views are exempt from Django's CSRF check; that is safe only because no API view
    authenticates by session cookie."""
    for route in all_routes():
        if not route.path.startswith(API_PREFIX):
            continue
        view = getattr(route.callback, "cls", None)
        assert view is not None and issubclass(view, APIView), route.path
        classes = getattr(route.callback, "initkwargs", {}).get(
            "authentication_classes", view.authentication_classes
        )
        assert all("Session" not in cls.__name__ for cls in classes), route.path


@pytest.mark.django_db
def test_every_other_route_refuses_a_post_without_a_csrf_token(workspace, superuser):
    # A superuser owning a workspace: signed in to both the dashboard and the admin.
    MembershipFactory(workspace=workspace, user=superuser, role=Role.OWNER)
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    checked, refused = 0, []
    for route in _site_routes():
        if _is_exempt(route):
            continue
        url = _url(route.path)
        response = client.post(url, {"name": "x"})
        checked += 1
        if response.status_code != 403 or b"CSRF" not in response.content:
            refused.append((url, response.status_code))
    assert checked > 100
    assert refused == []
