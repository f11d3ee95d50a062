"""Automations: a trigger, then steps, per workspace; enrolments of contacts moving through them.

Steps form a tree shown top to bottom: top-level steps have no ``parent``; the steps of a
branch's yes and no paths have the branch as ``parent`` and ``path`` "yes" or "no". Within one
path, ``position`` orders them. Step ids never change while an automation lives, so an
enrolment always names the step it is at (see ``services`` for the editing rules)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.querysets import WorkspaceQuerySet


class AutomationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class TriggerType(models.TextChoices):
    CONTACT_CREATED = "contact_created", "Contact created"
    SEGMENT_JOINED = "segment_joined", "Joined a segment"
    SEGMENT_LEFT = "segment_left", "Left a segment"
    LIST_ADDED = "list_added", "Added to a list"
    TAG_ADDED = "tag_added", "Tag added"
    PROPERTY_CHANGED = "property_changed", "Property changed"
    EMAIL_OPENED = "email_opened", "Email opened"
    EMAIL_CLICKED = "email_clicked", "Email clicked"
    FORM_SUBMITTED = "form_submitted", "Form submitted"
    EVENT_TRACKED = "event_tracked", "Tracked event"
    DATE_REACHED = "date_reached", "Date property reached"
    CONTACT_SUNSET = "contact_sunset", "Stopped engaging (sunset)"
    MANUAL = "manual", "Manual enrolment only"


class Reentry(models.TextChoices):
    ONCE = "once", "Once per contact"
    AFTER_DAYS = "after_days", "Again after some days"


class AutomationQuerySet(WorkspaceQuerySet):
    def enrollable(self) -> AutomationQuerySet:
        """Automations contacts may be enrolled in by hand (a draft must be activated first)."""
        return self.exclude(status=AutomationStatus.DRAFT)


class Automation(models.Model):
    """A workflow of one workspace: who enters (trigger), what happens (steps), when they
    leave early (goal query)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=8, choices=AutomationStatus.choices, default=AutomationStatus.DRAFT
    )
    trigger_type = models.CharField(
        max_length=20, choices=TriggerType.choices, default=TriggerType.MANUAL
    )
    trigger_config = models.JSONField(default=dict, blank=True)
    goal_query = models.TextField(
        blank=True, help_text="Contacts matching this segment query leave the automation."
    )
    reentry = models.CharField(max_length=12, choices=Reentry.choices, default=Reentry.ONCE)
    reentry_days = models.PositiveIntegerField(null=True, blank=True)
    scanned_until = models.DateTimeField(
        null=True, blank=True, help_text="Date triggers: contacts due up to here are enrolled."
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(
        blank=True,
        help_text="Why its mail is held (the monthly sends limit, an unverified domain); "
        "cleared when mail goes out again.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AutomationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "trigger_type"], name="automation_status_trigger")
        ]

    def __str__(self) -> str:
        return self.name


class StepType(models.TextChoices):
    SEND_EMAIL = "send_email", "Send an email"
    WAIT = "wait", "Wait"
    BRANCH = "branch", "Branch (if / else)"
    ADD_TAG = "add_tag", "Add a tag"
    REMOVE_TAG = "remove_tag", "Remove a tag"
    ADD_TO_LIST = "add_to_list", "Add to a list"
    REMOVE_FROM_LIST = "remove_from_list", "Remove from a list"
    SET_PROPERTY = "set_property", "Set a property"
    SET_LIFECYCLE_STAGE = "set_lifecycle_stage", "Set the lifecycle stage"
    CHANGE_SCORE = "change_score", "Change the score"
    WEBHOOK = "webhook", "Call a webhook"
    EXIT = "exit", "Exit"


class StepPath(models.TextChoices):
    MAIN = "", "Main"
    YES = "yes", "Yes"
    NO = "no", "No"


class Step(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="steps")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    path = models.CharField(
        max_length=3, choices=StepPath.choices, default=StepPath.MAIN, blank=True
    )
    position = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=20, choices=StepType.choices)
    config = models.JSONField(default=dict, blank=True)
    # A send step's mail goes out as a campaign of its own (kept in status "sending"), so it
    # shares the sending pipeline, its tracked links and its statistics.
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(fields=["automation", "parent", "path", "position"], name="step_order")
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.automation_id})"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active (due now)"
    WAITING = "waiting", "Waiting"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


OPEN_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.WAITING)


class EnrollmentQuerySet(WorkspaceQuerySet):
    def open(self) -> EnrollmentQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def due(self, now) -> EnrollmentQuerySet:
        return self.open().filter(due_at__lte=now, automation__status=AutomationStatus.ACTIVE)


class Enrollment(models.Model):
    """One contact's way through one automation: the step it is at and when that step is due.
    A waiting contact costs nothing until ``due_at`` (an index, not a sleeping task)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="enrollments")
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="enrollments"
    )
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="enrollments"
    )
    status = models.CharField(
        max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    due_at = models.DateTimeField(null=True, blank=True)
    entered_at = models.DateTimeField()
    step_entered_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=40, blank=True, help_text="The trigger or 'manual'.")

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        ordering = ["-entered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["automation", "contact"],
                condition=Q(status__in=["active", "waiting"]),
                name="enrollment_one_open_per_contact",
            )
        ]
        indexes = [
            # The scheduler's question "who is due?" reads only open rows, in due order.
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=["active", "waiting"]),
                name="enrollment_due",
            ),
            models.Index(fields=["automation", "step", "status"], name="enrollment_step"),
            models.Index(fields=["automation", "contact", "entered_at"], name="enrollment_reentry"),
            models.Index(fields=["contact"], name="enrollment_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.automation_id} ({self.status})"


class HistoryKind(models.TextChoices):
    ENTERED = "entered", "Entered"
    STEP = "step", "Step done"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


class EnrollmentHistory(models.Model):
    """What happened to an enrolment, in order. A step's row is unique per enrolment: the
    engine writes it in the transaction that performs the step, so a step is done once even
    when a task runs twice."""

    id = models.BigAutoField(primary_key=True)
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="history")
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="history"
    )
    kind = models.CharField(max_length=10, choices=HistoryKind.choices)
    outcome = models.CharField(max_length=40, blank=True)
    message = models.ForeignKey(
        "campaigns.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "step"],
                condition=Q(kind="step"),
                name="enrollment_step_once",
            )
        ]
        indexes = [models.Index(fields=["step", "kind"], name="history_step_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.step_id} of {self.enrollment_id}"
