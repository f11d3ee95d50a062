"""Enrichment: a contact whose address is on a company domain is linked (``CompanyRole``) to
the workspace's ``Company`` with that domain, which is created when missing. That link is what
``company.domain`` in the query language and the company filters read.

Free mailbox providers and disposable domains say nothing about an employer and are skipped.
Set-based: the database derives each contact's domain; Python only looks at the distinct
domains (a few per thousand contacts), and the links are one ``INSERT … SELECT``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from django.db import connection, transaction
from django.db.models import CharField, F, Func, Min, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Length, Lower, NullIf, Replace, Substr

from contacts.models import Company, CompanyRole, Contact
from contacts.segmentation import segments_contacts_changed
from mailcrm.models import Workspace

FREE_PROVIDERS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "rocketmail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "mail.ru",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
        "qq.com",
        "163.com",
        "126.com",
        "comcast.net",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "t-online.de",
        "btinternet.com",
    }
)
CHUNK = 5000


def company_domain(email: str) -> str | None:
    """The domain of ``email`` when it names an organisation, else None."""
    _, at, domain = (email or "").strip().rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or "." not in domain:
        return None
    if domain in FREE_PROVIDERS or domain in DISPOSABLE_DOMAINS:
        return None
    return domain


def _company_name(domain: str, given: str) -> str:
    return given.strip()[:200] if given.strip() else domain.split(".")[0].capitalize()


class _RTrim(Func):
    """rtrim(text, characters): the same function on PostgreSQL and SQLite."""

    function = "RTRIM"
    output_field = CharField()


def email_domain(field: str = "email") -> Func:
    """The lower-cased part of an address after its last ``@``, trailing dot removed, in SQL.

    rtrim(email, <email without its @s>) strips everything after the last @, which leaves
    its position; portable where a regex or split_part(…, -1) is not."""
    column = F(field)
    up_to_last_at = _RTrim(column, Replace(column, Value("@"), Value("")))
    return Lower(_RTrim(Substr(column, Length(up_to_last_at) + 1), Value(".")))


@transaction.atomic
def enrich_contacts(workspace: Workspace, contact_ids: Iterable[Any]) -> int:
    """Link these contacts of ``workspace`` to the company of their email domain, creating
    missing companies; returns how many links were added."""
    ids = list(contact_ids)
    added = 0
    for start in range(0, len(ids), CHUNK):
        added += _enrich_chunk(workspace, ids[start : start + CHUNK])
    return added


def _ids(ids: list[Any]) -> Q:
    if connection.vendor == "postgresql":
        # One text parameter instead of thousands: psycopg's placeholder handling of a long
        # IN list costs more than the query.
        ids_sql = "SELECT unnest(string_to_array(%s, ','))::uuid"
        return Q(id__in=RawSQL(ids_sql, [",".join(map(str, ids))]))  # nosec B611 - constant SQL, the ids are one bound parameter
    return Q(id__in=ids)


def _enrich_chunk(workspace: Workspace, ids: list[Any]) -> int:
    contacts = (
        Contact.objects.for_workspace(workspace)
        .filter(_ids(ids))
        .annotate(domain=email_domain())
        .order_by()
    )
    # One row per distinct domain, with a company name given by one of its contacts.
    names = {
        domain: name or ""
        for domain, name in contacts.values("domain")
        .annotate(name=Min(NullIf(F("company"), Value(""))))
        .values_list("domain", "name")
        if company_domain(f"x@{domain}") == domain
    }
    if not names:
        return 0
    companies = companies_for(workspace, names)
    return _link(workspace, contacts, companies)


def _link(workspace: Workspace, contacts, companies: dict[str, Any]) -> int:
    """One INSERT … SELECT of the missing (contact, company) links; the contacts that got one
    are queued for segment re-evaluation (``company.*`` fields may now match)."""
    pairs = contacts.values_list("id", "domain").query.sql_with_params()
    postgres = connection.vendor == "postgresql"
    # A derived table rather than VALUES: SQLite cannot name the columns of VALUES.
    values = " UNION ALL ".join(["SELECT %s AS domain, %s AS company_id"] * len(companies))
    params: list[Any] = []
    for domain, pk in companies.items():
        params += [domain, pk if postgres else pk.hex]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CompanyRole._meta.db_table} (contact_id, company_id, role) "  # nosec B608 - identifiers are ours, values are bound parameters
            f"SELECT c.id, d.company_id, '' FROM ({pairs[0]}) AS c "
            f"JOIN ({values}) AS d ON d.domain = c.domain "
            "WHERE true ON CONFLICT (contact_id, company_id) DO NOTHING RETURNING contact_id",
            [*pairs[1], *params],
        )
        linked = [row[0] for row in cursor.fetchall()]
    if linked:
        segments_contacts_changed(workspace, linked)
    return len(linked)


def _existing(workspace: Workspace, domains: Iterable[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    rows = (
        Company.objects.for_workspace(workspace)
        .annotate(domain_lower=Lower("domain"))
        .filter(domain_lower__in=list(domains))
        .order_by("created_at", "id")  # the oldest wins when a domain was entered twice
        .values_list("domain_lower", "id")
    )
    for domain, pk in rows:
        found.setdefault(domain, pk)
    return found


def companies_for(workspace: Workspace, wanted: dict[str, str]) -> dict[str, Any]:
    """Company id per domain (lower-case), creating the missing ones; ``wanted`` maps each
    domain to the name a new company gets (empty: made from the domain)."""
    found = _existing(workspace, wanted)
    if len(found) == len(wanted):
        return found
    # Company.domain has no unique constraint (users may enter one twice): serialize the
    # creation per workspace so two enrichments never create the same company.
    list(Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk"))
    found = _existing(workspace, wanted)
    missing = [
        Company(workspace=workspace, name=_company_name(domain, given), domain=domain)
        for domain, given in wanted.items()
        if domain not in found
    ]
    Company.objects.bulk_create(missing, batch_size=CHUNK)
    found.update({company.domain: company.pk for company in missing})
    return found
