"""``GET /statistics`` (API.md): the workspace's sending and engagement per day, week or month."""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.api.serializers import EngagementSerializer
from campaigns.models import Campaign
from campaigns.statistics import GROUPINGS, StatisticsQuery, default_window, workspace_statistics
from deliverability.models import SendingDomain
from mailcrm.api.schema import ErrorSerializer


@extend_schema_field({"type": "string", "example": "2026-01-31"})
class DateOrDateTimeField(serializers.Field):
    """An ISO 8601 date (midnight UTC) or date-time (UTC when it names no offset)."""

    default_error_messages = {"invalid": "Give an ISO 8601 date or date-time, e.g. 2026-01-31."}

    def to_internal_value(self, data):
        text = str(data).strip()
        try:
            moment = parse_datetime(text)
            if moment is None and (day := parse_date(text)) is not None:
                moment = datetime.combine(day, time.min)
        except ValueError:
            moment = None
        if moment is None:
            self.fail("invalid")
        return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment

    def to_representation(self, value):
        return value.isoformat()


class StatisticsQuerySerializer(serializers.Serializer):
    from_ = DateOrDateTimeField(required=False, help_text="Start (default: 30 days ago).")
    to = DateOrDateTimeField(required=False, help_text="End, excluded (default: end of today).")
    group_by = serializers.ChoiceField(choices=list(GROUPINGS), default="day")
    tag = serializers.CharField(max_length=100, required=False, allow_blank=True)
    domain_id = serializers.UUIDField(required=False, help_text="A sending domain's id.")
    campaign_id = serializers.UUIDField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate_domain_id(self, value):
        domain = SendingDomain.objects.filter(workspace=self.context["workspace"], pk=value)
        name = domain.values_list("domain", flat=True).first()
        if name is None:
            raise serializers.ValidationError("No such sending domain in this workspace.")
        return name

    def validate_campaign_id(self, value):
        if not Campaign.objects.filter(workspace=self.context["workspace"], pk=value).exists():
            raise serializers.ValidationError("No such campaign in this workspace.")
        return str(value)

    def validate(self, attrs):
        default_start, default_end = default_window(timezone.now())
        attrs.setdefault("to", default_end)
        attrs.setdefault("from", min(default_start, attrs["to"]))
        if attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["Must be later than 'from'."]})
        return attrs


class TotalsSerializer(serializers.Serializer):
    sends = serializers.IntegerField()
    delivered = serializers.IntegerField()
    bounces = serializers.IntegerField()
    opens = EngagementSerializer()
    clicks = EngagementSerializer()
    complaints = serializers.IntegerField()
    unsubscribes = serializers.IntegerField()


class PeriodSerializer(TotalsSerializer):
    period = serializers.DateTimeField(help_text="Start of the day, week (Monday) or month, UTC.")


class HumanMachineSerializer(serializers.Serializer):
    human = serializers.IntegerField()
    machine = serializers.IntegerField()


class BreakdownSerializer(serializers.Serializer):
    name = serializers.CharField()
    opens = HumanMachineSerializer()
    clicks = HumanMachineSerializer()


class StatisticsSerializer(serializers.Serializer):
    from_ = serializers.DateTimeField()
    to = serializers.DateTimeField()
    group_by = serializers.CharField()
    periods = PeriodSerializer(many=True)
    totals = TotalsSerializer()
    devices = BreakdownSerializer(many=True, help_text="Opens and clicks per device type.")
    clients = BreakdownSerializer(many=True, help_text="Opens and clicks per mail client.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class StatisticsView(APIView):
    # A sending-only key reads what it sends, as it reads its campaigns' statistics.
    sending_readable = True

    @extend_schema(
        parameters=[StatisticsQuerySerializer],
        responses={200: StatisticsSerializer, 400: ErrorSerializer},
        summary="Sends, deliveries, bounces, opens, clicks, complaints, unsubscribes per period",
    )
    def get(self, request):
        workspace = request.user.workspace
        # A plain dict: an empty value is refused like any other bad one (a QueryDict would
        # let DRF read it as "not given").
        params = StatisticsQuerySerializer(
            data=request.query_params.dict(), context={"workspace": workspace}
        )
        params.is_valid(raise_exception=True)
        data = params.validated_data
        query = StatisticsQuery(
            start=data["from"],
            end=data["to"],
            group_by=data["group_by"],
            tag=data.get("tag", ""),
            domain=data.get("domain_id", ""),
            campaign_id=data.get("campaign_id"),
        )
        return Response(StatisticsSerializer(workspace_statistics(workspace, query)).data)
