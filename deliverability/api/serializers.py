from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts.models import ContactList
from deliverability.models import (
    SendingDomain,
    Suppression,
    SuppressionSource,
    SuppressionType,
    SuppressionWhitelist,
    Unsubscribe,
    UnsubscribeReason,
    UnsubscribeScope,
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


@extend_schema_field(OpenApiTypes.UUID)
class ListIdField(serializers.PrimaryKeyRelatedField):
    """A list of the request's workspace."""

    def get_queryset(self):
        workspace = self.context.get("workspace")
        if workspace is None:
            return ContactList.objects.none()
        return ContactList.objects.filter(workspace=workspace)


class UnsubscribeSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(max_length=254)
    source = serializers.ChoiceField(
        choices=UnsubscribeSource.choices, default=UnsubscribeSource.API
    )
    scope = serializers.ChoiceField(
        choices=UnsubscribeScope.choices,
        required=False,
        help_text="global (all mail), domain (needs domain_id) or list (needs list_id); "
        "when left out, from which of domain_id and list_id is given.",
    )
    domain_id = DomainIdField(source="domain", allow_null=True, required=False, default=None)
    list_id = ListIdField(
        source="contact_list",
        allow_null=True,
        required=False,
        default=None,
        help_text="The list left (a list unsubscribe keeps the person's other lists).",
    )
    reason = serializers.ChoiceField(
        choices=UnsubscribeReason.choices, required=False, allow_blank=True, default=""
    )
    reason_text = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=1000
    )

    class Meta:
        model = Unsubscribe
        fields = [
            "id",
            "email",
            "scope",
            "domain_id",
            "list_id",
            "reason",
            "reason_text",
            "source",
            "campaign_id",
            "created_at",
        ]
        read_only_fields = ["id", "campaign_id", "created_at"]

    def validate(self, data):
        domain, contact_list = data.get("domain"), data.get("contact_list")
        scope = data.pop("scope", None)
        if domain is not None and contact_list is not None:
            raise serializers.ValidationError({"list_id": ["Give a domain or a list, not both."]})
        needs = {
            UnsubscribeScope.DOMAIN: ("domain_id", domain),
            UnsubscribeScope.LIST: ("list_id", contact_list),
        }
        if scope in needs and needs[scope][1] is None:
            name = needs[scope][0]
            raise serializers.ValidationError({name: [f"Required for scope {scope}."]})
        if scope == UnsubscribeScope.GLOBAL and (domain or contact_list):
            raise serializers.ValidationError(
                {"scope": ["A global unsubscribe names no domain and no list."]}
            )
        return data
