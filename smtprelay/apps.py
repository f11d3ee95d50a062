from django.apps import AppConfig


class SmtpRelayConfig(AppConfig):
    name = "smtprelay"
    verbose_name = "SMTP relay and bounce mailbox"
