"""Sending domains (``/customer/domains``) and tracking domains (``/customer/tracking-domains``):
parse, call ``deliverability.domains`` / ``deliverability.tracking_domains``, answer."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from deliverability import domains, tracking_domains, warmup
from deliverability.api.domain_serializers import (
    SendingDomainCreateSerializer,
    SendingDomainSerializer,
    SendingDomainUpdateSerializer,
    TrackingDomainCreateSerializer,
    TrackingDomainListSerializer,
    TrackingDomainSerializer,
)
from deliverability.api.warmup_serializers import warmup_arguments
from deliverability.models import SendingDomain, TrackingDomain
from mailcrm.api.viewsets import WorkspaceScopedMixin


class SendingDomainViewSet(
    WorkspaceScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Sending domains with the DNS records to publish and the last check of each."""

    model = SendingDomain
    serializer_class = SendingDomainSerializer
    ordering_fields = ["created_at", "domain"]
    default_ordering = "domain"

    def scoped_queryset(self):
        return super().scoped_queryset().select_related("tracking_domain")

    @extend_schema(
        request=SendingDomainCreateSerializer,
        responses={201: SendingDomainSerializer},
        summary="Add a domain (a DKIM key is generated); 409 if already added, 422 past the "
        "plan's limit",
    )
    def create(self, request):
        body = SendingDomainCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        domain = domains.domain_add(workspace=self.workspace, domain=body.validated_data["domain"])
        return Response(self.get_serializer(domain).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=SendingDomainUpdateSerializer,
        responses={200: SendingDomainSerializer},
        summary="Choose the tracking domain of this domain's links, start, change or stop "
        "its warm-up",
    )
    def partial_update(self, request, pk=None):
        domain = self.get_object()
        body = SendingDomainUpdateSerializer(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        body.is_valid(raise_exception=True)
        if "tracking_domain" in body.validated_data:
            domain = domains.domain_set_tracking_domain(
                domain=domain, tracking_domain=body.validated_data["tracking_domain"]
            )
        arguments = warmup_arguments(domain, body.validated_data)
        if arguments is not None:
            domain = warmup.domain_set_warmup(domain=domain, **arguments)
        return Response(self.get_serializer(domain).data)

    def perform_destroy(self, instance):
        domains.domain_delete(domain=instance)

    @extend_schema(
        request=None,
        responses={200: SendingDomainSerializer},
        summary="Check the domain's DNS now; each record gets a status, what was found and why",
    )
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        domain = domains.domain_verify(self.get_object())
        return Response(self.get_serializer(domain).data)


class TrackingDomainViewSet(
    WorkspaceScopedMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Tracking domains: hostnames of yours pointed by CNAME at our tracking host."""

    model = TrackingDomain
    serializer_class = TrackingDomainSerializer
    pagination_class = None

    @extend_schema(
        responses={200: TrackingDomainListSerializer},
        summary="Every tracking domain of the workspace",
    )
    def list(self, request):
        rows = self.get_queryset().order_by("domain")
        return Response({"tracking_domains": self.get_serializer(rows, many=True).data})

    @extend_schema(
        request=TrackingDomainCreateSerializer,
        responses={201: TrackingDomainSerializer},
        summary="Add a tracking domain; 409 if the hostname is already in use",
    )
    def create(self, request):
        body = TrackingDomainCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        tracking_domain = tracking_domains.tracking_domain_add(
            workspace=self.workspace, domain=body.validated_data["domain"]
        )
        return Response(self.get_serializer(tracking_domain).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        tracking_domains.tracking_domain_delete(tracking_domain=instance)

    @extend_schema(
        request=None,
        responses={200: TrackingDomainSerializer},
        summary="Check the CNAME now (and HTTPS once the CNAME is right)",
    )
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        tracking_domain = tracking_domains.tracking_domain_verify(self.get_object())
        return Response(self.get_serializer(tracking_domain).data)
