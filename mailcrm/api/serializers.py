from __future__ import annotations

from rest_framework import serializers

from deliverability.models import SendingDomain
from mailcrm.models import ApiKey, ApiKeyScope, Event, Workspace


class ApiKeySerializer(serializers.ModelSerializer):
    scope = serializers.ChoiceField(
        choices=ApiKeyScope.choices,
        default=ApiKeyScope.FULL_ACCESS,
        help_text="full_access; sending (send mail, read campaigns, emails and templates); "
        "read_only.",
    )
    sending_domain_ids = serializers.PrimaryKeyRelatedField(
        source="sending_domains",
        many=True,
        required=False,
        queryset=SendingDomain.objects.none(),
        help_text="Sending domains this key may send from (empty: any).",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "sending_domain_ids",
            "created_at",
            "last_used_at",
            "rotated_at",
            "revoked_at",
        ]
        read_only_fields = [
            "id",
            "prefix",
            "created_at",
            "last_used_at",
            "rotated_at",
            "revoked_at",
        ]

    def get_fields(self):
        fields = super().get_fields()
        workspace = self.context.get("workspace")
        if workspace is not None:
            # Only the key's own workspace's domains can be named: another's id is "not found".
            fields[
                "sending_domain_ids"
            ].child_relation.queryset = SendingDomain.objects.for_workspace(workspace)
        return fields


class ApiKeyCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    key = serializers.CharField(help_text="The secret. Shown this once; store it now.")
    scope = serializers.CharField()
    sending_domain_ids = serializers.ListField(child=serializers.UUIDField())


class ApiKeyRotatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    prefix = serializers.CharField()
    key = serializers.CharField(help_text="The new secret. The old one no longer works.")


class LimitsSerializer(serializers.Serializer):
    contacts = serializers.IntegerField(allow_null=True)
    monthly_sends = serializers.IntegerField(allow_null=True)
    sending_domains = serializers.IntegerField(allow_null=True)
    webhook_endpoints = serializers.IntegerField(allow_null=True)
    api_requests_per_minute = serializers.IntegerField(allow_null=True)


class WorkspaceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Workspace
        fields = ["id", "name", "physical_address", "created_at"]


class ProfileSerializer(serializers.Serializer):
    workspace = WorkspaceSerializer()
    limits = LimitsSerializer()
    usage = LimitsSerializer()


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "type", "subject_id", "data", "created_at"]
