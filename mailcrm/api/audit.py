"""``GET /api/v1/audit-log``: who changed the workspace's settings, domains, keys, webhooks and
members, newest first, cursor-paginated, filtered by action, actor, via and since.

Only full-access keys read it: on the dashboard only owners and admins see the log, and a
read-only or sending key is what is handed to integrations, which have no business reading
members' addresses and IPs."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings

from mailcrm.api.scopes import MissingScope
from mailcrm.api.viewsets import WorkspaceScopedMixin
from mailcrm.filtersets import AuditEntryFilterSet
from mailcrm.models import ApiKey, ApiKeyScope, AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    actor_user_id = serializers.UUIDField(allow_null=True, read_only=True)
    actor_api_key_id = serializers.UUIDField(allow_null=True, read_only=True)
    changes = serializers.JSONField(
        read_only=True,
        help_text="field -> [old, new] for an update, field -> value for a creation; a secret "
        'reads "changed".',
    )

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "occurred_at",
            "actor_label",
            "actor_user_id",
            "actor_api_key_id",
            "via",
            "ip_address",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "changes",
        ]
        read_only_fields = fields


class FullAccessKey(BasePermission):
    """The audit log is for full-access keys only (403 ``missing_scope`` otherwise)."""

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if isinstance(key, ApiKey) and key.scope != ApiKeyScope.FULL_ACCESS:
            raise MissingScope(ApiKeyScope.FULL_ACCESS, key, "the audit log")
        return True


@extend_schema_view(
    list=extend_schema(
        summary="The audit log: who changed settings, domains, keys, webhooks and members",
        description="Newest first. Full-access keys only.",
    )
)
class AuditLogViewSet(WorkspaceScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    model = AuditEntry
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilterSet
    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, FullAccessKey]
