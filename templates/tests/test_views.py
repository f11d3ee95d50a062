"""Dashboard pages of email templates: list, editor, live preview and the sandboxed preview —
per role, isolated between workspaces, and never serving template HTML outside the sandbox."""

import html as htmllib
import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from contacts.tests.factories import ContactFactory
from templates.models import EmailTemplate
from templates.tests.factories import EmailTemplateFactory
from templates.views import SANDBOX_CSP

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin_user", "member", "viewer"]
EDITORS = ["owner", "admin_user", "member"]
SCRIPT = "<script>document.title='owned';window.pwned=1</script>"


def url(name, *args):
    return reverse(f"dashboard:templates:{name}", args=args)


@pytest.fixture
def as_role(client, request):
    def sign_in(role):
        client.force_login(request.getfixturevalue(role))
        return client

    return sign_in


@pytest.fixture
def welcome(workspace):
    return EmailTemplateFactory(
        workspace=workspace,
        name="Welcome",
        subject="Hi {{ contact.first_name|default('there') }}",
        html="<h1>Welcome {{ contact.first_name|default('friend') }}</h1>",
    )


@pytest.fixture
def jane(workspace):
    return ContactFactory(workspace=workspace, email="jane@example.com", first_name="Jane")


def srcdoc(body: str) -> str:
    match = re.search(r'<iframe class="email-preview" sandbox srcdoc="([^"]*)"', body)
    assert match, body
    return htmllib.unescape(match.group(1))


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_list_detail_and_preview_render_for_every_role(as_role, role, welcome):
    client = as_role(role)
    assert "Welcome" in client.get(url("templates")).content.decode()
    assert client.get(url("template", welcome.pk)).status_code == 200
    assert client.get(url("template_preview", welcome.pk)).status_code == 200


@pytest.mark.parametrize("role", EDITORS)
def test_editors_get_the_editor(as_role, role, welcome):
    client = as_role(role)
    for page in (
        url("template_new"),
        url("template_edit", welcome.pk),
        url("template_delete", welcome.pk),
    ):
        assert client.get(page).status_code == 200, page


def test_viewers_are_refused_the_editor_and_every_change(as_role, welcome):
    client = as_role("viewer")
    for page in (
        url("template_new"),
        url("template_edit", welcome.pk),
        url("template_delete", welcome.pk),
    ):
        assert client.get(page).status_code == 403, page
    posts = [
        (url("template_new"), {"name": "New"}),
        (url("template_edit", welcome.pk), {"name": "Changed"}),
        (url("template_delete", welcome.pk), {}),
        (url("live_preview"), {"html": "<p>x</p>"}),
    ]
    for target, body in posts:
        assert client.post(target, body).status_code == 403, target
    welcome.refresh_from_db()
    assert welcome.name == "Welcome"
    assert EmailTemplate.objects.count() == 1
    body = client.get(url("template", welcome.pk)).content.decode()
    assert url("template_edit", welcome.pk) not in body


def test_another_workspaces_template_is_not_found(dashboard, outsider):
    theirs = EmailTemplateFactory(workspace=outsider.workspace, name="Their secret")
    for name in ("template", "template_edit", "template_delete", "template_preview"):
        assert dashboard.get(url(name, theirs.pk)).status_code == 404, name
    assert dashboard.post(url("template_delete", theirs.pk)).status_code == 404
    assert dashboard.post(url("template_edit", theirs.pk), {"name": "Mine"}).status_code == 404
    assert "Their secret" not in dashboard.get(url("templates")).content.decode()
    assert EmailTemplate.objects.filter(pk=theirs.pk, name="Their secret").exists()


def test_anonymous_users_are_sent_to_sign_in(client, welcome):
    for page in (
        url("templates"),
        url("template", welcome.pk),
        url("template_preview", welcome.pk),
    ):
        response = client.get(page)
        assert response.status_code == 302
        assert response.url.startswith(reverse("dashboard:login"))


# --- list and editor ---------------------------------------------------------------------------


def test_the_list_searches_by_name(dashboard, welcome, workspace):
    EmailTemplateFactory(workspace=workspace, name="Receipt")
    body = dashboard.get(url("templates"), {"q": "rec"}).content.decode()
    assert "Receipt" in body and ">Welcome<" not in body


def test_creating_a_template(dashboard, workspace):
    response = dashboard.post(
        url("template_new"),
        {"name": "Digest", "subject": "Your week", "html": "<p>{{ contact.email }}</p>"},
    )
    template = EmailTemplate.objects.for_workspace(workspace).get(name="Digest")
    assert response.status_code == 302
    assert response.url == url("template", template.pk)
    assert template.html == "<p>{{ contact.email }}</p>"


def test_a_syntax_error_is_shown_on_the_field_with_its_line(dashboard, workspace):
    response = dashboard.post(
        url("template_new"), {"name": "Broken", "html": "<p>ok</p>\n<p>{% if %}</p>"}
    )
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["html"])
    assert "line 2" in errors.lower()
    assert not EmailTemplate.objects.filter(name="Broken").exists()


