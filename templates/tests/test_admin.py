"""The templates admin: pages render, saves go through the services and a syntax error is
shown on its field."""

import pytest
from django.urls import reverse

from templates.models import EmailTemplate
from templates.tests.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db


def _form(workspace, **extra):
    return {
        "workspace": str(workspace.pk),
        "name": "Welcome",
        "subject": "Hi {{ contact.first_name }}",
        "html": "<p>Hello</p>",
        "text": "",
        "from_name": "",
        "from_email": "",
    } | extra


def test_the_pages_render(admin_client, workspace):
    template = EmailTemplateFactory(workspace=workspace)
    assert (
        admin_client.get(reverse("admin:email_templates_emailtemplate_changelist")).status_code
        == 200
    )
    assert admin_client.get(reverse("admin:email_templates_emailtemplate_add")).status_code == 200
    change = reverse("admin:email_templates_emailtemplate_change", args=[template.pk])
    assert admin_client.get(change).status_code == 200


def test_adding_saves_through_the_service(admin_client, workspace):
    response = admin_client.post(
        reverse("admin:email_templates_emailtemplate_add"), _form(workspace)
    )
    assert response.status_code == 302
    template = EmailTemplate.objects.get()
    assert template.workspace == workspace and template.subject.startswith("Hi")


def test_a_syntax_error_is_shown_on_its_field(admin_client, workspace):
    response = admin_client.post(
        reverse("admin:email_templates_emailtemplate_add"),
        _form(workspace, html="<p>\n{{ contact.first_name </p>"),
    )
    assert response.status_code == 200
    assert "Line 2" in response.content.decode()
    assert not EmailTemplate.objects.exists()


def test_changing_keeps_the_workspace(admin_client, workspace):
    template = EmailTemplateFactory(workspace=workspace)
    response = admin_client.post(
        reverse("admin:email_templates_emailtemplate_change", args=[template.pk]),
        _form(workspace, name="Renamed"),
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.name == "Renamed" and template.workspace == workspace
