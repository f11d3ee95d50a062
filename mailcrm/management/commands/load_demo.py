"""`manage.py load_demo [--contacts N] [--reset]`: a realistic demo workspace for `make run`.

"Demo Company" gets an owner login, property definitions, tags, lists, companies with roles and
about 2,000 contacts with engagement history spread over 18 months. The rows are generated from
a seeded random generator and written with bulk_create (demo data may bypass the per-row
services), but every property value is validated against its definition first. Running it
again changes nothing; `--reset` rebuilds the workspace. The last line of the output is a new
API key for the demo workspace (when one is made)."""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from contacts import segmentation
from contacts import services as contact_services
from contacts.models import (
    Activity,
    ActivityKind,
    Company,
    CompanyRole,
    Contact,
    ContactSource,
    ContactStatus,
    ContactTag,
    LifecycleStage,
    ListMembership,
    PropertyType,
    ScoreTier,
    Tag,
)
from contacts.properties import definitions_for, validate_properties
from mailcrm import services
from mailcrm.ids import uuid7
from mailcrm.models import Workspace

DEMO_NAME = "Demo Company"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"
HISTORY_DAYS = 548  # 18 months
BATCH = 1000

# Every address lives under a reserved domain (RFC 2606), so a demo campaign can never reach a
# real person.
FREE_MAIL = ["example.com", "example.org", "example.net", "mail.example"]

FIRST_NAMES = (
    "Olivia Liam Emma Noah Ava Oliver Sophia Elijah Isabella Lucas Mia Mateo Amelia Ethan "
    "Harper James Evelyn Benjamin Aisha Mohammed Fatima Omar Priya Arjun Ananya Rohan Mei Wei "
    "Hiroshi Yuki Sakura Kenji Min-jun Ji-woo Seo-yeon Chloé Léa Hugo Louis Zoë Søren Freja "
    "Lars Ingrid Björn Astrid José María Lucía Sofía Diego Valentina Camila Santiago João "
    "Beatriz Gabriel Ana Luca Giulia Matteo Francesca Lukas Anna Jonas Lena Finn Emilia Kwame "
    "Ama Chidi Ngozi Tendai Zanele Thabo Nia Imani Jamal Malik Keisha Andre Daniel Grace "
    "Samuel Hannah David Sarah Michael Laura Thomas Rachel Patrick Siobhan Aoife Connor "
    "Nikolai Katya Dmitri Olga Tomasz Agnieszka Ahmet Elif Yusuf Leila Reza Dariush Noor"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Nguyen Tran Pham Kim Park Choi Tanaka Suzuki Watanabe Sato Chen Wang Zhang Liu Patel "
    "Shah Singh Kumar Gupta Iyer Okafor Mensah Adeyemi Dlamini Mwangi Müller Schmidt Schneider "
    "Fischer Weber Dubois Moreau Laurent Lefèvre Rossi Russo Bianchi Romano Silva Santos "
    "Oliveira Pereira Costa Fernández González Novak Kowalski Nowak Horvat Jensen Nielsen "
    "Hansen Larsen Andersson Johansson Virtanen O'Brien Murphy Kelly Byrne Ivanov Petrov "
    "Yilmaz Kaya Haddad Khalil Cohen Levi"
).split()
COMPANY_FIRST = (
    "Northwind Blue Harbor Summit Evergreen Brightline Ironclad Silverleaf Redwood Polaris "
    "Crescent Granite Lumen Vertex Cobalt Meridian Aurora Pinecrest Riverstone Quantum Sterling "
    "Orchard Beacon Atlas Keystone Harborview Foxglove Copperfield Starling Tidewater"
).split()
COMPANY_SECOND = [
    "Labs",
    "Systems",
    "Analytics",
    "Health",
    "Logistics",
    "Foods",
    "Media",
    "Capital",
    "Robotics",
    "Studio",
    "Outfitters",
    "Learning",
    "Energy",
    "Partners",
    "Software",
]
JOB_TITLES = [
    "CEO",
    "CTO",
    "CFO",
    "VP of Marketing",
    "Marketing Manager",
    "Growth Lead",
    "Content Strategist",
    "Email Marketing Specialist",
    "Head of Sales",
    "Account Executive",
    "Sales Development Rep",
    "Customer Success Manager",
    "Product Manager",
    "Software Engineer",
    "Data Analyst",
    "Operations Manager",
    "Office Manager",
    "Founder",
    "Designer",
    "Procurement Lead",
    "Finance Manager",
    "IT Administrator",
]
INDUSTRIES = [
    "Software",
    "Financial Services",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Logistics",
    "Hospitality",
    "Non-profit",
]
COUNTRIES = [
    "United States",
    "United Kingdom",
    "Germany",
    "France",
    "Canada",
    "Australia",
    "Netherlands",
    "Spain",
    "Brazil",
    "India",
    "Japan",
    "Sweden",
    "Ireland",
    "Mexico",
    "Singapore",
    "Nigeria",
    "South Africa",
    "Italy",
]
PLANS = ["free", "starter", "pro", "enterprise"]
INTERESTS = ["email-campaigns", "automation", "analytics", "crm", "integrations", "deliverability"]
SIZES = ["1-10", "11-50", "51-200", "201-1000", "1000+"]
ROLES = [("Decision Maker", 20), ("Technical Contact", 30), ("Billing", 15), ("", 35)]

