"""Where a webhook may be sent, and sending it there without giving DNS a second say.

A URL is refused unless it is http(s) and every address its host resolves to is public
(not private, loopback, link-local, CGNAT, multicast, unspecified or reserved — IPv4 and
IPv6, IPv4-mapped IPv6 and numeric spellings such as ``2130706433`` or ``0x7f.1`` included).
The request then connects to the very address that was checked (the hostname goes in the
``Host`` header and TLS SNI), so a DNS answer that changes between the check and the connection
(rebinding) cannot redirect it. Redirects are never followed. ``WEBHOOK_ALLOW_PRIVATE_TARGETS``
lifts the address rule for development and tests."""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

from deliverability import dns

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
TIMEOUT_SECONDS = 10
RESPONSE_CAP_BYTES = 4096


class UnsafeTarget(ValueError):
    """A URL a webhook must not be sent to; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (for Host and SNI)
    port: int
    path: str  # path and query
    address: Address  # the checked address to connect to


@dataclass(frozen=True)
class Response:
    status_code: int
    body: str
    duration_ms: int
    retry_after: str = ""


def _numeric_ipv4(host: str) -> Address | None:
    """Hosts that C libraries read as IPv4 though they don't look like it: 2130706433,
    0x7f000001, 0177.0.0.1, 127.1."""
    if not host or not all(ch in "0123456789abcdefxABCDEFX." for ch in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
        if address.teredo is not None:
            return False
    return address.is_global and not address.is_multicast


def _resolve(host: str) -> list[Address]:
    if settings.DNS_NAMESERVERS:
        found = []
        for rdtype in ("A", "AAAA"):
            answer = dns.lookup(host, rdtype)
            found += [ipaddress.ip_address(record) for record in answer.records]
            if answer.status in (dns.LookupStatus.TIMEOUT, dns.LookupStatus.SERVFAIL):
                raise UnsafeTarget(answer.explain())
        return found
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise UnsafeTarget(f"{host} does not resolve ({exc.strerror or exc}).") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_url(url: str) -> Target:
    """The target to connect to for ``url``, or UnsafeTarget with the reason."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeTarget("That is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("Webhook URLs must start with http:// or https://.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeTarget("Put credentials in the payload's signature, not in the URL.")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        numeric = _numeric_ipv4(host)
        addresses = [numeric] if numeric else _resolve(host)
    if not addresses:
        raise UnsafeTarget(f"{host} has no address.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        refused = [str(address) for address in addresses if not is_public(address)]
        if refused:
            raise UnsafeTarget(
                f"{host} resolves to a private or reserved address ({', '.join(refused)}); "
                "webhooks only go to public addresses."
            )
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default_port, path, addresses[0])


def post(target: Target, body: bytes, headers: dict[str, str]) -> Response:
    """POST ``body`` to the checked address; read at most RESPONSE_CAP_BYTES of the answer.
    Raises urllib3/OS errors for connection failures and timeouts."""
    timeout = urllib3.Timeout(connect=TIMEOUT_SECONDS, read=TIMEOUT_SECONDS)
    options = {"timeout": timeout, "retries": False, "maxsize": 1}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            str(target.address),
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(str(target.address), target.port, **options)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    started = time.monotonic()
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            assert_same_host=False,
            preload_content=False,
        )
        try:
            excerpt = _read_capped(response, deadline=started + TIMEOUT_SECONDS)
        finally:
            response.release_conn()
    finally:
        pool.close()
    duration_ms = int((time.monotonic() - started) * 1000)
    return Response(
        response.status,
        excerpt.decode("utf-8", "replace"),
        duration_ms,
        retry_after=response.headers.get("Retry-After", ""),
    )


def _read_capped(response, *, deadline: float) -> bytes:
    chunks, size = [], 0
    while size < RESPONSE_CAP_BYTES and time.monotonic() < deadline:
        chunk = response.read(min(1024, RESPONSE_CAP_BYTES - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
