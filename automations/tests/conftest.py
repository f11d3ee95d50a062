import pytest

from tests.smtp import SmtpSink


@pytest.fixture
def smtp():
    """A real SMTP server on loopback that mail from automations goes to."""
    sink = SmtpSink()
    with (
        sink,
        sink.as_email_backend(),
    ):
        yield sink


@pytest.fixture(autouse=True)
def verified_from_domain(request):
    """acme.io (the test templates' from domain) is a verified sending domain: mail of an
    automation goes out only from one (services._check_send_domain). Tests without the
    workspace fixture need no domain."""
    if "workspace" not in request.fixturenames:
        return None
    from django.utils import timezone

    from deliverability.models import SendingDomain

    workspace = request.getfixturevalue("workspace")
    return SendingDomain.objects.create(
        workspace=workspace, domain="acme.io", is_verified=True, verified_at=timezone.now()
    )
