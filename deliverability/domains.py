"""Sending domains: adding one (with its DKIM key), the DNS records it must publish, and checking
them over real DNS — SPF, DKIM, DMARC and the return path — with a status, what was found and a
sentence for a person per record. A change of status is recorded and announced as an event.

Every DNS outcome (NXDOMAIN, SERVFAIL, a timeout) becomes a status and an explanation here;
nothing a nameserver says can make a check raise."""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from deliverability.dkim import dkim_key_generate, dkim_txt_record
from deliverability.dns import Answer, LookupStatus, lookup
from deliverability.models import (
    DeliverabilitySettings,
    DomainStatusChange,
    RecordStatus,
    SendingDomain,
    TrackingDomain,
)
from mailcrm import audit, events
from mailcrm.exceptions import Conflict, DomainError, LimitExceeded
from mailcrm.models import Workspace

PURPOSES = ("spf", "dkim", "dmarc", "return_path")
# A domain is verified when these are valid; DMARC and the return path are reported only.
REQUIRED = ("spf", "dkim")
RETURN_PATH_LABEL = "bounce"
SPF_LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4
# Queries and seconds one SPF check may spend while counting, whatever a hostile (or slow)
# record tree holds.
SPF_MAX_QUERIES = 40
SPF_MAX_SECONDS = 15.0
RECHECK_AFTER = timedelta(hours=1)
TEMPORARY = (LookupStatus.SERVFAIL, LookupStatus.TIMEOUT, LookupStatus.ERROR)

DOMAIN_VERIFIED = "domain.verified"
DOMAIN_UNVERIFIED = "domain.unverified"
DOMAIN_STATUS_CHANGED = "domain.status_changed"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class DomainNotVerified(DomainError):
    """A campaign would go out from a domain whose SPF and DKIM are not verified."""

    status_code = 422
    code = "domain_not_verified"


# --- names ---------------------------------------------------------------------------------------


