from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from mailcrm import services, usage
from mailcrm.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyRotatedSerializer,
    ApiKeySerializer,
    EventSerializer,
    ProfileSerializer,
)
from mailcrm.api.viewsets import WorkspaceCreateListDestroyViewSet, WorkspaceReadOnlyViewSet
from mailcrm.filtersets import EventFilterSet
from mailcrm.models import ApiKey, Event


class ProfileView(APIView):
    @extend_schema(responses=ProfileSerializer, summary="The workspace, its plan limits and usage")
    def get(self, request):
        workspace = request.user.workspace
        body = {
            "workspace": workspace,
            "limits": usage.limits(workspace),
            "usage": usage.usage(workspace),
        }
        return Response(ProfileSerializer(body).data)


class ApiKeyViewSet(WorkspaceCreateListDestroyViewSet):
    model = ApiKey
    serializer_class = ApiKeySerializer
    ordering_fields = ["created_at"]

    def scoped_queryset(self):
        return (
            ApiKey.objects.for_workspace(self.workspace)
            .active()
            .prefetch_related("sending_domains")
        )

    @extend_schema(request=ApiKeySerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key, secret = services.api_key_create(
            workspace=self.workspace,
            name=data["name"],
            scope=data["scope"],
            sending_domains=data.get("sending_domains", []),
        )
        body = {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "key": secret,
            "scope": key.scope,
            "sending_domain_ids": [domain.pk for domain in data.get("sending_domains", [])],
        }
        return Response(ApiKeyCreatedSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None}, summary="Revoke the key")
    def destroy(self, request, *args, **kwargs):
        services.api_key_revoke(key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ApiKeyRotatedSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        key, secret = services.api_key_rotate(key=self.get_object())
        return Response(
            ApiKeyRotatedSerializer({"id": key.id, "prefix": key.prefix, "key": secret}).data
        )


class EventViewSet(WorkspaceReadOnlyViewSet):
    """The workspace's event stream (the outbox): contact.* and email.* events, newest first."""

    model = Event
    serializer_class = EventSerializer
    filterset_class = EventFilterSet
