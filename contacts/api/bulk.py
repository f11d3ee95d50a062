"""API front doors of contacts.bulk, contacts.merge and contacts.scoring:
``POST /contacts/batch``, ``POST /contacts/bulk`` (+ ``GET /contacts/bulk/{id}``),
``POST /contacts/merge`` and ``GET/PUT /scoring``."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts import bulk, merge, scoring
from contacts.api.serializers import ContactSerializer
from contacts.api.views import _contact_queryset
from contacts.models import BulkAction, BulkJob, Contact, JobStatus
from mailcrm.api.errors import _flatten
from mailcrm.api.viewsets import ensure_uuid

# --- serializers -------------------------------------------------------------------------------


class BatchSerializer(serializers.Serializer):
    contacts = serializers.ListField(
        child=serializers.DictField(),
        allow_empty=False,
        max_length=bulk.MAX_BATCH,
        help_text=f"Contact bodies (as in POST /contacts), at most {bulk.MAX_BATCH}.",
    )


class BatchItemResultSerializer(serializers.Serializer):
    email = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "updated", "error"])
    id = serializers.UUIDField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class BatchResultSerializer(serializers.Serializer):
    results = BatchItemResultSerializer(many=True)


class BulkSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=BulkAction.choices)
    ids = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=bulk.MAX_IDS
    )
    query = serializers.CharField(
        required=False, max_length=10_000, help_text="Segment query language."
    )
    value = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="tag/untag: a tag name or a list of names; add_to_list/remove_from_list: "
        "a list id or name; set_lifecycle_stage: the stage.",
    )

    def validate(self, attrs: dict) -> dict:
        if bool(attrs.get("ids")) == bool(attrs.get("query", "").strip()):
            raise serializers.ValidationError({"ids": ["Give either ids or a query."]})
        return attrs


class BulkDoneSerializer(serializers.Serializer):
    action = serializers.CharField()
    count = serializers.IntegerField(help_text="How many contacts changed.")


class BulkQueuedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class BulkJobSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=JobStatus.choices)

    class Meta:
        model = BulkJob
        fields = [
            "id",
            "action",
            "status",
            "total",
            "processed",
            "changed",
            "failure_reason",
            "created_at",
            "finished_at",
        ]


class MergeSerializer(serializers.Serializer):
    primary_id = serializers.UUIDField()
    duplicate_ids = serializers.ListField(
        child=serializers.UUIDField(), allow_empty=False, max_length=merge.MAX_DUPLICATES
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["primary_id"] in attrs["duplicate_ids"]:
            raise serializers.ValidationError(
                {"duplicate_ids": ["The primary cannot be one of the duplicates."]}
            )
        return attrs


class ScoringSerializer(serializers.Serializer):
    rules = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Points per event: " + ", ".join(scoring.SCORED_EVENTS) + ".",
    )
    hot_threshold = serializers.IntegerField(min_value=0, max_value=scoring.MAX_THRESHOLD)
    warm_threshold = serializers.IntegerField(min_value=0, max_value=scoring.MAX_THRESHOLD)
    recompute = serializers.BooleanField(
        default=True, write_only=True, help_text="Recompute scores and tiers in the background."
    )
    decay_half_life_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=3650,
        help_text="Scores halve every this many days without engagement; null: no decay.",
    )
    sunset_after_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Flag contacts with no human open or click in this many days (sunsetting).",
    )
    sunset_min_sends = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000, help_text="…after at least this many sends."
    )
    sunset_exclude = serializers.BooleanField(
        required=False, help_text="Campaigns leave out contacts flagged as sunset."
    )
    sunset_suppress_after_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=3650,
        help_text="Suppress sunset contacts still unengaged this many days after the flag; "
        "null: never.",
    )
    updated_at = serializers.DateTimeField(read_only=True)


# --- views -------------------------------------------------------------------------------------


class _WorkspaceView(APIView):
    @property
    def workspace(self):
        return self.request.user.workspace


class ContactBatchView(_WorkspaceView):
    @extend_schema(
        request=BatchSerializer,
        responses=BatchResultSerializer,
        summary="Create or update up to 1,000 contacts by email",
    )
    def post(self, request):
        body = BatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        items, results = [], []
        for raw in body.validated_data["contacts"]:
            item = ContactSerializer(data=raw, context={"workspace": self.workspace})
            if item.is_valid():
                items.append(dict(item.validated_data))
                results.append(None)
            else:
                message = "; ".join(
                    f"{name}: {' '.join(msgs)}" for name, msgs in _flatten(item.errors).items()
                )
                results.append(bulk.item_result(raw.get("email"), "error", error=message))
        done = iter(bulk.contacts_batch_upsert(workspace=self.workspace, items=items))
        results = [result or next(done) for result in results]
        return Response({"results": BatchItemResultSerializer(results, many=True).data})


class ContactBulkView(_WorkspaceView):
    @extend_schema(
        request=BulkSerializer,
        responses={200: BulkDoneSerializer, 202: BulkQueuedSerializer},
        summary="Tag, untag, add to or remove from a list, set the stage, unsubscribe or delete "
        "contacts by ids or by query",
    )
    def post(self, request):
        body = BulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = bulk.bulk_start(
            workspace=self.workspace,
            action=data["action"],
            ids=data.get("ids") or None,
            query=data.get("query") or None,
            value=data.get("value"),
        )
        if result.job is not None:
            return Response(
                {"id": result.job.pk, "status": result.job.status},
                status=status.HTTP_202_ACCEPTED,
            )
        return Response({"action": data["action"], "count": result.count})


class BulkJobView(_WorkspaceView):
    @extend_schema(responses=BulkJobSerializer, summary="Progress of a background bulk action")
    def get(self, request, job_id):
        ensure_uuid(job_id)
        job = get_object_or_404(BulkJob.objects.for_workspace(self.workspace), pk=job_id)
        return Response(BulkJobSerializer(job).data)


class ContactMergeView(_WorkspaceView):
    @extend_schema(
        request=MergeSerializer,
        responses=ContactSerializer,
        summary="Merge duplicates into a primary contact",
    )
    def post(self, request):
        body = MergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contacts = Contact.objects.for_workspace(self.workspace)
        primary = get_object_or_404(contacts, pk=body.validated_data["primary_id"])
        wanted = list(dict.fromkeys(body.validated_data["duplicate_ids"]))
        found = {contact.pk: contact for contact in contacts.filter(pk__in=wanted)}
        if len(found) != len(wanted):
            raise NotFound()  # an unknown id, or another workspace's
        duplicates = [found[pk] for pk in wanted]  # earlier duplicates fill gaps first
        merged = merge.contacts_merge(
            workspace=self.workspace, primary=primary, duplicates=duplicates
        )
        reloaded = _contact_queryset(self.workspace).get(pk=merged.pk)
        return Response(ContactSerializer(reloaded).data)


class ScoringView(_WorkspaceView):
    @extend_schema(responses=ScoringSerializer, summary="Lead scoring rules and tier thresholds")
    def get(self, request):
        return Response(ScoringSerializer(scoring.scoring_settings(self.workspace)).data)

    @extend_schema(request=ScoringSerializer, responses=ScoringSerializer)
    def put(self, request):
        body = ScoringSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        settings = scoring.scoring_update(workspace=self.workspace, **body.validated_data)
        return Response(ScoringSerializer(settings).data)
