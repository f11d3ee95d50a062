from __future__ import annotations

from rest_framework import serializers

from mailcrm.models import ApiKey, Event, Workspace


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "rotated_at", "revoked_at"]
        read_only_fields = [
            "id",
            "prefix",
            "created_at",
            "last_used_at",
            "rotated_at",
            "revoked_at",
        ]


class ApiKeyCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    key = serializers.CharField(help_text="The secret. Shown this once; store it now.")


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