def test_a_missing_name_and_a_bad_address_are_field_errors(dashboard):
    response = dashboard.post(url("template_new"), {"name": "", "from_email": "nope"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"name", "from_email"}


def test_editing_and_deleting(dashboard, welcome):
    response = dashboard.post(
        url("template_edit", welcome.pk), {"name": "Hello", "subject": "S", "html": "<p>h</p>"}
    )
    assert response.status_code == 302
    welcome.refresh_from_db()
    assert (welcome.name, welcome.subject) == ("Hello", "S")
    response = dashboard.post(url("template_delete", welcome.pk))
    assert response.url == url("templates")
    assert not EmailTemplate.objects.filter(pk=welcome.pk).exists()


# --- previews ----------------------------------------------------------------------------------


def test_the_saved_preview_is_rendered_as_a_contact_and_served_sandboxed(dashboard, welcome, jane):
    response = dashboard.get(url("template_preview", welcome.pk), {"contact": "JANE@example.com"})
    assert response["Content-Security-Policy"] == SANDBOX_CSP
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "Welcome Jane" in response.content.decode()
    detail = dashboard.get(url("template", welcome.pk), {"contact": "jane@example.com"})
    body = detail.content.decode()
    assert "Hi Jane" in body
    assert '<iframe class="email-preview" sandbox src=' in body
    assert "allow-scripts" not in body and "allow-same-origin" not in body


def test_a_script_in_a_template_is_never_served_without_the_sandbox(dashboard, welcome):
    EmailTemplate.objects.filter(pk=welcome.pk).update(html=f"<p>Hi</p>{SCRIPT}")
    preview = dashboard.get(url("template_preview", welcome.pk))
    assert SCRIPT in preview.content.decode()
    assert preview["Content-Security-Policy"].startswith("sandbox;")
    for page in (url("template", welcome.pk), url("templates")):
        assert "window.pwned" not in dashboard.get(page).content.decode(), page
    editor = dashboard.get(url("template_edit", welcome.pk)).content.decode()
    assert SCRIPT not in editor  # only escaped, inside the textarea
    assert escape(SCRIPT) in editor


def test_the_live_preview_renders_unsaved_content_in_an_escaped_sandboxed_srcdoc(
    dashboard, welcome, jane
):
    response = dashboard.post(
        url("live_preview"),
        {
            "subject": "Hey {{ contact.first_name }}",
            "html": f"<h2>Dear {{{{ contact.first_name }}}}</h2>{SCRIPT}",
            "contact": "jane@example.com",
        },
    )
    body = response.content.decode()
    assert "Hey Jane" in body
    assert SCRIPT not in body  # the fragment lands in the dashboard: only escaped
    document = srcdoc(body)
    assert "Dear Jane" in document and SCRIPT in document
    assert document.startswith('<meta http-equiv="Content-Security-Policy"')
    assert "default-src 'none'" in document
    assert "allow-scripts" not in body


def test_the_live_preview_reports_a_syntax_error_instead_of_failing(dashboard):
    response = dashboard.post(url("live_preview"), {"html": "<p>{{ oops </p>"})
    assert response.status_code == 200
    assert response.context["preview"].error
    assert 'role="alert"' in response.content.decode()


def test_the_live_preview_refuses_sandbox_escapes(dashboard):
    payload = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    response = dashboard.post(url("live_preview"), {"html": payload})
    assert response.status_code == 200
    document = srcdoc(response.content.decode())
    assert "<class" not in document and "&lt;class" not in document
    assert response.context["preview"].error


def test_a_contact_of_another_workspace_is_not_used_for_a_preview(dashboard, welcome, outsider):
    response = dashboard.post(
        url("live_preview"),
        {"html": "<p>{{ contact.email }}</p>", "contact": "secret@outsider.example"},
    )
    assert "secret@outsider.example" not in srcdoc(response.content.decode())
    assert response.context["contact"] is None


def test_the_composer_preview_fills_empty_content_from_the_chosen_template(
    dashboard, welcome, jane, outsider
):
    response = dashboard.post(
        url("live_preview"),
        {"subject": "", "html": "", "template": str(welcome.pk), "contact": "jane@example.com"},
    )
    assert "Hi Jane" in response.content.decode()
    assert "Welcome Jane" in srcdoc(response.content.decode())
    own = dashboard.post(url("live_preview"), {"html": "<p>Own</p>", "template": str(welcome.pk)})
    assert "Own" in srcdoc(own.content.decode())
    assert "Welcome" not in srcdoc(own.content.decode())
    theirs = EmailTemplateFactory(workspace=outsider.workspace, html="<p>Their secret</p>")
    response = dashboard.post(url("live_preview"), {"template": str(theirs.pk)})
    assert "Their secret" not in response.content.decode()
    assert dashboard.post(url("live_preview"), {"template": "junk"}).status_code == 200
