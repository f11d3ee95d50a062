"""Bodies of the checks API: email validation, content score and risk assessment."""

from __future__ import annotations

from rest_framework import serializers

from deliverability.models import RiskPolicy, ValidationResult
from deliverability.risk import MAX_RECIPIENTS

MAX_BULK = 1000
# Longest address RFC 5321 allows is 254; a little more is accepted and answered "invalid".
MAX_ADDRESS_CHARS = 320
MAX_HTML_CHARS = 2_000_000


class ValidationChecksSerializer(serializers.Serializer):
    syntax = serializers.BooleanField()
    mx = serializers.BooleanField(
        allow_null=True, help_text="Whether the domain takes mail (MX, else A/AAAA); null: unknown."
    )
    disposable = serializers.BooleanField()
    role = serializers.BooleanField()
    free_provider = serializers.BooleanField()


class ValidationResultSerializer(serializers.Serializer):
    email = serializers.CharField(help_text="Normalised and lower-cased.")
    result = serializers.ChoiceField(choices=ValidationResult.choices)
    reasons = serializers.ListField(child=serializers.CharField())
    checks = ValidationChecksSerializer()
    suggestion = serializers.CharField(
        allow_null=True, help_text="The likely intended address when a typo is suspected."
    )


class ValidateEmailSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=MAX_ADDRESS_CHARS, trim_whitespace=True)


class ValidateBulkSerializer(serializers.Serializer):
    emails = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ADDRESS_CHARS, allow_blank=True),
        allow_empty=False,
        help_text=f"Up to {MAX_BULK:,} addresses; duplicates are validated once.",
    )

    def validate_emails(self, value: list[str]) -> list[str]:
        if len(value) > MAX_BULK:
            raise serializers.ValidationError(
                f"At most {MAX_BULK:,} addresses per request (got {len(value):,}); split the list."
            )
        return value


class ValidateBulkResultSerializer(serializers.Serializer):
    results = ValidationResultSerializer(many=True)


class ContentScoreRequestSerializer(serializers.Serializer):
    subject = serializers.CharField(
        max_length=998, required=False, allow_blank=True, trim_whitespace=False
    )
    html = serializers.CharField(
        max_length=MAX_HTML_CHARS, required=False, allow_blank=True, trim_whitespace=False
    )
    text = serializers.CharField(
        max_length=MAX_HTML_CHARS, required=False, allow_blank=True, trim_whitespace=False
    )
    from_email = serializers.CharField(
        max_length=MAX_ADDRESS_CHARS, required=False, allow_blank=True
    )


class ContentIssueSerializer(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.ChoiceField(choices=["error", "warning", "info"])
    message = serializers.CharField()
    fix = serializers.CharField()


class ContentScoreSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=0, max_value=100)
    rating = serializers.ChoiceField(choices=["excellent", "good", "fair", "poor"])
    issues = ContentIssueSerializer(many=True)


class RiskAssessRequestSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField(required=False)
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ADDRESS_CHARS),
        required=False,
        allow_empty=False,
        max_length=MAX_RECIPIENTS,
        help_text=f"Up to {MAX_RECIPIENTS:,} addresses, when no campaign_id is given.",
    )
    from_email = serializers.CharField(
        max_length=MAX_ADDRESS_CHARS,
        required=False,
        allow_blank=True,
        help_text="With recipients: the sender, for the domain-authentication factor.",
    )

    def validate(self, attrs: dict) -> dict:
        if ("campaign_id" in attrs) == ("recipients" in attrs):
            raise serializers.ValidationError("Give either campaign_id or recipients.")
        return attrs


class RiskFactorSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    value = serializers.FloatField(help_text="The measure: a share (0–1) or a rate.")
    weight = serializers.FloatField(help_text="Points this factor adds to the risk score.")
    detail = serializers.CharField()


class RiskAssessmentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    campaign_id = serializers.UUIDField(allow_null=True)
    risk_score = serializers.IntegerField(min_value=0, max_value=100)
    level = serializers.ChoiceField(choices=["low", "medium", "high", "critical"])
    policy = serializers.ChoiceField(choices=RiskPolicy.choices)
    factors = RiskFactorSerializer(many=True)
    recommendations = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
