from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from mailcrm.outbox import register_consumer
        from webhooks.dispatch import fan_out

        register_consumer("webhooks", fan_out)
        # anymail announces verified ESP events with its signal: the one signal we listen to.
        from anymail.signals import tracking

        from webhooks.inbound import on_tracking

        tracking.connect(on_tracking, dispatch_uid="mailcrm-inbound-esp-events")
