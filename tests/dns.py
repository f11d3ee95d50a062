"""A real DNS server on loopback (dnslib) answering from a zone each test writes, and one that
never answers, so DNS checks run over real DNS in the tests.

    def test_spf(dns_zone):
        dns_zone.add('example.com. 300 IN TXT "v=spf1 include:_spf.mailcrm.test ~all"')
        dns_zone.servfail("broken.example")

``dns_zone`` points ``settings.DNS_NAMESERVERS`` at the server for the test; ``dns_silent``
points it at a server that reads queries and never replies (a timeout), with a short
``DNS_TIMEOUT``.
"""

from __future__ import annotations

import socket
import threading

import pytest
from dnslib import QTYPE, RCODE, RR, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Zone(BaseResolver):
    """Records by name; names absent from the zone are NXDOMAIN, names present without the
    asked type answer NOERROR with nothing (NODATA); CNAMEs are followed inside the zone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._records: dict[DNSLabel, list[RR]] = {}
            self._servfail: set[DNSLabel] = set()
            self.queries: list[tuple[str, str]] = []

    def add(self, *zone_lines: str) -> Zone:
        """Add records written as zone-file lines: 'name. TTL IN TYPE value'."""
        with self._lock:
            for line in zone_lines:
                for rr in RR.fromZone(line):
                    self._records.setdefault(rr.rname, []).append(rr)
        return self

    def txt(self, name: str, *values: str) -> Zone:
        """Add a TXT record per value (long values are split into 255-byte strings)."""
        for value in values:
            chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
            quoted = " ".join('"' + chunk.replace('"', '\\"') + '"' for chunk in chunks)
            self.add(f"{name.rstrip('.')}. 300 IN TXT {quoted}")
        return self

    def servfail(self, name: str) -> Zone:
        with self._lock:
            self._servfail.add(DNSLabel(name))
        return self

    def resolve(self, request, handler):
        reply = request.reply()
        qname, qtype = request.q.qname, QTYPE[request.q.qtype]
        with self._lock:
            self.queries.append((str(qname).rstrip("."), qtype))
            if qname in self._servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            name, hops = qname, 0
            while hops < 8:
                records = self._records.get(name)
                if records is None:
                    if hops == 0 and not self._has_descendant(name):
                        reply.header.rcode = RCODE.NXDOMAIN
                    return reply
                matching = [rr for rr in records if QTYPE[rr.rtype] == qtype]
                if matching or qtype == "CNAME":
                    for rr in matching:
                        reply.add_answer(rr)
                    return reply
                cnames = [rr for rr in records if QTYPE[rr.rtype] == "CNAME"]
                if not cnames:
                    return reply
                reply.add_answer(cnames[0])
                name, hops = DNSLabel(str(cnames[0].rdata.label)), hops + 1
        return reply

    def _has_descendant(self, name: DNSLabel) -> bool:
        return any(other.matchSuffix(name) for other in self._records)


class _QuietLogger(DNSLogger):
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def _dns_server():
    zone = Zone()
    port = _free_udp_port()
    server = DNSServer(zone, port=port, address="127.0.0.1", logger=_QuietLogger())
    server.start_thread()
    yield zone, port
    server.stop()


@pytest.fixture
def dns_zone(_dns_server, settings) -> Zone:
    zone, port = _dns_server
    zone.clear()
    settings.DNS_NAMESERVERS = [f"127.0.0.1:{port}"]
    settings.DNS_TIMEOUT = 2
    return zone


@pytest.fixture(scope="session")
def _silent_dns_server():
    """A UDP socket that reads queries and never replies."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def dns_silent(_silent_dns_server, settings) -> None:
    settings.DNS_NAMESERVERS = [f"127.0.0.1:{_silent_dns_server}"]
    settings.DNS_TIMEOUT = 1
