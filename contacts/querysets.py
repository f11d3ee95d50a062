"""The read vocabulary of the contacts app: chainable, no side effects."""

from __future__ import annotations

from django.db.models import Count, Q

from mailcrm.querysets import WorkspaceQuerySet


class PropertyDefinitionQuerySet(WorkspaceQuerySet):
    pass


class ContactQuerySet(WorkspaceQuerySet):
    def visible(self):
        """Not archived: what lists, searches and sends see."""
        return self.filter(archived_at__isnull=True)

    def archived(self):
        return self.filter(archived_at__isnull=False)

    def subscribed(self):
        return self.visible().filter(status="active")

    def with_relations(self):
        return self.prefetch_related("tags", "lists")


class TagQuerySet(WorkspaceQuerySet):
    def with_counts(self):
        return self.annotate(
            contact_count=Count("contacts", filter=Q(contacts__archived_at__isnull=True))
        )


class ContactListQuerySet(WorkspaceQuerySet):
    def with_counts(self):
        return self.annotate(
            contact_count=Count("contacts", filter=Q(contacts__archived_at__isnull=True))
        )


class CompanyQuerySet(WorkspaceQuerySet):
    def with_counts(self):
        return self.annotate(contact_count=Count("contacts"))


class ActivityQuerySet(WorkspaceQuerySet):
    pass


class SegmentQuerySet(WorkspaceQuerySet):
    def dynamic(self):
        return self.filter(kind="dynamic")


class ImportJobQuerySet(WorkspaceQuerySet):
    pass


class BulkJobQuerySet(WorkspaceQuerySet):
    pass
