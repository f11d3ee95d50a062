"""The checks API: ``POST /validation/email``, ``/validation/bulk``, ``/content/score`` and
``/risk/assess``. Parse, call the service, answer."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign
from deliverability import risk, validation
from deliverability.api.check_serializers import (
    ContentScoreRequestSerializer,
    ContentScoreSerializer,
    RiskAssessmentSerializer,
    RiskAssessRequestSerializer,
    ValidateBulkResultSerializer,
    ValidateBulkSerializer,
    ValidateEmailSerializer,
    ValidationResultSerializer,
)
from deliverability.content import score_content
from mailcrm.api.schema import ErrorSerializer
from mailcrm.api.scopes import READ


class ValidateEmailView(APIView):
    api_scopes = {"post": READ}  # a check, not a change: read-only keys may ask

    @extend_schema(
        request=ValidateEmailSerializer,
        responses={200: ValidationResultSerializer},
        summary="Validate one email address",
        description="Syntax, the domain's MX (or A/AAAA) records, disposable domains, role "
        "accounts, free providers and typos. An address that fails is still a 200 with "
        "`result: invalid`; the result is recorded for the workspace.",
    )
    def post(self, request):
        body = ValidateEmailSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        check = validation.validate_and_record(request.user.workspace, body.validated_data["email"])
        return Response(check.as_dict())


class ValidateBulkView(APIView):
    api_scopes = {"post": READ}

    @extend_schema(
        request=ValidateBulkSerializer,
        responses={
            200: ValidateBulkResultSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="More than 1,000 addresses, or not a list."
            ),
        },
        summary="Validate up to 1,000 email addresses",
        description="One result per distinct address (case-insensitive), in the order given; "
        "each is recorded for the workspace. DNS is asked once per domain.",
    )
    def post(self, request):
        body = ValidateBulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        results = validation.validate_many(request.user.workspace, body.validated_data["emails"])
        return Response({"results": [check.as_dict() for check in results.values()]})


class ContentScoreView(APIView):
    api_scopes = {"post": READ}

    @extend_schema(
        request=ContentScoreRequestSerializer,
        responses={200: ContentScoreSerializer},
        summary="Score an email's content",
        description="Rules for spam-trigger phrases, the subject, the text part, images, size, "
        "unsubscribe link, link shorteners and mismatched link text, postal address, "
        "forbidden tags and broken HTML; a 0–100 score and a rating.",
    )
    def post(self, request):
        body = ContentScoreRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = score_content(workspace=request.user.workspace, **body.validated_data)
        return Response(result.as_dict())


class RiskAssessView(APIView):
    api_scopes = {"post": READ}

    @extend_schema(
        request=RiskAssessRequestSerializer,
        responses={
            200: RiskAssessmentSerializer,
            404: OpenApiResponse(
                ErrorSerializer, description="No such campaign in this workspace."
            ),
        },
        summary="Assess the risk of a send",
        description="For a campaign (its audience now) or a list of recipients: the factors, "
        "a 0–100 risk score, a level, recommendations and the policy the workspace's "
        "thresholds give (allow, warn, block). The assessment is saved.",
    )
    def post(self, request):
        workspace = request.user.workspace
        body = RiskAssessRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "campaign_id" in data:
            campaign = get_object_or_404(
                Campaign.objects.for_workspace(workspace), pk=data["campaign_id"]
            )
            assessment = risk.assess_campaign(campaign=campaign)
        else:
            assessment = risk.assess_recipients(
                workspace=workspace,
                recipients=data["recipients"],
                from_email=data.get("from_email", ""),
            )
        return Response(RiskAssessmentSerializer(assessment).data)
