"""The address a request came from, for everything keyed by IP (public rate limits, login
lockouts, consent records).

``X-Forwarded-For`` is a header anyone can send: trusting it from any peer would let a client
pick a fresh address per request and never hit a limit. So it is read only when the direct
peer (``REMOTE_ADDR``) is one of ``TRUSTED_PROXIES`` (IPs or CIDRs, empty by default), and
then walked from the right, skipping our own proxies: the first address that is not a trusted
proxy is the client. Everything to its left was written by the client and is ignored."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def is_trusted_proxy(address: str, trusted: tuple[str, ...] | None = None) -> bool:
    """True when ``address`` falls in one of the trusted proxy networks."""
    parsed = _parse(address)
    if parsed is None:
        return False
    networks = _networks(tuple(settings.TRUSTED_PROXIES if trusted is None else trusted))
    return any(parsed in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or, behind a trusted proxy, the rightmost
    ``X-Forwarded-For`` entry that is not itself a trusted proxy. None when unknown."""
    remote = _parse(request.META.get("REMOTE_ADDR", "") or "")
    if remote is None:
        return None
    trusted = tuple(settings.TRUSTED_PROXIES)
    if not trusted or not is_trusted_proxy(str(remote), trusted):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop for hop in (_parse(part) for part in forwarded.split(",")) if hop is not None]
    for hop in reversed(hops):
        if not is_trusted_proxy(str(hop), trusted):
            return str(hop)
    # Every hop is one of ours (or the header is missing): the leftmost one we saw.
    return str(hops[0]) if hops else str(remote)


def client_ip_for_axes(request: HttpRequest) -> str | None:
    """django-axes' AXES_CLIENT_IP_CALLABLE: the same address the rate limits use."""
    return client_ip(request)
