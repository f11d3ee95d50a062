"""Base classes for every API view: the queryset is scoped to the key's workspace here, once,
so no endpoint can forget. Another workspace's id is simply not found (404)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import mixins, viewsets
from rest_framework.exceptions import NotFound

from mailcrm.models import Workspace


def ensure_uuid(value) -> None:
    """Anything that is not a UUID cannot name a row: answer 404 like any unknown id."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise NotFound() from None


class WorkspaceScopedMixin:
    model = None
    lookup_value_regex = "[^/]+"

    @property
    def workspace(self) -> Workspace:
        return self.request.user.workspace

    def scoped_queryset(self) -> QuerySet:
        return self.model.objects.for_workspace(self.workspace)

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.scoped_queryset()

    def get_object(self):
        # List filters (e.g. "archived contacts are hidden") never apply to one named object.
        lookup = self.lookup_url_kwarg or self.lookup_field
        if self.lookup_field in ("pk", "id"):
            ensure_uuid(self.kwargs[lookup])
        obj = get_object_or_404(self.get_queryset(), **{self.lookup_field: self.kwargs[lookup]})
        self.check_object_permissions(self.request, obj)
        return obj

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False) and self.request.auth is not None:
            context["workspace"] = self.workspace
        return context


class WorkspaceViewSet(WorkspaceScopedMixin, viewsets.ModelViewSet):
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]


class WorkspaceReadOnlyViewSet(WorkspaceScopedMixin, viewsets.ReadOnlyModelViewSet):
    pass


class WorkspaceCreateListDestroyViewSet(
    WorkspaceScopedMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    pass
