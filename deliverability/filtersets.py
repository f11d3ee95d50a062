import django_filters

from deliverability.models import Suppression, SuppressionType, Unsubscribe, UnsubscribeSource


class SuppressionFilterSet(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=SuppressionType.choices)
    domain_id = django_filters.UUIDFilter(field_name="domain_id")
    email = django_filters.CharFilter(method="filter_email")

    class Meta:
        model = Suppression
        fields = ["type", "domain_id", "email"]

    def filter_email(self, queryset, name, value):
        return queryset.filter(email=value.strip().lower())


class UnsubscribeFilterSet(django_filters.FilterSet):
    source = django_filters.ChoiceFilter(choices=UnsubscribeSource.choices)
    domain_id = django_filters.UUIDFilter(field_name="domain_id")
    email = django_filters.CharFilter(method="filter_email")

    class Meta:
        model = Unsubscribe
        fields = ["source", "domain_id", "email"]

    def filter_email(self, queryset, name, value):
        return queryset.filter(email=value.strip().lower())
