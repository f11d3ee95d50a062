"""The template verbs: what they store, what they refuse, and previews."""

import pytest
from django.core.exceptions import ValidationError

from contacts.tests.factories import ContactFactory
from templates import services
from templates.models import EmailTemplate
from templates.rendering import RenderLimitExceeded
from templates.tests.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db


def test_create_stores_a_template_that_compiles(workspace):
    template = services.template_create(
        workspace=workspace, name="Hi", subject="Hi {{ contact.first_name }}", html="<p>x</p>"
    )
    assert EmailTemplate.objects.for_workspace(workspace).get() == template
    assert template.text == "" and template.from_email == ""


def test_create_refuses_a_syntax_error_with_its_line(workspace):
    with pytest.raises(ValidationError) as caught:
        services.template_create(
            workspace=workspace, name="Bad", subject="ok", html="<p>\n{% for x in y %}\n</p>"
        )
    assert caught.value.message_dict["html"][0].startswith("Line 2: ")
    assert not EmailTemplate.objects.exists()


def test_create_refuses_unknown_fields_and_bad_addresses(workspace):
    with pytest.raises(ValidationError) as caught:
        services.template_create(workspace=workspace, name="X", colour="red")
    assert "colour" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.template_create(workspace=workspace, name="X", from_email="nope")
    assert "from_email" in caught.value.message_dict


def test_update_keeps_what_it_is_not_given_and_refuses_a_broken_change(workspace):
    template = EmailTemplateFactory(workspace=workspace)
    services.template_update(template=template, name="Renamed")
    template.refresh_from_db()
    assert template.name == "Renamed" and template.subject == EmailTemplateFactory.subject
    with pytest.raises(ValidationError):
        services.template_update(template=template, subject="{{ oops")
    template.refresh_from_db()
    assert template.subject == EmailTemplateFactory.subject


def test_delete(workspace):
    template = EmailTemplateFactory(workspace=workspace)
    services.template_delete(template=template)
    assert not EmailTemplate.objects.exists()


def test_preview_as_a_contact_uses_placeholder_links(workspace):
    contact = ContactFactory(workspace=workspace, first_name="Ann")
    template = EmailTemplateFactory(
        workspace=workspace, html="<p>{{ contact.first_name }} {{ unsubscribe_url }}</p>"
    )
    rendered = services.template_preview(template=template, contact=contact)
    assert rendered.subject == "Hello Ann"
    assert rendered.html == "<p>Ann #unsubscribe</p>"
    assert rendered.text == "Ann #unsubscribe"


def test_preview_variables_never_override_a_contacts_own_data(workspace):
    contact = ContactFactory(workspace=workspace, first_name="Ann")
    template = EmailTemplateFactory(workspace=workspace, subject="{{ contact.first_name }} {{ k }}")
    rendered = services.template_preview(
        template=template, contact=contact, variables={"contact": {"first_name": "Eve"}, "k": 1}
    )
    assert rendered.subject == "Ann 1"


def test_preview_refuses_another_workspaces_contact(workspace, outsider):
    template = EmailTemplateFactory(workspace=workspace)
    with pytest.raises(ValidationError):
        services.template_preview(template=template, contact=outsider.contact)


def test_preview_goes_through_the_limits(workspace):
    template = EmailTemplateFactory(
        workspace=workspace, html="{% for i in range(9999) %}{% for j in range(9999) %}"
        "{% endfor %}{% endfor %}",
    )  # fmt: skip
    with pytest.raises(RenderLimitExceeded):
        services.template_preview(template=template)
