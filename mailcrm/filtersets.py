import django_filters

from mailcrm.filters import UtcIsoDateTimeFilter
from mailcrm.models import Event


class EventFilterSet(django_filters.FilterSet):
    type = django_filters.CharFilter(
        method="filter_type", help_text="e.g. email.opened, or email.*"
    )
    email = django_filters.CharFilter(field_name="data__email", lookup_expr="iexact")
    email_id = django_filters.UUIDFilter(field_name="subject_id")

    class Meta:
        model = Event
        fields = ["type", "email", "email_id"]

    def filter_type(self, queryset, name, value):
        if value.endswith(".*"):
            return queryset.filter(type__startswith=value[:-1])
        return queryset.filter(type=value)


# "from" and "to" are Python keywords, so they are added by name.
EventFilterSet.base_filters["from"] = UtcIsoDateTimeFilter(
    field_name="created_at", lookup_expr="gte"
)
EventFilterSet.base_filters["to"] = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
