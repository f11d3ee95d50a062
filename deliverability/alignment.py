"""DMARC alignment of a sending domain (RFC 7489 §3.1): DMARC passes only when DKIM or SPF
passes *for a domain aligned with the From domain*. This compares the From domain with

- the DKIM ``d=`` domain: mail we sign over SMTP carries ``d=`` = the From address's sending
  domain (campaigns.senders), so it aligns as long as the domain's key is published;
- the Return-Path (envelope, SPF) domain: the VERP address ``bounce+…@bounce.<domain>`` once
  the domain's return-path CNAME (to BOUNCE_DOMAIN) is valid, else ``bounce+…@BOUNCE_DOMAIN``
  (smtprelay.verp), or the From address itself when no BOUNCE_DOMAIN is configured;

in relaxed mode (same organizational domain) and strict mode (the same name), and reports the
mode the domain's DMARC record asks for (``adkim``/``aspf``; relaxed when absent), with what to
fix. The DMARC record is the domain's own, or its organizational domain's (RFC 7489 §6.6.3).

Organizational domain: with the ``publicsuffixlist`` package installed, from the Public Suffix
List; otherwise a simple rule — the last two labels, or the last three when the last two are a
common two-level public suffix (``co.uk``, ``com.au``, …; see ``_TWO_LEVEL_SUFFIXES``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from deliverability.dns import lookup
from deliverability.models import RecordStatus, SendingDomain

RELAXED, STRICT = "relaxed", "strict"
ALIGNED, MISALIGNED = "aligned", "misaligned"

# Two-level public suffixes common enough to matter for the simple rule.
_TWO_LEVEL_SUFFIXES = {
    *(f"{second}.uk" for second in ("co", "org", "me", "ltd", "plc", "net", "ac", "gov", "sch")),
    *(f"{second}.au" for second in ("com", "net", "org", "edu", "gov", "id", "asn")),
    *(f"{second}.nz" for second in ("co", "net", "org", "ac", "govt", "school")),
    *(f"{second}.jp" for second in ("co", "ne", "or", "ac", "go")),
    *(f"{second}.br" for second in ("com", "net", "org", "gov", "edu")),
    *(f"{second}.za" for second in ("co", "org", "net", "gov", "ac")),
    *(f"{second}.in" for second in ("co", "net", "org", "firm", "gen", "ind")),
    *(f"{second}.cn" for second in ("com", "net", "org", "gov", "edu")),
    *(f"{second}.mx" for second in ("com", "org", "gob", "edu")),
    *(f"{second}.kr" for second in ("co", "or", "ne", "go", "ac")),
    "com.sg", "com.tr", "com.tw", "com.hk", "com.ar", "com.my", "co.il", "co.id", "co.th",
}  # fmt: skip


def _psl():
    try:
        from publicsuffixlist import PublicSuffixList
    except ImportError:
        return None
    return PublicSuffixList()


def organizational_domain(name: str) -> str:
    """The registrable domain of ``name`` (``news.example.co.uk`` → ``example.co.uk``)."""
    name = name.strip().rstrip(".").lower()
    psl = _psl()
    if psl is not None:
        return psl.privatesuffix(name) or name
    labels = name.split(".")
    if len(labels) >= 3 and ".".join(labels[-2:]) in _TWO_LEVEL_SUFFIXES:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def aligned(from_domain: str, other: str, mode: str) -> bool:
    """Strict: the same name. Relaxed: the same organizational domain."""
    from_domain, other = from_domain.lower().rstrip("."), other.lower().rstrip(".")
    if mode == STRICT:
        return from_domain == other
    return organizational_domain(from_domain) == organizational_domain(other)


def envelope_host(domain: SendingDomain | None, checks: dict | None = None) -> str:
    """The return-path host of mail from ``domain`` when it is its own: ``bounce.<domain>``
    once that CNAME to BOUNCE_DOMAIN is valid (by ``checks``, else the last stored check);
    "" otherwise (the envelope is then at BOUNCE_DOMAIN). The sending pipeline passes it to
    smtprelay.verp.return_path; the bounce mailbox accepts VERP addresses at any host."""
    from deliverability.domains import RETURN_PATH_LABEL

    if domain is None or not settings.BOUNCE_DOMAIN:
        return ""
    if checks is not None:
        check = checks.get("return_path")
        valid = check is not None and check.status == RecordStatus.VALID
    else:
        valid = ((domain.dns_checks or {}).get("return_path") or {}).get("status") == "valid"
    return f"{RETURN_PATH_LABEL}.{domain.domain}" if valid else ""


def envelope_domain(domain: SendingDomain, checks: dict | None = None) -> str:
    """The Return-Path domain of mail from ``domain``: its own return-path host, else
    BOUNCE_DOMAIN, else (no bounce mailbox) the From domain itself."""
    host = envelope_host(domain, checks) or settings.BOUNCE_DOMAIN or domain.domain
    return host.strip().rstrip(".").lower()


def _dmarc_tags(domain: SendingDomain, checks: dict) -> tuple[dict[str, str], str]:
    """The DMARC record that governs ``domain``: its own (from this check), else its
    organizational domain's. Returns (tags, host) — ({}, "") when there is none."""
    from deliverability.domains import parse_dmarc

    own = checks.get("dmarc")
    if own is not None and own.status == RecordStatus.VALID and own.found:
        return parse_dmarc(own.found[0]), f"_dmarc.{domain.domain}"
    org = organizational_domain(domain.domain)
    if org == domain.domain:
        return {}, ""
    answer = lookup(f"_dmarc.{org}", "TXT")
    records = [r for r in answer.records if r.replace(" ", "").lower().startswith("v=dmarc1")]
    if answer.ok and len(records) == 1:
        return parse_dmarc(records[0]), f"_dmarc.{org}"
    return {}, ""


