from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.api.ab import AbTestSummarySerializer, VariantStatsSerializer
from campaigns.models import Campaign, CampaignStatus, Message, MessageEvent, MessageStatus
from deliverability.api.serializers import DomainIdField


class Address(serializers.EmailField):
    """An address as a Message stores it: Django's validator lets up to 320 characters through,
    and one over 254 was a 500 at the INSERT (found by the bad-input corpus)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)


_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


@extend_schema_field({"type": "string", "pattern": _CLOCK, "example": "09:00"})
class ClockTimeField(serializers.TimeField):
    """A time of day as HH:MM (seconds allowed, not shown), as written and as answered.
    OpenAPI's ``time`` format is RFC 3339's full-time (seconds and an offset), which the API
    never answers and which, with DRF's lenient ISO parsing, did not say what it took (found
    by the fuzzing: ``"15:55"`` answered where the schema promised a full-time)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "%H:%M")
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if not isinstance(value, str) or not re.fullmatch(_CLOCK, value):
            self.fail("invalid", format="HH:MM")
        return super().to_internal_value(value)


class AudienceSerializer(serializers.Serializer):
    lists = serializers.ListField(child=serializers.CharField(), required=False)
    segments = serializers.ListField(child=serializers.CharField(), required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    exclude_segments = serializers.ListField(child=serializers.CharField(), required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {
                        key: ["Unknown key: use lists, segments, tags, exclude_segments."]
                        for key in sorted(unknown)
                    }
                )
        return super().to_internal_value(data)


class CampaignSerializer(serializers.ModelSerializer):
    audience = AudienceSerializer(required=False)
    template_id = serializers.UUIDField(required=False, allow_null=True)
    sending_domain_id = DomainIdField(source="sending_domain", allow_null=True, required=False)
    status = serializers.ChoiceField(choices=CampaignStatus.choices, read_only=True)
    send_window = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='Days and hours in each recipient\'s time zone: {"days": ["mon", "tue", "wed", '
        '"thu", "fri"], "start": "09:00", "end": "17:00"} (end may be "24:00"); {} for any '
        "time; null (the default) for the workspace's window.",
    )
    local_time = ClockTimeField(
        required=False,
        allow_null=True,
        help_text="Deliver at this time of day (HH:MM) in each recipient's time zone, on the "
        "day the campaign starts; where it has passed, at once.",
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "subject",
            "template_id",
            "html",
            "text",
            "from_name",
            "from_email",
            "reply_to",
            "audience",
            "send_at",
            "rate_per_minute",
            "send_window",
            "local_time",
            "track_opens",
            "track_clicks",
            "tag",
            "metadata",
            "sending_domain_id",
            "status",
            "status_reason",
            "recipients",
            "started_at",
            "finished_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "status_reason",
            "recipients",
            "started_at",
            "finished_at",
            "created_at",
            "updated_at",
        ]


class ScheduleSerializer(serializers.Serializer):
    send_at = serializers.DateTimeField()


class SendSerializer(serializers.Serializer):
    override_risk = serializers.BooleanField(
        default=False,
        help_text="Send despite a risk assessment that blocks it; only for a key created by "
        "an owner or admin of the workspace (else 403).",
    )


class TestSendSerializer(serializers.Serializer):
    emails = serializers.ListField(child=Address(), min_length=1, max_length=10)


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class MessageSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=MessageStatus.choices)

    class Meta:
        model = Message
        fields = [
            "id",
            "email",
            "contact_id",
            "status",
            "attempts",
            "error",
            "message_id",
            "provider_message_id",
            "created_at",
            "sent_at",
        ]


class EngagementSerializer(serializers.Serializer):
    unique = serializers.IntegerField()
    total = serializers.IntegerField()
    human = serializers.IntegerField()


class TopLinkSerializer(serializers.Serializer):
    url = serializers.CharField()
    clicks = serializers.IntegerField()
    unique = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    queued = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    deferred = serializers.IntegerField()
    waiting = serializers.IntegerField(
        help_text="Waiting for the recipient's local send time or the send window."
    )
    bounced = serializers.IntegerField()
    failed = serializers.IntegerField()
    suppressed = serializers.IntegerField()
    interrupted = serializers.IntegerField()
    opened = EngagementSerializer()
    clicked = EngagementSerializer()
    complained = serializers.IntegerField()
    unsubscribed = serializers.IntegerField()
    rates = serializers.DictField(child=serializers.FloatField())
    top_links = TopLinkSerializer(many=True)
    variants = VariantStatsSerializer(many=True, help_text="Per A/B variant; empty without a test.")
    ab = AbTestSummarySerializer(allow_null=True, help_text="The A/B test, or null.")


class EmailRequestSerializer(serializers.Serializer):
    """A transactional email (API.md ``POST /emails``)."""

    from_ = Address(source="from_email")
    from_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    to = serializers.ListField(child=Address(), min_length=1, max_length=50)
    cc = serializers.ListField(child=Address(), required=False, max_length=50)
    bcc = serializers.ListField(child=Address(), required=False, max_length=50)
    reply_to = Address(required=False, allow_blank=True)
    subject = serializers.CharField(max_length=998, required=False, allow_blank=True)
    html = serializers.CharField(required=False, allow_blank=True)
    text = serializers.CharField(required=False, allow_blank=True)
    template_id = serializers.UUIDField(required=False)
    variables = serializers.DictField(required=False)
    headers = serializers.DictField(child=serializers.CharField(max_length=998), required=False)
    tag = serializers.CharField(max_length=100, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False)
    track_opens = serializers.BooleanField(required=False, default=False)
    track_clicks = serializers.BooleanField(required=False, default=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("to"), str):
            data = {**data, "to": [data["to"]]}
        return super().to_internal_value(data)

    def validate_headers(self, headers: dict) -> dict:
        for name, value in headers.items():
            if not name or any(c in name for c in ":\r\n ") or "\n" in value or "\r" in value:
                raise serializers.ValidationError(f"Header {name!r} is not a valid header.")
        return headers

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("template_id") and not (attrs.get("html") or attrs.get("text")):
            raise serializers.ValidationError({"html": ["Give html or text, or a template_id."]})
        if not attrs.get("template_id") and not attrs.get("subject"):
            raise serializers.ValidationError({"subject": ["A subject is required."]})
        return attrs


class EmailBatchSerializer(serializers.Serializer):
    emails = EmailRequestSerializer(many=True, min_length=1, max_length=500)


class EmailQueuedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class MessageEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageEvent
        fields = ["type", "occurred_at", "url", "is_machine", "device_type", "client", "os", "data"]


class EmailDetailSerializer(serializers.ModelSerializer):
    events = MessageEventSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "email",
            "status",
            "attempts",
            "error",
            "tag",
            "metadata",
            "message_id",
            "provider_message_id",
            "created_at",
            "sent_at",
            "events",
        ]
