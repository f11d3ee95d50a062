from __future__ import annotations

from django.shortcuts import get_object_or_404
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from mailcrm.api.viewsets import WorkspaceViewSet, ensure_uuid
from webhooks import services
from webhooks.api.serializers import (
    SecretRotatedSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)
from webhooks.filtersets import WebhookDeliveryFilterSet
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


class WebhookEndpointViewSet(WorkspaceViewSet):
    """Outbound webhook endpoints. The signing secret is in the creation response only."""

    model = WebhookEndpoint
    serializer_class = WebhookEndpointSerializer
    ordering_fields = ["created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scoped_queryset(self):
        return super().scoped_queryset().prefetch_related("domains")

    @extend_schema(
        request=WebhookEndpointSerializer, responses={201: WebhookEndpointCreatedSerializer}
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_create(
            workspace=self.workspace, **serializer.validated_data
        )
        endpoint.secret = secret  # the plain secret, for this one response
        body = WebhookEndpointCreatedSerializer(endpoint, context=self.get_serializer_context())
        return Response(body.data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = services.endpoint_update(
            endpoint=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.endpoint_delete(endpoint=instance)

    @extend_schema(request=None, responses=SecretRotatedSerializer, summary="Rotate the secret")
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        endpoint = self.get_object()
        secret = services.endpoint_rotate_secret(endpoint=endpoint)
        return Response(SecretRotatedSerializer({"id": endpoint.pk, "secret": secret}).data)

    @extend_schema(
        request=None, responses={202: WebhookDeliverySerializer}, summary="Send a test event"
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = services.send_test_event(endpoint=self.get_object())
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None,
        responses=WebhookDeliverySerializer(many=True),
        parameters=[
            OpenApiParameter("status", str, enum=DeliveryStatus.values),
            OpenApiParameter("event_type", str),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="created at or after"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="created before"),
        ],
        summary="Deliveries to the endpoint, newest first, with every attempt",
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        queryset = WebhookDelivery.objects.filter(endpoint=endpoint).prefetch_related("log")
        filterset = WebhookDeliveryFilterSet(request.query_params, queryset=queryset)
        if not filterset.is_valid():  # a bad filter is a 400, not silently no filter
            raise translate_validation(filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        request=None, responses={202: WebhookDeliverySerializer}, summary="Resend one delivery"
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[^/]+)/retry",
    )
    def retry(self, request, pk=None, delivery_id=None):
        endpoint = self.get_object()
        ensure_uuid(delivery_id)
        delivery = get_object_or_404(WebhookDelivery, endpoint=endpoint, pk=delivery_id)
        delivery = services.delivery_retry(delivery=delivery)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
