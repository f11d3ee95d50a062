from __future__ import annotations

from rest_framework import serializers

from deliverability.models import SendingDomain
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import EVENT_TYPES


class DomainIdsField(serializers.PrimaryKeyRelatedField):
    """Sending domains of the request's workspace."""

    def get_queryset(self):
        workspace = self.context.get("workspace")
        if workspace is None:
            return SendingDomain.objects.none()
        return SendingDomain.objects.for_workspace(workspace)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        required=False,
        help_text="Event types to receive; empty or omitted = every event.",
    )
    domain_ids = DomainIdsField(
        source="domains",
        many=True,
        required=False,
        help_text="Only email events of mail from these domains; null or [] = the workspace.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "name",
            "url",
            "events",
            "domain_ids",
            "is_active",
            "failing_since",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "failing_since", "disabled_reason", "created_at", "updated_at"]

    def to_internal_value(self, data):
        if hasattr(data, "get") and "domain_ids" in data and data.get("domain_ids") is None:
            data = {**data, "domain_ids": []}  # null means the whole workspace, like []
        return super().to_internal_value(data)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="whsec_… signing secret. Shown this once; store it now."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class SecretRotatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    secret = serializers.CharField(
        help_text="The new secret. The old one keeps signing beside it for 24 hours."
    )


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number",
            "status_code",
            "duration_ms",
            "error",
            "response_excerpt",
            "attempted_at",
        ]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(allow_null=True, read_only=True)
    webhook_id = serializers.CharField(read_only=True)
    log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook_id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "payload",
            "created_at",
            "log",
        ]
