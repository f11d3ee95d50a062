"""Suppressions, the whitelist, bounces and unsubscribes, and the one question the sending
pipeline asks: may this address be mailed?"""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import Contact
from deliverability.models import (
    Bounce,
    BounceKind,
    DeliverabilitySettings,
    EmailValidation,
    SendingDomain,
    Suppression,
    SuppressionSource,
    SuppressionType,
    SuppressionWhitelist,
    Unsubscribe,
    UnsubscribeReason,
)
from mailcrm import events
from mailcrm.exceptions import DomainError
from mailcrm.ids import uuid7
from mailcrm.models import Workspace

# A stronger reason replaces a weaker one on the same address.
_SEVERITY = {
    SuppressionType.SOFT_BOUNCE: 0,
    SuppressionType.MANUAL: 1,
    SuppressionType.HARD_BOUNCE: 2,
    SuppressionType.COMPLAINT: 3,
}
_CONTACT_STATUS = {
    SuppressionType.HARD_BOUNCE: "bounced",
    SuppressionType.COMPLAINT: "complained",
}
# Where a suppression came from when the caller does not say.
_DEFAULT_SOURCE = {
    SuppressionType.HARD_BOUNCE: SuppressionSource.BOUNCE,
    SuppressionType.SOFT_BOUNCE: SuppressionSource.BOUNCE,
    SuppressionType.COMPLAINT: SuppressionSource.COMPLAINT,
    SuppressionType.MANUAL: SuppressionSource.MANUAL,
}


def stronger(new_type: str, old_type: str) -> bool:
    """Does a suppression of ``new_type`` replace one of ``old_type`` on the same address?"""
    return _SEVERITY[SuppressionType(new_type)] > _SEVERITY[SuppressionType(old_type)]


def default_source(type: str) -> str:
    return _DEFAULT_SOURCE[SuppressionType(type)]


def normalize(email: str) -> str:
    return (email or "").strip().lower()


def _domain_q(domain: SendingDomain | None, prefix: str = "") -> Q:
    condition = Q(**{f"{prefix}domain__isnull": True})
    if domain is not None:
        condition |= Q(**{f"{prefix}domain": domain})
    return condition


def _in_force(now: datetime | None = None) -> Q:
    """Suppressions that count now: an expired soft bounce no longer does, even before the
    lifting task has removed it."""
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now or timezone.now())


# A list unsubscribe is not an unsubscribe from a domain or from everything: the domain and
# global layers are the rows without a list.
_NOT_LIST = Q(contact_list__isnull=True)


def soft_bounce_expiry(workspace: Workspace, *, now: datetime | None = None) -> datetime | None:
    """When a soft-bounce suppression made now expires (None: the workspace keeps them)."""
    days = DeliverabilitySettings.for_workspace(workspace).soft_bounce_suppression_days
    return (now or timezone.now()) + timedelta(days=days) if days else None


# --- suppressions ------------------------------------------------------------------------------


@transaction.atomic
def suppression_add(
    *,
    workspace: Workspace,
    email: str,
    type: str,
    domain: SendingDomain | None = None,
    reason: str = "",
    source: str | None = None,
) -> Suppression:
    """Suppress an address (idempotent; a stronger type replaces a weaker one, and then its
    source and reason too). ``source`` defaults from the type: a bounce type → bounce, a
    complaint → complaint, manual → manual. A global hard bounce or complaint also marks the
    contact bounced or complained."""
    _check_choice("type", type, SuppressionType)
    source = source or default_source(type)
    _check_choice("source", source, SuppressionSource)
    email = normalize(email)
    existing = Suppression.objects.select_for_update().filter(
        workspace=workspace, email=email, domain=domain
    )
    suppression = existing.first()
    if suppression is None:
        try:
            # A savepoint: a concurrent add of the same address wins the unique constraint,
            # and this one then upgrades that row like any other existing one.
            with transaction.atomic():
                suppression = Suppression.objects.create(
                    workspace=workspace,
                    email=email,
                    type=type,
                    domain=domain,
                    reason=reason,
                    source=source,
                )
        except IntegrityError:
            suppression = existing.get()
    if stronger(type, suppression.type):
        suppression.type, suppression.source = type, source
        suppression.reason = reason or suppression.reason
        suppression.expires_at = None  # only a soft bounce expires
        suppression.save(update_fields=["type", "source", "reason", "expires_at"])
    elif type == SuppressionType.SOFT_BOUNCE == suppression.type:
        # A new soft-bounce suppression (or a repeat) runs for the workspace's full period.
        suppression.expires_at = soft_bounce_expiry(workspace)
        suppression.save(update_fields=["expires_at"])
    if type in _CONTACT_STATUS and domain is None:
        contact_services.contact_set_status_by_email(
            workspace=workspace,
            email=email,
            status=_CONTACT_STATUS[suppression.type],
            reason=suppression.reason,
        )
    return suppression


