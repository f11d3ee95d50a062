import factory

from mailcrm import crypto
from mailcrm.tests.factories import WorkspaceFactory
from webhooks import signing
from webhooks.models import WebhookEndpoint


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    """An endpoint whose plain secret is kept on the instance as ``plain_secret``."""

    class Meta:
        model = WebhookEndpoint
        skip_postgeneration_save = True

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Receiver {n}")
    url = "http://127.0.0.1:9/hooks"
    plain_secret = factory.LazyFunction(signing.new_secret)
    secret = factory.LazyAttribute(lambda o: crypto.encrypt(o.plain_secret))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        plain = kwargs.pop("plain_secret")
        endpoint = super()._create(model_class, *args, **kwargs)
        endpoint.plain_secret = plain
        return endpoint
