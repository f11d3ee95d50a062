"""Enrichment: a contact whose address is on a company domain is linked (``CompanyRole``) to
the workspace's ``Company`` with that domain, which is created when missing. That link is what
``company.domain`` in the query language and the company filters read.

Free mailbox providers and disposable domains say nothing about an employer and are skipped.
Set-based: one read of the contacts, one of the companies, bulk inserts for the rest."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from django.db import transaction
from django.db.models.functions import Lower

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
CHUNK = 1000


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


@transaction.atomic
def enrich_contacts(workspace: Workspace, contact_ids: Iterable[Any]) -> int:
    """Link these contacts of ``workspace`` to the company of their email domain, creating
    missing companies; returns how many links were added."""
    ids = list(contact_ids)
    added = 0
    for start in range(0, len(ids), CHUNK):
        added += _enrich_chunk(workspace, ids[start : start + CHUNK])
    return added


def _enrich_chunk(workspace: Workspace, ids: list[Any]) -> int:
    by_domain: dict[str, list[Any]] = defaultdict(list)
    names: dict[str, str] = {}
    rows = Contact.objects.for_workspace(workspace).filter(id__in=ids)
    for pk, email, company in rows.values_list("id", "email", "company"):
        domain = company_domain(email)
        if domain:
            by_domain[domain].append(pk)
            if company and not names.get(domain):
                names[domain] = company
    if not by_domain:
        return 0
    companies = _companies_for(workspace, {d: names.get(d, "") for d in by_domain})
    links = [
        CompanyRole(contact_id=pk, company_id=companies[domain])
        for domain, pks in by_domain.items()
        for pk in pks
    ]
    contact_ids = [link.contact_id for link in links]
    before = CompanyRole.objects.filter(contact_id__in=contact_ids).count()
    CompanyRole.objects.bulk_create(links, batch_size=CHUNK, ignore_conflicts=True)
    added = CompanyRole.objects.filter(contact_id__in=contact_ids).count() - before
    if added:
        segments_contacts_changed(workspace, contact_ids)
    return added


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


def _companies_for(workspace: Workspace, wanted: dict[str, str]) -> dict[str, Any]:
    """Company id per domain, creating the missing companies."""
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
