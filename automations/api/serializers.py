from __future__ import annotations

from rest_framework import serializers

from automations.models import (
    Automation,
    AutomationStatus,
    Enrollment,
    EnrollmentHistory,
    Reentry,
    Step,
    StepPath,
    StepType,
    TriggerType,
)


class StepSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(choices=StepType.choices)
    parent_id = serializers.UUIDField(required=False, allow_null=True)
    path = serializers.ChoiceField(choices=StepPath.choices, required=False, allow_blank=True)
    position = serializers.IntegerField(required=False, min_value=0)
    config = serializers.JSONField(required=False)
    campaign_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Step
        fields = ["id", "type", "config", "parent_id", "path", "position", "campaign_id"]
        read_only_fields = ["id"]


class StepUpdateSerializer(serializers.Serializer):
    config = serializers.JSONField()


class AutomationSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=AutomationStatus.choices, read_only=True)
    trigger_type = serializers.ChoiceField(choices=TriggerType.choices, required=False)
    trigger_config = serializers.JSONField(required=False)
    reentry = serializers.ChoiceField(choices=Reentry.choices, required=False)
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = Automation
        fields = [
            "id",
            "name",
            "description",
            "status",
            "trigger_type",
            "trigger_config",
            "goal_query",
            "reentry",
            "reentry_days",
            "steps",
            "status_reason",
            "activated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status_reason", "activated_at", "created_at", "updated_at"]


class EnrollRequestSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=10_000)
    query = serializers.CharField(required=False, allow_blank=False)

    def validate(self, attrs):
        if not attrs.get("ids") and not attrs.get("query"):
            raise serializers.ValidationError({"ids": ["Give contact ids or a query."]})
        return attrs


class EnrolledCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class HistorySerializer(serializers.ModelSerializer):
    step_id = serializers.UUIDField(allow_null=True)
    message_id = serializers.UUIDField(allow_null=True)

    class Meta:
        model = EnrollmentHistory
        fields = ["kind", "step_id", "outcome", "message_id", "at"]


class EnrollmentSerializer(serializers.ModelSerializer):
    contact_id = serializers.UUIDField()
    email = serializers.EmailField(source="contact.email")
    step_id = serializers.UUIDField(allow_null=True)
    history = HistorySerializer(many=True)

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "contact_id",
            "email",
            "status",
            "step_id",
            "due_at",
            "entered_at",
            "finished_at",
            "exit_reason",
            "history",
        ]


class StepCountSerializer(serializers.Serializer):
    step_id = serializers.UUIDField()
    type = serializers.CharField()
    waiting = serializers.IntegerField(help_text="Enrolments at this step now.")
    passed = serializers.IntegerField(help_text="Enrolments that have done this step.")


class EnrollmentsSerializer(serializers.Serializer):
    steps = StepCountSerializer(many=True)
    totals = serializers.DictField(child=serializers.IntegerField())
    results = EnrollmentSerializer(many=True)
    next = serializers.CharField(allow_null=True)


class TrackEventSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False)
    contact_id = serializers.UUIDField(required=False)
    event = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,64}$")
    properties = serializers.DictField(required=False)
    timestamp = serializers.DateTimeField(required=False)
    create = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("contact_id"):
            raise serializers.ValidationError(
                {"email": ["Give the contact's email or contact_id."]}
            )
        return attrs


class TrackBatchSerializer(serializers.Serializer):
    events = TrackEventSerializer(many=True, max_length=1000, allow_empty=False)


class TrackResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["recorded", "error"])
    contact_id = serializers.UUIDField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class TrackBatchResultSerializer(serializers.Serializer):
    results = TrackResultSerializer(many=True)
