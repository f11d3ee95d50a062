from __future__ import annotations

from django.db.models import Prefetch
from rest_framework import serializers

from contacts.models import (
    MANUAL_ACTIVITY_KINDS,
    Activity,
    Company,
    CompanyRole,
    Contact,
    ContactList,
    ContactSource,
    ContactStatus,
    LifecycleStage,
    PropertyDefinition,
    PropertyType,
    ScoreTier,
    Segment,
    SegmentKind,
    Tag,
)
from contacts.time_zones import validate_time_zone


class ContactStatsSerializer(serializers.Serializer):
    sends = serializers.IntegerField()
    opens = serializers.IntegerField()
    clicks = serializers.IntegerField()
    last_sent_at = serializers.DateTimeField(allow_null=True)
    last_opened_at = serializers.DateTimeField(allow_null=True)
    last_clicked_at = serializers.DateTimeField(allow_null=True)
    last_engaged_at = serializers.DateTimeField(allow_null=True)


# A contact's relations prefetched as plain lists (``prefetched_<relation>``) rather than into
# its managers: a prefetched manager keeps a queryset per contact whose hints point back at the
# contact, a reference cycle that only a full garbage collection frees (of the ≈ 3,600 objects
# a page of 50 contacts left in cycles, ≈ 1,700 were these; the collections that freed them
# were the list's slowest requests). The fields read the list when there is one, the manager
# otherwise.
CONTACT_PREFETCHES = (
    Prefetch("tags", to_attr="prefetched_tags"),
    Prefetch("lists", to_attr="prefetched_lists"),
    Prefetch(
        "company_roles",
        queryset=CompanyRole.objects.select_related("company"),
        to_attr="prefetched_company_roles",
    ),
)


def related_rows(instance, relation: str):
    """The rows of ``instance``'s ``relation``: its prefetched list, or from the manager."""
    found = getattr(instance, f"prefetched_{relation}", None)
    return found if found is not None else getattr(instance, relation).all()


class PrefetchedListSerializer(serializers.ListSerializer):
    def get_attribute(self, instance):
        return related_rows(instance, self.source)


class ContactCompanySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="company.id")
    name = serializers.CharField(source="company.name")
    role = serializers.CharField()

    class Meta:
        list_serializer_class = PrefetchedListSerializer


MAX_TAGS = 1_000


class TagNamesField(serializers.ListField):
    child = serializers.CharField(max_length=100)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_TAGS)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        # Counted before each name is checked: 100,000 names took a minute to create.
        if isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)

    def get_attribute(self, instance):
        return related_rows(instance, self.source)

    def to_representation(self, tags) -> list[str]:
        return sorted(tag.name for tag in tags)


class ListIdsField(serializers.ListField):
    child = serializers.UUIDField()

    def get_attribute(self, instance):
        return related_rows(instance, self.source)

    def to_representation(self, contact_lists) -> list[str]:
        return [str(contact_list.id) for contact_list in contact_lists]


