from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts.models import ContactList
from subscriptions.models import SubscriptionForm


@extend_schema_field(OpenApiTypes.UUID)
class ListIdField(serializers.PrimaryKeyRelatedField):
    """A list of the request's workspace (another workspace's id is "not found")."""

    def get_queryset(self):
        workspace = self.context.get("workspace")
        if workspace is None:
            return ContactList.objects.none()
        return ContactList.objects.for_workspace(workspace)


class SubscriptionFormSerializer(serializers.ModelSerializer):
    list_id = ListIdField(source="contact_list", help_text="The list people join.")
    fields = serializers.ListField(
        child=serializers.CharField(max_length=120),
        required=False,
        max_length=50,
        help_text=(
            "Fields asked besides the email: first_name, last_name, phone, company, job_title, "
            "or properties.<key> of a defined property."
        ),
    )
    success_url = serializers.URLField(
        required=False, allow_blank=True, max_length=200, help_text="http(s) address, or empty."
    )
    hosted_url = serializers.SerializerMethodField(help_text="The hosted form page.")

    class Meta:
        model = SubscriptionForm
        fields = [
            "id",
            "name",
            "list_id",
            "fields",
            "title",
            "success_message",
            "error_message",
            "success_url",
            "is_active",
            "hosted_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_hosted_url(self, form: SubscriptionForm) -> str:
        path = reverse("subscriptions_public:form", args=[form.pk])
        return f"{settings.PUBLIC_BASE_URL}{path}"
