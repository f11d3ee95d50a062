from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # anymail announces verified ESP events with its signal: the one signal we listen to.
        from anymail.signals import tracking

        from webhooks.inbound import on_tracking

        tracking.connect(on_tracking, dispatch_uid="mailcrm-inbound-esp-events")