def _check_choice(name: str, value: str, choices: type[models.TextChoices]) -> None:
    if value not in choices.values:
        raise ValidationError({name: [f"Must be one of: {', '.join(choices.values)}."]})


@transaction.atomic
def suppression_remove(*, suppression: Suppression) -> None:
    suppression.delete()


SUPPRESSION_LIFTED = "suppression.lifted"
_LIFT_BATCH = 1000


def suppressions_lift_expired(*, now: datetime | None = None) -> int:
    """Scheduled hourly: lift the soft-bounce suppressions whose period is over, a thousand at
    a time — each recorded as a ``suppression.lifted`` event (the address, type, reason and
    when it expired), then deleted, in one transaction. Safe to run twice (a lifted row is
    gone; rows locked by a concurrent run are skipped on PostgreSQL)."""
    now = now or timezone.now()
    lifted = 0
    while True:
        with transaction.atomic():
            rows = list(
                Suppression.objects.select_for_update(skip_locked=True)
                .filter(expires_at__lte=now)
                .order_by("expires_at")
                .values("id", "workspace_id", "email", "domain_id", "type", "reason", "expires_at")[
                    :_LIFT_BATCH
                ]
            )
            by_workspace: dict[Any, list] = {}
            for row in rows:
                data = {k: row[k] for k in ("email", "domain_id", "type", "reason", "expires_at")}
                by_workspace.setdefault(row["workspace_id"], []).append((row["id"], data))
            for workspace_id, items in by_workspace.items():
                events.emit_many(workspace_id, SUPPRESSION_LIFTED, items)
            Suppression.objects.filter(id__in=[row["id"] for row in rows]).delete()
        lifted += len(rows)
        if len(rows) < _LIFT_BATCH:
            return lifted


# --- bounces -----------------------------------------------------------------------------------


@transaction.atomic
def bounce_record(
    workspace: Workspace,
    email: str,
    kind: str,
    *,
    domain: SendingDomain | None = None,
    message_id: uuid.UUID | str | None = None,
    diagnostic: str = "",
    at: datetime | None = None,
) -> Bounce:
    """Record a bounce and suppress when it calls for it: a hard bounce at once (globally:
    the mailbox does not exist whoever sends), soft bounces once the workspace's threshold
    is reached within its window (default 3 within 7 days). The entry point for the sending
    pipeline (SMTP 5xx) and inbound ESP bounce events."""
    kind = BounceKind(kind)
    at = at or timezone.now()
    # Lock the workspace's settings row: two workers recording soft bounces for one address
    # at once would each count the other's uncommitted row out and neither would suppress.
    settings = _locked_settings(workspace)
    bounce = Bounce.objects.create(
        workspace=workspace,
        email=normalize(email),
        kind=kind,
        domain=domain,
        message_id=message_id,
        diagnostic=diagnostic[:2000],
        occurred_at=at,
    )
    if kind == BounceKind.HARD:
        suppression_add(
            workspace=workspace,
            email=bounce.email,
            type=SuppressionType.HARD_BOUNCE,
            reason=diagnostic[:500] or "Hard bounce",
            source=SuppressionSource.BOUNCE,
        )
    elif soft_bounces_within_window(workspace, bounce.email, at=at, settings=settings) >= (
        settings.soft_bounce_threshold
    ):
        suppression_add(
            workspace=workspace,
            email=bounce.email,
            type=SuppressionType.SOFT_BOUNCE,
            reason=(
                f"{settings.soft_bounce_threshold} soft bounces within "
                f"{settings.soft_bounce_window_days} days"
                + (f" (last: {diagnostic[:300]})" if diagnostic else "")
            ),
            source=SuppressionSource.BOUNCE,
        )
    return bounce


