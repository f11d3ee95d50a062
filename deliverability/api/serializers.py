from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deliverability.models import (
    SendingDomain,
    Suppression,
    SuppressionSource,
    SuppressionType,
    SuppressionWhitelist,
    Unsubscribe,
    UnsubscribeSource,
)


@extend_schema_field(OpenApiTypes.UUID)
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
    source = serializers.ChoiceField(
        choices=SuppressionSource.choices,
        read_only=True,
        help_text="How it came: bounce, complaint, api, import or manual (set by the server).",
    )

    class Meta:
        model = Suppression
        fields = ["id", "email", "type", "domain_id", "source", "reason", "created_at"]
        read_only_fields = ["id", "source", "created_at"]


class SuppressionImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV of `email[,type,reason]`, with or without a header row; at most 5 MB."
    )
    type = serializers.ChoiceField(
        choices=SuppressionType.choices,
        default=SuppressionType.MANUAL,
        help_text="The type of rows whose type column is empty or missing.",
    )
    domain_id = DomainIdField(
        source="domain",
        allow_null=True,
        required=False,
        default=None,
        help_text="Suppress for this sending domain only; empty: from every domain.",
    )


class ImportRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="As a spreadsheet shows it: the first line is 1.")
    reason = serializers.CharField()


class SuppressionImportResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField(help_text="Data rows read (blank lines and header excluded).")
    created = serializers.IntegerField()
    upgraded = serializers.IntegerField(help_text="Existing suppressions given a stronger type.")
    unchanged = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = ImportRowErrorSerializer(
        many=True, help_text="The rejected rows (the first 1,000), with why."
    )


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
