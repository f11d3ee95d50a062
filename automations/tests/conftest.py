import pytest
from django.test import override_settings

from tests.smtp import SmtpSink


@pytest.fixture
def smtp():
    """A real SMTP server on loopback that mail from automations goes to."""
    sink = SmtpSink()
    with (
        sink,
        override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=sink.port,
            EMAIL_HOST_USER="",
            EMAIL_USE_TLS=False,
            PUBLIC_BASE_URL="http://testserver",
        ),
    ):
        yield sink
