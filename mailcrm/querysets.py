"""The read vocabulary every tenant-owned model shares."""

from django.db import models


class WorkspaceQuerySet(models.QuerySet):
    def for_workspace(self, workspace):
        """Rows of one workspace (a Workspace or its id): where every request starts."""
        return self.filter(workspace=workspace)
