"""Tracking domains: a hostname of the customer's (links.example.com) pointed by CNAME at our
tracking host, then used in the open pixel and click links of mail from the sending domains
that chose it. The CNAME is checked over DNS; TLS is the reverse proxy's job (it asks
``tls_allowed`` before issuing an on-demand certificate), and an HTTPS check tells whether
the proxy serves a valid certificate yet (``ssl_enabled``)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from deliverability.dns import LookupStatus, lookup
from deliverability.domains import TEMPORARY, normalize_domain
from deliverability.models import DomainStatusChange, RecordStatus, TrackingDomain
from mailcrm import audit, events
from mailcrm.exceptions import Conflict
from mailcrm.models import Workspace

HEALTH_PATH = "/t/health"
HEALTH_MARKER = "mailcrm-tracking"
HTTPS_PORT = 443
HTTPS_TIMEOUT = 5.0

TRACKING_DOMAIN_VERIFIED = "tracking_domain.verified"
TRACKING_DOMAIN_UNVERIFIED = "tracking_domain.unverified"
TRACKING_DOMAIN_STATUS_CHANGED = "tracking_domain.status_changed"


def cname_target() -> str:
    """Where tracking domains point: TRACKING_CNAME_TARGET, else PUBLIC_BASE_URL's host."""
    target = settings.TRACKING_CNAME_TARGET or urlparse(settings.PUBLIC_BASE_URL).hostname or ""
    return target.rstrip(".").lower()


def tracking_domain_check_new(*, domain: str) -> str:
    """The normalised name, if it may be added: a valid hostname (else ValidationError), not
    ours and not used by any workspace (else Conflict, without saying whose it is)."""
    name = normalize_domain(domain)
    if name == cname_target():
        raise Conflict(f"{name} is our own tracking host; use a hostname of yours.")
    if TrackingDomain.objects.filter(domain=name).exists():
        raise Conflict(f"{name} is already in use as a tracking domain.")
    return name


@transaction.atomic
def tracking_domain_add(*, workspace: Workspace, domain: str) -> TrackingDomain:
    """Add a tracking domain; a hostname serves one workspace only."""
    name = tracking_domain_check_new(domain=domain)
    target = cname_target()
    try:
        with transaction.atomic():
            tracking_domain = TrackingDomain.objects.create(
                workspace=workspace, domain=name, cname_target=target
            )
    except IntegrityError:  # taken by a concurrent request
        raise Conflict(f"{name} is already in use as a tracking domain.") from None
    audit.record(workspace, "tracking_domain.created", tracking_domain, {"domain": name})
    return tracking_domain


@transaction.atomic
def tracking_domain_delete(*, tracking_domain: TrackingDomain) -> None:
    """Remove it; sending domains that used it go back to our tracking host."""
    audit.record(tracking_domain.workspace_id, "tracking_domain.deleted", tracking_domain)
    tracking_domain.delete()


def dns_setup(tracking_domain: TrackingDomain) -> dict[str, str]:
    return {
        "record_type": "CNAME",
        "hostname": tracking_domain.domain,
        "value": tracking_domain.cname_target,
        "instructions": (
            f"At your DNS host, add a CNAME record for {tracking_domain.domain} with the value "
            f"{tracking_domain.cname_target}, then verify. It can take a few minutes to "
            "propagate. HTTPS follows automatically once the CNAME is verified."
        ),
    }


# --- checks ------------------------------------------------------------------------------------


def check_cname(tracking_domain: TrackingDomain) -> dict[str, Any]:
    """The CNAME of the domain points at our tracking host."""
    name, target = tracking_domain.domain, tracking_domain.cname_target.rstrip(".").lower()
    answer = lookup(name, "CNAME")
    publish = f"Add a CNAME record for {name} pointing to {target}."
    if answer.ok:
        found = [record.lower() for record in answer.records]
        if found == [target]:
            status, explanation = RecordStatus.VALID, f"{name} points to {target}."
        else:
            status = RecordStatus.INVALID
            explanation = f"{name} points to {', '.join(found)}, not {target}. {publish}"
        return _result(status, explanation, answer.records, answer.status)
    if answer.status in TEMPORARY:
        return _result(RecordStatus.PENDING, answer.explain(), [], answer.status)
    explanation = (
        f"{answer.explain()} {publish}"
        if answer.status is LookupStatus.NXDOMAIN
        else f"{name} has no CNAME record (an A record instead?). {publish}"
    )
    return _result(RecordStatus.INVALID, explanation, [], answer.status)


def _result(status: str, explanation: str, found: list[str], lookup_status) -> dict[str, Any]:
    return {
        "status": str(status),
        "found": found,
        "explanation": explanation,
        "lookup": str(lookup_status),
    }


@dataclass(frozen=True)
class HttpsResult:
    ok: bool
    explanation: str