def _locked_settings(workspace: Workspace) -> DeliverabilitySettings:
    DeliverabilitySettings.for_workspace(workspace)
    return DeliverabilitySettings.objects.select_for_update().get(workspace=workspace)


def soft_bounces_within_window(
    workspace: Workspace,
    email: str,
    *,
    at: datetime | None = None,
    settings: DeliverabilitySettings | None = None,
) -> int:
    """Soft bounces of an address in the workspace's window ending at ``at`` (one indexed
    count on (workspace, email, occurred_at))."""
    at = at or timezone.now()
    settings = settings or DeliverabilitySettings.for_workspace(workspace)
    return Bounce.objects.filter(
        workspace=workspace,
        email=normalize(email),
        kind=BounceKind.SOFT,
        occurred_at__gt=at - timedelta(days=settings.soft_bounce_window_days),
        occurred_at__lte=at,
    ).count()


@transaction.atomic
def whitelist_add(*, workspace: Workspace, email: str, reason: str = "") -> SuppressionWhitelist:
    """Let an address be mailed despite its suppressions (never despite an unsubscribe). A
    contact a suppression marked bounced or complained becomes active again, or the campaign
    audience, which takes active contacts only, would still leave it out."""
    entry, created = SuppressionWhitelist.objects.get_or_create(
        workspace=workspace, email=normalize(email), defaults={"reason": reason}
    )
    if created:
        contact = contact_services.find_contact_by_email(workspace, entry.email)
        if contact is not None and contact.status in _CONTACT_STATUS.values():
            contact_services.contact_set_status_by_email(
                workspace=workspace, email=entry.email, status="active", reason="whitelisted"
            )
    return entry


@transaction.atomic
def whitelist_remove(*, entry: SuppressionWhitelist) -> None:
    entry.delete()


# --- unsubscribes ------------------------------------------------------------------------------


@transaction.atomic
def unsubscribe_record(
    *,
    workspace: Workspace,
    email: str,
    source: str,
    domain: SendingDomain | None = None,
    contact_list=None,
    reason: str = "",
    reason_text: str = "",
    campaign_id=None,
) -> Unsubscribe:
    """Record that an address wants no more marketing mail, in one layer: from every domain
    (neither ``domain`` nor ``contact_list``), from one sending domain, or from one list
    (idempotent: a replay changes nothing; a reason given later is kept). An unsubscribe from
    everything also marks the contact unsubscribed; a domain or list one is announced as
    ``contact.unsubscribed`` with its scope."""
    if domain is not None and contact_list is not None:
        raise ValidationError({"list_id": ["Give a domain or a list, not both."]})
    for owned, name in ((domain, "domain_id"), (contact_list, "list_id")):
        if owned is not None and owned.workspace_id != workspace.pk:
            raise ValidationError({name: ["Not found in this workspace."]})
    if reason:
        _check_choice("reason", reason, UnsubscribeReason)
    email = normalize(email)
    unsubscribe, created = Unsubscribe.objects.get_or_create(
        workspace=workspace,
        email=email,
        domain=domain,
        contact_list=contact_list,
        defaults={
            "source": source,
            "campaign_id": campaign_id,
            "reason": reason,
            "reason_text": reason_text[:MAX_REASON_CHARS],
        },
    )
    if not created and reason and not unsubscribe.reason:
        unsubscribe.reason, unsubscribe.reason_text = reason, reason_text[:MAX_REASON_CHARS]
        unsubscribe.save(update_fields=["reason", "reason_text"])
    if created and domain is None and contact_list is None:
        contact = contact_services.contact_set_status_by_email(
            workspace=workspace,
            email=email,
            status="unsubscribed",
            reason=f"unsubscribed ({source})" + (f": {reason}" if reason else ""),
        )
        if contact is not None:
            _record_engagement(contact, "unsubscribed", campaign_id)
    elif created:
        contact = contact_services.find_contact_by_email(workspace, email)
        events.emit(
            workspace,
            events.CONTACT_UNSUBSCRIBED,
            subject_id=contact.pk if contact else None,
            data={
                "email": email,
                "scope": unsubscribe.scope,
                "domain_id": unsubscribe.domain_id,
                "list_id": unsubscribe.contact_list_id,
                "reason": reason,
                "source": source,
            },
        )
    return unsubscribe


