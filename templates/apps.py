from django.apps import AppConfig


class EmailTemplatesConfig(AppConfig):
    name = "templates"
    label = "email_templates"
    verbose_name = "Email templates"