PROPERTY_DEFINITIONS: list[dict[str, Any]] = [
    {"key": "industry", "label": "Industry", "type": PropertyType.SELECT, "options": INDUSTRIES},
    {"key": "country", "label": "Country", "type": PropertyType.TEXT},
    {"key": "plan", "label": "Plan", "type": PropertyType.SELECT, "options": PLANS},
    {"key": "lifetime_value", "label": "Lifetime value", "type": PropertyType.CURRENCY},
    {"key": "signup_date", "label": "Signup date", "type": PropertyType.DATE},
    {
        "key": "product_interests",
        "label": "Product interests",
        "type": PropertyType.MULTI_SELECT,
        "options": INTERESTS,
    },
    {"key": "newsletter_opt_in", "label": "Newsletter opt-in", "type": PropertyType.BOOLEAN},
    {"key": "website", "label": "Website", "type": PropertyType.URL},
    {"key": "nps", "label": "Last NPS answer", "type": PropertyType.NUMBER},
]
DEMO_SEGMENTS = {
    "Engaged in the last 30 days": "last_opened_at > -30d OR last_clicked_at > -30d",
    "Hot leads": "score >= 50 AND status = active AND lifecycle_stage IN (lead, "
    "marketing_qualified, sales_qualified)",
    "VIP customers": "tag = vip AND lifecycle_stage = customer",
    "Big spenders": "properties.lifetime_value >= 1000",
}
TAGS = {
    "vip": "High-value contacts: handle with care.",
    "newsletter": "Opted in to the monthly newsletter.",
    "beta": "In the beta programme.",
    "webinar-2025": "Registered for a 2025 webinar.",
    "customer": "Pays for a plan.",
    "trial": "On a free trial.",
    "partner": "Works with us as a partner or reseller.",
    "churn-risk": "Customer with fading engagement.",
    "event-lead": "Met at an event.",
}
LISTS = {
    "Newsletter": ("The monthly newsletter.", True),
    "Conference Attendees 2025": ("People we met at conferences in 2025.", False),
    "Customers": ("Everyone on a paid plan.", False),
    "Product Updates": ("Release notes and product news.", False),
    "Beta Testers": ("Early access to new features.", False),
}
NOTES = [
    (ActivityKind.NOTE, "Asked about pricing for larger teams"),
    (ActivityKind.NOTE, "Prefers to be contacted by email"),
    (ActivityKind.CALL, "Discovery call"),
    (ActivityKind.CALL, "Follow-up on the proposal"),
    (ActivityKind.MEETING, "Product demo"),
    (ActivityKind.MEETING, "Quarterly business review"),
    (ActivityKind.TASK, "Send the case study"),
]
WEIGHTS = {
    "status": [
        (ContactStatus.ACTIVE, 88),
        (ContactStatus.UNSUBSCRIBED, 6),
        (ContactStatus.BOUNCED, 4),
        (ContactStatus.COMPLAINED, 2),
    ],
    "stage": [
        (LifecycleStage.SUBSCRIBER, 35),
        (LifecycleStage.LEAD, 25),
        (LifecycleStage.MARKETING_QUALIFIED, 12),
        (LifecycleStage.SALES_QUALIFIED, 8),
        (LifecycleStage.OPPORTUNITY, 5),
        (LifecycleStage.CUSTOMER, 12),
        (LifecycleStage.EVANGELIST, 3),
    ],
    "source": [
        (ContactSource.FORM, 35),
        (ContactSource.IMPORT, 25),
        (ContactSource.API, 20),
        (ContactSource.MANUAL, 10),
        (ContactSource.INTEGRATION, 10),
    ],
}
PAYING = {LifecycleStage.CUSTOMER, LifecycleStage.EVANGELIST}