def _record_engagement(contact, event: str, campaign_id) -> None:
    try:
        from contacts.scoring import record_engagement
    except ImportError:  # scoring not installed yet
        return
    record_engagement(contact=contact, event=event, campaign_id=campaign_id)


@transaction.atomic
def unsubscribe_remove(*, unsubscribe: Unsubscribe) -> None:
    """Re-subscribe (in the unsubscribe's layer): the address may receive that mail again."""
    if unsubscribe.domain_id is None and unsubscribe.contact_list_id is None:
        contact = contact_services.find_contact_by_email(unsubscribe.workspace, unsubscribe.email)
        if contact is not None and contact.status == "unsubscribed":
            contact_services.contact_set_status_by_email(
                workspace=unsubscribe.workspace,
                email=contact.email,
                status="active",
                reason="re-subscribed",
            )
    unsubscribe.delete()


@transaction.atomic
def resubscribe(*, workspace: Workspace, email: str) -> int:
    """Lift every unsubscribe of this address (from all domains and from each)."""
    entries = list(Unsubscribe.objects.filter(workspace=workspace, email=normalize(email)))
    for entry in entries:
        unsubscribe_remove(unsubscribe=entry)
    return len(entries)


def is_unsubscribed(workspace: Workspace, email: str) -> bool:
    """From everything (the global layer)."""
    return Unsubscribe.objects.filter(
        _NOT_LIST, workspace=workspace, email=normalize(email), domain__isnull=True
    ).exists()


def left_lists(workspace: Workspace, email: str) -> set:
    """Ids of the lists this address unsubscribed from."""
    return set(
        Unsubscribe.objects.filter(
            workspace=workspace, email=normalize(email), contact_list__isnull=False
        ).values_list("contact_list_id", flat=True)
    )


def list_resubscribe(*, workspace: Workspace, email: str, contact_list) -> int:
    """Lift a list unsubscribe (the person chose the list again)."""
    entries = Unsubscribe.objects.filter(
        workspace=workspace, email=normalize(email), contact_list=contact_list
    )
    return entries.delete()[0]


def layers_in_force(workspace: Workspace, email: str) -> list[dict[str, Any]]:
    """Every unsubscribe and suppression on this address, layer by layer (global first, then
    sending domains, then lists), as the contact page shows them. Expired soft bounces are
    left out; a whitelisted address's suppressions are marked ``overridden``."""
    email = normalize(email)
    whitelisted = SuppressionWhitelist.objects.filter(workspace=workspace, email=email).exists()
    layers = []
    for row in (
        Suppression.objects.filter(_in_force(), workspace=workspace, email=email)
        .select_related("domain")
        .order_by("domain__domain")
    ):
        layers.append(
            {
                "kind": "suppression",
                "scope": "domain" if row.domain_id else "global",
                "target": row.domain.domain if row.domain_id else "All mail",
                "type": row.type,
                "reason": row.reason,
                "expires_at": row.expires_at,
                "overridden": whitelisted,
                "created_at": row.created_at,
            }
        )
    for row in (
        Unsubscribe.objects.filter(workspace=workspace, email=email)
        .select_related("domain", "contact_list")
        .order_by("contact_list__name", "domain__domain")
    ):
        target = row.contact_list.name if row.contact_list_id else None
        layers.append(
            {
                "kind": "unsubscribe",
                "scope": row.scope,
                "target": target or (row.domain.domain if row.domain_id else "All mail"),
                "type": row.reason or "",
                "reason": row.reason_text,
                "expires_at": None,
                "overridden": False,
                "created_at": row.created_at,
            }
        )
    order = {"global": 0, "domain": 1, "list": 2}
    return sorted(layers, key=lambda layer: order[layer["scope"]])


def left_list(*, email, contact_list, workspace) -> Exists:
    """SQL: has this address unsubscribed from this list? The arguments are expressions
    (OuterRefs) of the query that asks; ``email`` must already be lower-cased."""
    return Exists(
        Unsubscribe.objects.filter(workspace=workspace, email=email, contact_list=contact_list)
    )


# --- the question ------------------------------------------------------------------------------