def normalize_domain(name: str, *, field_name: str = "domain") -> str:
    """A hostname as stored: trimmed, lower-case, no trailing dot, IDNA (punycode) for
    non-ASCII names. Anything that is not a hostname of two or more labels is refused."""
    value = (name or "").strip().rstrip(".").lower()
    if "@" in value or "/" in value or ":" in value:
        raise ValidationError({field_name: ["Give a domain name only (e.g. example.com)."]})
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError({field_name: ["This is not a valid domain name."]}) from None
    labels = value.split(".")
    if (
        len(value) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValidationError({field_name: ["This is not a valid domain name."]})
    return value


# --- adding, changing, removing ----------------------------------------------------------------


def domain_check_new(*, workspace: Workspace, domain: str) -> str:
    """The normalised name, if ``workspace`` may add it: a valid name (else ValidationError),
    not added yet (else Conflict), within the plan (else LimitExceeded)."""
    name = normalize_domain(domain)
    limit = workspace.limit_sending_domains
    if limit is not None and SendingDomain.objects.for_workspace(workspace).count() >= limit:
        raise LimitExceeded("sending_domains", limit)
    if SendingDomain.objects.for_workspace(workspace).filter(domain=name).exists():
        raise Conflict(f"{name} is already a sending domain of this workspace.")
    return name


@transaction.atomic
def domain_add(*, workspace: Workspace, domain: str) -> SendingDomain:
    """Add a sending domain with a fresh DKIM key pair (refused past the plan's limit)."""
    name = domain_check_new(workspace=workspace, domain=domain)
    try:
        with transaction.atomic():
            sending_domain = SendingDomain.objects.create(workspace=workspace, domain=name)
    except IntegrityError:  # added by a concurrent request
        raise Conflict(f"{name} is already a sending domain of this workspace.") from None
    sending_domain.dns_checks = {}
    audit.record(workspace, "sending_domain.created", sending_domain, {"domain": name})
    return dkim_key_generate(sending_domain)


@transaction.atomic
def domain_set_tracking_domain(
    *, domain: SendingDomain, tracking_domain: TrackingDomain | None
) -> SendingDomain:
    """Use ``tracking_domain`` (of the same workspace) in the links of mail from ``domain``."""
    if tracking_domain is not None and tracking_domain.workspace_id != domain.workspace_id:
        raise ValidationError({"tracking_domain_id": ["No such tracking domain."]})
    domain.tracking_domain = tracking_domain
    changes = audit.pending_changes(domain, ["tracking_domain_id"])
    domain.save(update_fields=["tracking_domain"])
    audit.record(domain.workspace_id, "sending_domain.updated", domain, changes)
    return domain


@transaction.atomic
def domain_delete(*, domain: SendingDomain) -> None:
    audit.record(domain.workspace_id, "sending_domain.deleted", domain)
    domain.delete()


# --- the records to publish --------------------------------------------------------------------


def _our_ips() -> list[str]:
    """SPF_IPS as bare addresses or ranges (``ip4:``/``ip6:`` prefixes accepted and dropped)."""
    return [ip.strip().removeprefix("ip4:").removeprefix("ip6:") for ip in settings.SPF_IPS]


def spf_value() -> str:
    """The SPF record we ask for: our includes and IPs from settings, soft-failing the rest."""
    terms = [f"include:{name}" for name in settings.SPF_INCLUDES]
    for ip in _our_ips():
        terms.append(("ip6:" if ":" in ip else "ip4:") + ip)
    if not terms:
        terms = ["a", "mx"]  # nothing configured: at least the domain's own servers
    return " ".join(["v=spf1", *terms, "~all"])


def dmarc_value() -> str:
    value = "v=DMARC1; p=quarantine; adkim=r; aspf=r"
    if settings.DMARC_REPORT_EMAIL:
        value += f"; rua=mailto:{settings.DMARC_REPORT_EMAIL}"
    return value


def expected_records(domain: SendingDomain) -> list[dict[str, str]]:
    """The records ``domain`` must publish, in the order a person adds them."""
    records = [
        {"type": "TXT", "host": domain.domain, "value": spf_value(), "purpose": "spf"},
    ]
    if domain.dkim_public_key:
        host, value = dkim_txt_record(domain)
        records.append({"type": "TXT", "host": host, "value": value, "purpose": "dkim"})
    records.append(
        {
            "type": "TXT",
            "host": f"_dmarc.{domain.domain}",
            "value": dmarc_value(),
            "purpose": "dmarc",
        }
    )
    if settings.BOUNCE_DOMAIN:
        records.append(
            {
                "type": "CNAME",
                "host": f"{RETURN_PATH_LABEL}.{domain.domain}",
                "value": settings.BOUNCE_DOMAIN,
                "purpose": "return_path",
            }
        )
    return records


def dns_records(domain: SendingDomain) -> list[dict[str, Any]]:
    """The records to publish with the last check of each: ``status``, ``found`` and
    ``explanation`` (pending until the first check)."""
    result = []
    for record in expected_records(domain):
        check = (domain.dns_checks or {}).get(record["purpose"]) or {}
        result.append(
            {
                **record,
                "status": check.get("status", RecordStatus.PENDING.value),
                "found": check.get("found", []),
                "explanation": check.get(
                    "explanation", "Not checked yet: publish the record, then verify."
                ),
            }
        )
    return result


# --- checks ------------------------------------------------------------------------------------


@dataclass
class Check:
    status: str
    explanation: str
    found: list[str] = field(default_factory=list)
    lookup: str = LookupStatus.OK.value

    @property
    def temporary(self) -> bool:
        return self.lookup in TEMPORARY

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "found": self.found,
            "explanation": self.explanation,
            "lookup": self.lookup,
        }


def _valid(explanation: str, found: list[str]) -> Check:
    return Check(RecordStatus.VALID, explanation, found)


def _invalid(
    explanation: str, found: list[str] | None = None, answer: Answer | None = None
) -> Check:
    return Check(
        RecordStatus.INVALID, explanation, found or [], answer.status.value if answer else "ok"
    )


