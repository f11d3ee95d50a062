from __future__ import annotations

from rest_framework import serializers

from deliverability.models import (
    SendingDomain,
    Suppression,
    SuppressionType,
    SuppressionWhitelist,
    Unsubscribe,
    UnsubscribeSource,
)


class DomainIdField(serializers.PrimaryKeyRelatedField):
    """A sending domain of the request's workspace, or null for every domain."""

    def get_queryset(self):
        workspace = self.context.get("workspace")
        if workspace is None:
            return SendingDomain.objects.none()
        return SendingDomain.objects.for_workspace(workspace)


class SuppressionSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(max_length=254)
    type = serializers.ChoiceField(choices=SuppressionType.choices, default=SuppressionType.MANUAL)
    domain_id = DomainIdField(source="domain", allow_null=True, required=False, default=None)

    class Meta:
        model = Suppression
        fields = ["id", "email", "type", "domain_id", "reason", "created_at"]
        read_only_fields = ["id", "created_at"]


class WhitelistSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(max_length=254)

    class Meta:
        model = SuppressionWhitelist
        fields = ["id", "email", "reason", "created_at"]
        read_only_fields = ["id", "created_at"]


class UnsubscribeSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(max_length=254)
    source = serializers.ChoiceField(
        choices=UnsubscribeSource.choices, default=UnsubscribeSource.API
    )
    domain_id = DomainIdField(source="domain", allow_null=True, required=False, default=None)

    class Meta:
        model = Unsubscribe
        fields = ["id", "email", "domain_id", "source", "campaign_id", "created_at"]
        read_only_fields = ["id", "campaign_id", "created_at"]
