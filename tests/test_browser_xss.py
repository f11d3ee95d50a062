"""XSS in a real browser (issue 12 §5): every user-controlled text the dashboard shows holds a
script payload, and chromium opens every dashboard page of that workspace — lists, searches,
settings and the page of every object (the routes read from the URL configuration, as the
isolation walk reads them) — with no dialog opened and no element injected.

The workspace is the isolation walk's ``World`` (tests/test_dashboard_isolation.py) named by
the payload instead of "Alpha": contact, company, tag, list, segment, property, template,
campaign (name, subject, A/B variants), form, automation, webhook URL and delivery, domains,
suppressions, unsubscribes, backend, SMTP user, member and invitation addresses, import file
name; on top of it: the workspace's name, contact properties, activity texts, rejected rows'
reasons of an import, webhook names and disabled reasons, automation descriptions, a
suppression's reason, a template's and a campaign's HTML.

A payload that ran would open a dialog (``alert``), or leave a ``<svg onload>`` or an inline
``<script>`` with its text in the page: the three are checked on every page, after htmx has
loaded what it loads on its own (the risk panel, progress bars)."""

from __future__ import annotations

import pytest

from contacts.tests.factories import ActivityFactory
from mailcrm.models import Role
from mailcrm.tests.factories import MembershipFactory, UserFactory
from tests.test_dashboard_isolation import World, _handles, dashboard_routes, has_parameters

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Breaks out of an attribute, then two ways to run script. Short enough for the narrowest
# field the World puts it in (the SMTP username: 64 characters with its suffix).
PAYLOAD = '"><svg onload=alert(1)><script>alert(2)</script>'

# What a payload that ran leaves behind, besides a dialog: an element with a handler, or a
# script the browser would run (data blocks such as json_script's are inert).
FOUND_IN_PAGE = """() => ({
  injected: document.querySelectorAll('svg[onload], [onerror]').length,
  scripts: [...document.querySelectorAll('script')].filter((s) =>
    ['', 'text/javascript', 'module'].includes(s.type) && s.textContent.includes('alert(')
  ).length,
})"""

# Not pages: downloads (exports) are fetched, not shown.
DOWNLOADS = ("export",)


def _poison(world: World) -> None:
    """The payload in the texts the World leaves plain."""
    ws = world.workspace
    ws.name = PAYLOAD
    ws.save()
    contact = world.contact
    contact.properties = {world.property.key: PAYLOAD, "plan": PAYLOAD}
    contact.job_title = PAYLOAD
    contact.save()
    world.property.label = PAYLOAD
    world.property.save()
    world.company.industry = PAYLOAD
    world.company.save()
    ActivityFactory(contact=contact, subject=PAYLOAD, body=PAYLOAD)
    world.import_job.status = "done"
    world.import_job.errors = [{"row": 2, "reason": PAYLOAD}]
    world.import_job.error_count = 1
    world.import_job.failure_reason = PAYLOAD
    world.import_job.save()
    world.endpoint.name = PAYLOAD
    world.endpoint.disabled_reason = PAYLOAD
    world.endpoint.save()
    world.automation.description = PAYLOAD
    world.automation.save()
    world.suppression.reason = PAYLOAD
    world.suppression.save()
    world.template.html = f"<p>{PAYLOAD}</p>"
    world.template.save()
    world.campaign.html = f"<p>{PAYLOAD}</p>"
    world.campaign.from_name = PAYLOAD
    world.campaign.save()


@pytest.fixture
def poisoned(workspace, owner) -> World:
    world = World(workspace, owner, PAYLOAD)
    _poison(world)
    return world


def _pages(world: World) -> list[str]:
    urls = []
    for path, _ in dashboard_routes():
        if any(word in path for word in DOWNLOADS) or not _handles(path, "get"):
            continue
        urls.append(world.fill(path) if has_parameters(path) else "/" + path)
    return urls


