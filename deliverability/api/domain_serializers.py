"""Bodies of the sending-domain and tracking-domain endpoints (API.md, "Deliverability")."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from deliverability import domains, tracking_domains, warmup
from deliverability.api.warmup_serializers import WarmupSerializer, WarmupUpdateSerializer
from deliverability.models import RecordStatus, SendingDomain, TrackingDomain

PURPOSES = [("spf", "SPF"), ("dkim", "DKIM"), ("dmarc", "DMARC"), ("return_path", "Return path")]


class DnsRecordSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=[("TXT", "TXT"), ("CNAME", "CNAME")])
    host = serializers.CharField(help_text="The full name the record is published at.")
    value = serializers.CharField(help_text="The value to publish.")
    purpose = serializers.ChoiceField(choices=PURPOSES)
    status = serializers.ChoiceField(choices=RecordStatus.choices)
    found = serializers.ListField(
        child=serializers.CharField(), help_text="What DNS answered at the last check."
    )
    explanation = serializers.CharField(help_text="What the last check found, for a person.")


class AlignmentSerializer(serializers.Serializer):
    domain = serializers.CharField(
        allow_null=True, help_text="The DKIM d= or Return-Path domain (null: none)."
    )
    mode = serializers.ChoiceField(
        choices=["relaxed", "strict"], help_text="What the DMARC record asks for."
    )
    status = serializers.ChoiceField(choices=["aligned", "misaligned"])
    relaxed = serializers.BooleanField(help_text="Aligned in relaxed mode.")
    strict = serializers.BooleanField(help_text="Aligned in strict mode.")
    explanation = serializers.CharField()
    fix = serializers.CharField(allow_blank=True, help_text="What to change; empty when aligned.")


class AlignmentReportSerializer(serializers.Serializer):
    from_domain = serializers.CharField()
    organizational_domain = serializers.CharField()
    dmarc_record = serializers.CharField(
        allow_null=True, help_text="Where the governing DMARC record is (null: none)."
    )
    dkim = AlignmentSerializer()
    return_path = AlignmentSerializer()
    dmarc_can_pass = serializers.BooleanField(
        help_text="DKIM or the Return-Path aligns, so DMARC can pass."
    )

    def to_representation(self, instance):
        return super().to_representation(instance) if instance else None


@extend_schema_field(OpenApiTypes.UUID)
class TrackingDomainIdField(serializers.PrimaryKeyRelatedField):
    """A tracking domain of the request's workspace, or null for our own tracking host."""

    def get_queryset(self):
        workspace = self.context.get("workspace")
        if workspace is None:
            return TrackingDomain.objects.none()
        return TrackingDomain.objects.for_workspace(workspace)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except (serializers.ValidationError, DjangoValidationError):
            # Unknown, malformed or another workspace's: one answer for all three.
            raise serializers.ValidationError("No such tracking domain.") from None


class SendingDomainSerializer(serializers.ModelSerializer):
    domain = serializers.CharField(max_length=253, help_text="e.g. example.com")
    tracking_domain_id = TrackingDomainIdField(
        source="tracking_domain",
        allow_null=True,
        read_only=True,
        help_text="The tracking domain used in the links of mail from this domain.",
    )
    dns_records = serializers.SerializerMethodField()
    alignment = AlignmentReportSerializer(
        read_only=True,
        allow_null=True,
        help_text="DMARC alignment at the last verification (null: not verified yet).",
    )

    class Meta:
        model = SendingDomain
        fields = [
            "id",
            "domain",
            "is_verified",
            "verified_at",
            "dkim_selector",
            "tracking_domain_id",
            "dns_records",
            "alignment",
            "last_checked_at",
            "created_at",
            "warmup",
        ]
        read_only_fields = [
            "id",
            "is_verified",
            "verified_at",
            "dkim_selector",
            "last_checked_at",
            "created_at",
        ]

    @extend_schema_field(DnsRecordSerializer(many=True))
    def get_dns_records(self, obj: SendingDomain) -> list[dict]:
        return domains.dns_records(obj)

    warmup = serializers.SerializerMethodField()

    @extend_schema_field(WarmupSerializer(allow_null=True))
    def get_warmup(self, obj: SendingDomain) -> dict | None:
        """The warm-up and today's cap (null: no warm-up set)."""
        status = warmup.warmup_status(obj)
        return WarmupSerializer(status).data if status else None


class SendingDomainCreateSerializer(serializers.Serializer):
    domain = serializers.CharField(max_length=253, help_text="e.g. example.com")


class SendingDomainUpdateSerializer(WarmupUpdateSerializer):
    tracking_domain_id = TrackingDomainIdField(
        source="tracking_domain",
        allow_null=True,
        help_text="A tracking domain of this workspace, or null for our own tracking host.",
    )


class DnsSetupSerializer(serializers.Serializer):
    record_type = serializers.ChoiceField(choices=[("CNAME", "CNAME")])
    hostname = serializers.CharField()
    value = serializers.CharField()
    instructions = serializers.CharField()


class TrackingDomainSerializer(serializers.ModelSerializer):
    domain = serializers.CharField(max_length=253, help_text="e.g. links.example.com")
    https_url = serializers.CharField(
        read_only=True, allow_null=True, help_text="Set once HTTPS works on the domain."
    )
    dns_setup = serializers.SerializerMethodField()

    class Meta:
        model = TrackingDomain
        fields = [
            "id",
            "domain",
            "cname_target",
            "is_verified",
            "verified_at",
            "ssl_enabled",
            "https_url",
            "created_at",
            "dns_setup",
        ]
        read_only_fields = [
            "id",
            "cname_target",
            "is_verified",
            "verified_at",
            "ssl_enabled",
            "created_at",
        ]

    @extend_schema_field(DnsSetupSerializer)
    def get_dns_setup(self, obj: TrackingDomain) -> dict:
        return tracking_domains.dns_setup(obj)


class TrackingDomainCreateSerializer(serializers.Serializer):
    domain = serializers.CharField(max_length=253, help_text="e.g. links.example.com")


@extend_schema_serializer(many=False)  # one object holding the list, not an array
class TrackingDomainListSerializer(serializers.Serializer):
    tracking_domains = TrackingDomainSerializer(many=True)
