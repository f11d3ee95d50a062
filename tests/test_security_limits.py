"""Issue 12 §5, rate limits: counters are atomic under concurrency, a spoofed X-Forwarded-For
from an untrusted peer does not reset them, and the API limits each key (429 + Retry-After).

The counters live in the configured cache: Redis on the PostgreSQL+Redis run, the shared file
cache on the SQLite run; the local-memory cache is checked too. Keys and addresses are random
per test, since those caches outlive a test run."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.test import override_settings

from mailcrm.api.throttling import KeyRateThrottle
from mailcrm.client_ip import client_ip
from mailcrm.ratelimit import count_hit, over_per_minute
from mailcrm.tests.factories import ApiKeyFactory

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _random_address() -> str:
    return f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


def _fire(function, count: int = 50) -> list:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: function(), range(count)))


@pytest.mark.parametrize("caches", ["configured", "locmem"])
def test_fifty_concurrent_hits_against_a_limit_of_ten_let_exactly_ten_through(caches):
    key = f"test-security:{uuid.uuid4()}"
    with override_settings(**({"CACHES": LOCMEM} if caches == "locmem" else {})):
        results = _fire(lambda: over_per_minute(key, 10))
        assert results.count(False) == 10
        # Every hit got its own count: nothing was lost to a read-then-write race.
        assert count_hit(key) == 51


def test_fifty_concurrent_api_requests_of_one_key_let_exactly_ten_through(settings):
    settings.API_RATE_LIMIT_PER_KEY = 10
    key = SimpleNamespace(pk=uuid.uuid4())

    def one_request() -> bool:
        request = SimpleNamespace(user=SimpleNamespace(key=key), _request=SimpleNamespace())
        return KeyRateThrottle().allow_request(request, view=None)

    assert _fire(one_request).count(True) == 10


def _open_pixel(client, address: str, forwarded: str, hit: int):
    return client.get(
        f"/t/o/not-a-token-{hit}", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=forwarded
    )


@pytest.mark.django_db
def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_reset_the_counter(
    client, settings
):
    settings.PUBLIC_HITS_PER_MINUTE = 5
    settings.TRUSTED_PROXIES = []
    address = _random_address()
    statuses = [
        _open_pixel(client, address, _random_address(), hit).status_code for hit in range(8)
    ]
    # Bad tokens are 404 while under the limit; then the address is refused whatever it claims.
    assert statuses == [404] * 5 + [429] * 3


@pytest.mark.django_db
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_counter(client, settings):
    settings.PUBLIC_HITS_PER_MINUTE = 5
    proxy = _random_address()
    settings.TRUSTED_PROXIES = [f"{proxy.rsplit('.', 1)[0]}.0/24"]
    clients = [_random_address() for _ in range(2)]
    first = [_open_pixel(client, proxy, clients[0], hit).status_code for hit in range(6)]
    other = _open_pixel(client, proxy, clients[1], 99).status_code
    assert first == [404] * 5 + [429]
    assert other == 404
    # A client-written entry left of the real one changes nothing: the proxy appended the
    # address it saw, and that one is still over the limit.
    spoofed = _open_pixel(client, proxy, f"{_random_address()}, {clients[0]}", 7).status_code
    assert spoofed == 429


def test_client_ip_reads_forwarded_for_only_from_trusted_proxies(rf, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.7"]
    chain = "203.0.113.9, 198.51.100.4, 10.1.2.3"
    assert client_ip(rf.get("/", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR=chain)) == (
        "198.51.100.4"
    )
    assert client_ip(rf.get("/", REMOTE_ADDR="192.0.2.8", HTTP_X_FORWARDED_FOR=chain)) == (
        "192.0.2.8"
    )
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="junk")) == "10.0.0.1"
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="10.0.0.2")) == (
        "10.0.0.2"
    )
    settings.TRUSTED_PROXIES = []
    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=chain)) == "10.0.0.1"
    assert client_ip(rf.get("/", REMOTE_ADDR="")) is None


@pytest.mark.django_db
def test_the_api_limits_each_key_with_429_and_retry_after(workspace, settings):
    from rest_framework.test import APIClient

    settings.API_RATE_LIMIT_PER_KEY = 3
    busy, quiet = ApiKeyFactory(workspace=workspace), ApiKeyFactory(workspace=workspace)
    client = APIClient()
    answers = [client.get("/api/v1/contacts", HTTP_X_API_KEY=busy.secret) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Limit"] == "3" and refused["RateLimit-Remaining"] == "0"
    # The other key of the same workspace is not held back by the busy one.
    assert client.get("/api/v1/contacts", HTTP_X_API_KEY=quiet.secret).status_code == 200
