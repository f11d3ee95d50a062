from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from contacts.models import Contact
from mailcrm.api.scopes import READ
from mailcrm.api.viewsets import WorkspaceViewSet
from templates import services
from templates.api.serializers import (
    EmailTemplateSerializer,
    PreviewRequestSerializer,
    RenderedSerializer,
)
from templates.filtersets import EmailTemplateFilterSet
from templates.models import EmailTemplate


class EmailTemplateViewSet(WorkspaceViewSet):
    model = EmailTemplate
    serializer_class = EmailTemplateSerializer
    filterset_class = EmailTemplateFilterSet
    ordering_fields = ["name", "created_at"]
    default_ordering = "name"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # Rendering a preview changes nothing; a sending-only key reads the templates it sends with.
    api_scopes = {"preview": READ}
    sending_readable = True

    def perform_create(self, serializer):
        serializer.instance = services.template_create(
            workspace=self.workspace, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.template_update(
            template=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.template_delete(template=instance)

    @extend_schema(
        request=PreviewRequestSerializer,
        responses=RenderedSerializer,
        summary="Render the template for a contact or given variables",
    )
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        template = self.get_object()
        body = PreviewRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = None
        if body.validated_data.get("contact_id"):
            contact = (
                Contact.objects.for_workspace(self.workspace)
                .filter(pk=body.validated_data["contact_id"])
                .first()
            )
            if contact is None:
                raise ValidationError({"contact_id": ["No such contact in this workspace."]})
        rendered = services.template_preview(
            template=template, contact=contact, variables=body.validated_data.get("variables")
        )
        return Response(RenderedSerializer(rendered._asdict()).data)
