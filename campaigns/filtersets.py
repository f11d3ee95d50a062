"""One FilterSet per model, shared by the dashboard and the API (STYLE.md): a campaign's
recipients table and the transactional email log both filter messages with ``MessageFilterSet``."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, QuerySet

from campaigns.models import (
    Campaign,
    CampaignStatus,
    EventType,
    Message,
    MessageEvent,
    MessageStatus,
)


def engaged(event_type: str) -> Exists:
    """Whether a message has had an event of this type (for filters and annotations)."""
    return Exists(MessageEvent.objects.filter(message_id=OuterRef("pk"), type=event_type))


class MessageFilterSet(django_filters.FilterSet):
    email = django_filters.CharFilter(
        field_name="email", lookup_expr="icontains", label="Email contains"
    )
    status = django_filters.ChoiceFilter(choices=MessageStatus.choices)
    opened = django_filters.BooleanFilter(method="filter_opened", label="Opened")
    clicked = django_filters.BooleanFilter(method="filter_clicked", label="Clicked")

    class Meta:
        model = Message
        fields = ["email", "status", "opened", "clicked"]

    def filter_opened(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        return self._by_event(queryset, EventType.OPENED, value)

    def filter_clicked(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        return self._by_event(queryset, EventType.CLICKED, value)

    @staticmethod
    def _by_event(queryset: QuerySet, event_type: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        condition = engaged(event_type)
        return queryset.filter(condition if value else ~condition)


class CampaignFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices)

    class Meta:
        model = Campaign
        fields = ["q", "status"]
