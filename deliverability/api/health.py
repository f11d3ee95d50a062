"""`GET /health-score`: the workspace's deliverability health over the last 30 days."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from deliverability import health

STATUSES = ["good", "warning", "critical", "no_data"]


class _MetricSerializer(serializers.Serializer):
    value = serializers.FloatField(
        allow_null=True, help_text="A share between 0 and 1; null without data."
    )
    status = serializers.ChoiceField(choices=STATUSES)
    points = serializers.FloatField(help_text="Points earned towards the score.")
    max_points = serializers.IntegerField(help_text="The metric's weight in the score.")


class RateMetricSerializer(_MetricSerializer):
    count = serializers.IntegerField(help_text="Messages bounced, complained about, opened …")
    of = serializers.IntegerField(help_text="The messages the rate is taken over.")
    of_what = serializers.ChoiceField(choices=["sent", "delivered"])


class DomainAuthenticationSerializer(_MetricSerializer):
    domains = serializers.IntegerField(help_text="Sending domains of the workspace.")
    verified = serializers.IntegerField()
    spf = serializers.IntegerField(help_text="Domains whose SPF record last checked valid.")
    dkim = serializers.IntegerField(help_text="Domains whose DKIM record last checked valid.")
    dmarc = serializers.IntegerField(help_text="Domains whose DMARC record last checked valid.")


class ListHygieneSerializer(_MetricSerializer):
    unengaged_days = serializers.IntegerField()
    active = serializers.IntegerField(help_text="Active contacts (not archived).")
    unengaged = serializers.IntegerField(
        help_text="Active contacts added before, and with no open or click within, the last "
        "`unengaged_days` days; `value` is their share."
    )


class VolumeSerializer(serializers.Serializer):
    sent = serializers.IntegerField(help_text="Messages handed over (accepted or bounced).")
    delivered = serializers.IntegerField(help_text="sent − bounced.")
    bounced = serializers.IntegerField()
    complained = serializers.IntegerField()
    unsubscribed = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="By people: proxies and scanners excluded.")
    clicked = serializers.IntegerField(help_text="By people: scanners excluded.")


class HealthMetricsSerializer(serializers.Serializer):
    window_days = serializers.IntegerField()
    volume = VolumeSerializer()
    bounce_rate = RateMetricSerializer(help_text="Aim under 2% of sent.")
    complaint_rate = RateMetricSerializer(help_text="Aim under 0.1%; never 0.3% or more.")
    unsubscribe_rate = RateMetricSerializer(help_text="Aim under 0.5% of delivered.")
    open_rate = RateMetricSerializer(help_text="Human opens; aim for 15% or more.")
    click_rate = RateMetricSerializer(help_text="Human clicks; aim for 2% or more.")
    domain_authentication = DomainAuthenticationSerializer()
    list_hygiene = ListHygieneSerializer()


class InsightSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="The metric it is about, or `volume`.")
    severity = serializers.ChoiceField(choices=["critical", "warning", "info"])
    message = serializers.CharField(help_text="What is wrong, with the numbers, and the fix.")


class HealthScoreSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=0, max_value=100)
    grade = serializers.ChoiceField(choices=[grade for _, grade in health.GRADES])
    metrics = HealthMetricsSerializer()
    insights = InsightSerializer(many=True, help_text="Worst first; empty when all is well.")


class HealthScoreView(APIView):
    @extend_schema(
        responses=HealthScoreSerializer,
        summary="Deliverability health score of the last 30 days",
        description=(
            "0–100 and a grade (A+ … F) from bounce, complaint and unsubscribe rates, human "
            "open and click rates, domain authentication and list hygiene, with insights on "
            "what to fix."
        ),
    )
    def get(self, request):
        result = health.health_score(request.user.workspace)
        return Response(HealthScoreSerializer(result).data)
