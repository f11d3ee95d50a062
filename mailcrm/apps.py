from django.apps import AppConfig


class MailcrmConfig(AppConfig):
    name = "mailcrm"
    verbose_name = "Workspaces and access"
