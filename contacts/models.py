"""The contact database: contacts, companies, tags, static lists, property definitions and the
activity timeline. Every row belongs to a workspace; every uniqueness rule includes it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from contacts.querysets import (
    ActivityQuerySet,
    BulkJobQuerySet,
    CompanyQuerySet,
    ContactListQuerySet,
    ContactQuerySet,
    ImportJobQuerySet,
    PropertyDefinitionQuerySet,
    SegmentQuerySet,
    TagQuerySet,
)
from contacts.time_zones import validate_time_zone
from mailcrm.ids import uuid7
from mailcrm.models import Workspace


class ContactStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Complained"


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "subscriber", "Subscriber"
    LEAD = "lead", "Lead"
    MARKETING_QUALIFIED = "marketing_qualified", "Marketing qualified"
    SALES_QUALIFIED = "sales_qualified", "Sales qualified"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    EVANGELIST = "evangelist", "Evangelist"


class ContactSource(models.TextChoices):
    API = "api", "API"
    FORM = "form", "Form"
    IMPORT = "import", "Import"
    MANUAL = "manual", "Manual"
    INTEGRATION = "integration", "Integration"


class ScoreTier(models.TextChoices):
    HOT = "hot", "Hot"
    WARM = "warm", "Warm"
    COLD = "cold", "Cold"


class PropertyType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    URL = "url", "URL"
    SELECT = "select", "Select"
    MULTI_SELECT = "multi_select", "Multi-select"
    CURRENCY = "currency", "Currency"
    JSON = "json", "JSON"


class PropertyDefinition(models.Model):
    """A custom property a workspace keeps on its contacts; values are validated against it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.SlugField(max_length=64, help_text="Letters, digits, _ and -; used in queries.")
    label = models.CharField(max_length=120, blank=True)
    type = models.CharField(max_length=16, choices=PropertyType.choices, default=PropertyType.TEXT)
    options = models.JSONField(default=list, blank=True, help_text="Choices for select types.")
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PropertyDefinitionQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="propdef_ws_key_unique")
        ]

    def __str__(self) -> str:
        return self.label or self.key


class Tag(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TagQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("workspace", Lower("name"), name="tag_ws_name_ci_unique")
        ]

    def __str__(self) -> str:
        return self.name


