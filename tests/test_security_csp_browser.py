"""Issue 12 §5, content security policy in a real browser: the dashboard's pages, htmx and the
API docs run under the policy without a single violation (a blocked script or style would
break a page silently, so chromium's own reports are collected)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PAGES = [
    "/",
    "/contacts/",
    "/segments/new/",
    "/templates/",
    "/campaigns/",
    "/domains/",
    "/settings/",
    "/webhooks/",
    "/api/v1/docs/",
]


def _watch_violations(page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


def test_dashboard_pages_run_without_csp_violations(sign_in, owner, workspace):
    page = sign_in(owner, workspace)
    violations = _watch_violations(page)
    visited = []
    for path in PAGES:
        response = page.goto(path)
        page.wait_for_load_state("networkidle")
        visited.append((path, response.status))
    assert all(status == 200 for _, status in visited), visited
    assert violations == []
    # Swagger UI rendered from its script URL.
    assert page.locator("#swagger-ui .information-container, #swagger-ui .info").count() > 0
    # The watch works: an injected inline script is refused, and reported.
    page.goto("/")
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate(
            "() => document.head.appendChild(Object.assign(document.createElement('script'),"
            " {textContent: 'window.injected = true'}))"
        )
    assert page.evaluate("() => window.injected") is None
    assert violations and "script-src" in violations[0]


def test_the_copy_field_and_confirm_behaviours_work_without_inline_handlers(
    sign_in, owner, workspace
):
    page = sign_in(owner, workspace)
    violations = _watch_violations(page)
    page.goto("/webhooks/")
    field = page.get_by_label("Inbound ESP webhook URL")
    field.click()
    selected = page.evaluate(
        "() => { const f = document.activeElement;"
        " return [f.selectionStart, f.selectionEnd, f.value.length]; }"
    )
    assert selected[0] == 0 and selected[1] == selected[2] > 0
    assert violations == []
