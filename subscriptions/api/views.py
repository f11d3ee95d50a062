"""/api/v1/forms: subscription forms over the API (the dashboard's form builder, as JSON)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from mailcrm.api.viewsets import WorkspaceViewSet
from subscriptions import services
from subscriptions.api.serializers import SubscriptionFormSerializer
from subscriptions.filtersets import SubscriptionFormFilterSet
from subscriptions.models import SubscriptionForm

# The service names model fields; the API calls the list ``list_id``.
API_NAMES = {"contact_list": "list_id"}


def _api_names(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {API_NAMES.get(key, key): messages for key, messages in exc.message_dict.items()}
    )


class SubscriptionFormViewSet(WorkspaceViewSet):
    model = SubscriptionForm
    serializer_class = SubscriptionFormSerializer
    filterset_class = SubscriptionFormFilterSet
    ordering_fields = ["name", "created_at"]
    default_ordering = "name"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        try:
            serializer.instance = services.form_create(
                workspace=self.workspace, **serializer.validated_data
            )
        except ValidationError as exc:
            raise _api_names(exc) from None

    def perform_update(self, serializer):
        try:
            serializer.instance = services.form_update(
                form=serializer.instance, **serializer.validated_data
            )
        except ValidationError as exc:
            raise _api_names(exc) from None

    def perform_destroy(self, instance):
        services.form_delete(form=instance)
