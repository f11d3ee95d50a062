from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response

from deliverability import services
from deliverability.api.serializers import (
    SuppressionSerializer,
    UnsubscribeSerializer,
    WhitelistSerializer,
)
from deliverability.filtersets import SuppressionFilterSet, UnsubscribeFilterSet
from deliverability.models import Suppression, SuppressionWhitelist, Unsubscribe
from mailcrm.api.viewsets import WorkspaceCreateListDestroyViewSet


class SuppressionViewSet(WorkspaceCreateListDestroyViewSet):
    model = Suppression
    serializer_class = SuppressionSerializer
    filterset_class = SuppressionFilterSet
    ordering_fields = ["created_at", "email"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        suppression = services.suppression_add(
            workspace=self.workspace, **serializer.validated_data
        )
        return Response(self.get_serializer(suppression).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.suppression_remove(suppression=instance)


class WhitelistViewSet(WorkspaceCreateListDestroyViewSet):
    model = SuppressionWhitelist
    serializer_class = WhitelistSerializer
    ordering_fields = ["email", "created_at"]
    default_ordering = "email"

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = services.whitelist_add(workspace=self.workspace, **serializer.validated_data)
        return Response(self.get_serializer(entry).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.whitelist_remove(entry=instance)


class UnsubscribeViewSet(WorkspaceCreateListDestroyViewSet):
    """DELETE re-subscribes the address."""

    model = Unsubscribe
    serializer_class = UnsubscribeSerializer
    filterset_class = UnsubscribeFilterSet
    ordering_fields = ["created_at", "email"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        unsubscribe = services.unsubscribe_record(
            workspace=self.workspace, **serializer.validated_data
        )
        return Response(self.get_serializer(unsubscribe).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.unsubscribe_remove(unsubscribe=instance)
