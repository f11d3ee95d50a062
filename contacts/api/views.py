from __future__ import annotations

from django.db.models.functions import Lower
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from contacts import segmentation, services
from contacts.api.serializers import (
    CONTACT_PREFETCHES,
    ActivitySerializer,
    CompanySerializer,
    ContactListSerializer,
    ContactSerializer,
    ContactTagsSerializer,
    MembersResultSerializer,
    MembersSerializer,
    PropertyDefinitionSerializer,
    QuerySerializer,
    QueuedSerializer,
    SegmentPreviewSerializer,
    SegmentSerializer,
    TagSerializer,
)
from contacts.filtersets import (
    ActivityFilterSet,
    CompanyFilterSet,
    ContactListFilterSet,
    ContactPageFilterSet,
    SegmentFilterSet,
    TagFilterSet,
    newest_window,
)
from contacts.imports.timeline import ensure_import_activity
from contacts.models import (
    Activity,
    Company,
    Contact,
    ContactList,
    PropertyDefinition,
    Segment,
    Tag,
)
from contacts.query import QueryError, compile_search
from contacts.segmentation import InvalidQuery
from mailcrm.api.scopes import READ
from mailcrm.api.viewsets import WorkspaceViewSet, ensure_uuid

QUERY_HELP = (
    "Segment query language, e.g. `status = active AND tag = vip`, "
    "or key:value terms such as `industry:SaaS`."
)
ORDERING_PARAM = OpenApiParameter(
    "ordering",
    OpenApiTypes.STR,
    description="created_at, updated_at, email, first_name, last_name or score; - reverses",
)


def _contact_queryset(workspace):
    return Contact.objects.for_workspace(workspace).prefetch_related(*CONTACT_PREFETCHES)


