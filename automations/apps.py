from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = "Automations"

    def ready(self) -> None:
        from automations.triggers import on_events
        from mailcrm.outbox import register_consumer

        register_consumer("automations", on_events)
