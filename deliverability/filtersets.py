"""One FilterSet per model, shared by the dashboard lists and the API (a filtered dashboard URL
is also a valid API query)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from deliverability.models import (
    Suppression,
    SuppressionSource,
    SuppressionType,
    SuppressionWhitelist,
    Unsubscribe,
    UnsubscribeReason,
    UnsubscribeScope,
    UnsubscribeSource,
)

SCOPE_CHOICES = [("global", "Every domain"), ("domain", "One domain")]


def _exact_email(queryset: QuerySet, name: str, value: str) -> QuerySet:
    # Addresses are stored lower-cased, so this is one indexed equality.
    return queryset.filter(email=value.strip().lower())


def _address_or_reason(queryset: QuerySet, name: str, value: str) -> QuerySet:
    value = value.strip()
    if not value:
        return queryset
    return queryset.filter(Q(email__contains=value.lower()) | Q(reason__icontains=value))


def _scope(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset.filter(domain__isnull=value == "global")


class SuppressionFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method=_address_or_reason, label="Search", help_text="Part of the address or the reason."
    )
    type = django_filters.ChoiceFilter(choices=SuppressionType.choices)
    source = django_filters.ChoiceFilter(choices=SuppressionSource.choices)
    scope = django_filters.ChoiceFilter(
        choices=SCOPE_CHOICES,
        method=_scope,
        label="Scope",
        help_text="global: no domain; domain: one domain.",
    )
    domain_id = django_filters.UUIDFilter(field_name="domain_id", label="Domain")
    email = django_filters.CharFilter(method=_exact_email, help_text="The exact address.")

    class Meta:
        model = Suppression
        fields = ["q", "type", "source", "scope", "domain_id", "email"]


class WhitelistFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method=_address_or_reason, label="Search", help_text="Part of the address or the reason."
    )
    email = django_filters.CharFilter(method=_exact_email, help_text="The exact address.")

    class Meta:
        model = SuppressionWhitelist
        fields = ["q", "email"]


class UnsubscribeFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_q", label="Search", help_text="Part of the address."
    )
    source = django_filters.ChoiceFilter(choices=UnsubscribeSource.choices)
    scope = django_filters.ChoiceFilter(
        choices=UnsubscribeScope.choices,
        method="filter_scope",
        label="Scope",
        help_text="global: all mail; domain: one sending domain; list: one list.",
    )
    domain_id = django_filters.UUIDFilter(field_name="domain_id", label="Domain")
    list_id = django_filters.UUIDFilter(field_name="contact_list_id", label="List")
    reason = django_filters.ChoiceFilter(choices=UnsubscribeReason.choices)
    email = django_filters.CharFilter(method=_exact_email, help_text="The exact address.")

    class Meta:
        model = Unsubscribe
        fields = ["q", "source", "scope", "domain_id", "list_id", "reason", "email"]

    def filter_scope(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == UnsubscribeScope.LIST:
            return queryset.filter(contact_list__isnull=False)
        return queryset.filter(contact_list__isnull=True, domain__isnull=value == "global")

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(email__contains=value.lower()) if value else queryset
