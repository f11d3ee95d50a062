from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from deliverability import exports, services
from deliverability.api.serializers import (
    SuppressionImportResultSerializer,
    SuppressionImportSerializer,
    SuppressionSerializer,
    UnsubscribeSerializer,
    WhitelistSerializer,
)
from deliverability.filtersets import (
    SuppressionFilterSet,
    UnsubscribeFilterSet,
    WhitelistFilterSet,
)
from deliverability.models import Suppression, SuppressionSource, SuppressionWhitelist, Unsubscribe
from mailcrm.api.csv import CsvRenderer, content_length
from mailcrm.api.schema import ErrorSerializer, MailcrmAutoSchema
from mailcrm.api.viewsets import WorkspaceCreateListDestroyViewSet


class _SuppressionSchema(MailcrmAutoSchema):
    def get_filter_backends(self):
        # The export is a list in all but its format: it takes the list's filters.
        if getattr(self.view, "action", None) == "export":
            return getattr(self.view, "filter_backends", [])
        return super().get_filter_backends()


class SuppressionViewSet(WorkspaceCreateListDestroyViewSet):
    model = Suppression
    serializer_class = SuppressionSerializer
    filterset_class = SuppressionFilterSet
    ordering_fields = ["created_at", "email"]
    schema = _SuppressionSchema()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        suppression = services.suppression_add(
            workspace=self.workspace, source=SuppressionSource.API, **serializer.validated_data
        )
        return Response(self.get_serializer(suppression).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.suppression_remove(suppression=instance)

    @extend_schema(
        request={"multipart/form-data": SuppressionImportSerializer},
        responses={
            200: SuppressionImportResultSerializer,
            413: OpenApiResponse(ErrorSerializer, description="The file is over 5 MB."),
            415: OpenApiResponse(ErrorSerializer, description="The body is not multipart."),
        },
        summary="Suppress the addresses of a CSV file (source: import)",
        description=(
            "Columns `email[,type,reason]`, with or without a header row (`email`, `type`, "
            "`reason` in any order). Good rows are kept, bad ones reported with their row "
            "number; an address already suppressed keeps the stronger type."
        ),
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser],
        filterset_class=None,
        pagination_class=None,
    )
    def import_csv(self, request):
        # Refuse an oversized body before reading it; the form fields around it are small.
        length = content_length(request)
        if length > services.MAX_IMPORT_BYTES + (1 << 20):
            raise services.SuppressionImportTooLarge(length)
        body = SuppressionImportSerializer(data=request.data, context=self.get_serializer_context())
        upload = request.data.get("file")
        if getattr(upload, "size", 0) > services.MAX_IMPORT_BYTES:
            raise services.SuppressionImportTooLarge(upload.size)
        body.is_valid(raise_exception=True)
        result = services.suppressions_import_csv(
            workspace=self.workspace,
            data=body.validated_data["file"].read(),
            domain=body.validated_data["domain"],
            default_type=body.validated_data["type"],
        )
        return Response(SuppressionImportResultSerializer(result).data)

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            400: OpenApiResponse(ErrorSerializer, description="A bad filter."),
        },
        summary="Stream the filtered suppressions as CSV",
        description=(
            "Same filters as the list. Columns: email, type, reason, source, domain, "
            "created_at; formula-like cells are neutralised."
        ),
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        renderer_classes=[JSONRenderer, CsvRenderer],
        pagination_class=None,
    )
    def export(self, request):
        suppressions = self.filter_queryset(self.get_queryset())
        return exports.export_response(self.workspace, suppressions)


class WhitelistViewSet(WorkspaceCreateListDestroyViewSet):
    model = SuppressionWhitelist
    serializer_class = WhitelistSerializer
    filterset_class = WhitelistFilterSet
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
