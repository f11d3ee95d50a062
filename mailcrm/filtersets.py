import uuid

import django_filters
from django import forms
from django.db.models import Q

from mailcrm.filters import UtcIsoDateTimeFilter
from mailcrm.models import AuditEntry, AuditVia, Event


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


class AuditEntryFilterSet(django_filters.FilterSet):
    """The audit log's filters, for the API and the dashboard page alike."""

    action = django_filters.CharFilter(
        method="filter_action",
        label="Action",
        help_text="e.g. api_key.revoked, or api_key.*",
        widget=forms.TextInput(attrs={"placeholder": "api_key.* or workspace.updated"}),
    )
    actor = django_filters.CharFilter(
        method="filter_actor",
        label="Who",
        help_text="A user's or API key's id, or part of the actor's label (an email address, "
        "a key's name or prefix).",
        widget=forms.TextInput(attrs={"placeholder": "email, key name or prefix"}),
    )
    via = django_filters.ChoiceFilter(choices=AuditVia.choices, label="Via", empty_label="Any")
    since = UtcIsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="gte",
        label="Since",
        widget=forms.TextInput(attrs={"placeholder": "2026-01-31T00:00:00Z"}),
    )

    class Meta:
        model = AuditEntry
        fields = ["action", "actor", "via", "since"]

    def filter_action(self, queryset, name, value):
        if value.endswith(".*"):
            return queryset.filter(action__startswith=value[:-1])
        return queryset.filter(action=value)

    def filter_actor(self, queryset, name, value):
        value = value.strip()
        try:
            actor_id = uuid.UUID(value)
        except ValueError:
            return queryset.filter(actor_label__icontains=value)
        return queryset.filter(Q(actor_user_id=actor_id) | Q(actor_api_key_id=actor_id))