def _mode(tags: dict[str, str], name: str) -> str:
    return STRICT if tags.get(name) == "s" else RELAXED


def _result(
    from_domain: str, other: str | None, mode: str, tag: str, *, fix_misaligned: str
) -> dict[str, Any]:
    relaxed = other is not None and aligned(from_domain, other, RELAXED)
    strict = other is not None and aligned(from_domain, other, STRICT)
    ok = strict if mode == STRICT else relaxed
    result: dict[str, Any] = {
        "domain": other,
        "mode": mode,
        "status": ALIGNED if ok else MISALIGNED,
        "relaxed": relaxed,
        "strict": strict,
    }
    if ok:
        result["explanation"] = f"{other} is aligned with {from_domain} ({mode})."
        result["fix"] = ""
    elif relaxed and mode == STRICT:
        result["explanation"] = (
            f"{other} shares {from_domain}'s organizational domain but is not the same name, "
            f"and the DMARC record asks for strict alignment ({tag}=s)."
        )
        result["fix"] = (
            f"Use relaxed alignment: set {tag}=r in the DMARC record (the default), "
            f"or make {other} equal {from_domain}."
        )
    else:
        result["explanation"] = (
            f"{other} is not under {organizational_domain(from_domain)}: it does not align "
            "with the From domain."
            if other
            else f"Mail from {from_domain} carries no signature of this domain."
        )
        result["fix"] = fix_misaligned
    return result


def check_alignment(domain: SendingDomain, checks: dict) -> dict[str, Any]:
    """The alignment report of ``domain`` given its DNS ``checks`` (deliverability.domains'
    Check objects by purpose). At most one DNS lookup (an organizational DMARC record)."""
    tags, dmarc_host = _dmarc_tags(domain, checks)
    from_domain = domain.domain.lower()
    dkim_check = checks.get("dkim")
    dkim_valid = dkim_check is not None and dkim_check.status == RecordStatus.VALID
    signer = from_domain if domain.has_dkim_key else None
    dkim = _result(
        from_domain,
        signer,
        _mode(tags, "adkim"),
        "adkim",
        fix_misaligned="Generate a DKIM key for this domain and publish its DKIM record.",
    )
    if dkim["status"] == ALIGNED and not dkim_valid:
        # d= aligns, but a signature receivers cannot verify does not count for DMARC.
        dkim["status"] = MISALIGNED
        dkim["explanation"] = (
            f"Mail is signed with d={from_domain}, but the DKIM record is not valid yet, so "
            "receivers cannot verify the signature."
        )
        dkim["fix"] = "Publish the DKIM record shown above, then verify."
    from deliverability.domains import RETURN_PATH_LABEL

    envelope = envelope_domain(domain, checks)
    return_path = _result(
        from_domain,
        envelope,
        _mode(tags, "aspf"),
        "aspf",
        fix_misaligned=(
            f"Publish the return-path record (CNAME {RETURN_PATH_LABEL}.{from_domain} to "
            f"{envelope}) shown above, then verify: mail then leaves with the envelope "
            f"{RETURN_PATH_LABEL}.{from_domain}, which aligns (relaxed). Until then DMARC rests "
            "on DKIM alone."
        ),
    )
    return {
        "from_domain": from_domain,
        "organizational_domain": organizational_domain(from_domain),
        "dmarc_record": dmarc_host or None,
        "dkim": dkim,
        "return_path": return_path,
        # DMARC passes when either identifier aligns (and passes).
        "dmarc_can_pass": ALIGNED in (dkim["status"], return_path["status"]),
    }