def _unanswered(answer: Answer, missing: str) -> Check:
    """A lookup that found nothing usable: a temporary failure stays pending (checked again
    later), an absent name or record is invalid."""
    if answer.status in TEMPORARY:
        return Check(RecordStatus.PENDING, answer.explain(), [], answer.status.value)
    if answer.status is LookupStatus.NXDOMAIN:
        return _invalid(f"{answer.explain()} {missing}", answer=answer)
    return _invalid(missing, answer=answer)


def _spf_records(answer: Answer) -> list[str]:
    return [r for r in answer.records if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")]


@dataclass
class _SpfWalk:
    """Counts the DNS-querying terms of an SPF record tree (include, a, mx, ptr, exists,
    redirect — RFC 7208 §4.6.4) and gathers the includes and IP ranges it reaches."""

    lookups: int = 0
    queries: int = 0
    deadline: float = field(default_factory=lambda: time.monotonic() + SPF_MAX_SECONDS)
    includes: set[str] = field(default_factory=set)
    networks: list = field(default_factory=list)
    problem: Check | None = None

    def walk(self, record: str, name: str, seen: tuple[str, ...]) -> None:
        for term in record.split()[1:]:
            if self.problem is not None or self.lookups > SPF_LOOKUP_LIMIT:
                return
            mechanism = term.lstrip("+-~?").lower()
            kind, _, value = mechanism.replace("=", ":", 1).partition(":")
            kind = kind.split("/")[0]
            if kind in ("ip4", "ip6"):
                try:
                    self.networks.append(ipaddress.ip_network(value, strict=False))
                except ValueError:
                    self.problem = _invalid(f"The SPF record of {name} has a bad range: {term}.")
            elif kind in ("a", "mx", "ptr", "exists"):
                self.lookups += 1
            elif kind in ("include", "redirect"):
                self.lookups += 1
                self.includes.add(value.rstrip("."))
                # A macro expands per message: nothing to follow here.
                if "%" not in value and self.lookups <= SPF_LOOKUP_LIMIT:
                    self._follow(value.rstrip("."), seen)

    def _follow(self, target: str, seen: tuple[str, ...]) -> None:
        if target in seen:
            self.problem = _invalid(
                f"The SPF records loop: {' → '.join([*seen, target])}. Receivers reject this."
            )
            return
        if self.queries >= SPF_MAX_QUERIES:
            return
        if time.monotonic() > self.deadline:
            self.problem = Check(
                RecordStatus.PENDING,
                "Following the SPF record's includes took too long; try again later.",
                lookup=LookupStatus.TIMEOUT.value,
            )
            return
        self.queries += 1
        answer = lookup(target, "TXT")
        if answer.status in TEMPORARY:
            self.problem = Check(
                RecordStatus.PENDING,
                f"Could not read the SPF record of {target}, included by yours: "
                + answer.explain(),
                lookup=answer.status.value,
            )
            return
        records = _spf_records(answer) if answer.ok else []
        if len(records) != 1:
            self.problem = _invalid(
                f"{target}, included by your SPF record, has "
                + ("no SPF record" if not records else f"{len(records)} SPF records")
                + ": receivers treat this as a permanent error."
            )
            return
        self.walk(records[0], target, (*seen, target))


def _authorises_us(walk: _SpfWalk) -> bool:
    wanted = {name.lower().rstrip(".") for name in settings.SPF_INCLUDES}
    if wanted & walk.includes:
        return True
    for ip in _our_ips():
        try:
            ours = ipaddress.ip_network(ip, strict=False)
        except ValueError:
            continue
        if any(net.version == ours.version and ours.subnet_of(net) for net in walk.networks):
            return True
    return not (settings.SPF_INCLUDES or settings.SPF_IPS)  # nothing of ours to look for


def check_spf(name: str) -> Check:
    """One SPF record, authorising us, with at most 10 DNS lookups through its includes."""
    answer = lookup(name, "TXT")
    publish = f"Publish a TXT record at {name}: {spf_value()}"
    if not answer.ok:
        return _unanswered(answer, f"No SPF record found. {publish}")
    records = _spf_records(answer)
    if not records:
        return _invalid(f"No SPF record (a TXT record starting v=spf1) at {name}. {publish}")
    if len(records) > 1:
        return _invalid(
            f"{len(records)} SPF records at {name}: a domain must publish exactly one, or "
            "receivers treat SPF as a permanent error. Merge them into one record.",
            records,
        )
    record = records[0]
    if re.search(r"(^|\s)\+?all(\s|$)", record.lower()):
        return _invalid("The SPF record ends in +all, which authorises every server.", records)
    walk = _SpfWalk()
    walk.walk(record, name, (name,))
    if walk.problem is not None:
        walk.problem.found = records
        return walk.problem
    if walk.lookups > SPF_LOOKUP_LIMIT:
        return _invalid(
            f"The SPF record needs more than {SPF_LOOKUP_LIMIT} DNS lookups (counting its "
            "includes, a, mx, ptr, exists and redirect): receivers stop at 10 and fail SPF. "
            "Remove includes you no longer use, or replace some with ip4:/ip6: ranges.",
            records,
        )
    if not _authorises_us(walk):
        return _invalid(
            f"The SPF record does not authorise us. Add {_our_terms()} before the all term.",
            records,
        )
    return _valid(f"SPF is published once and authorises us ({walk.lookups}/10 lookups).", records)


def _our_terms() -> str:
    return " ".join(spf_value().split()[1:-1])


def _dkim_key(record: str) -> str | None:
    tags = {}
    for part in record.split(";"):
        key, _, value = part.partition("=")
        tags[key.strip().lower()] = "".join(value.split())
    return tags.get("p")


def check_dkim(domain: SendingDomain) -> Check:
    """The DKIM record at selector._domainkey publishes this domain's public key."""
    if not domain.dkim_public_key:
        return _invalid("This domain has no DKIM key yet: generate one.")
    host, value = dkim_txt_record(domain)
    answer = lookup(host, "TXT")
    publish = f"Publish a TXT record at {host} with the value shown."
    if not answer.ok:
        return _unanswered(answer, f"No DKIM record found. {publish}")
    candidates = [r for r in answer.records if _dkim_key(r) is not None]
    if not candidates:
        return _invalid(
            f"The TXT record at {host} holds no DKIM key (p=). {publish}", answer.records
        )
    keys = [_dkim_key(r) for r in candidates]
    if domain.dkim_public_key in keys:
        return _valid("The published DKIM key matches this domain's key.", candidates)
    if keys == [""]:
        return _invalid(f"The DKIM key at {host} is revoked (empty p=). {publish}", candidates)
    return _invalid(
        f"The DKIM key published at {host} is not this domain's key (an old key, or cut short "
        f"by the DNS host?). {publish}",
        candidates,
    )


_DMARC_POLICIES = {"none", "quarantine", "reject"}


def _dmarc_problems(tags: dict[str, str]) -> list[str]:
    problems = []
    if tags.get("p") not in _DMARC_POLICIES:
        problems.append("p= must be none, quarantine or reject")
    if "sp" in tags and tags["sp"] not in _DMARC_POLICIES:
        problems.append("sp= must be none, quarantine or reject")
    for name in ("adkim", "aspf"):
        if name in tags and tags[name] not in ("r", "s"):
            problems.append(f"{name}= must be r (relaxed) or s (strict)")
    for uri in filter(None, tags.get("rua", "").split(",")):
        if not uri.strip().lower().startswith("mailto:") or "@" not in uri:
            problems.append(f"rua= must list mailto: addresses, not {uri.strip()}")
    if "pct" in tags and not (tags["pct"].isdigit() and 0 <= int(tags["pct"]) <= 100):
        problems.append("pct= must be 0 to 100")
    return problems


def parse_dmarc(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, _, value = part.partition("=")
        if key.strip():
            tags[key.strip().lower()] = value.strip()
    lowered = {k: v.lower() for k, v in tags.items() if k in ("p", "sp", "adkim", "aspf")}
    return tags | lowered


def check_dmarc(name: str) -> Check:
    """A DMARC record at _dmarc that parses: policy, alignment and reporting address."""
    host = f"_dmarc.{name}"
    publish = f"Publish a TXT record at {host}: {dmarc_value()}"
    answer = lookup(host, "TXT")
    if not answer.ok:
        return _unanswered(answer, f"No DMARC record found. {publish}")
    records = [r for r in answer.records if r.replace(" ", "").lower().startswith("v=dmarc1")]
    if not records:
        return _invalid(f"No DMARC record (a TXT record starting v=DMARC1) at {host}. {publish}")
    if len(records) > 1:
        return _invalid(
            f"{len(records)} DMARC records at {host}: receivers ignore DMARC when there is more "
            "than one. Keep one.",
            records,
        )
    tags = parse_dmarc(records[0])
    problems = _dmarc_problems(tags)
    if problems:
        return _invalid("The DMARC record does not parse: " + "; ".join(problems) + ".", records)
    summary = (
        f"Policy p={tags['p']}"
        + (f", subdomains sp={tags['sp']}" if "sp" in tags else "")
        + f", alignment DKIM {_alignment(tags.get('adkim'))} and SPF {_alignment(tags.get('aspf'))}"
        + (f", reports to {tags['rua'].replace('mailto:', '')}" if tags.get("rua") else ", no rua")
        + "."
    )
    if tags["p"] == "none":
        summary += (
            " p=none only monitors: once the reports show your mail passing, tighten it to "
            "p=quarantine, then p=reject."
        )
    report = settings.DMARC_REPORT_EMAIL
    if report and report.lower() not in tags.get("rua", "").lower():
        summary += f" Add rua=mailto:{report} to see the reports here."
    return _valid(summary, records)


def _alignment(value: str | None) -> str:
    return "strict" if value == "s" else "relaxed"


def check_return_path(name: str) -> Check:
    host = f"{RETURN_PATH_LABEL}.{name}"
    target = settings.BOUNCE_DOMAIN.rstrip(".").lower()
    answer = lookup(host, "CNAME")
    missing = f"Publish a CNAME record at {host} pointing to {target}."
    if not answer.ok:
        return _unanswered(answer, f"No return-path CNAME found. {missing}")
    if [r.lower() for r in answer.records] == [target]:
        return _valid(f"{host} points to {target}: bounces come back to us.", answer.records)
    return _invalid(f"{host} points to {', '.join(answer.records)}. {missing}", answer.records)


def run_checks(domain: SendingDomain) -> dict[str, Check]:
    """Every check of ``domain`` over DNS (no database writes: runs outside transactions)."""
    checks = {
        "spf": check_spf(domain.domain),
        "dkim": check_dkim(domain),
        "dmarc": check_dmarc(domain.domain),
    }
    if settings.BOUNCE_DOMAIN:
        checks["return_path"] = check_return_path(domain.domain)
    return checks


# --- verifying ---------------------------------------------------------------------------------


def domain_verify(domain: SendingDomain) -> SendingDomain:
    """Check the domain's DNS now and store the outcome; verified when SPF and DKIM are valid.

    A temporary DNS failure (SERVFAIL, timeout) leaves the record pending and does not
    unverify a domain verified before: a nameserver's bad minute must not stop its sending."""
    from deliverability.alignment import check_alignment

    checks = run_checks(domain)
    alignment = check_alignment(domain, checks)  # DNS too: outside the transaction
    domain = _store(domain.pk, checks)
    SendingDomain.objects.filter(pk=domain.pk).update(alignment=alignment)
    domain.alignment = alignment
    return domain


@transaction.atomic
def _store(domain_id, checks: dict[str, Check]) -> SendingDomain:
    domain = SendingDomain.objects.select_for_update().get(pk=domain_id)
    now = timezone.now()
    previous = domain.dns_checks or {}
    for purpose, check in checks.items():
        old = (previous.get(purpose) or {}).get("status", RecordStatus.PENDING)
        if old != check.status:
            _record_change(domain, purpose, old, check)
    required = [checks[p] for p in REQUIRED]
    verified = all(c.status == RecordStatus.VALID for c in required)
    if not verified and domain.is_verified:
        verified = all(c.status == RecordStatus.VALID or c.temporary for c in required)
    if verified != domain.is_verified:
        events.emit(
            domain.workspace_id,
            DOMAIN_VERIFIED if verified else DOMAIN_UNVERIFIED,
            subject_id=domain.pk,
            data={"domain": domain.domain, "is_verified": verified},
        )
    if verified and not domain.is_verified:
        domain.verified_at = now
    elif not verified:
        domain.verified_at = None
    domain.is_verified = verified
    domain.dns_checks = {purpose: check.as_dict() for purpose, check in checks.items()}
    domain.last_checked_at = now
    domain.save(update_fields=["is_verified", "verified_at", "dns_checks", "last_checked_at"])
    return domain


def _record_change(domain: SendingDomain, purpose: str, old: str, check: Check) -> None:
    DomainStatusChange.objects.create(
        workspace_id=domain.workspace_id,
        sending_domain=domain,
        purpose=purpose,
        old_status=old,
        new_status=check.status,
        explanation=check.explanation,
    )
    events.emit(
        domain.workspace_id,
        DOMAIN_STATUS_CHANGED,
        subject_id=domain.pk,
        data={
            "domain": domain.domain,
            "purpose": purpose,
            "old_status": old,
            "new_status": check.status,
            "explanation": check.explanation,
        },
    )


def verify_domain_task(domain_id) -> None:
    """django-q2 entry point: re-check one sending domain (gone meanwhile: nothing to do)."""
    domain = SendingDomain.objects.filter(pk=domain_id).first()
    if domain is not None:
        domain_verify(domain)


def _claim_due(model, now) -> list:
    """Ids of rows not checked within the hour, each claimed by stamping ``last_checked_at``
    (a conditional UPDATE), so a schedule firing twice enqueues each check once."""
    due = Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=now - RECHECK_AFTER)
    claimed = []
    for pk, checked in model.objects.filter(due).values_list("pk", "last_checked_at")[:1000]:
        if model.objects.filter(pk=pk, last_checked_at=checked).update(last_checked_at=now):
            claimed.append(pk)
    return claimed


def verify_due_domains() -> int:
    """Scheduled hourly: enqueue a re-check of every sending and tracking domain not checked in
    the last hour, one task each (a slow nameserver then delays one domain, not all)."""
    from django_q.tasks import async_task

    now = timezone.now()
    domains = _claim_due(SendingDomain, now)
    tracking = _claim_due(TrackingDomain, now)
    for pk in domains:
        async_task("deliverability.domains.verify_domain_task", str(pk), group="domains")
    for pk in tracking:
        async_task(
            "deliverability.tracking_domains.verify_tracking_domain_task", str(pk), group="domains"
        )
    return len(domains) + len(tracking)


# --- the rule campaigns ask about -----------------------------------------------------------


def sending_domain_for(
    workspace_id, *, sending_domain: SendingDomain | None, from_email: str
) -> SendingDomain | None:
    """The sending domain mail goes out from: the one chosen, else the workspace's domain
    matching the from address."""
    if sending_domain is not None:
        return sending_domain
    name = (from_email or "").rpartition("@")[2].strip().rstrip(".").lower()
    if not name:
        return None
    return SendingDomain.objects.for_workspace(workspace_id).filter(domain=name).first()


def check_sending_domain(
    *, workspace: Workspace, sending_domain: SendingDomain | None, from_email: str
) -> str:
    """Refuse (422) a send from a domain that is not verified; when the workspace relaxed the
    rule, return the warning instead ("" when all is well)."""
    domain = sending_domain_for(workspace.pk, sending_domain=sending_domain, from_email=from_email)
    if domain is not None and domain.is_verified:
        return ""
    if domain is None:
        name = (from_email or "").rpartition("@")[2] or "?"
        reason = (
            f"{name} is not a sending domain of this workspace: add it under Domains and "
            "publish its DNS records."
        )
    else:
        reason = (
            f"{domain.domain} is not verified: publish its SPF and DKIM records, then verify it."
        )
    if DeliverabilitySettings.for_workspace(workspace).require_verified_domain:
        raise DomainNotVerified(f"Cannot send from an unverified domain. {reason}")
    return f"Warning: sent from an unverified domain. {reason}"
