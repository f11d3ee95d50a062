"""Privacy requests over the API: export one contact's data, erase one contact."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.models import Contact
from mailcrm.api.viewsets import ensure_uuid
from privacy import services


class ContactExportSerializer(serializers.Serializer):
    format = serializers.IntegerField()
    exported_at = serializers.DateTimeField()
    contact = serializers.DictField()
    properties = serializers.DictField()
    tags = serializers.ListField(child=serializers.CharField())
    lists = serializers.ListField(child=serializers.DictField())
    activities = serializers.ListField(child=serializers.DictField())
    messages = serializers.ListField(child=serializers.DictField())
    consents = serializers.ListField(child=serializers.DictField())
    suppressions = serializers.ListField(child=serializers.DictField())
    unsubscribes = serializers.ListField(child=serializers.DictField())
    bounces = serializers.ListField(child=serializers.DictField())
    validations = serializers.ListField(child=serializers.DictField())


class ErasureSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    contact_id = serializers.UUIDField()
    erased_at = serializers.DateTimeField()
    deleted = serializers.DictField(child=serializers.IntegerField())


def _contact(request, pk) -> Contact:
    ensure_uuid(pk)
    contact = Contact.objects.for_workspace(request.user.workspace).filter(pk=pk).first()
    if contact is None:
        raise NotFound()
    return contact


class ContactExportView(APIView):
    @extend_schema(
        responses=ContactExportSerializer,
        operation_id="contacts_privacy_export",
        summary="Everything held about one contact (privacy export)",
    )
    def get(self, request, contact_pk):
        return Response(services.contact_export(_contact(request, contact_pk)))


class ContactEraseView(APIView):
    @extend_schema(
        request=None,
        responses=ErasureSerializer,
        summary="Erase one contact: personal data deleted, a hashed suppression kept",
    )
    def post(self, request, contact_pk):
        erasure = services.contact_erase(contact=_contact(request, contact_pk), via="api")
        return Response(ErasureSerializer(erasure).data)
