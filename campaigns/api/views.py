from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from campaigns import services, stats, transactional
from campaigns.api.progress_serializers import ProgressSerializer, progress_body
from campaigns.api.serializers import (
    CampaignSerializer,
    CountSerializer,
    EmailBatchSerializer,
    EmailDetailSerializer,
    EmailQueuedSerializer,
    EmailRequestSerializer,
    MessageSerializer,
    ScheduleSerializer,
    SendSerializer,
    StatsSerializer,
    TestSendSerializer,
)
from campaigns.models import Campaign, Message, MessageKind
from campaigns.recipients import campaign_messages
from mailcrm.api.schema import ErrorSerializer
from mailcrm.api.scopes import SEND, ensure_may_send_from
from mailcrm.api.viewsets import WorkspaceScopedMixin, WorkspaceViewSet

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A repeat with the same key and body returns the first response, sends nothing.",
)


class CampaignViewSet(WorkspaceViewSet):
    model = Campaign
    serializer_class = CampaignSerializer
    ordering_fields = ["created_at", "name"]
    # A sending-only key sends, controls and reads campaigns; creating or editing one is a write.
    api_scopes = dict.fromkeys(("send", "schedule", "pause", "resume", "cancel", "test"), SEND)
    sending_readable = True

    def get_object(self):
        campaign = super().get_object()
        if self.action in ("send", "schedule", "test"):
            from campaigns.content import campaign_sender

            ensure_may_send_from(
                self.request,
                campaign_sender(campaign)[1] or self.workspace.default_from_email,
                sending_domain=campaign.sending_domain,
            )
        return campaign

    def perform_create(self, serializer):
        serializer.instance = services.campaign_create(
            workspace=self.workspace, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.campaign_update(
            campaign=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.campaign_delete(campaign=instance)

    def _respond(self, campaign: Campaign) -> Response:
        return Response(self.get_serializer(campaign).data)

    @extend_schema(
        request=SendSerializer,
        responses={
            200: CampaignSerializer,
            403: OpenApiResponse(ErrorSerializer, description="override_risk without the role."),
            422: OpenApiResponse(
                ErrorSerializer,
                description="Cannot be sent (e.g. no recipients, an unverified domain, or "
                "`risk_blocked` with the risk `assessment`).",
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
    )
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        campaign = self.get_object()
        options = SendSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        override = options.validated_data["override_risk"]
        code, body = transactional.idempotent(
            workspace=self.workspace,
            key=request.headers.get("Idempotency-Key"),
            body={"campaign": str(campaign.pk), "action": "send"}
            | ({"override_risk": True} if override else {}),
            action=lambda: (
                200,
                self.get_serializer(
                    services.campaign_send(
                        campaign=campaign, override_risk=override, actor=request.auth.created_by
                    )
                ).data,
            ),
        )
        return Response(body, status=code)

    @extend_schema(request=ScheduleSerializer, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        campaign = self.get_object()
        body = ScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        campaign = services.campaign_schedule(
            campaign=campaign, send_at=body.validated_data["send_at"]
        )
        return self._respond(campaign)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._respond(services.campaign_pause(campaign=self.get_object()))

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._respond(services.campaign_resume(campaign=self.get_object()))

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._respond(services.campaign_cancel(campaign=self.get_object()))

    @extend_schema(request=TestSendSerializer, responses=CountSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        campaign = self.get_object()
        body = TestSendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sent = services.campaign_test_send(campaign=campaign, emails=body.validated_data["emails"])
        return Response({"count": sent})

    @extend_schema(request=None, responses=CountSerializer)
    @action(detail=True, methods=["get"], url_path="recipients/count")
    def recipients_count(self, request, pk=None):
        return Response({"count": services.recipients_count(self.get_object())})

    @extend_schema(request=None, responses=StatsSerializer)
    @action(detail=True, methods=["get"], url_path="stats")
    def stats(self, request, pk=None):
        return Response(StatsSerializer(stats.campaign_stats(self.get_object())).data)

    @extend_schema(request=None, responses=ProgressSerializer)
    @action(detail=True, methods=["get"], url_path="progress")
    def progress(self, request, pk=None):
        return Response(ProgressSerializer(progress_body(self.get_object())).data)

    @extend_schema(request=None, responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="messages")
    def messages(self, request, pk=None):
        campaign = self.get_object()
        messages = campaign_messages(campaign)
        wanted = request.query_params.get("status")
        if wanted:
            messages = messages.filter(status=wanted)
        page = self.paginate_queryset(messages)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)


class EmailView(APIView):
    api_scopes = {"post": SEND}

    @extend_schema(
        request=EmailRequestSerializer,
        responses={202: EmailQueuedSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Send a transactional email",
    )
    def post(self, request):
        workspace = request.user.workspace
        body = EmailRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ensure_may_send_from(request, body.validated_data.get("from_email", ""))

        def queue():
            message = transactional.email_queue(workspace=workspace, data=body.validated_data)
            return 202, {"id": str(message.pk), "status": message.status}

        code, response = transactional.idempotent(
            workspace=workspace,
            key=request.headers.get("Idempotency-Key"),
            body=request.data,
            action=queue,
        )
        return Response(response, status=code)


class EmailBatchView(APIView):
    api_scopes = {"post": SEND}

    @extend_schema(
        request=EmailBatchSerializer,
        responses={202: EmailQueuedSerializer(many=True)},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Send up to 500 transactional emails",
    )
    def post(self, request):
        workspace = request.user.workspace
        body = EmailBatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ensure_may_send_from(
            request, *(item.get("from_email", "") for item in body.validated_data["emails"])
        )

        def queue():
            queued = [
                transactional.email_queue(workspace=workspace, data=item)
                for item in body.validated_data["emails"]
            ]
            return 202, [{"id": str(m.pk), "status": m.status} for m in queued]

        code, response = transactional.idempotent(
            workspace=workspace,
            key=request.headers.get("Idempotency-Key"),
            body=request.data,
            action=queue,
        )
        return Response(response, status=code)


class EmailDetailViewSet(WorkspaceScopedMixin, mixins.RetrieveModelMixin, GenericViewSet):
    """``GET /emails/{id}``: one transactional email with its events."""

    model = Message
    serializer_class = EmailDetailSerializer
    sending_readable = True

    def scoped_queryset(self):
        return (
            Message.objects.for_workspace(self.workspace)
            .filter(kind=MessageKind.TRANSACTIONAL)
            .prefetch_related("events")
        )
