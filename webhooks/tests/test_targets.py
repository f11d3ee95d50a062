"""The SSRF guard, with WEBHOOK_ALLOW_PRIVATE_TARGETS off: refused at creation and at every
delivery, including names that resolve to private addresses through a real DNS server."""

import pytest
from django.core.exceptions import ValidationError

from webhooks import dispatch, services
from webhooks.models import WebhookDelivery
from webhooks.targets import UnsafeTarget, check_url
from webhooks.tests.factories import WebhookEndpointFactory

PRIVATE_OR_RESERVED = [
    "http://127.0.0.1/hooks",
    "http://127.0.0.1:8000/hooks",
    "http://localhost/hooks",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",  # CGNAT
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://198.18.0.1/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
    "http://[ff02::1]/",
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
    "http://2130706433/",  # 127.0.0.1 as an integer
    "http://0x7f000001/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "https://017700000001/",
]
NOT_HTTP = ["ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "gopher://x/"]


@pytest.fixture(autouse=True)
def private_targets_refused(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False


@pytest.mark.parametrize("url", PRIVATE_OR_RESERVED)
def test_private_and_reserved_addresses_are_refused(url):
    with pytest.raises(UnsafeTarget, match="private or reserved"):
        check_url(url)


@pytest.mark.parametrize("url", NOT_HTTP)
def test_only_http_and_https(url):
    with pytest.raises(UnsafeTarget, match="http"):
        check_url(url)


def test_credentials_in_the_url_are_refused():
    with pytest.raises(UnsafeTarget):
        check_url("https://user:pass@93.184.216.34/")


def test_a_public_address_is_accepted_and_pinned():
    target = check_url("https://93.184.216.34:8443/in?x=1")
    assert (str(target.address), target.port, target.path) == ("93.184.216.34", 8443, "/in?x=1")


def test_a_name_resolving_to_loopback_is_refused(dns_zone):
    dns_zone.add("evil.test. 60 IN A 127.0.0.1")
    with pytest.raises(UnsafeTarget, match="127.0.0.1"):
        check_url("https://evil.test/hooks")


def test_a_name_answering_public_and_private_is_refused(dns_zone):
    dns_zone.add("mixed.test. 60 IN A 93.184.216.34", "mixed.test. 60 IN A 10.0.0.7")
    with pytest.raises(UnsafeTarget, match="10.0.0.7"):
        check_url("https://mixed.test/hooks")


def test_an_ipv6_name_to_a_unique_local_address_is_refused(dns_zone):
    dns_zone.add("six.test. 60 IN AAAA fd00::5")
    with pytest.raises(UnsafeTarget, match="fd00::5"):
        check_url("https://six.test/hooks")


def test_a_name_that_does_not_resolve_is_refused(dns_zone):
    with pytest.raises(UnsafeTarget, match="no address"):
        check_url("https://nowhere.test/hooks")


def test_creation_refuses_a_private_target(workspace, dns_zone):
    dns_zone.add("evil.test. 60 IN A 127.0.0.1")
    with pytest.raises(ValidationError) as raised:
        services.endpoint_create(workspace=workspace, url="https://evil.test/hooks")
    assert "url" in raised.value.message_dict


def test_delivery_rechecks_and_refuses_a_rebound_name(workspace, dns_zone, receiver):
    dns_zone.add("rebind.test. 60 IN A 93.184.216.34")
    endpoint, _ = services.endpoint_create(
        workspace=workspace, url=f"http://rebind.test:{receiver.port}/hooks"
    )
    dns_zone.clear()
    dns_zone.add("rebind.test. 60 IN A 127.0.0.1")  # the second answer points inside
    delivery = services.send_test_event(endpoint=endpoint)

    dispatch.deliver(delivery.pk)

    attempt = WebhookDelivery.objects.get(pk=delivery.pk).log.get()
    assert attempt.status_code is None and "private or reserved" in attempt.error
    assert receiver.requests == []


def test_delivery_to_a_loopback_url_is_refused_when_the_setting_is_off(workspace, receiver):
    endpoint = WebhookEndpointFactory(workspace=workspace, url=receiver.url)
    delivery = services.send_test_event(endpoint=endpoint)

    dispatch.deliver(delivery.pk)

    assert "private or reserved" in WebhookDelivery.objects.get(pk=delivery.pk).last_error
    assert receiver.requests == []
