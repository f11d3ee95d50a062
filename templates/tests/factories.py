import factory

from mailcrm.tests.factories import WorkspaceFactory
from templates.models import EmailTemplate


class EmailTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailTemplate

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Template {n}")
    subject = "Hello {{ contact.first_name|default('there') }}"
    html = (
        "<p>Hi {{ contact.first_name }}</p><p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>"
    )
    text = ""
    from_name = "Acme"
    from_email = "news@acme.example"
