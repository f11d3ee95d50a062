from django.core.management.base import BaseCommand

from smtprelay.management.commands.smtp_relay import serve
from smtprelay.server import bounce_controller


class Command(BaseCommand):
    help = "Run the bounce mailbox: the MX of BOUNCE_DOMAIN (BOUNCE_LISTENER_* settings)."

    def add_arguments(self, parser):
        parser.add_argument("--host", help="Listen address (default BOUNCE_LISTENER_HOST).")
        parser.add_argument("--port", type=int, help="Port (default BOUNCE_LISTENER_PORT).")

    def handle(self, *args, host=None, port=None, **options):
        serve(bounce_controller(host=host, port=port), "Bounce mailbox", self.stdout)
