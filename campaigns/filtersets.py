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


class _ExistsPerRow(Exists):
    """``EXISTS (… OFFSET 0)``: the OFFSET keeps PostgreSQL from turning the test into a join.
    As a join it was planned as a merge of the page's messages with the events' message_id
    index, which starts at the newest event and skips every event of the newer messages: the
    last page of a 1,000,000-message campaign's ``opened=true``, 24 rows, read 109,854 events
    (153 ms). Tested per message, a page costs one index probe per message walked."""

    template = "EXISTS(%(subquery)s OFFSET 0)"


def engaged(event_type: str) -> Exists:
    """Whether a message has had an event of this type (for filters and annotations)."""
    return _ExistsPerRow(MessageEvent.objects.filter(message_id=OuterRef("pk"), type=event_type))


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
