from django.apps import AppConfig


class MailcrmConfig(AppConfig):
    name = "mailcrm"
    verbose_name = "Workspaces and access"

    def ready(self) -> None:
        from mailcrm.api.strings import make_strict

        make_strict()
