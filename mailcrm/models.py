"""Users, workspaces (the tenant), memberships, API keys and the event outbox."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Lower, Upper
from django.utils import timezone

from mailcrm.ids import uuid7
from mailcrm.querysets import WorkspaceQuerySet


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_email(email).strip(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, email: str) -> User:
        return self.get(email__iexact=email.strip())


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in to the dashboard with an email address and a password."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class WorkspacesQuerySet(models.QuerySet):
    def for_user(self, user) -> WorkspacesQuerySet:
        return self.filter(memberships__user=user).distinct()


class Workspace(models.Model):
    """The tenant: every tenant-owned row points here; plan limits are set by a superuser."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=200)
    physical_address = models.TextField(
        blank=True,
        help_text="Postal address shown in marketing email footers "
        "({{ workspace.physical_address }}), as anti-spam laws require.",
    )
    default_from_name = models.CharField(
        max_length=200, blank=True, help_text="Sender name used when a campaign names none."
    )
    default_from_email = models.EmailField(
        blank=True, help_text="Sender address used when a campaign names none."
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Paris: dates shown here."
    )
    send_window = models.JSONField(
        default=dict,
        blank=True,
        help_text="When campaigns may reach people, in each recipient's time zone "
        '(campaigns.windows), e.g. {"days": ["mon", "fri"], "start": "09:00", "end": "17:00"}; '
        "{}: any time.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Plan limits. Null means unlimited.
    limit_contacts = models.PositiveIntegerField(null=True, blank=True, default=100_000)
    limit_monthly_sends = models.PositiveIntegerField(null=True, blank=True, default=500_000)
    limit_sending_domains = models.PositiveIntegerField(null=True, blank=True, default=10)
    limit_webhook_endpoints = models.PositiveIntegerField(null=True, blank=True, default=20)
    limit_api_requests_per_minute = models.PositiveIntegerField(null=True, blank=True, default=1200)

    objects = WorkspacesQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    """A user's role in one workspace. Viewers look; members edit the audience; admins and
    owners also manage keys and settings."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_edit(self) -> bool:
        return self.role != Role.VIEWER

    @property
    def can_manage(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


class InvitationQuerySet(WorkspaceQuerySet):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)


class Invitation(models.Model):
    """An invitation by email to join a workspace in a role. The link carries a signed token
    naming this row; it works once, until ``expires_at``, unless revoked."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace} ({self.role})"

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class ApiKeyScope(models.TextChoices):
    """What a key may do (mailcrm/api/scopes.py applies it to every API route)."""

    FULL_ACCESS = "full_access", "Full access"
    SENDING = "sending", "Sending only"
    READ_ONLY = "read_only", "Read only"


class ApiKeyQuerySet(WorkspaceQuerySet):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A secret that acts for one workspace. Only a SHA-256 digest and a short prefix are
    stored; the secret itself is shown once, when it is made."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(
        max_length=16,
        choices=ApiKeyScope.choices,
        default=ApiKeyScope.FULL_ACCESS,
        help_text="Full access; sending only (send mail, read what it sends); or read only.",
    )
    sending_domains = models.ManyToManyField(
        "deliverability.SendingDomain",
        blank=True,
        related_name="api_keys",
        help_text="When set, the key sends only from these domains (empty: any domain).",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class EventQuerySet(WorkspaceQuerySet):
    pass


class Event(models.Model):
    """The outbox: one row per domain event, written in the transaction of the change.

    Outbound webhooks, automations and the events API read it; nothing else announces."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=64)
    subject_id = models.UUIDField(null=True, blank=True, help_text="The object the event is about.")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the outbox handed it to webhooks (null: not yet)."
    )

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The dispatcher's queue: only undispatched rows are in it, so it stays small.
            models.Index(
                fields=["id"], condition=Q(dispatched_at__isnull=True), name="event_undispatched"
            ),
            models.Index(fields=["workspace", "id"], name="event_ws_id"),
            models.Index(fields=["workspace", "type", "id"], name="event_ws_type_id"),
            models.Index(fields=["workspace", "subject_id"], name="event_ws_subject"),
            # GET /events?email= (iexact: UPPER on both sides). Not partial (WHERE data ?
            # 'email'): PostgreSQL keeps no statistics of a partial index's expression, guessed
            # 5,000 matches in 1,000,000 and walked the outbox instead.
            models.Index(F("workspace"), Upper(KT("data__email")), name="event_ws_email"),
        ]

    def __str__(self) -> str:
        return f"{self.type} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class AuditVia(models.TextChoices):
    """The front door a change came through."""

    DASHBOARD = "dashboard", "Dashboard"
    API = "api", "API"
    ADMIN = "admin", "Django admin"
    CLI = "cli", "Command line"
    SYSTEM = "system", "System"


class AuditEntryQuerySet(WorkspaceQuerySet):
    pass


class AuditEntry(models.Model):
    """Who changed a workspace's settings, domains, keys, webhooks or members, when, through
    which front door, and what changed (mailcrm.audit records it).

    The actor is kept twice: as foreign keys, for filtering while the user or key exists, and
    as ``actor_label`` text, so the entry still names them after they are deleted. Secrets are
    never stored: a secret field's change reads ``"changed"``."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_entries")
    occurred_at = models.DateTimeField(default=timezone.now)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=300, blank=True)
    via = models.CharField(max_length=10, choices=AuditVia.choices, default=AuditVia.SYSTEM)
    action = models.CharField(max_length=64, help_text="e.g. sending_domain.created")
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(
        default=dict, blank=True, help_text='field -> [old, new]; secrets read "changed".'
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [
            # Listed newest first per workspace, paged by id (uuid7: time-ordered), optionally
            # for one action or since a moment.
            models.Index(fields=["workspace", "id"], name="audit_ws_id"),
            models.Index(fields=["workspace", "action", "id"], name="audit_ws_action_id"),
            models.Index(fields=["workspace", "occurred_at"], name="audit_ws_occurred"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.action} by {self.actor_label or 'system'} at {self.occurred_at:%Y-%m-%d %H:%M}"
        )
