from django.apps import AppConfig


class DeliverabilityConfig(AppConfig):
    name = "deliverability"
    verbose_name = "Deliverability"

    def ready(self) -> None:
        from deliverability.models import SendingDomain
        from mailcrm.usage import register_counter

        register_counter(
            "sending_domains",
            lambda workspace: SendingDomain.objects.for_workspace(workspace).count(),
        )