def _uuid7_at(moment: datetime) -> uuid.UUID:
    """A version 7 UUID stamped with `moment`, so ids of the back-dated demo contacts follow
    their creation time as real ones would (keyset pagination and "newest first" rely on it)."""
    millis = int(moment.timestamp() * 1000)
    return uuid.UUID(int=(uuid7().int & ((1 << 80) - 1)) | (millis << 80))


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum() or ch == "-")


@dataclass
class DemoBuilder:
    """Generates the demo rows for one workspace and writes them in bulk."""

    workspace: Workspace
    rng: random.Random
    now: datetime = field(default_factory=timezone.now)
    used_emails: set[str] = field(default_factory=set)
    definitions: dict[str, Any] = field(default_factory=dict)
    company_weights: list[float] = field(default_factory=list)
    beta_ids: set[Any] = field(default_factory=set)

    def pick(self, name: str) -> str:
        values, weights = zip(*WEIGHTS[name], strict=True)
        return self.rng.choices(values, weights)[0]

    def build(self, count: int) -> dict[str, int]:
        for spec in PROPERTY_DEFINITIONS:
            contact_services.property_definition_create(workspace=self.workspace, **spec)
        self.definitions = definitions_for(self.workspace)
        companies = self.make_companies(max(5, count // 14))
        contacts = sorted(
            (self.make_contact(companies) for _ in range(count)), key=lambda c: c.created_at
        )
        self.insert_contacts(contacts)
        roles = self.insert_company_roles(contacts)
        tagged = self.insert_tags(contacts)
        listed = self.insert_lists(contacts)
        activities = self.insert_activities(contacts)
        segments = self.make_segments()
        return {
            "contacts": len(contacts),
            "companies": len(companies),
            "company roles": roles,
            "tag links": tagged,
            "list memberships": listed,
            "activities": activities,
            "segments": segments,
        }

    def make_segments(self) -> int:
        for name, query in DEMO_SEGMENTS.items():
            segment = segmentation.segment_create(workspace=self.workspace, name=name, query=query)
            segmentation.segment_refresh(segment=segment)
        return len(DEMO_SEGMENTS)

    # --- rows ---

    def make_companies(self, count: int) -> list[Company]:
        names = [f"{a} {b}" for a in COMPANY_FIRST for b in COMPANY_SECOND]
        companies = []
        for name in self.rng.sample(names, min(count, len(names))):
            companies.append(
                Company(
                    workspace=self.workspace,
                    name=name,
                    domain=f"{_ascii(name.replace(' ', '-'))}.example",
                    industry=self.rng.choice(INDUSTRIES),
                    size=self.rng.choices(SIZES, [30, 30, 20, 12, 8])[0],
                    plan=self.rng.choice(PLANS),
                    spend=round(self.rng.uniform(0, 60_000), 2),
                    properties=self.valid({"country": self.rng.choice(COUNTRIES)}),
                )
            )
        Company.objects.bulk_create(companies, batch_size=BATCH)
        # A few big accounts and a long tail, like a real customer base.
        self.company_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(companies))]
        return companies

    def make_contact(self, companies: list[Company]) -> Contact:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = rng.choices(companies, self.company_weights)[0] if rng.random() < 0.55 else None
        created = self.now - timedelta(
            days=HISTORY_DAYS * rng.random() ** 1.3, minutes=rng.random() * 1440
        )
        stage = self.pick("stage")
        contact = Contact(
            id=_uuid7_at(created),
            workspace=self.workspace,
            email=self.email(first, last, company),
            first_name=first,
            last_name=last,
            phone=f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
            if rng.random() < 0.35
            else "",
            company=company.name if company else "",
            job_title=rng.choice(JOB_TITLES) if company or rng.random() < 0.3 else "",
            status=self.pick("status"),
            lifecycle_stage=stage,
            source=self.pick("source"),
            created_at=created,
            updated_at=created,
        )
        contact.demo_company = company
        contact.properties = self.valid(self.properties(contact, company))
        self.engagement(contact)
        if rng.random() < 0.01:
            contact.archived_at = created + (self.now - created) * rng.random()
        return contact

    def email(self, first: str, last: str, company: Company | None) -> str:
        domain = company.domain if company else self.rng.choice(FREE_MAIL)
        local = f"{_ascii(first)}.{_ascii(last)}"
        email, n = f"{local}@{domain}", 1
        while email in self.used_emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.used_emails.add(email)
        return email

    def properties(self, contact: Contact, company: Company | None) -> dict[str, Any]:
        rng, paying = self.rng, contact.lifecycle_stage in PAYING
        props: dict[str, Any] = {}
        if rng.random() < 0.9:
            props["country"] = rng.choice(COUNTRIES)
        if company or rng.random() < 0.5:
            props["industry"] = company.industry if company else rng.choice(INDUSTRIES)
        if paying:
            props["plan"] = rng.choice(PLANS[1:])
            props["lifetime_value"] = round(rng.uniform(200, 25_000), 2)
        elif rng.random() < 0.4:
            props["plan"] = "free"
        if paying or contact.lifecycle_stage == LifecycleStage.OPPORTUNITY:
            signup = contact.created_at + (self.now - contact.created_at) * rng.random() * 0.5
            props["signup_date"] = signup.date().isoformat()
        if rng.random() < 0.6:
            props["product_interests"] = rng.sample(INTERESTS, rng.randint(1, 3))
        if rng.random() < 0.8:
            props["newsletter_opt_in"] = rng.random() < 0.7
        if company:
            props["website"] = f"https://www.{company.domain}/"
        elif rng.random() < 0.1:
            props["website"] = f"https://{_ascii(contact.first_name + contact.last_name)}.example/"
        if paying and rng.random() < 0.5:
            props["nps"] = rng.choices(range(11), [1, 1, 1, 1, 2, 3, 4, 6, 9, 8, 6])[0]
        return props

    def valid(self, values: dict[str, Any]) -> dict[str, Any]:
        """The stored form of the values; raises if the generator ever makes a bad one."""
        cleaned = validate_properties(self.workspace, values, definitions=self.definitions)
        return {k: v for k, v in cleaned.items() if v is not None}

    def engagement(self, contact: Contact) -> None:
        rng, age = self.rng, (self.now - contact.created_at).days
        sends = int(age / 10 * rng.uniform(0.4, 1.0))
        if contact.status in (ContactStatus.BOUNCED, ContactStatus.COMPLAINED):
            sends = max(sends, 1)
        opens = (
            0 if contact.status == ContactStatus.BOUNCED else round(sends * rng.betavariate(2, 5))
        )
        clicks = round(opens * rng.betavariate(1.5, 8))
        contact.sends, contact.opens, contact.clicks = sends, opens, clicks
        if sends:
            last_sent = max(contact.created_at, self.now - timedelta(days=rng.uniform(0, 14)))
            contact.last_sent_at = last_sent
            if opens:
                contact.last_opened_at = last_sent + timedelta(hours=rng.uniform(0.1, 48))
            if clicks:
                contact.last_clicked_at = contact.last_opened_at + timedelta(
                    minutes=rng.uniform(1, 30)
                )
        bonus = 25 if contact.lifecycle_stage in PAYING else 0
        contact.score = min(100, opens * 2 + clicks * 6 + bonus)
        contact.score_tier = (
            ScoreTier.HOT
            if contact.score >= 50
            else ScoreTier.WARM
            if contact.score >= 20
            else ScoreTier.COLD
        )

    # --- writes ---

    def insert_contacts(self, contacts: list[Contact]) -> None:
        history = [(c.created_at, c.last_clicked_at or c.last_sent_at) for c in contacts]
        Contact.objects.bulk_create(contacts, batch_size=BATCH)
        # bulk_create stamps the auto_now(_add) fields with "now", on the instances too: put the
        # history back in a second pass.
        for contact, (created, last_engaged) in zip(contacts, history, strict=True):
            contact.created_at = created
            contact.updated_at = max(created, last_engaged or created)
        Contact.objects.bulk_update(contacts, ["created_at", "updated_at"], batch_size=500)

    def insert_company_roles(self, contacts: list[Contact]) -> int:
        labels, weights = zip(*ROLES, strict=True)
        roles = [
            CompanyRole(
                contact=c, company=c.demo_company, role=self.rng.choices(labels, weights)[0]
            )
            for c in contacts
            if c.demo_company
        ]
        CompanyRole.objects.bulk_create(roles, batch_size=BATCH)
        return len(roles)

    def insert_tags(self, contacts: list[Contact]) -> int:
        tags = {
            tag.name: tag
            for tag in contact_services.tags_get_or_create(workspace=self.workspace, names=TAGS)
        }
        for name, description in TAGS.items():
            tags[name].description = description
        Tag.objects.bulk_update(tags.values(), ["description"])
        rng, links = self.rng, []
        for c in contacts:
            props, paying = c.properties, c.lifecycle_stage in PAYING
            wanted = {
                "vip": rng.random() < (0.25 if paying else 0.02),
                "newsletter": props.get("newsletter_opt_in") is True,
                "beta": rng.random() < 0.08,
                "webinar-2025": rng.random() < 0.12,
                "customer": paying,
                "trial": props.get("plan") == "free" and rng.random() < 0.3,
                "partner": rng.random() < 0.03,
                "churn-risk": paying and c.opens < 3,
                "event-lead": c.source == ContactSource.MANUAL and rng.random() < 0.5,
            }
            links += [ContactTag(contact=c, tag=tags[n]) for n, on in wanted.items() if on]
        ContactTag.objects.bulk_create(links, batch_size=BATCH)
        self.beta_ids = {link.contact.id for link in links if link.tag.name == "beta"}
        return len(links)

    def insert_lists(self, contacts: list[Contact]) -> int:
        lists = {
            name: contact_services.contact_list_create(
                workspace=self.workspace, name=name, description=desc, double_opt_in=doi
            )
            for name, (desc, doi) in LISTS.items()
        }
        rng, members = self.rng, []
        for c in contacts:
            wanted = {
                "Newsletter": c.properties.get("newsletter_opt_in") is True,
                "Conference Attendees 2025": rng.random() < 0.12,
                "Customers": c.lifecycle_stage in PAYING,
                "Product Updates": rng.random() < 0.3,
                "Beta Testers": c.id in self.beta_ids,
            }
            members += [
                ListMembership(contact=c, contact_list=lists[n]) for n, on in wanted.items() if on
            ]
        ListMembership.objects.bulk_create(members, batch_size=BATCH)
        return len(members)

    def insert_activities(self, contacts: list[Contact]) -> int:
        rng, rows = self.rng, []
        for c in contacts:
            rows.append(
                Activity(
                    workspace=self.workspace,
                    contact=c,
                    kind=ActivityKind.CREATED,
                    data={"source": c.source},
                    occurred_at=c.created_at,
                )
            )
            if rng.random() < 0.08 or (c.lifecycle_stage in PAYING and rng.random() < 0.3):
                for _ in range(rng.randint(1, 3)):
                    kind, subject = rng.choice(NOTES)
                    rows.append(
                        Activity(
                            workspace=self.workspace,
                            contact=c,
                            kind=kind,
                            subject=subject,
                            body=f"{subject} with {c.first_name}.",
                            occurred_at=c.created_at + (self.now - c.created_at) * rng.random(),
                        )
                    )
        Activity.objects.bulk_create(rows, batch_size=BATCH)
        return len(rows)


