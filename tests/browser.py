"""Real-browser fixtures: Debian's chromium driven by playwright against pytest-django's
``live_server`` (a real HTTP server on loopback, the database shared with the test).

- ``browser``: one chromium for the whole run (session-scoped);
- ``page``: a fresh browser context and page per test, with ``base_url`` set to the server;
- ``sign_in(user, workspace=None)``: ``page`` signed in as ``user`` (a session cookie made
  the way Django's login makes one), optionally in a chosen workspace.

The tests skip with a reason when chromium or playwright is missing; CI installs both.
Never ``playwright install``: it downloads a browser, and we use the distribution's."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real browser (chromium over playwright)")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    # The sync API keeps an event loop in this thread; Django refuses ORM calls there unless
    # told it is safe, and here it is: the loop only waits for the browser.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield chromium
            chromium.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test, so the page fixture knows whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _save_screenshots(request, context) -> None:
    """On failure, a full-page screenshot of every page the test still has open, in
    var/screenshots/<test name>-<n>.png (CI keeps the folder as an artifact)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
    for number, open_page in enumerate(context.pages):
        try:
            open_page.screenshot(path=str(SCREENSHOTS / f"{name}-{number}.png"), full_page=True)
        except Exception:  # a closed or crashed page must not hide the failure
            continue


@pytest.fixture
def page(browser, live_server, request) -> Iterator:
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        _save_screenshots(request, context)
    context.close()


def session_cookie(user, workspace=None) -> str:
    """A signed-in session for ``user`` (in ``workspace`` when given), as its cookie value."""
    from django.conf import settings
    from django.test import Client

    from mailcrm.dashboard.middleware import SESSION_KEY

    client = Client()
    client.force_login(user)
    if workspace is not None:
        session = client.session
        session[SESSION_KEY] = str(workspace.pk)
        session.save()
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def sign_in(page, live_server) -> Callable:
    from django.conf import settings

    def sign_in_as(user, workspace=None):
        page.context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": session_cookie(user, workspace),
                    "url": live_server.url,
                }
            ]
        )
        return page

    return sign_in_as
