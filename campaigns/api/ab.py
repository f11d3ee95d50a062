"""The A/B test of a campaign: ``GET``/``PUT``/``DELETE /campaigns/{id}/ab`` and
``POST /campaigns/{id}/ab/winner``. The figures per variant are in ``GET /campaigns/{id}/stats``
(``variants`` and ``ab``)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import ab
from campaigns.models import AbCriterion, AbTest, AbVariant, Campaign
from mailcrm.api.schema import ErrorSerializer
from mailcrm.api.viewsets import ensure_uuid
from mailcrm.exceptions import DomainError


class AbVariantSerializer(serializers.ModelSerializer):
    variant = serializers.CharField(source="label", read_only=True)
    template_id = serializers.UUIDField(required=False, allow_null=True)

    class Meta:
        model = AbVariant
        fields = ["variant", "subject", "from_name", "html", "text", "template_id", "send_at"]

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields) - {"variant"}
            if unknown:
                raise serializers.ValidationError(
                    {key: ["Unknown field."] for key in sorted(unknown)}
                )
        return super().to_internal_value(data)


class AbTestSerializer(serializers.ModelSerializer):
    share = serializers.IntegerField(min_value=1, max_value=100)
    criterion = serializers.ChoiceField(choices=AbCriterion.choices)
    wait_minutes = serializers.IntegerField(min_value=1, max_value=ab.MAX_WAIT_MINUTES)
    # Written as given (how many: checked by the service, reported on "variants"); read from
    # the campaign's variants (to_representation).
    variants = AbVariantSerializer(
        many=True, write_only=True, help_text=f"{ab.MIN_VARIANTS} to {ab.MAX_VARIANTS} variants."
    )
    winner = serializers.SerializerMethodField()

    class Meta:
        model = AbTest
        fields = [
            "share",
            "criterion",
            "wait_minutes",
            "variants",
            "decide_at",
            "winner",
            "decided_at",
            "decided_by",
        ]
        read_only_fields = ["decide_at", "decided_at", "decided_by"]

    def get_winner(self, test: AbTest) -> str | None:
        return ab.LABELS[test.winner] if test.winner is not None else None

    def to_representation(self, test: AbTest) -> dict:
        data = super().to_representation(test)
        data["variants"] = AbVariantSerializer(
            AbVariant.objects.filter(campaign_id=test.campaign_id).order_by("position"), many=True
        ).data
        return data


class WinnerSerializer(serializers.Serializer):
    variant = serializers.ChoiceField(choices=list(ab.LABELS))


class AbTestSummarySerializer(serializers.Serializer):
    share = serializers.IntegerField()
    criterion = serializers.CharField()
    wait_minutes = serializers.IntegerField()
    decide_at = serializers.DateTimeField(allow_null=True)
    winner = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField()
    rest = serializers.DictField(child=serializers.IntegerField())


class ZTestSerializer(serializers.Serializer):
    against = serializers.CharField()
    z = serializers.FloatField()
    p_value = serializers.FloatField()
    significant = serializers.BooleanField()


class VariantTestsSerializer(serializers.Serializer):
    open = ZTestSerializer(allow_null=True)
    click = ZTestSerializer(allow_null=True)


class VariantStatsSerializer(serializers.Serializer):
    variant = serializers.CharField()
    subject = serializers.CharField()
    from_name = serializers.CharField()
    send_at = serializers.DateTimeField(allow_null=True)
    is_winner = serializers.BooleanField()
    recipients = serializers.IntegerField()
    held = serializers.IntegerField()
    sent = serializers.IntegerField()
    bounced = serializers.IntegerField()
    delivered = serializers.IntegerField()
    opened_human = serializers.IntegerField()
    clicked_human = serializers.IntegerField()
    open_rate = serializers.FloatField()
    click_rate = serializers.FloatField()
    tests = VariantTestsSerializer(help_text="Against variant A: a two-proportion z-test.")


class _CampaignAbView(APIView):
    def campaign(self, pk) -> Campaign:
        ensure_uuid(pk)
        return get_object_or_404(Campaign.objects.for_workspace(self.request.user.workspace), pk=pk)


class NoAbTest(DomainError):
    status_code = 404
    code = "not_found"


class CampaignAbView(_CampaignAbView):
    @extend_schema(responses={200: AbTestSerializer, 404: ErrorSerializer})
    def get(self, request, pk):
        test = ab.ab_test_of(self.campaign(pk))
        if test is None:
            raise NoAbTest("This campaign has no A/B test.")
        return Response(AbTestSerializer(test).data)

    @extend_schema(
        request=AbTestSerializer,
        responses={
            200: AbTestSerializer,
            400: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The campaign has started."),
        },
        summary="Set (or replace) a draft's A/B test",
    )
    def put(self, request, pk):
        campaign = self.campaign(pk)
        body = AbTestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        test = ab.ab_configure(
            campaign=campaign,
            share=data["share"],
            criterion=data["criterion"],
            wait_minutes=data["wait_minutes"],
            variants=[dict(variant) for variant in data["variants"]],
        )
        return Response(AbTestSerializer(test).data)

    @extend_schema(responses={204: None, 409: ErrorSerializer})
    def delete(self, request, pk):
        ab.ab_remove(campaign=self.campaign(pk))
        return Response(status=204)


class CampaignAbWinnerView(_CampaignAbView):
    @extend_schema(
        request=WinnerSerializer,
        responses={200: AbTestSerializer, 400: ErrorSerializer, 409: ErrorSerializer},
        summary="Pick the winner: the rest of the audience gets it now",
    )
    def post(self, request, pk):
        campaign = self.campaign(pk)
        body = WinnerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        test = ab.ab_pick_winner(
            campaign=campaign,
            variant=body.validated_data["variant"],
            actor=f"API key {getattr(request.auth, 'name', '')}".strip(),
        )
        return Response(AbTestSerializer(test).data)