class Traffic:
    """The page's requests in flight, from playwright's events: ``settle`` waits until none
    has been for ``QUIET_MS`` — playwright's "networkidle" with a shorter quiet spell (it waits
    500 ms, four fifths of this walk's time). htmx asks for what a page loads by itself within
    a few milliseconds of the answer before (its ``load`` triggers fire as content is
    swapped in), so the spell covers chained loads too."""

    QUIET_MS, STEP_MS, TIMEOUT_MS = 200, 25, 3_000

    def __init__(self, page):
        self.page, self.pending = page, set()
        page.on("request", lambda request: self.pending.add(request))
        page.on("requestfinished", lambda request: self.pending.discard(request))
        page.on("requestfailed", lambda request: self.pending.discard(request))

    def settle(self) -> None:
        """Return once the page is quiet, or after ``TIMEOUT_MS`` (a page that polls fast is
        never quiet: it is checked as it is)."""
        waited = quiet = 0
        while quiet < self.QUIET_MS and waited < self.TIMEOUT_MS:
            self.page.wait_for_timeout(self.STEP_MS)  # playwright's events arrive meanwhile
            waited += self.STEP_MS
            quiet = 0 if self.pending else quiet + self.STEP_MS


def _visit(page, url: str, traffic: Traffic) -> str | None:
    """Open the page and let htmx load what it loads by itself; the problem, if any."""
    from playwright.sync_api import Error

    try:
        response = page.goto(url)
    except Error:
        # A navigation that the previous page's late htmx request interrupted: once more.
        response = page.goto(url)
    if response is not None and response.status >= 500:
        return f"{url}: {response.status}"
    if _is_sandboxed_email(response):
        return None  # the email's own HTML, which may hold anything: it cannot run there
    traffic.settle()
    found = page.evaluate(FOUND_IN_PAGE)
    if found["injected"] or found["scripts"]:
        return f"{url}: {found}"
    return None


def _is_sandboxed_email(response) -> bool:
    """A preview of an email's HTML (templates/views.py ``sandboxed_html``): served with a CSP
    ``sandbox`` that does not allow scripts, so it is shown as written and nothing in it runs
    (a dialog would still be caught)."""
    policy = (response.headers.get("content-security-policy", "") if response else "").split(";")
    directives = [part.strip() for part in policy]
    return "sandbox" in directives and not any("allow-scripts" in d for d in directives)


def test_the_checks_see_a_payload_that_runs(page):
    """The test below would pass vacuously if a payload that ran went unseen."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_content(f"<p>{PAYLOAD}</p>")
    page.wait_for_timeout(100)
    assert dialogs
    found = page.evaluate(FOUND_IN_PAGE)
    assert found["injected"] and found["scripts"]


def test_no_user_text_runs_as_script_on_any_dashboard_page(sign_in, owner, workspace, poisoned):
    page = sign_in(owner, workspace)
    dialogs: list[str] = []
    page.on(
        "dialog", lambda dialog: (dialogs.append(f"{page.url}: {dialog.message}"), dialog.dismiss())
    )
    traffic = Traffic(page)
    problems = [problem for url in _pages(poisoned) if (problem := _visit(page, url, traffic))]
    assert dialogs == [], "\n".join(dialogs)
    assert problems == [], "\n".join(problems)
    # And the payload is shown, as text, where people read it.
    page.goto(f"/contacts/{poisoned.contact.pk}/")
    assert "<svg onload=alert(1)>" in page.locator("main").inner_text()


def test_a_viewer_sees_the_same_pages_without_scripts_running(sign_in, workspace, poisoned):
    """A viewer's pages differ (no forms, no actions): walked too."""
    viewer = MembershipFactory(workspace=workspace, user=UserFactory(), role=Role.VIEWER).user
    page = sign_in(viewer, workspace)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    traffic = Traffic(page)
    problems = [
        problem for url in _viewer_pages(poisoned) if (problem := _visit(page, url, traffic))
    ]
    assert dialogs == []
    assert problems == []


def _viewer_pages(world: World) -> list[str]:
    """The lists and the object pages a viewer opens most: contacts, campaigns, lists."""
    return [
        "/",
        "/contacts/",
        f"/contacts/{world.contact.pk}/",
        "/campaigns/",
        f"/campaigns/{world.campaign.pk}/",
        "/lists/",
        "/segments/",
        "/templates/",
        "/imports/",
        f"/imports/{world.import_job.pk}/",
    ]
