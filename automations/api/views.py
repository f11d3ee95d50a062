from __future__ import annotations

from dataclasses import asdict

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from automations import services, tracking
from automations.api.serializers import (
    AutomationSerializer,
    EnrolledCountSerializer,
    EnrollmentSerializer,
    EnrollmentsSerializer,
    EnrollRequestSerializer,
    StepSerializer,
    StepUpdateSerializer,
    TrackBatchResultSerializer,
    TrackBatchSerializer,
    TrackEventSerializer,
    TrackResultSerializer,
)
from automations.models import Automation, Enrollment, EnrollmentHistory, Step
from mailcrm.api.schema import ErrorSerializer
from mailcrm.api.viewsets import WorkspaceViewSet, ensure_uuid

ENROLLMENT_PAGE = 100


class AutomationViewSet(WorkspaceViewSet):
    model = Automation
    serializer_class = AutomationSerializer

    def scoped_queryset(self):
        return super().scoped_queryset().prefetch_related("steps")

    def perform_create(self, serializer):
        serializer.instance = services.automation_create(
            workspace=self.workspace, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.automation_update(
            automation=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.automation_delete(automation=instance)

    def _respond(self, automation):
        automation = self.scoped_queryset().get(pk=automation.pk)
        return Response(self.get_serializer(automation).data)

    @extend_schema(
        request=None,
        responses={200: AutomationSerializer, 409: OpenApiResponse(ErrorSerializer)},
    )
    @action(detail=True, methods=["post"], url_path="activate")
    def activate(self, request, pk=None):
        return self._respond(services.automation_activate(automation=self.get_object()))

    @extend_schema(
        request=None,
        responses={200: AutomationSerializer, 409: OpenApiResponse(ErrorSerializer)},
    )
    @action(detail=True, methods=["post"], url_path="pause")
    def pause(self, request, pk=None):
        return self._respond(services.automation_pause(automation=self.get_object()))

    @extend_schema(
        request=EnrollRequestSerializer,
        responses={200: EnrolledCountSerializer, 409: OpenApiResponse(ErrorSerializer)},
    )
    @action(detail=True, methods=["post"], url_path="enroll")
    def enroll(self, request, pk=None):
        automation = self.get_object()
        body = EnrollRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        count = services.enroll_contacts(
            automation=automation,
            contact_ids=body.validated_data.get("ids"),
            query=body.validated_data.get("query"),
        )
        return Response({"count": count})

    @extend_schema(
        request=None,
        responses=EnrollmentsSerializer,
        parameters=[
            OpenApiParameter("status", str, description="active, waiting, completed, exited"),
            OpenApiParameter("cursor", str, description="The `next` of the previous page."),
        ],
    )
    @action(detail=True, methods=["get"], url_path="enrollments")
    def enrollments(self, request, pk=None):
        automation = self.get_object()
        return Response(enrollments_page(automation, request))

    @extend_schema(request=StepSerializer, responses={201: StepSerializer})
    @action(detail=True, methods=["post"], url_path="steps")
    def add_step(self, request, pk=None):
        automation = self.get_object()
        body = StepSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        parent = None
        if data.get("parent_id"):
            parent = get_object_or_404(Step, automation=automation, pk=data["parent_id"])
        step = services.step_add(
            automation=automation,
            type=data["type"],
            config=data.get("config") or {},
            parent=parent,
            path=data.get("path") or "",
            position=data.get("position"),
        )
        return Response(StepSerializer(step).data, status=201)


def step_counts(automation: Automation) -> list[dict]:
    """Per step: enrolments at it now (waiting) and that have done it (passed) — two
    aggregate queries."""
    at = dict(
        Enrollment.objects.open()
        .filter(automation=automation)
        .values("step_id")
        .annotate(n=Count("id"))
        .values_list("step_id", "n")
    )
    passed = dict(
        EnrollmentHistory.objects.filter(step__automation=automation, kind="step")
        .values("step_id")
        .annotate(n=Count("id"))
        .values_list("step_id", "n")
    )
    return [
        {"step_id": s.pk, "type": s.type, "waiting": at.get(s.pk, 0), "passed": passed.get(s.pk, 0)}
        for s in Step.objects.filter(automation=automation)
    ]


def enrollments_page(automation: Automation, request) -> dict:
    rows = Enrollment.objects.filter(automation=automation).order_by("-id")
    status = request.query_params.get("status")
    if status:
        rows = rows.filter(status=status)
    cursor = request.query_params.get("cursor")
    if cursor:
        ensure_uuid(cursor)
        rows = rows.filter(pk__lt=cursor)
    page = list(rows.select_related("contact").prefetch_related("history")[: ENROLLMENT_PAGE + 1])
    more = len(page) > ENROLLMENT_PAGE
    page = page[:ENROLLMENT_PAGE]
    totals = Enrollment.objects.filter(automation=automation).aggregate(
        **{
            name: Count("id", filter=Q(status=name))
            for name in ("active", "waiting", "completed", "exited")
        }
    )
    next_url = None
    if more:
        next_url = request.build_absolute_uri(request.path) + f"?cursor={page[-1].pk}"
        if status:
            next_url += f"&status={status}"
    return {
        "steps": step_counts(automation),
        "totals": totals,
        "results": EnrollmentSerializer(page, many=True).data,
        "next": next_url,
    }


class StepDetailView(APIView):
    """``PATCH``/``DELETE /automations/{pk}/steps/{step_id}``."""

    def _step(self, request, pk, step_id) -> Step:
        ensure_uuid(pk)
        ensure_uuid(step_id)
        automation = get_object_or_404(
            Automation.objects.for_workspace(request.user.workspace), pk=pk
        )
        return get_object_or_404(Step, automation=automation, pk=step_id)

    @extend_schema(request=StepUpdateSerializer, responses=StepSerializer)
    def patch(self, request, pk, step_id):
        step = self._step(request, pk, step_id)
        body = StepUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        step = services.step_update(step=step, config=body.validated_data["config"])
        return Response(StepSerializer(step).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk, step_id):
        services.step_delete(step=self._step(request, pk, step_id))
        return Response(status=204)


class TrackView(APIView):
    @extend_schema(
        request=TrackEventSerializer,
        responses={200: TrackResultSerializer, 404: OpenApiResponse(ErrorSerializer)},
        summary="Record a behavioural event on a contact",
    )
    def post(self, request):
        body = TrackEventSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        (result,) = tracking.track_events(
            workspace=request.user.workspace, items=[_item(body.validated_data)]
        )
        if result.status != "recorded":
            from rest_framework.exceptions import NotFound

            raise NotFound('No such contact (pass "create": true to create it).')
        return Response(asdict(result))


class TrackBatchView(APIView):
    @extend_schema(
        request=TrackBatchSerializer,
        responses=TrackBatchResultSerializer,
        summary="Record up to 1,000 behavioural events",
    )
    def post(self, request):
        body = TrackBatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        results = tracking.track_events(
            workspace=request.user.workspace,
            items=[_item(item) for item in body.validated_data["events"]],
        )
        return Response({"results": [asdict(r) for r in results]})


def _item(data: dict) -> dict:
    from django.utils import timezone

    return {
        "email": data.get("email"),
        "contact_id": str(data["contact_id"]) if data.get("contact_id") else None,
        "event": data["event"],
        "properties": data.get("properties") or {},
        "timestamp": data.get("timestamp") or timezone.now(),
        "create": data.get("create", False),
    }
