from django.apps import AppConfig


class MailcrmConfig(AppConfig):
    name = "mailcrm"
    verbose_name = "Workspaces and access"

    def ready(self) -> None:
        from mailcrm.api import relations, strings

        strings.make_strict()
        relations.make_strict()
