"""The Django admin's share of the audit log.

Most admin pages write through services, which record their own entries. The pages that save
a model directly (plan limits, memberships, an endpoint switched off, settings rows) use
``AuditedAdminMixin``: ``save_model``, ``delete_model``, bulk deletes and membership inlines
record ``<audit_name>.created|updated|deleted`` with what changed."""

from __future__ import annotations

from django.db import models
from django.http import HttpRequest

from mailcrm import audit
from mailcrm.models import Membership, Workspace


def _workspace_id(obj: models.Model):
    return obj.pk if isinstance(obj, Workspace) else obj.workspace_id


class MembershipInlinesAuditMixin:
    """For admins with membership inlines (a workspace's, a user's): who joined, left or
    changed role there is recorded like anywhere else."""

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        instances = formset.save(commit=False)
        for membership in formset.deleted_objects:
            audit.record(membership.workspace_id, "membership.removed", membership)
            membership.delete()
        for membership in instances:
            verb = "role_changed" if membership.pk else "created"
            changes = audit.pending_changes(membership, ["role"])
            membership.save()
            audit.record(membership.workspace_id, f"membership.{verb}", membership, changes)
        formset.save_m2m()


class AuditedAdminMixin(MembershipInlinesAuditMixin):
    """Put before ``admin.ModelAdmin`` on the admin of a workspace-owned model. ``audit_name``
    names the thing in actions (default: the model's name). A ``save_model`` defined on the
    admin itself (one that calls a service) takes precedence, and the service records."""

    audit_name = ""

    def _audit_name(self) -> str:
        return self.audit_name or self.model._meta.model_name

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        changes = audit.pending_changes(obj)
        super().save_model(request, obj, form, change)
        verb = "updated" if change else "created"
        audit.record(_workspace_id(obj), f"{self._audit_name()}.{verb}", obj, changes)

    def delete_model(self, request: HttpRequest, obj) -> None:
        audit.record(_workspace_id(obj), f"{self._audit_name()}.deleted", obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            audit.record(_workspace_id(obj), f"{self._audit_name()}.deleted", obj)
        super().delete_queryset(request, queryset)