class ContactList(models.Model):
    """A static list: contacts are added and removed explicitly."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    double_opt_in = models.BooleanField(
        default=False, help_text="New subscribers confirm by email before they are added."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactListQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "list"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="list_ws_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Company(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    size = models.CharField(max_length=50, blank=True, help_text="e.g. 1-10, 11-50, 51-200")
    plan = models.CharField(max_length=100, blank=True)
    spend = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CompanyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"
        indexes = [models.Index(fields=["workspace", "domain"], name="company_ws_domain")]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person the workspace emails. The email is unique per workspace, ignoring case."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No index of its own: every index below starts with workspace; one more btree would only
    # slow inserts (imports write a million rows). No database constraint either: it costs
    # every inserted row a lookup at commit; workspaces are deleted through the ORM, which
    # deletes their contacts first (contacts/tests/test_import_references.py).
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    company = models.CharField(max_length=200, blank=True, help_text="Company name as given.")
    job_title = models.CharField(max_length=200, blank=True)
    # db_default: bulk writers (imports, generators) insert with raw SQL that names no zone.
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        validators=[validate_time_zone],
        help_text="IANA name, e.g. Europe/Paris; blank: guessed from the country property, "
        "else the workspace's.",
    )
    status = models.CharField(
        max_length=16, choices=ContactStatus.choices, default=ContactStatus.ACTIVE
    )
    lifecycle_stage = models.CharField(
        max_length=24, choices=LifecycleStage.choices, default=LifecycleStage.SUBSCRIBER
    )
    source = models.CharField(
        max_length=16, choices=ContactSource.choices, default=ContactSource.API
    )
    properties = models.JSONField(default=dict, blank=True)
    score = models.IntegerField(default=0)
    score_tier = models.CharField(max_length=8, choices=ScoreTier.choices, default=ScoreTier.COLD)
    sends = models.PositiveIntegerField(default=0)
    opens = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    last_clicked_at = models.DateTimeField(null=True, blank=True)
    last_engaged_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last human open, click, reply, page visit or tracked event (score decay).",
    )
    sunset_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Flagged as unengaged (sunsetting) at this time; cleared when they engage.",
    )
    tracking_opt_out = models.BooleanField(
        default=False, help_text="Opens and clicks of this person are not recorded."
    )
    archived_at = models.DateTimeField(
        null=True, blank=True, help_text="Archived contacts are hidden and never mailed."
    )
    # The import that created the contact: its timeline's "Imported" entry is derived from it
    # (contacts.imports.timeline) instead of a row written per imported contact. Not indexed
    # and not constrained; a deleted import leaves no entry to derive.
    source_import = models.ForeignKey(
        "ImportJob",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    tags = models.ManyToManyField(Tag, through="ContactTag", related_name="contacts", blank=True)
    lists = models.ManyToManyField(
        ContactList, through="ListMembership", related_name="contacts", blank=True
    )
    companies = models.ManyToManyField(
        Company, through="CompanyRole", related_name="contacts", blank=True
    )

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint("workspace", Lower("email"), name="contact_ws_email_ci_unique")
        ]
        indexes = [
            # created_at rides along so that created_before can find its newest match
            # reading this index alone (contacts.filtersets.newest_id_created_before).
            models.Index(fields=["workspace", "id"], name="contact_ws_id", include=["created_at"]),
            models.Index(fields=["workspace", "status"], name="contact_ws_status"),
            models.Index(fields=["workspace", "lifecycle_stage"], name="contact_ws_stage"),
            models.Index(fields=["workspace", "source"], name="contact_ws_source"),
            models.Index(fields=["workspace", "created_at", "id"], name="contact_ws_created"),
            models.Index(fields=["workspace", "score", "id"], name="contact_ws_score"),
            # The API's other orderings (keyset pages at any depth; docs/performance.md,
            # "Query plans"): without them every page sorts the workspace. ordering=email
            # needs none: it pages through the lower(email) unique index.
            models.Index(fields=["workspace", "updated_at", "id"], name="contact_ws_updated"),
            models.Index(fields=["workspace", "first_name", "id"], name="contact_ws_first_name"),
            models.Index(fields=["workspace", "last_name", "id"], name="contact_ws_last_name"),
            # Archived contacts are few: a partial index lists them without a scan, and
            # imports (never archived) do not maintain it.
            models.Index(
                fields=["workspace", "id"],
                condition=models.Q(archived_at__isnull=False),
                name="contact_ws_archived",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


# The link tables an import fills in bulk carry no database constraints: each would cost every
# inserted link a lookup at commit. Contacts, tags, lists and companies are deleted through the
# ORM, which deletes their links first (contacts/tests/test_import_references.py).
class ContactTag(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, db_constraint=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, db_constraint=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="contacttag_unique")]
        indexes = [models.Index(fields=["tag", "contact"], name="contacttag_tag_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} tagged {self.tag_id}"


class ListMembership(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, db_constraint=False)
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, db_constraint=False)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "contact_list"], name="listmember_unique")
        ]
        indexes = [models.Index(fields=["contact_list", "contact"], name="listmember_list_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.contact_list_id}"


class CompanyRole(models.Model):
    """A contact's place in a company, e.g. Decision Maker or Technical Contact."""

    # Indexed by companyrole_unique, which starts with contact.
    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="company_roles",
        db_index=False,
        db_constraint=False,
    )
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="contact_roles", db_constraint=False
    )
    role = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "company"], name="companyrole_unique")
        ]

    def __str__(self) -> str:
        return f"{self.contact} – {self.role or 'member'} at {self.company}"