def blocked_addresses(
    workspace, emails: Iterable[str], *, domain_id=None, marketing: bool = True
) -> set[str]:
    """The lower-cased addresses among ``emails`` that may not be mailed now (three queries
    for a whole batch). Suppressions block every kind of mail; unsubscribes block marketing
    only; the whitelist overrides suppressions, never an unsubscribe."""
    lowered = {normalize(email) for email in emails}
    scope = {"workspace": workspace, "email__in": lowered}
    domain_q = Q(domain__isnull=True)
    if domain_id is not None:
        domain_q |= Q(domain_id=domain_id)
    blocked = set(
        Suppression.objects.filter(domain_q, _in_force(), **scope).values_list("email", flat=True)
    )
    if blocked:
        blocked -= set(SuppressionWhitelist.objects.filter(**scope).values_list("email", flat=True))
    if marketing:
        # List unsubscribes are applied when a campaign's recipients are chosen (the snapshot
        # knows through which list each one qualifies; a message alone does not).
        blocked |= set(
            Unsubscribe.objects.filter(domain_q, _NOT_LIST, **scope).values_list("email", flat=True)
        )
    # An erased contact's address is kept only as a hash; it is never mailed again.
    from privacy.services import erased_among

    return blocked | erased_among(workspace, lowered)


def address_records(workspace, email: str) -> dict[str, list[dict[str, Any]]]:
    """What this app holds about one address (a privacy export)."""
    scope = {"workspace": workspace, "email": normalize(email)}

    def rows(model, *fields: str) -> list[dict[str, Any]]:
        return [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            for row in model.objects.filter(**scope).values(*fields)
        ]

    return {
        "suppressions": rows(Suppression, "type", "domain_id", "source", "reason", "created_at"),
        "unsubscribes": rows(
            Unsubscribe,
            "domain_id",
            "contact_list_id",
            "source",
            "reason",
            "reason_text",
            "created_at",
        ),
        "bounces": rows(Bounce, "kind", "diagnostic", "occurred_at"),
        "validations": rows(EmailValidation, "result", "reasons", "checked_at"),
    }


@transaction.atomic
def address_forget(*, workspace_id, email: str) -> dict[str, int]:
    """Delete every row naming this address (privacy erasure); returns counts by kind. The
    caller keeps a hashed record so the address stays blocked."""
    scope = {"workspace_id": workspace_id, "email": normalize(email)}
    return {
        "suppressions": Suppression.objects.filter(**scope).delete()[0],
        "whitelist": SuppressionWhitelist.objects.filter(**scope).delete()[0],
        "unsubscribes": Unsubscribe.objects.filter(**scope).delete()[0],
        # Bounces keep the address as the server reported it: any case.
        "bounces": Bounce.objects.filter(
            workspace_id=workspace_id, email__iexact=normalize(email)
        ).delete()[0],
        "validations": EmailValidation.objects.filter(**scope).delete()[0],
    }


def is_suppressed(
    workspace: Workspace,
    email: str,
    *,
    domain: SendingDomain | None = None,
    marketing: bool = True,
) -> bool:
    """May this address be mailed? (See blocked_addresses.)"""
    domain_id = domain.pk if domain is not None else None
    return bool(blocked_addresses(workspace, [email], domain_id=domain_id, marketing=marketing))


class _NotListed(models.Expression):
    """SQL: no row of ``arms`` (querysets of ``workspace_id, email``) holds this contact's
    address in its workspace — one ``NOT EXISTS`` over the arms' ``UNION ALL``. PostgreSQL
    hashes the arms together and probes them once per contact, lower(email) computed once,
    where a ``NOT EXISTS`` per arm was an anti-join each, every one computing and probing the
    address again (≈ 0.25 s of CPU per arm per million contacts in a campaign snapshot)."""

    conditional = True
    output_field = models.BooleanField()

    def __init__(self, arms: list[QuerySet], *, workspace, email):
        super().__init__()
        self.arms = [arm.order_by().values("workspace_id", "email") for arm in arms]
        self.workspace, self.email = workspace, email

    def get_source_expressions(self):
        return [self.workspace, self.email]

    def set_source_expressions(self, expressions):
        self.workspace, self.email = expressions

    def as_sql(self, compiler, connection):
        arms, params = [], []
        for arm in self.arms:
            arm_sql, arm_params = arm.query.get_compiler(connection=connection).as_sql()
            arms.append(arm_sql)
            params.extend(arm_params)
        workspace_sql, workspace_params = compiler.compile(self.workspace)
        email_sql, email_params = compiler.compile(self.email)
        sql = (
            f"NOT EXISTS (SELECT 1 FROM ({' UNION ALL '.join(arms)}) AS listed "  # nosec B608 - compiled ORM SQL, values bound
            f"WHERE listed.workspace_id = {workspace_sql} AND listed.email = {email_sql})"
        )
        return sql, (*params, *workspace_params, *email_params)


