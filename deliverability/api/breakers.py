"""``GET / PATCH /customer/circuit-breakers``: the workspace's thresholds at which a sending
campaign pauses itself (campaigns.breakers)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import breakers
from deliverability.breaker_settings import breaker_thresholds_update
from deliverability.models import DeliverabilitySettings
from mailcrm.api.schema import ErrorSerializer


class BreakerSettingsSerializer(serializers.Serializer):
    bounce_rate_threshold = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=0,
        max_value=100,
        coerce_to_string=False,
        required=False,
        help_text="Pause a campaign whose bounce rate passes this percentage (0: never).",
    )
    complaint_rate_threshold = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=0,
        max_value=100,
        coerce_to_string=False,
        required=False,
        help_text="Pause a campaign whose complaint rate passes this percentage (0: never).",
    )
    window = serializers.IntegerField(
        read_only=True, help_text="The rates are taken over a campaign's last this many sends."
    )
    min_sample = serializers.IntegerField(
        read_only=True, help_text="Under this many sends, the rate is taken over this many."
    )


def _body(settings: DeliverabilitySettings) -> dict:
    return BreakerSettingsSerializer(
        {
            "bounce_rate_threshold": settings.bounce_rate_threshold,
            "complaint_rate_threshold": settings.complaint_rate_threshold,
            "window": breakers.WINDOW,
            "min_sample": breakers.MIN_SAMPLE,
        }
    ).data


class BreakerSettingsView(APIView):
    @extend_schema(responses=BreakerSettingsSerializer, summary="The circuit-breaker thresholds")
    def get(self, request):
        return Response(_body(DeliverabilitySettings.for_workspace(request.user.workspace)))

    @extend_schema(
        request=BreakerSettingsSerializer,
        responses={200: BreakerSettingsSerializer, 400: OpenApiResponse(ErrorSerializer)},
        summary="Change the circuit-breaker thresholds",
    )
    def patch(self, request):
        body = BreakerSettingsSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        settings = breaker_thresholds_update(
            workspace=request.user.workspace, **body.validated_data
        )
        return Response(_body(settings))
