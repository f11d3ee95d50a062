import pytest
from django.utils import timezone

from deliverability.models import SendingDomain

# The from domains of the campaign tests. A campaign is sent only from a verified domain
# (deliverability.domains.check_sending_domain); these tests are about sending, not DNS.
FROM_DOMAINS = ("acme.example", "acme.io")


@pytest.fixture
def verified_domains(workspace) -> list[SendingDomain]:
    now = timezone.now()
    return [
        SendingDomain.objects.create(
            workspace=workspace, domain=name, is_verified=True, verified_at=now
        )
        for name in FROM_DOMAINS
    ]