def https_check(
    domain: str, *, port: int = HTTPS_PORT, timeout: float = HTTPS_TIMEOUT
) -> HttpsResult:
    """GET https://domain/t/health with certificate and hostname verification, connecting to
    the address our resolver gives (DNS_NAMESERVERS, like every other check). Succeeds only
    when a valid certificate is presented and the answer is ours."""
    answer = lookup(domain, "A")
    if not answer.ok or not answer.records:
        return HttpsResult(False, f"Cannot reach {domain} over HTTPS: {answer.explain()}")
    address = answer.records[-1]
    context = ssl.create_default_context()
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
        connection = http.client.HTTPSConnection(domain, port, timeout=timeout, context=context)
        connection.sock = context.wrap_socket(raw, server_hostname=domain)
        try:
            connection.request("GET", HEALTH_PATH, headers={"Host": domain})
            response = connection.getresponse()
            body = response.read(4096)
        finally:
            connection.close()
    except ssl.SSLCertVerificationError as exc:
        return HttpsResult(
            False, f"https://{domain} has no valid certificate yet ({exc.verify_message})."
        )
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        return HttpsResult(False, f"https://{domain} did not answer: {exc or type(exc).__name__}.")
    if response.status != 200 or HEALTH_MARKER not in body.decode("utf-8", "replace"):
        return HttpsResult(
            False,
            f"https://{domain}{HEALTH_PATH} answered {response.status}, not our tracking host.",
        )
    return HttpsResult(True, f"https://{domain} serves a valid certificate.")


def health_body(host: str) -> str:
    return json.dumps({"service": HEALTH_MARKER, "host": host})


# --- verifying ---------------------------------------------------------------------------------


def tracking_domain_verify(tracking_domain: TrackingDomain) -> TrackingDomain:
    """Check the CNAME now; once it is right, check HTTPS too (the proxy gets a certificate on
    the first handshake, after asking ``tls_allowed``). A temporary DNS failure leaves a
    verified domain verified."""
    result = check_cname(tracking_domain)
    was_verified = tracking_domain.is_verified
    temporary = result["lookup"] in TEMPORARY
    verified = result["status"] == RecordStatus.VALID or (was_verified and temporary)
    https = None
    if verified and not temporary:
        https = https_check(tracking_domain.domain)
        result["https"] = https.explanation
    return _store(tracking_domain.pk, result, verified, https)


@transaction.atomic
def _store(pk, result: dict[str, Any], verified: bool, https: HttpsResult | None) -> TrackingDomain:
    tracking_domain = TrackingDomain.objects.select_for_update().get(pk=pk)
    now = timezone.now()
    old = (tracking_domain.check_result or {}).get("status", RecordStatus.PENDING)
    if old != result["status"]:
        DomainStatusChange.objects.create(
            workspace_id=tracking_domain.workspace_id,
            tracking_domain=tracking_domain,
            purpose="cname",
            old_status=old,
            new_status=result["status"],
            explanation=result["explanation"],
        )
        events.emit(
            tracking_domain.workspace_id,
            TRACKING_DOMAIN_STATUS_CHANGED,
            subject_id=tracking_domain.pk,
            data={
                "domain": tracking_domain.domain,
                "purpose": "cname",
                "old_status": old,
                "new_status": result["status"],
                "explanation": result["explanation"],
            },
        )
    if verified != tracking_domain.is_verified:
        events.emit(
            tracking_domain.workspace_id,
            TRACKING_DOMAIN_VERIFIED if verified else TRACKING_DOMAIN_UNVERIFIED,
            subject_id=tracking_domain.pk,
            data={"domain": tracking_domain.domain, "is_verified": verified},
        )
        tracking_domain.verified_at = now if verified else None
    tracking_domain.is_verified = verified
    if https is not None:
        tracking_domain.ssl_enabled = https.ok
    elif not verified:
        tracking_domain.ssl_enabled = False
    tracking_domain.check_result = result
    tracking_domain.last_checked_at = now
    tracking_domain.save(
        update_fields=[
            "is_verified",
            "verified_at",
            "ssl_enabled",
            "check_result",
            "last_checked_at",
        ]
    )
    return tracking_domain


def verify_tracking_domain_task(tracking_domain_id) -> None:
    """django-q2 entry point: re-check one tracking domain."""
    tracking_domain = TrackingDomain.objects.filter(pk=tracking_domain_id).first()
    if tracking_domain is not None:
        tracking_domain_verify(tracking_domain)


# --- what the proxy and the tracking endpoints ask ------------------------------------------


def verified_tracking_host(host: str) -> TrackingDomain | None:
    """The verified tracking domain named ``host`` (any workspace), if there is one."""
    name = (host or "").strip().rstrip(".").lower()
    if not name or len(name) > 253:
        return None
    return TrackingDomain.objects.filter(domain=name, is_verified=True).first()


def tls_allowed(host: str) -> bool:
    """May the proxy get a certificate for ``host``? Only for verified tracking domains, so
    nobody can make it request certificates for names of their choosing."""
    return verified_tracking_host(host) is not None