def mailable(
    contacts: QuerySet, *, domain: SendingDomain | None = None, left_list_id=None
) -> QuerySet:
    """Narrow a contacts queryset to the addresses a marketing send may reach, in SQL (the
    campaign snapshot uses this in its single INSERT … SELECT). With ``left_list_id``, also
    without the addresses that left that list (an audience of that one list)."""
    now = timezone.now()
    # "Not suppressed, or whitelisted" written as "no suppression that is not whitelisted".
    whitelisted = SuppressionWhitelist.objects.filter(
        workspace=OuterRef("workspace"), email=OuterRef("email")
    )
    suppressed = Suppression.objects.filter(_domain_q(domain), _in_force(now)).filter(
        ~Exists(whitelisted)
    )
    unsubscribed = _domain_q(domain) & _NOT_LIST
    if left_list_id is not None:
        unsubscribed |= Q(contact_list_id=left_list_id)
    return contacts.filter(
        _NotListed(
            [suppressed, Unsubscribe.objects.filter(unsubscribed)],
            workspace=models.F("workspace_id"),
            email=Lower("email"),
        )
    )


# --- CSV import ----------------------------------------------------------------------------------

# Read in one request; 5 MB is about 150,000 addresses with a short reason each.
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_REPORTED_ERRORS = 1000
MAX_REASON_CHARS = 1000
_IMPORT_CHUNK = 1000
_EMAIL_HEADERS = {"email", "e-mail", "emailaddress", "email_address", "email address", "address"}


class SuppressionImportTooLarge(DomainError):
    status_code = 413
    code = "too_large"

    def __init__(self, size: int):
        limit = MAX_IMPORT_BYTES // (1024 * 1024)
        super().__init__(
            f"The file is {size / (1024 * 1024):.1f} MB; suppression imports take at most "
            f"{limit} MB (split it, or import in several files).",
            limit_bytes=MAX_IMPORT_BYTES,
        )


@dataclass
class SuppressionImportResult:
    rows: int = 0
    created: int = 0
    upgraded: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0


@transaction.atomic
def suppressions_import_csv(
    *,
    workspace: Workspace,
    data: bytes,
    domain: SendingDomain | None = None,
    default_type: str = SuppressionType.MANUAL,
) -> SuppressionImportResult:
    """Suppress every address of a CSV (``email[,type,reason]``, with or without a header)
    with source "import", globally or for ``domain``. Rows are validated in Python and
    written a thousand at a time with set-based statements (insert ignoring existing rows,
    one UPDATE for the rows whose type grows stronger). A bad row is reported with its number
    (the first line is row 1) and reason; the good rows are kept. A global hard bounce or
    complaint also marks the contact, as ``suppression_add`` does."""
    if len(data) > MAX_IMPORT_BYTES:
        raise SuppressionImportTooLarge(len(data))
    _check_choice("type", default_type, SuppressionType)
    result = SuppressionImportResult()
    rows = _read_suppression_rows(data, default_type, result)
    items = list(rows.items())
    for start in range(0, len(items), _IMPORT_CHUNK):
        _write_suppression_chunk(
            workspace, domain, dict(items[start : start + _IMPORT_CHUNK]), result
        )
    return result


