"""The one FilterSet of subscription forms, shared by the dashboard list and the API."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from subscriptions.models import SubscriptionForm


class SubscriptionFormFilterSet(django_filters.FilterSet):
    """``q`` searches names and titles; ``list`` is a list's id; ``is_active`` true/false."""

    q = django_filters.CharFilter(method="filter_q", label="Search")
    list = django_filters.UUIDFilter(field_name="contact_list_id", label="List")

    class Meta:
        model = SubscriptionForm
        fields = ["q", "list", "is_active"]

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(title__icontains=value))
