"""DNS lookups for every check the product makes (sending and tracking domains, MX of
addresses), through one resolver configured by settings: ``DNS_NAMESERVERS`` (comma-separated
``host[:port]``; empty = the system resolver) and ``DNS_TIMEOUT`` (seconds per lookup).

A lookup never raises for what DNS answers: the outcome is a status a person can read."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import dns.exception
import dns.resolver
from django.conf import settings


class LookupStatus(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, with no record of that type
    SERVFAIL = "servfail"  # the nameservers failed to answer
    TIMEOUT = "timeout"  # no answer in time
    ERROR = "error"  # anything else (malformed name, refused…)


_EXPLANATIONS = {
    LookupStatus.NXDOMAIN: "{name} does not exist in DNS (NXDOMAIN).",
    LookupStatus.NODATA: "{name} has no {rdtype} record.",
    LookupStatus.SERVFAIL: "The nameservers failed to answer for {name} (SERVFAIL); try again "
    "later or check the domain's DNS hosting.",
    LookupStatus.TIMEOUT: "No DNS answer for {name} in time; try again later.",
    LookupStatus.ERROR: "The DNS lookup of {name} failed: {detail}",
}


@dataclass(frozen=True)
class Answer:
    """What DNS said about one name and type: ``records`` as text (TXT strings joined, names
    without the trailing dot, MX as "preference host")."""

    name: str
    rdtype: str
    status: LookupStatus
    records: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is LookupStatus.OK

    def explain(self) -> str:
        """A sentence for a person when the lookup found nothing usable."""
        template = _EXPLANATIONS.get(self.status, "")
        return template.format(name=self.name, rdtype=self.rdtype, detail=self.detail)


def _nameservers() -> tuple[list[str], dict[str, int]]:
    hosts, ports = [], {}
    for entry in getattr(settings, "DNS_NAMESERVERS", None) or []:
        entry = entry.strip()
        if not entry:
            continue
        host, port = entry, 53
        if entry.startswith("["):  # [IPv6]:port
            host, _, rest = entry[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif entry.count(":") == 1:
            host, port_text = entry.split(":")
            port = int(port_text)
        hosts.append(host)
        ports[host] = port
    return hosts, ports


def resolver() -> dns.resolver.Resolver:
    """A resolver honouring the settings (built per call: settings change in tests)."""
    hosts, ports = _nameservers()
    if hosts:
        result = dns.resolver.Resolver(configure=False)
        result.nameservers = hosts
        result.nameserver_ports = ports
    else:
        result = dns.resolver.Resolver()
    timeout = float(getattr(settings, "DNS_TIMEOUT", 3.0))
    result.timeout = timeout
    result.lifetime = timeout
    return result


def _text(rdtype: str, rdata) -> str:
    if rdtype == "TXT":
        return b"".join(rdata.strings).decode("utf-8", "replace")
    if rdtype == "MX":
        return f"{rdata.preference} {rdata.exchange.to_text().rstrip('.')}"
    return rdata.to_text().rstrip(".")


def lookup(name: str, rdtype: str, *, using: dns.resolver.Resolver | None = None) -> Answer:
    """Ask DNS for ``rdtype`` records of ``name``; never raises for DNS outcomes."""
    name = name.strip().rstrip(".").lower()
    rdtype = rdtype.upper()
    try:
        answer = (using or resolver()).resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return Answer(name, rdtype, LookupStatus.NXDOMAIN)
    except dns.resolver.LifetimeTimeout:
        return Answer(name, rdtype, LookupStatus.TIMEOUT)
    except dns.resolver.NoNameservers as exc:
        return Answer(name, rdtype, LookupStatus.SERVFAIL, detail=str(exc))
    except dns.exception.DNSException as exc:
        return Answer(name, rdtype, LookupStatus.ERROR, detail=str(exc) or type(exc).__name__)
    if answer.rrset is None:
        return Answer(name, rdtype, LookupStatus.NODATA)
    records = [_text(rdtype, rdata) for rdata in answer.rrset]
    return Answer(name, rdtype, LookupStatus.OK, records)
