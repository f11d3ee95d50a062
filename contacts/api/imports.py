"""CSV import (`/imports`) and streaming export (`/contacts/export`) endpoints."""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from contacts import exports, imports
from contacts.api.serializers import QueuedSerializer
from contacts.filtersets import ContactFilterSet
from contacts.models import Contact, ContactList, ImportJob
from mailcrm.api.csv import CsvRenderer, content_length
from mailcrm.api.schema import ErrorSerializer, MailcrmAutoSchema
from mailcrm.api.viewsets import WorkspaceReadOnlyViewSet, WorkspaceScopedMixin


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    reason = serializers.CharField()


class ImportJobSerializer(serializers.ModelSerializer):
    list_id = serializers.UUIDField(source="contact_list_id", allow_null=True, read_only=True)
    errors = ImportErrorSerializer(many=True, read_only=True)
    mapping = serializers.DictField(child=serializers.CharField(), read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "filename",
            "total_rows",
            "processed",
            "created",
            "updated",
            "skipped",
            "error_count",
            "errors",
            "failure_reason",
            "mapping",
            "update_existing",
            "validate_emails",
            "tags",
            "list_id",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportJobListSerializer(ImportJobSerializer):
    """The history omits per-row errors (up to 10,000 each); GET one import to read them."""

    class Meta(ImportJobSerializer.Meta):
        fields = [name for name in ImportJobSerializer.Meta.fields if name != "errors"]
        read_only_fields = fields


class ImportStartSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The CSV file, at most 50 MB.")
    mapping = serializers.CharField(
        required=False,
        help_text=(
            "JSON object from CSV column to `email`, a standard field or `properties.<key>`, e.g. "
            '`{"E-mail": "email", "Plan": "properties.plan"}`. Default: guessed from the headers.'
        ),
    )
    update_existing = serializers.BooleanField(default=True)
    validate_emails = serializers.BooleanField(
        default=False,
        help_text="Validate each address first (syntax, domain, mail server): invalid rows are "
        "refused with the reason, risky ones imported and flagged.",
    )
    tags = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Comma-separated tags for every imported contact.",
    )
    list_id = serializers.UUIDField(required=False, allow_null=True)

    def validate_mapping(self, value: str) -> dict[str, str]:
        try:
            mapping = json.loads(value)
        except ValueError:
            raise serializers.ValidationError("Must be a JSON object.") from None
        if not isinstance(mapping, dict) or not all(
            isinstance(key, str) and isinstance(target, str | None)
            for key, target in mapping.items()
        ):
            raise serializers.ValidationError("Must be a JSON object from column to field.")
        return mapping

    def validate_tags(self, value: str) -> list[str]:
        return [name.strip() for name in value.split(",") if name.strip()]

    def validate_list_id(self, value):
        if value is None:
            return None
        found = ContactList.objects.for_workspace(self.context["workspace"]).filter(pk=value)
        contact_list = found.first()
        if contact_list is None:
            raise serializers.ValidationError("No such list.")
        return contact_list


@extend_schema_view(
    list=extend_schema(summary="Import history"),
    retrieve=extend_schema(summary="Progress and result of one import"),
)
class ImportViewSet(WorkspaceReadOnlyViewSet):
    model = ImportJob
    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser]
    ordering_fields = ["created_at"]
    default_ordering = "-pk"

    def get_serializer_class(self):
        return ImportJobListSerializer if self.action == "list" else ImportJobSerializer

    @extend_schema(
        request={"multipart/form-data": ImportStartSerializer},
        responses={
            202: QueuedSerializer,
            413: OpenApiResponse(ErrorSerializer, description="The file is over 50 MB."),
            415: OpenApiResponse(ErrorSerializer, description="The body is not multipart."),
        },
        summary="Import contacts from a CSV file (runs in the background)",
    )
    def create(self, request, *args, **kwargs):
        # Refuse an oversized body before reading it; the form fields around the file are small.
        length = content_length(request)
        if length > imports.MAX_IMPORT_BYTES + (1 << 20):
            raise imports.ImportTooLarge(length)
        body = ImportStartSerializer(data=request.data, context={"workspace": self.workspace})
        upload = request.data.get("file")
        if getattr(upload, "size", 0) > imports.MAX_IMPORT_BYTES:
            raise imports.ImportTooLarge(upload.size)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        job = imports.import_start(
            workspace=self.workspace,
            data=data["file"].read(),
            filename=data["file"].name or "",
            mapping=data.get("mapping"),
            update_existing=data["update_existing"],
            validate_emails=data["validate_emails"],
            tags=data.get("tags", []),
            contact_list=data.get("list_id"),
        )
        return Response({"id": job.id, "status": job.status}, status=status.HTTP_202_ACCEPTED)


class _ExportSchema(MailcrmAutoSchema):
    def get_filter_backends(self):
        # A list in all but its format: it takes the contact list's filters.
        return getattr(self.view, "filter_backends", [])


class ContactExportView(WorkspaceScopedMixin, generics.GenericAPIView):
    schema = _ExportSchema()
    model = Contact
    filterset_class = ContactFilterSet
    pagination_class = None
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            400: OpenApiResponse(ErrorSerializer, description="A bad filter or query."),
            404: OpenApiResponse(ErrorSerializer, description="An unknown tag, list or segment."),
        },
        summary="Stream the filtered contacts as CSV",
        description=(
            "Same filters as the contact list. Columns: standard fields, tags, lists, then "
            "`properties.<key>` for every property; formula-like cells are neutralised."
        ),
    )
    def get(self, request, *args, **kwargs):
        contacts = self.filter_queryset(self.get_queryset())
        return exports.export_response(self.workspace, contacts, "contacts.csv")
