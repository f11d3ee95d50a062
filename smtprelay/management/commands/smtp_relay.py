import signal
import threading

from django.core.management.base import BaseCommand

from smtprelay.server import relay_controller


def serve(controller, name: str, stdout) -> None:
    """Run an aiosmtpd controller until SIGINT or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    controller.start()
    stdout.write(f"{name} listening on {controller.hostname}:{controller.port}")
    try:
        stop.wait()
    finally:
        controller.stop()


class Command(BaseCommand):
    help = "Run the SMTP submission relay (SMTP_RELAY_* settings)."

    def add_arguments(self, parser):
        parser.add_argument("--host", help="Listen address (default SMTP_RELAY_HOST).")
        parser.add_argument("--port", type=int, help="Port (default SMTP_RELAY_PORT).")

    def handle(self, *args, host=None, port=None, **options):
        serve(relay_controller(host=host, port=port), "SMTP relay", self.stdout)