class ActivityKind(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    TAGGED = "tagged", "Tagged"
    UNTAGGED = "untagged", "Untagged"
    LIST_ADDED = "list_added", "Added to list"
    LIST_REMOVED = "list_removed", "Removed from list"
    ARCHIVED = "archived", "Archived"
    RESTORED = "restored", "Restored"
    MERGED = "merged", "Merged"
    IMPORTED = "imported", "Imported"
    SCORE_CHANGED = "score_changed", "Score changed"
    EMAIL_SENT = "email_sent", "Email sent"
    EMAIL_OPENED = "email_opened", "Email opened"
    EMAIL_CLICKED = "email_clicked", "Email clicked"
    EMAIL_BOUNCED = "email_bounced", "Email bounced"
    EMAIL_COMPLAINED = "email_complained", "Marked as spam"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    REPLIED = "replied", "Replied"
    PAGE_VISITED = "page_visited", "Visited a page"
    PAGE_VIEW = "page_view", "Viewed a page"
    EVENT = "event", "Tracked event"
    CONSENT = "consent", "Consent"
    AUTOMATION = "automation", "Automation"
    NOTE = "note", "Note"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    TASK = "task", "Task"


MANUAL_ACTIVITY_KINDS = (
    ActivityKind.NOTE,
    ActivityKind.CALL,
    ActivityKind.MEETING,
    ActivityKind.TASK,
)


class Activity(models.Model):
    """One entry of a contact's timeline."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    # Indexed by activity_contact_time, which starts with contact.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    kind = models.CharField(max_length=32, choices=ActivityKind.choices)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["contact", "-occurred_at"], name="activity_contact_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} – {self.contact}"


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", "Dynamic (query)"
    STATIC = "static", "Static (hand-picked)"


class Segment(models.Model):
    """A named audience: a query (dynamic) or hand-picked members (static). Membership is
    materialized in SegmentMembership; ``count`` and ``refreshed_at`` cache the last refresh."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=SegmentKind.choices, default=SegmentKind.DYNAMIC)
    query = models.TextField(blank=True)
    count = models.PositiveIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    contacts = models.ManyToManyField(
        Contact, through="SegmentMembership", related_name="segments", blank=True
    )

    objects = SegmentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="segment_ws_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "contact"], name="segmentmember_unique")
        ]
        indexes = [models.Index(fields=["contact"], name="segmentmember_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.segment_id}"


class SegmentDirtyContact(models.Model):
    """A contact whose dynamic segment memberships must be re-evaluated; drained in batches by
    a background task so that a burst of changes costs one pass."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.contact_id} to re-evaluate"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


MAX_STORED_ROW_ERRORS = 10_000


class ImportJob(models.Model):
    """A CSV import. The uploaded file lives in ImportUpload (in the database, so any worker
    machine can read it); progress and per-row errors are kept here."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True)
    mapping = models.JSONField(default=dict, blank=True, help_text="CSV column -> field")
    update_existing = models.BooleanField(default=True)
    validate_emails = models.BooleanField(
        default=False,
        help_text="Validate each address (syntax, domain, MX) first: invalid rows are refused, "
        "risky ones imported and flagged.",
    )
    tags = models.JSONField(default=list, blank=True)
    contact_list = models.ForeignKey(
        ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text=f"[{{row, reason}}], the first {MAX_STORED_ROW_ERRORS}"
    )
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="import_ws_created")]

    def __str__(self) -> str:
        return f"Import {self.filename or self.id} ({self.status})"


class ImportUpload(models.Model):
    """The raw bytes of an uploaded CSV, deleted once the import has finished."""

    job = models.OneToOneField(ImportJob, on_delete=models.CASCADE, related_name="upload")
    content = models.BinaryField()

    def __str__(self) -> str:
        return f"Upload of {self.job_id}"


class BulkAction(models.TextChoices):
    TAG = "tag", "Tag"
    UNTAG = "untag", "Untag"
    ADD_TO_LIST = "add_to_list", "Add to list"
    REMOVE_FROM_LIST = "remove_from_list", "Remove from list"
    SET_LIFECYCLE_STAGE = "set_lifecycle_stage", "Set lifecycle stage"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
    DELETE = "delete", "Delete"


class BulkJob(models.Model):
    """A bulk action over many contacts (by ids or by query) run in the background."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=24, choices=BulkAction.choices)
    value = models.JSONField(null=True, blank=True)
    ids = models.JSONField(default=list, blank=True)
    query = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = BulkJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.status})"


DEFAULT_SCORING_RULES = {
    "opened": 1,
    "clicked": 5,
    "replied": 10,
    "visited_page": 20,
    "bounced": -50,
}


def default_scoring_rules() -> dict:
    return dict(DEFAULT_SCORING_RULES)


class ScoringSettings(models.Model):
    """Lead scoring of one workspace: points per event and the tier thresholds.
    An unsubscribe resets the score to 0."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="scoring")
    rules = models.JSONField(default=default_scoring_rules)
    hot_threshold = models.IntegerField(default=50)
    warm_threshold = models.IntegerField(default=20)
    decay_half_life_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Scores halve every this many days without engagement; empty: no decay.",
    )
    decayed_until = models.DateTimeField(
        null=True, blank=True, help_text="The score decay has been applied up to this moment."
    )
    sunset_after_days = models.PositiveIntegerField(
        default=180, help_text="Flag contacts with no human open or click in this many days…"
    )
    sunset_min_sends = models.PositiveIntegerField(
        default=5, help_text="…after at least this many sends."
    )
    sunset_exclude = models.BooleanField(
        default=False, help_text="Campaigns leave out contacts flagged as sunset."
    )
    sunset_suppress_after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Suppress sunset contacts still unengaged this many days after being "
        "flagged; empty: never.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "scoring settings"
        verbose_name_plural = "scoring settings"

    def __str__(self) -> str:
        return f"Scoring of {self.workspace}"
