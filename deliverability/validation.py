"""Email address validation: syntax and normalisation (email-validator), whether the domain
takes mail (MX, else A/AAAA, through ``deliverability.dns`` with a cache per domain),
disposable domains, role accounts, free providers and typo suggestions.

Results: ``invalid`` (bad syntax; the domain does not exist, has no MX/A/AAAA, or refuses
mail with a null MX), ``risky`` (disposable, role account, typo suspected), ``unknown`` (DNS
failed or timed out: try again later), else ``valid``. A catch-all domain (one accepting
every mailbox) cannot be told without talking SMTP to it, which we never do, so a valid
result says the domain takes mail, not that the mailbox exists."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import email_validator
from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from deliverability.dns import LookupStatus, lookup
from deliverability.models import EmailValidation, ValidationResult
from mailcrm.models import Workspace

ROLE_ACCOUNTS = frozenset(
    """abuse accounting accounts admin administrator all billing contact customercare
    customerservice devnull dev do-not-reply donotreply enquiries everyone feedback finance
    help helpdesk hostmaster hr info inquiries it jobs legal mail mailer-daemon marketing media
    news newsletter no-reply noc noreply null office orders postmaster press privacy recruiting
    root sales security service staff support team webmaster""".split()
)

FREE_PROVIDERS = frozenset(
    """gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr yahoo.de yahoo.es yahoo.it
    yahoo.co.jp yahoo.com.br ymail.com rocketmail.com outlook.com outlook.fr outlook.de
    hotmail.com hotmail.co.uk hotmail.fr hotmail.de hotmail.it hotmail.es live.com live.co.uk
    live.fr msn.com icloud.com me.com mac.com aol.com aim.com gmx.com gmx.de gmx.net gmx.at
    gmx.ch web.de proton.me protonmail.com protonmail.ch pm.me zoho.com zohomail.com
    yandex.com yandex.ru mail.ru mail.com inbox.com fastmail.com fastmail.fm tutanota.com
    tuta.io hey.com qq.com 163.com 126.com naver.com orange.fr free.fr laposte.net t-online.de
    libero.it virgilio.it seznam.cz wp.pl o2.pl btinternet.com comcast.net verizon.net
    att.net sbcglobal.net""".split()
)

# Domains people mistype most; a domain one or two edits from one of these (and not itself
# a known domain) gets a suggestion.
COMMON_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "ymail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "proton.me",
    "protonmail.com",
    "mail.com",
    "yandex.com",
    "comcast.net",
    "verizon.net",
    "att.net",
    "btinternet.com",
    "orange.fr",
    "hotmail.co.uk",
    "yahoo.co.uk",
)

# Short domains are a single edit from many real ones (me.com, mo.com, mx.com): only longer
# names are matched by edit distance.
_FUZZY_MIN_LENGTH = 8
_FUZZY_DOMAINS = tuple(d for d in COMMON_DOMAINS if len(d) >= _FUZZY_MIN_LENGTH)

TLD_TYPOS = {
    "con": "com",
    "cmo": "com",
    "comm": "com",
    "coom": "com",
    "ocm": "com",
    "cpm": "com",
    "vom": "com",
    "xom": "com",
    "c0m": "com",
    "copm": "com",
    "nte": "net",
    "ner": "net",
    "nett": "net",
    "ogr": "org",
    "rog": "org",
    "orgg": "org",
}

DNS_CACHE_SECONDS = 3600
# A failure is kept briefly, so a bulk run does not ask a dead server once per address.
DNS_FAILURE_CACHE_SECONDS = 60
_RESOLVE_THREADS = 16


@dataclass(frozen=True)
class DomainCheck:
    """What DNS says about a domain taking mail: ``accepts`` True/False, or None (unknown)."""

    accepts: bool | None
    reason: str = ""


@dataclass
class EmailCheck:
    email: str
    result: str
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    suggestion: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "result": self.result,
            "reasons": list(self.reasons),
            "checks": dict(self.checks),
            "suggestion": self.suggestion or None,
        }


# --- typo suggestions --------------------------------------------------------------------------


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance counting a swap of neighbours as one edit (optimal string alignment);
    stops early above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = char_a != char_b
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def suggest_domain(domain: str) -> str:
    """A likely intended domain for a mistyped one ('gmial.com' → 'gmail.com',
    'example.con' → 'example.com'), or '' when the domain looks as meant."""
    domain = domain.lower()
    if domain in FREE_PROVIDERS or domain in COMMON_DOMAINS:
        return ""
    candidate = domain
    name, _, tld = domain.rpartition(".")
    if name and tld in TLD_TYPOS:
        candidate = f"{name}.{TLD_TYPOS[tld]}"
    if candidate not in COMMON_DOMAINS and len(candidate) >= _FUZZY_MIN_LENGTH:
        limit = 1 if len(candidate) <= 9 else 2
        distances = {common: _distance(candidate, common, limit) for common in _FUZZY_DOMAINS}
        best = min(distances, key=distances.__getitem__)
        if distances[best] <= limit:
            candidate = best
    return "" if candidate == domain else candidate


# --- DNS ---------------------------------------------------------------------------------------


def _cache_key(domain: str) -> str:
    # The nameservers are part of the key: answers from one resolver say nothing of another's.
    servers = ",".join(getattr(settings, "DNS_NAMESERVERS", None) or [])
    digest = hashlib.sha256(f"{servers}|{domain}".encode()).hexdigest()[:32]
    return f"deliverability:mail-domain:{digest}"


def _null_mx(records: list[str]) -> bool:
    # RFC 7505: a single MX of preference 0 pointing at the root (shown as "0 " by dns.py).
    return len(records) == 1 and records[0].split(" ", 1)[-1].strip() in ("", ".")


def _ask_dns(domain: str) -> DomainCheck:
    mx = lookup(domain, "MX")
    if mx.ok and mx.records:
        if _null_mx(mx.records):
            return DomainCheck(False, f"{domain} accepts no mail (null MX record).")
        return DomainCheck(True)
    if mx.status is LookupStatus.NXDOMAIN:
        return DomainCheck(False, f"The domain {domain} does not exist (NXDOMAIN).")
    if mx.status is not LookupStatus.NODATA and not mx.ok:
        return DomainCheck(None, mx.explain())
    # No MX: mail goes to the domain's own address (RFC 5321 §5.1), if it has one.
    failure = ""
    for rdtype in ("A", "AAAA"):
        answer = lookup(domain, rdtype)
        if answer.ok and answer.records:
            return DomainCheck(True)
        if answer.status not in (LookupStatus.NODATA, LookupStatus.NXDOMAIN, LookupStatus.OK):
            failure = answer.explain()
    if failure:
        return DomainCheck(None, failure)
    return DomainCheck(False, f"{domain} has no MX, A or AAAA record: it cannot receive mail.")


def check_mail_domain(domain: str) -> DomainCheck:
    """Whether ``domain`` takes mail, asked of DNS at most once per cache period."""
    key = _cache_key(domain)
    cached = cache.get(key)
    if cached is not None:
        return DomainCheck(*cached)
    result = _ask_dns(domain)
    ttl = DNS_CACHE_SECONDS if result.accepts is not None else DNS_FAILURE_CACHE_SECONDS
    cache.set(key, (result.accepts, result.reason), ttl)
    return result


def _warm_domains(domains: set[str]) -> None:
    """Look up many domains side by side (each waits on the network, not the CPU)."""
    missing = [d for d in domains if cache.get(_cache_key(d)) is None]
    if len(missing) <= 1:
        return
    with ThreadPoolExecutor(max_workers=min(_RESOLVE_THREADS, len(missing))) as pool:
        list(pool.map(check_mail_domain, missing))


# --- one address -------------------------------------------------------------------------------


def _parse(email: str) -> tuple[str, str, str] | str:
    """(normalised address, local part, domain) or the syntax error's message."""
    try:
        parsed = email_validator.validate_email(
            email, check_deliverability=False, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as exc:
        return str(exc)
    domain = parsed.ascii_domain.lower()
    return f"{parsed.local_part}@{domain}".lower(), parsed.local_part.lower(), domain


def validate_email_address(email: str, *, check_dns: bool = True) -> EmailCheck:
    """Validate one address; never raises for any input."""
    email = (email or "").strip()
    parsed = _parse(email)
    if isinstance(parsed, str):
        return EmailCheck(
            email=email.lower(),
            result=ValidationResult.INVALID,
            reasons=[f"Syntax: {parsed}"],
            checks={
                "syntax": False,
                "mx": None,
                "disposable": False,
                "role": False,
                "free_provider": False,
            },
        )
    normalised, local, domain = parsed
    role = local.split("+", 1)[0] in ROLE_ACCOUNTS
    disposable = domain in DISPOSABLE_DOMAINS
    free = domain in FREE_PROVIDERS
    suggested_domain = suggest_domain(domain)
    domain_check = check_mail_domain(domain) if check_dns else DomainCheck(None)
    checks = {
        "syntax": True,
        "mx": domain_check.accepts,
        "disposable": disposable,
        "role": role,
        "free_provider": free,
    }
    reasons = []
    if domain_check.reason:
        reasons.append(domain_check.reason)
    if disposable:
        reasons.append(f"{domain} is a disposable (throwaway) address provider.")
    if role:
        reasons.append(f"{local}@ is a role account, read by a team rather than a person.")
    suggestion = f"{local}@{suggested_domain}" if suggested_domain else ""
    if suggestion:
        reasons.append(f"Possible typo: did you mean {suggestion}?")
    if domain_check.accepts is False:
        result = ValidationResult.INVALID
    elif disposable or role or suggestion:
        result = ValidationResult.RISKY
    elif domain_check.accepts is None:
        result = ValidationResult.UNKNOWN
        if not check_dns:
            reasons.append("The domain was not checked in DNS.")
    else:
        result = ValidationResult.VALID
    return EmailCheck(normalised, result, reasons, checks, suggestion)


# --- many addresses, recorded ------------------------------------------------------------------


def _key(email: str) -> str:
    return (email or "").strip().lower()


def validate_many(
    workspace: Workspace, emails: Iterable[str], *, check_dns: bool = True
) -> dict[str, EmailCheck]:
    """Validate many addresses (duplicates once, one DNS lookup per domain) and record each
    result as the workspace's ``EmailValidation`` of that address in a few set-based
    statements. Returns the results by the lower-cased, trimmed address as given."""
    keys = list(dict.fromkeys(_key(email) for email in emails if _key(email)))
    if check_dns:
        domains = {key.rpartition("@")[2] for key in keys if "@" in key}
        _warm_domains({d for d in domains if d})
    results = {key: validate_email_address(key, check_dns=check_dns) for key in keys}
    record_validations(workspace, results.values())
    return results


def record_validations(workspace: Workspace, checks: Iterable[EmailCheck]) -> None:
    """Insert or update the workspace's validation of each address in one statement per 1,000."""
    now = timezone.now()
    rows = {
        check.email: EmailValidation(
            workspace=workspace,
            email=check.email,
            result=check.result,
            reasons=check.reasons,
            checks=check.checks,
            suggestion=check.suggestion,
            checked_at=now,
        )
        for check in checks
        # Longer strings are no one's address (contacts' emails stop at 254): not kept.
        if check.email and len(check.email) <= 254
    }
    with transaction.atomic():
        EmailValidation.objects.bulk_create(
            list(rows.values()),
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["workspace", "email"],
            update_fields=["result", "reasons", "checks", "suggestion", "checked_at"],
        )


def validate_and_record(workspace: Workspace, email: str) -> EmailCheck:
    """Validate one address and record the result for the workspace."""
    check = validate_email_address(email)
    record_validations(workspace, [check])
    return check


def screen_addresses(
    workspace: Workspace, emails: Iterable[str], *, check_dns: bool = True
) -> dict[str, str]:
    """For a batch of imported rows: validate and record every address (a risky result flags
    its contact) and return why each invalid one is invalid, by lower-cased address. Call it
    outside the import's write transaction: DNS lookups can take seconds."""
    results = validate_many(workspace, emails, check_dns=check_dns)
    return {
        email: "invalid address: " + ("; ".join(check.reasons) or "invalid")
        for email, check in results.items()
        if check.result == ValidationResult.INVALID
    }