class Command(BaseCommand):
    help = "Load the demo workspace “Demo Company” (skipped if it exists; --reset rebuilds it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--contacts", type=int, default=2000, help="How many contacts.")
        parser.add_argument("--email", default=DEMO_EMAIL, help="The demo owner's login.")
        parser.add_argument("--password", default=DEMO_PASSWORD, help="The demo owner's password.")
        parser.add_argument("--seed", type=int, default=2025, help="Seed of the random generator.")
        parser.add_argument(
            "--reset", action="store_true", help="Delete the demo workspace and build it again."
        )

    def handle(self, *args, contacts: int, email: str, password: str, seed: int, reset: bool, **o):
        existing = Workspace.objects.filter(name=DEMO_NAME)
        if existing.exists() and not reset:
            count = Contact.objects.filter(workspace__in=existing).count()
            self.stdout.write(
                f"The demo workspace “{DEMO_NAME}” already exists ({count:,} contacts); "
                "nothing changed. Run `manage.py load_demo --reset` to rebuild it."
            )
            self.stdout.write(f"Sign in with {email} / {password} (unless you changed it).")
            return
        with transaction.atomic():
            if reset:
                existing.delete()
            workspace, user = services.workspace_create(
                name=DEMO_NAME, owner_email=email, owner_password=password
            )
            # The demo owner may also look around the admin.
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
            counts = DemoBuilder(workspace, random.Random(seed)).build(max(contacts, 0))
            key, secret = services.api_key_create(
                workspace=workspace, name="Demo key", created_by=user
            )
        summary = ", ".join(f"{n:,} {what}" for what, n in counts.items())
        self.stdout.write(f"Created the demo workspace “{DEMO_NAME}”: {summary}.")
        self.stdout.write(f"Sign in with {email} / {password} (dashboard and /admin/)")
        self.stdout.write(f"API key “{key.name}” ({key.prefix}…): shown once, store it now:")
        self.stdout.write(secret)