class ContactSerializer(serializers.Serializer):
    """The contact body of API.md. Writes go through contacts.services; this class only checks
    the shape of the input and renders the output."""

    id = serializers.UUIDField(read_only=True)
    email = serializers.CharField(max_length=254)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    name = serializers.CharField(
        max_length=201,
        required=False,
        allow_blank=True,
        help_text="On input, split into first and last name when those are not given.",
    )
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    job_title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        validators=[validate_time_zone],
        help_text="IANA name (Europe/Paris); blank: guessed from the country property, else "
        "the workspace's. Campaigns sent at a local time or within a window use it.",
    )
    status = serializers.ChoiceField(choices=ContactStatus.choices, required=False)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    source = serializers.ChoiceField(choices=ContactSource.choices, required=False)
    properties = serializers.DictField(
        required=False, help_text="Custom property values; null removes one."
    )
    custom_properties = serializers.DictField(
        required=False, write_only=True, help_text="Alias of properties."
    )
    tags = TagNamesField(required=False)
    lists = ListIdsField(required=False)
    tracking_opt_out = serializers.BooleanField(required=False)
    score = serializers.IntegerField(read_only=True)
    score_tier = serializers.ChoiceField(choices=ScoreTier.choices, read_only=True)
    stats = ContactStatsSerializer(source="*", read_only=True)
    sunset_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the contact was flagged as unengaged (sunsetting); null when not.",
    )
    companies = ContactCompanySerializer(source="company_roles", many=True, read_only=True)
    archived = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_archived(self, contact: Contact) -> bool:
        return contact.archived_at is not None

    def validate(self, attrs: dict) -> dict:
        aliased = attrs.pop("custom_properties", None)
        if aliased is not None:
            attrs["properties"] = {**aliased, **attrs.get("properties", {})}
        name = attrs.pop("name", None)
        if name and "first_name" not in attrs and "last_name" not in attrs:
            first, _, last = name.strip().partition(" ")
            attrs["first_name"], attrs["last_name"] = first, last.strip()
        if "lists" in attrs:
            attrs["list_ids"] = attrs.pop("lists")
        return attrs


class ContactTagsSerializer(serializers.Serializer):
    tags = TagNamesField(allow_empty=False)


class ActivitySerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in MANUAL_ACTIVITY_KINDS])
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "kind",
            "subject",
            "body",
            "data",
            "occurred_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "created_by", "created_at"]
        extra_kwargs = {"occurred_at": {"required": False}, "data": {"required": False}}

    def to_representation(self, activity: Activity) -> dict:
        data = super().to_representation(activity)
        data["kind"] = activity.kind  # system kinds (created, tagged …) are listed too
        return data


class PropertyDefinitionSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(choices=PropertyType.choices, required=False)
    options = serializers.ListField(child=serializers.CharField(max_length=200), required=False)

    class Meta:
        model = PropertyDefinition
        fields = ["key", "label", "type", "options", "description", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"key": {"validators": []}}


class TagSerializer(serializers.ModelSerializer):
    contact_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Tag
        fields = ["id", "name", "description", "contact_count", "created_at"]
        read_only_fields = ["id", "created_at"]


class ContactListSerializer(serializers.ModelSerializer):
    contact_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ContactList
        fields = [
            "id",
            "name",
            "description",
            "double_opt_in",
            "contact_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}


class MembersSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.CharField(), required=False, max_length=10_000)
    emails = serializers.ListField(child=serializers.CharField(), required=False, max_length=10_000)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("ids") and not attrs.get("emails"):
            raise serializers.ValidationError({"ids": ["Give ids or emails."]})
        return attrs


class MembersResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField(help_text="How many contacts were added or removed.")
    not_found = serializers.ListField(child=serializers.CharField())


class CompanyMemberSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="contact_id", help_text="Contact id")
    role = serializers.CharField(max_length=100, required=False, allow_blank=True)


class CompanySerializer(serializers.ModelSerializer):
    contacts = CompanyMemberSerializer(source="contact_roles", many=True, required=False)
    contact_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Company
        fields = [
            "id",
            "name",
            "domain",
            "industry",
            "size",
            "plan",
            "spend",
            "properties",
            "contacts",
            "contact_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class SegmentSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=SegmentKind.choices, required=False)

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "query",
            "count",
            "refreshed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "count", "refreshed_at", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}, "query": {"required": False}}

    def validate(self, attrs: dict) -> dict:
        if self.instance is not None and "kind" in attrs and attrs["kind"] != self.instance.kind:
            raise serializers.ValidationError({"kind": ["The kind of a segment cannot change."]})
        if (
            self.instance is None
            and attrs.get("kind", "dynamic") == "dynamic"
            and not attrs.get("query")
        ):
            raise serializers.ValidationError({"query": ["A dynamic segment needs a query."]})
        return attrs


class QuerySerializer(serializers.Serializer):
    query = serializers.CharField(max_length=10_000, trim_whitespace=False)


class SegmentPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = ContactSerializer(many=True)


class QueuedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
