import django_filters

from mailcrm.filters import UtcIsoDateTimeFilter
from webhooks.models import DeliveryStatus, WebhookDelivery


class WebhookDeliveryFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.CharFilter()
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event_type", "since", "until"]
