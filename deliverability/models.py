"""Sending and tracking domains with their DNS checks, suppressions and unsubscribes (who must
never be mailed again, and from which of the workspace's domains), bounces, email validation
results, health snapshots and risk assessments."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.querysets import WorkspaceQuerySet


class RecordStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"


class TrackingDomain(models.Model):
    """A hostname of the workspace's own (e.g. links.example.com) pointed by CNAME at our
    tracking host, used in open pixels and click links instead of ours."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=253)
    cname_target = models.CharField(max_length=253, help_text="Where the CNAME must point.")
    is_verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    ssl_enabled = models.BooleanField(
        default=False, help_text="Set by an HTTPS check once the proxy serves a certificate."
    )
    check_result = models.JSONField(
        default=dict, blank=True, help_text="The last CNAME check: status, found, explanation."
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["domain"]
        constraints = [
            # A hostname serves one workspace: the tracking endpoint and the TLS "ask"
            # endpoint look it up without a workspace.
            models.UniqueConstraint(fields=["domain"], name="trackingdomain_unique")
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def https_url(self) -> str | None:
        return f"https://{self.domain}" if self.ssl_enabled else None


class SendingDomain(models.Model):
    """A domain the workspace sends from, with its DKIM key (mail sent over direct SMTP is
    signed with it) and the last result of checking its DNS records."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=253)
    is_verified = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    dkim_selector = models.CharField(max_length=63, blank=True)
    dkim_private_key = models.TextField(
        blank=True, help_text="PEM, encrypted with FIELD_ENCRYPTION_KEY."
    )
    dkim_public_key = models.TextField(blank=True, help_text="Base64 DER, as published in DNS.")
    tracking_domain = models.ForeignKey(
        TrackingDomain,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sending_domains",
        help_text="Used in the tracking links of mail sent from this domain once verified.",
    )
    dns_checks = models.JSONField(
        default=dict,
        blank=True,
        help_text="The last check of each record, by purpose (spf, dkim, dmarc, return_path): "
        "status, found, explanation.",
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    alignment = models.JSONField(
        default=dict,
        blank=True,
        help_text="The last DMARC alignment report (deliverability.alignment): the From domain "
        "against the DKIM d= and Return-Path domains, relaxed and strict.",
    )
    # Warm-up (deliverability.warmup): a daily cap from warmup_daily_start, times
    # warmup_growth each day since warmup_started_on, until it reaches warmup_target.
    warmup_target = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Daily sends at which the warm-up ends (empty: no warm-up).",
    )
    warmup_daily_start = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(1)],
        help_text="The daily cap on the warm-up's first day.",
    )
    warmup_growth = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.5"),
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="The cap grows this many times a day.",
    )
    warmup_started_on = models.DateField(
        null=True, blank=True, help_text="The warm-up's first day (UTC)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "domain"], name="sendingdomain_unique")
        ]
        indexes = [models.Index(fields=["last_checked_at"], name="sendingdomain_checked")]

    def __str__(self) -> str:
        return self.domain

    @property
    def has_dkim_key(self) -> bool:
        return bool(self.dkim_selector and self.dkim_private_key)


class SuppressionType(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    SOFT_BOUNCE = "soft_bounce", "Soft bounce"
    COMPLAINT = "complaint", "Complaint"
    MANUAL = "manual", "Manual"


class SuppressionSource(models.TextChoices):
    BOUNCE = "bounce", "Bounce"
    COMPLAINT = "complaint", "Complaint"
    API = "api", "API"
    IMPORT = "import", "Import"
    MANUAL = "manual", "Manual"


class Suppression(models.Model):
    """An address that must not be mailed: globally (no domain) or from one sending domain.
    Emails are stored lower-cased so the check is one indexed equality."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)
    type = models.CharField(max_length=16, choices=SuppressionType.choices)
    domain = models.ForeignKey(
        SendingDomain, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(
        max_length=16, choices=SuppressionSource.choices, default=SuppressionSource.MANUAL
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Soft bounces only: the suppression stops counting then, and the hourly "
        "task lifts it (empty: never expires).",
    )

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(domain__isnull=True),
                name="suppression_global_unique",
            ),
            models.UniqueConstraint(
                fields=["workspace", "email", "domain"],
                condition=Q(domain__isnull=False),
                name="suppression_domain_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "type"], name="suppression_ws_type"),
            # The lifting task's queue: only expiring rows are in it.
            models.Index(
                fields=["expires_at"],
                condition=Q(expires_at__isnull=False),
                name="suppression_expiring",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_type_display()})"


class SuppressionWhitelist(models.Model):
    """Addresses that override suppressions (e.g. a colleague's inbox that bounced once)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "email"], name="whitelist_unique")
        ]

    def __str__(self) -> str:
        return self.email


class UnsubscribeSource(models.TextChoices):
    LINK = "link", "Unsubscribe page"
    ONE_CLICK = "one_click", "One-click (RFC 8058)"
    PREFERENCES = "preferences", "Preference centre"
    API = "api", "API"
    COMPLAINT = "complaint", "Spam complaint"
    MANUAL = "manual", "Manual"
    IMPORT = "import", "Import"


class UnsubscribeReason(models.TextChoices):
    TOO_FREQUENT = "too_frequent", "Too many emails"
    NOT_RELEVANT = "not_relevant", "Not relevant to me"
    NEVER_SIGNED_UP = "never_signed_up", "I never signed up"
    OTHER = "other", "Other"


class UnsubscribeScope(models.TextChoices):
    GLOBAL = "global", "All mail"
    DOMAIN = "domain", "One sending domain (brand)"
    LIST = "list", "One list (newsletter)"


class Unsubscribe(models.Model):
    """A person's wish to receive no marketing mail, in one of three layers: from every domain
    (global), from one sending domain (a brand), or from one list (a newsletter). See
    docs/deliverability.md for the precedence."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)
    domain = models.ForeignKey(
        SendingDomain, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    contact_list = models.ForeignKey(
        "contacts.ContactList",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Set for a list unsubscribe: the person left this list only.",
    )
    source = models.CharField(max_length=16, choices=UnsubscribeSource.choices)
    reason = models.CharField(max_length=16, choices=UnsubscribeReason.choices, blank=True)
    reason_text = models.TextField(blank=True, help_text="The person's own words, if any.")
    campaign_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(domain__isnull=True, contact_list__isnull=True),
                name="unsubscribe_global_only_unique",
            ),
            models.UniqueConstraint(
                fields=["workspace", "email", "domain"],
                condition=Q(domain__isnull=False),
                name="unsubscribe_domain_unique",
            ),
            models.UniqueConstraint(
                fields=["workspace", "email", "contact_list"],
                condition=Q(contact_list__isnull=False),
                name="unsubscribe_list_unique",
            ),
            models.CheckConstraint(
                condition=Q(domain__isnull=True) | Q(contact_list__isnull=True),
                name="unsubscribe_one_layer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} unsubscribed ({self.scope})"

    @property
    def scope(self) -> str:
        if self.contact_list_id is not None:
            return UnsubscribeScope.LIST
        if self.domain_id is not None:
            return UnsubscribeScope.DOMAIN
        return UnsubscribeScope.GLOBAL


class DeliverabilitySettings(models.Model):
    """A workspace's deliverability policy; created with the defaults on first use."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    soft_bounce_threshold = models.PositiveSmallIntegerField(
        default=3, help_text="Soft bounces within the window that suppress the address."
    )
    soft_bounce_window_days = models.PositiveSmallIntegerField(default=7)
    require_verified_domain = models.BooleanField(
        default=True,
        help_text="Refuse to send a campaign from an unverified domain (off: only warn).",
    )
    risk_warn_at = models.PositiveSmallIntegerField(
        default=40, help_text="Risk score (0-100) from which a send is warned about."
    )
    risk_block_at = models.PositiveSmallIntegerField(
        default=70, help_text="Risk score (0-100) from which a send is refused."
    )
    soft_bounce_suppression_days = models.PositiveSmallIntegerField(
        default=30,
        help_text="A soft-bounce suppression expires after this many days and the address is "
        "mailed again (0: never expires).",
    )
    # Circuit breakers (campaigns.breakers), over a campaign's last 1,000 sends; 0 turns one off.
    bounce_rate_threshold = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=5,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Pause a campaign whose bounce rate passes this percentage.",
    )
    complaint_rate_threshold = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.3"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Pause a campaign whose complaint rate passes this percentage.",
    )

    class Meta:
        verbose_name_plural = "deliverability settings"

    def __str__(self) -> str:
        return f"Deliverability settings of {self.workspace}"

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> DeliverabilitySettings:
        settings, _ = cls.objects.get_or_create(workspace=workspace)
        return settings


class DomainStatusChange(models.Model):
    """A record of a domain's DNS check changing status (also announced as an event)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    sending_domain = models.ForeignKey(
        SendingDomain, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    tracking_domain = models.ForeignKey(
        TrackingDomain, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    purpose = models.CharField(max_length=16, help_text="spf, dkim, dmarc, return_path, cname")
    old_status = models.CharField(max_length=8, choices=RecordStatus.choices)
    new_status = models.CharField(max_length=8, choices=RecordStatus.choices)
    explanation = models.TextField(blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-changed_at"]
        indexes = [models.Index(fields=["workspace", "-changed_at"], name="domainchange_ws")]

    def __str__(self) -> str:
        return f"{self.purpose}: {self.old_status} → {self.new_status}"


class BounceKind(models.TextChoices):
    HARD = "hard", "Hard"
    SOFT = "soft", "Soft"


class Bounce(models.Model):
    """Every bounce seen for an address; soft bounces are counted against the workspace's
    threshold before they suppress."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)
    kind = models.CharField(max_length=4, choices=BounceKind.choices)
    domain = models.ForeignKey(
        SendingDomain, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message_id = models.UUIDField(null=True, blank=True, help_text="Our Message, when known.")
    diagnostic = models.TextField(blank=True, help_text="The server's reply or DSN status.")
    occurred_at = models.DateTimeField()

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["workspace", "email", "occurred_at"], name="bounce_ws_email"),
            models.Index(fields=["workspace", "occurred_at"], name="bounce_ws_time"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.kind} bounce)"


class ValidationResult(models.TextChoices):
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"
    RISKY = "risky", "Risky"
    UNKNOWN = "unknown", "Unknown"


class EmailValidation(models.Model):
    """The last validation of an address in a workspace; contacts are matched by email (a
    risky or invalid result flags the contact with that address)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254, help_text="Lower-cased.")
    result = models.CharField(max_length=8, choices=ValidationResult.choices)
    reasons = models.JSONField(default=list, blank=True)
    checks = models.JSONField(default=dict, blank=True)
    suggestion = models.CharField(max_length=254, blank=True)
    checked_at = models.DateTimeField()

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-checked_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "email"], name="emailvalidation_unique")
        ]
        indexes = [models.Index(fields=["workspace", "result"], name="emailvalidation_result")]

    def __str__(self) -> str:
        return f"{self.email}: {self.result}"


class HealthSnapshot(models.Model):
    """The workspace's health score on one day, for the trend chart."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    score = models.PositiveSmallIntegerField()
    grade = models.CharField(max_length=2)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "day"], name="healthsnapshot_unique")
        ]

    def __str__(self) -> str:
        return f"{self.workspace} {self.day}: {self.score} ({self.grade})"


class RiskPolicy(models.TextChoices):
    ALLOW = "allow", "Allow"
    WARN = "warn", "Warn"
    BLOCK = "block", "Block"


class RiskAssessment(models.Model):
    """A pre-send risk assessment, kept so a block and an admin's override are on record."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    campaign_id = models.UUIDField(null=True, blank=True)
    risk_score = models.PositiveSmallIntegerField()
    level = models.CharField(max_length=8)
    policy = models.CharField(max_length=8, choices=RiskPolicy.choices)
    factors = models.JSONField(default=list, blank=True)
    recommendations = models.JSONField(default=list, blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "campaign_id"], name="risk_ws_campaign")]

    def __str__(self) -> str:
        return f"risk {self.risk_score} ({self.policy})"


class ThrottleState(models.Model):
    """The adaptive rate of one way out (a workspace's sending backend, or the server's) to one
    recipient domain (campaigns.throttling). A row exists only while the domain is backed off:
    a throttling reply halves the rate and holds the domain for a while; runs of successes add
    to it again, and the row goes once the rate is back at its ceiling."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey(
        Workspace,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The backend's workspace (empty: the server's backend, shared by all).",
    )
    backend = models.CharField(max_length=40, help_text="A sending backend's id, or 'server'.")
    domain = models.CharField(max_length=253, help_text="The recipient domain (or its group).")
    rate_per_minute = models.PositiveIntegerField()
    ceiling = models.PositiveIntegerField(help_text="The rate at the first backoff: recovered.")
    successes = models.PositiveIntegerField(default=0, help_text="Successes since the last step.")
    backoffs = models.PositiveIntegerField(default=0)
    held_until = models.DateTimeField(null=True, blank=True)
    last_reply = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["backend", "domain"], name="throttlestate_once")
        ]

    def __str__(self) -> str:
        return f"{self.domain} via {self.backend}: {self.rate_per_minute}/min"