def _decode_csv(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise ValidationError({"file": ["This is not a CSV file: it contains binary data."]})
    return text


def _read_suppression_rows(
    data: bytes, default_type: str, result: SuppressionImportResult
) -> dict[str, tuple[str, str]]:
    """{email: (type, reason)} of the valid rows, the strongest type kept for an address that
    appears twice; bad rows are added to ``result``."""
    text = _decode_csv(data)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = {"email": 0, "type": 1, "reason": 2}
    rows: dict[str, tuple[str, str]] = {}
    for number, row in enumerate(reader, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        header = [cell.lower() for cell in cells]
        if number == 1 and any(name in _EMAIL_HEADERS for name in header):
            # A header row (an address is never a bare column name): columns by name.
            columns = {name: header.index(name) for name in ("type", "reason") if name in header}
            columns["email"] = next(i for i, name in enumerate(header) if name in _EMAIL_HEADERS)
            continue
        result.rows += 1
        try:
            email, type, reason = _clean_suppression_row(cells, columns, default_type)
        except ValidationError as exc:
            _report(result, number, exc.messages[0])
            continue
        if email not in rows or stronger(type, rows[email][0]):
            rows[email] = (type, reason)
    return rows


def _cell(cells: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    return cells[index] if index is not None and index < len(cells) else ""


def _clean_suppression_row(
    cells: list[str], columns: dict[str, int], default_type: str
) -> tuple[str, str, str]:
    email = normalize(_cell(cells, columns, "email"))
    if not email:
        raise ValidationError("No email address.")
    if len(email) > 254:
        raise ValidationError("The email address is longer than 254 characters.")
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(f"“{email[:100]}” is not an email address.") from None
    type = _cell(cells, columns, "type").lower().replace(" ", "_").replace("-", "_")
    type = type or default_type
    if type not in SuppressionType.values:
        allowed = ", ".join(SuppressionType.values)
        raise ValidationError(f"Unknown type “{type[:50]}”: use one of {allowed}.")
    reason = _cell(cells, columns, "reason")
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError(f"The reason is longer than {MAX_REASON_CHARS} characters.")
    return email, type, reason


def _report(result: SuppressionImportResult, row: int, reason: str) -> None:
    result.error_count += 1
    if len(result.errors) < MAX_REPORTED_ERRORS:
        result.errors.append({"row": row, "reason": reason})


def _write_suppression_chunk(
    workspace: Workspace,
    domain: SendingDomain | None,
    rows: dict[str, tuple[str, str]],
    result: SuppressionImportResult,
) -> None:
    in_scope = Suppression.objects.filter(workspace=workspace, email__in=list(rows))
    in_scope = in_scope.filter(domain=domain) if domain else in_scope.filter(domain__isnull=True)
    existing = {
        email: (pk, type, reason)
        for pk, email, type, reason in in_scope.values_list("pk", "email", "type", "reason")
    }
    expiry = soft_bounce_expiry(workspace)
    new = [
        Suppression(
            id=uuid7(),
            workspace=workspace,
            email=email,
            type=type,
            domain=domain,
            reason=reason,
            source=SuppressionSource.IMPORT,
            expires_at=expiry if type == SuppressionType.SOFT_BOUNCE else None,
        )
        for email, (type, reason) in rows.items()
        if email not in existing
    ]
    # ignore_conflicts: a row added by someone else meanwhile is kept as it is.
    Suppression.objects.bulk_create(new, ignore_conflicts=True)
    created = Suppression.objects.filter(pk__in=[row.pk for row in new]).count()
    upgrades = [
        Suppression(
            pk=pk,
            email=email,
            type=rows[email][0],
            source=SuppressionSource.IMPORT,
            reason=rows[email][1] or old_reason,
            expires_at=None,  # stronger than a soft bounce: never expires
        )
        for email, (pk, old_type, old_reason) in existing.items()
        if stronger(rows[email][0], old_type)
    ]
    # One UPDATE … CASE for the chunk.
    Suppression.objects.bulk_update(upgrades, ["type", "source", "reason", "expires_at"])
    result.created += created
    result.upgraded += len(upgrades)
    result.unchanged += len(rows) - created - len(upgrades)
    if domain is None:
        final = {
            email: existing.get(email, (None, type, ""))[1] for email, (type, _) in rows.items()
        }
        final.update({row.email: row.type for row in upgrades})
        _mark_contacts(
            workspace,
            {email: final[email] for email, (type, _) in rows.items() if type in _CONTACT_STATUS},
        )


def _mark_contacts(workspace: Workspace, types: dict[str, str]) -> None:
    """Contacts of addresses now suppressed as a hard bounce or complaint are marked bounced or
    complained. Only contacts whose status changes are touched, each through the contacts
    service (its timeline entry and event)."""
    if not types:
        return
    targets = {email: _CONTACT_STATUS[type] for email, type in types.items()}
    changing = (
        Contact.objects.for_workspace(workspace)
        .annotate(email_key=Lower("email"))
        .filter(email_key__in=list(targets))
        .values_list("email_key", "status")
    )
    for email, status in changing:
        if status != targets[email]:
            contact_services.contact_set_status_by_email(
                workspace=workspace, email=email, status=targets[email], reason="suppression import"
            )
