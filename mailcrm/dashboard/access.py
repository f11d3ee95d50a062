"""Who may see and change what in the dashboard, decided once for every page.

Every dashboard view inherits ``WorkspaceMixin``: it requires a signed-in user with a
membership (the middleware has already resolved ``request.workspace`` and
``request.membership``), refuses viewers anything that changes data, and gives the view
``self.workspace`` and ``self.scoped()`` so every query starts from ``for_workspace``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404, render

from mailcrm.models import Membership, Workspace

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def may_edit(membership: Membership | None) -> bool:
    return membership is not None and membership.can_edit


class WorkspaceMixin(LoginRequiredMixin):
    """Login + membership required; viewers are refused every unsafe request (403).

    Set ``editing = True`` on pages that exist only to change something (a form, a
    confirmation): viewers are refused those even on GET, so they never see a form they
    could not submit. Set ``managing = True`` on settings pages (keys, webhooks): only admins
    and owners may see those."""

    editing = False
    managing = False
    workspace: Workspace
    membership: Membership

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if request.workspace is None:
            # Signed in, but nobody has added this user to a workspace yet.
            return render(request, "dashboard/no_workspace.html", status=403)
        if (self.editing or request.method not in SAFE_METHODS) and not may_edit(
            request.membership
        ):
            raise PermissionDenied("Viewers can look but not change anything.")
        if self.managing and not request.membership.can_manage:
            raise PermissionDenied("Only admins and owners manage the workspace's settings.")
        self.workspace = request.workspace
        self.membership = request.membership
        return super().dispatch(request, *args, **kwargs)

    def scoped(self, model: type[Model]) -> QuerySet:
        """The rows of ``model`` in the current workspace: where every query starts."""
        return model.objects.for_workspace(self.workspace)

    def get_scoped(self, source: type[Model] | QuerySet, **lookup: Any) -> Any:
        """One object of the current workspace; another workspace's object is a 404.

        ``source`` is a model, or a queryset (e.g. with prefetches) that is narrowed to the
        workspace again here, so a caller cannot forget."""
        if isinstance(source, QuerySet):
            queryset = source.filter(workspace=self.workspace)
        else:
            queryset = self.scoped(source)
        return get_object_or_404(queryset, **lookup)
