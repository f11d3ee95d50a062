"""The workspace's postal address is available to every template as a footer variable."""

import pytest

from templates.rendering import build_context, compile_template

pytestmark = pytest.mark.django_db


def test_the_physical_address_renders_escaped_in_the_footer(workspace):
    workspace.physical_address = "Acme & Co, 1 Main St <Springfield>"
    workspace.save()
    compiled = compile_template(
        "News", "<p>{{ workspace.physical_address }}</p>", "{{ workspace.physical_address }}"
    )
    subject, html, text = compiled.render(build_context(workspace=workspace))
    assert "Acme &amp; Co, 1 Main St &lt;Springfield&gt;" in html
    assert "Acme & Co, 1 Main St <Springfield>" in text


def test_the_profile_shows_the_physical_address(api, workspace):
    workspace.physical_address = "1 Main St"
    workspace.save()
    body = api.get("/api/v1/customer/profile").json()
    assert body["workspace"]["physical_address"] == "1 Main St"