@extend_schema_view(list=extend_schema(parameters=[ORDERING_PARAM]))
class ContactViewSet(WorkspaceViewSet):
    model = Contact
    serializer_class = ContactSerializer
    filterset_class = ContactPageFilterSet
    ordering_fields = ["created_at", "updated_at", "email", "first_name", "last_name", "score"]
    # Addresses are unique ignoring case, and the (workspace, lower(email)) unique index
    # serves this order at any depth; ordering by the column itself would need one more index
    # on the table imports write (docs/performance.md, "Query plans").
    ordering_expressions = {"email": Lower("email")}
    default_ordering = "-pk"

    def scoped_queryset(self):
        return _contact_queryset(self.workspace)

    def newest_window(self):
        return newest_window(self.request.query_params, self.workspace)

    def _reload(self, contact: Contact) -> Contact:
        return _contact_queryset(self.workspace).get(pk=contact.pk)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.setdefault("source", "api")
        contact = services.contact_create(workspace=self.workspace, **data)
        return Response(
            self.get_serializer(self._reload(contact)).data, status=status.HTTP_201_CREATED
        )

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        contact = self.get_object()
        serializer = self.get_serializer(contact, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        services.contact_update(
            contact=contact, replace_properties=not partial, **serializer.validated_data
        )
        return Response(self.get_serializer(self._reload(contact)).data)

    def destroy(self, request, *args, **kwargs):
        services.contact_delete(contact=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            OpenApiParameter("query", OpenApiTypes.STR, required=True, description=QUERY_HELP),
            ORDERING_PARAM,
        ],
        responses=ContactSerializer(many=True),
        summary="Search contacts with the segment query language",
    )
    @action(detail=False, methods=["get"], filterset_class=None)
    def search(self, request):
        text = request.query_params.get("query", "")
        try:
            condition = compile_search(text, self.workspace)
        except QueryError as exc:
            raise InvalidQuery(exc) from None
        contacts = self.scoped_queryset().filter(archived_at__isnull=True).filter(condition)
        page = self.paginate_queryset(contacts)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=None, responses=ContactSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        contact = services.contact_archive(contact=self.get_object())
        return Response(self.get_serializer(self._reload(contact)).data)

    @extend_schema(request=None, responses=ContactSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        contact = services.contact_restore(contact=self.get_object())
        return Response(self.get_serializer(self._reload(contact)).data)

    @extend_schema(
        request=ContactTagsSerializer, responses=ContactSerializer, summary="Tag a contact"
    )
    @action(detail=True, methods=["post"], url_path="tags")
    def tags(self, request, pk=None):
        contact = self.get_object()
        body = ContactTagsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.contact_tag(contact=contact, names=body.validated_data["tags"])
        return Response(self.get_serializer(self._reload(contact)).data)

    @extend_schema(request=None, responses=ContactSerializer, summary="Remove a tag from a contact")
    @action(detail=True, methods=["delete"], url_path="tags/(?P<tag_name>[^/]+)")
    def untag(self, request, pk=None, tag_name=None):
        contact = self.get_object()
        if not services.contact_untag(contact=contact, name=tag_name):
            return Response(
                {
                    "error": {
                        "code": "not_found",
                        "message": f"The contact has no tag '{tag_name}'.",
                    }
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(self.get_serializer(self._reload(contact)).data)


class ContactActivityViewSet(WorkspaceViewSet):
    """The timeline of one contact: GET lists it, POST logs a note, call, meeting or task."""

    model = Activity
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilterSet
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["occurred_at"]
    default_ordering = "-pk"

    def get_contact(self) -> Contact:
        if not hasattr(self, "_contact"):
            contacts = Contact.objects.for_workspace(self.workspace)
            self._contact = get_object_or_404(contacts, pk=self.kwargs["contact_pk"])
        return self._contact

    def scoped_queryset(self):
        ensure_import_activity(self.get_contact())
        return Activity.objects.filter(contact=self.get_contact()).select_related("created_by")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not getattr(self, "swagger_fake_view", False):
            ensure_uuid(self.kwargs["contact_pk"])
            self.get_contact()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        activity = services.activity_log(
            contact=self.get_contact(), actor=None, **serializer.validated_data
        )
        return Response(self.get_serializer(activity).data, status=status.HTTP_201_CREATED)


class PropertyDefinitionViewSet(WorkspaceViewSet):
    model = PropertyDefinition
    serializer_class = PropertyDefinitionSerializer
    lookup_field = "key"
    ordering_fields = ["key", "created_at"]
    default_ordering = "key"

    def perform_create(self, serializer):
        serializer.instance = services.property_definition_create(
            workspace=self.workspace, **serializer.validated_data
        )

    def perform_update(self, serializer):
        services.property_definition_update(
            definition=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.property_definition_delete(definition=instance)


class TagViewSet(WorkspaceViewSet):
    model = Tag
    serializer_class = TagSerializer
    filterset_class = TagFilterSet
    ordering_fields = ["name", "created_at"]
    default_ordering = "name"

    def scoped_queryset(self):
        return Tag.objects.for_workspace(self.workspace).with_counts()

    def perform_create(self, serializer):
        tag = services.tag_create(workspace=self.workspace, **serializer.validated_data)
        serializer.instance = self.scoped_queryset().get(pk=tag.pk)

    def perform_update(self, serializer):
        services.tag_update(tag=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.tag_delete(tag=instance)


class ContactListViewSet(WorkspaceViewSet):
    model = ContactList
    serializer_class = ContactListSerializer
    filterset_class = ContactListFilterSet
    ordering_fields = ["name", "created_at"]
    default_ordering = "name"

    def scoped_queryset(self):
        return ContactList.objects.for_workspace(self.workspace).with_counts()

    def perform_create(self, serializer):
        created = services.contact_list_create(
            workspace=self.workspace, **serializer.validated_data
        )
        serializer.instance = self.scoped_queryset().get(pk=created.pk)

    def perform_update(self, serializer):
        services.contact_list_update(contact_list=serializer.instance, **serializer.validated_data)
        serializer.instance = self.scoped_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance):
        services.contact_list_delete(contact_list=instance)

    @extend_schema(
        methods=["get"],
        request=None,
        responses=ContactSerializer(many=True),
        summary="Members of the list",
    )
    @extend_schema(
        methods=["post", "delete"], request=MembersSerializer, responses=MembersResultSerializer
    )
    # The members are contacts: the owner's filters (name, double opt-in …) do not apply to
    # them, so the schema must not offer them (the API fuzzing found them ignored).
    @action(
        detail=True, methods=["get", "post", "delete"], url_path="contacts", filterset_class=None
    )
    def members(self, request, pk=None):
        contact_list = self.get_object()
        members = _contact_queryset(self.workspace).filter(
            listmembership__contact_list=contact_list, archived_at__isnull=True
        )
        return _members_response(
            self,
            members,
            request,
            add=lambda ids: services.list_add_contacts(contact_list=contact_list, contact_ids=ids),
            remove=lambda ids: services.list_remove_contacts(
                contact_list=contact_list, contact_ids=ids
            ),
        )


class CompanyViewSet(WorkspaceViewSet):
    model = Company
    serializer_class = CompanySerializer
    filterset_class = CompanyFilterSet
    ordering_fields = ["name", "created_at"]
    default_ordering = "name"

    def scoped_queryset(self):
        return (
            Company.objects.for_workspace(self.workspace)
            .with_counts()
            .prefetch_related("contact_roles")
        )

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        contacts = data.pop("contact_roles", None)
        company = services.company_create(workspace=self.workspace, contacts=contacts, **data)
        serializer.instance = self.scoped_queryset().get(pk=company.pk)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        contacts = data.pop("contact_roles", None)
        services.company_update(company=serializer.instance, contacts=contacts, **data)
        serializer.instance = self.scoped_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance):
        services.company_delete(company=instance)


def _members_response(view, members, request, add, remove):
    """GET pages through members; POST/DELETE add or remove by ids or emails."""
    if request.method == "GET":
        # Members are contacts: they page by the contacts' orderings, not the owner's.
        view.ordering_fields, view.default_ordering = ["created_at", "email"], "-pk"
        page = view.paginate_queryset(members)
        return view.get_paginated_response(ContactSerializer(page, many=True).data)
    body = MembersSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    ids, not_found = services.contact_ids_for(
        view.workspace,
        ids=body.validated_data.get("ids", []),
        emails=body.validated_data.get("emails", []),
    )
    changed = add(ids) if request.method == "POST" else remove(ids)
    return Response({"changed": changed, "not_found": not_found})


class SegmentViewSet(WorkspaceViewSet):
    model = Segment
    serializer_class = SegmentSerializer
    filterset_class = SegmentFilterSet
    ordering_fields = ["name", "created_at"]
    default_ordering = "name"
    api_scopes = {"preview": READ}  # counts a query, changes nothing

    def perform_create(self, serializer):
        serializer.instance = segmentation.segment_create(
            workspace=self.workspace, **serializer.validated_data
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("kind", None)
        serializer.instance = segmentation.segment_update(segment=serializer.instance, **data)

    def perform_destroy(self, instance):
        segmentation.segment_delete(segment=instance)

    @extend_schema(methods=["get"], request=None, responses=ContactSerializer(many=True))
    @extend_schema(
        methods=["post", "delete"], request=MembersSerializer, responses=MembersResultSerializer
    )
    # The members are contacts: the owner's filters (name, double opt-in …) do not apply to
    # them, so the schema must not offer them (the API fuzzing found them ignored).
    @action(
        detail=True, methods=["get", "post", "delete"], url_path="contacts", filterset_class=None
    )
    def members(self, request, pk=None):
        segment = self.get_object()
        members = _contact_queryset(self.workspace).filter(
            segmentmembership__segment=segment, archived_at__isnull=True
        )
        return _members_response(
            self,
            members,
            request,
            add=lambda ids: segmentation.segment_add_contacts(segment=segment, contact_ids=ids),
            remove=lambda ids: segmentation.segment_remove_contacts(
                segment=segment, contact_ids=ids
            ),
        )

    @extend_schema(request=None, responses={202: QueuedSerializer}, summary="Refresh members now")
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        segment = self.get_object()
        segmentation.schedule_refresh(segment)
        return Response({"id": segment.id, "status": "queued"}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=QuerySerializer, responses=SegmentPreviewSerializer)
    @action(detail=False, methods=["post"], filterset_class=None)
    def preview(self, request):
        body = QuerySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        count, sample = segmentation.segment_preview(
            workspace=self.workspace, query=body.validated_data["query"]
        )
        return Response({"count": count, "sample": ContactSerializer(sample, many=True).data})
