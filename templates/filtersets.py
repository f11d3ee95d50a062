import django_filters
from django.db.models import Q

from templates.models import EmailTemplate


class EmailTemplateFilterSet(django_filters.FilterSet):
    """Shared by the API list and the dashboard list: ``q`` searches names and subjects."""

    q = django_filters.CharFilter(method="filter_q", label="Search")

    class Meta:
        model = EmailTemplate
        fields = ["q"]

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(subject__icontains=value))
