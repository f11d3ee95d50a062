"""Dashboard forms. They parse what a browser sends into the arguments of a service; the
rules themselves (valid email, property types, duplicates, plan limits) live in the
services, whose errors the views put back on these forms."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from django import forms

from contacts.models import (
    MANUAL_ACTIVITY_KINDS,
    BulkAction,
    Contact,
    ContactList,
    ContactSource,
    ContactStatus,
    LifecycleStage,
    PropertyDefinition,
    PropertyType,
    ScoreTier,
    SegmentKind,
)
from contacts.query import (
    BOOLEAN_FIELDS,
    CHOICE_FIELDS,
    COMPANY_NUMBER_FIELDS,
    COMPANY_TEXT_FIELDS,
    DATETIME_FIELDS,
    MAX_QUERY_LENGTH,
    NUMBER_FIELDS,
    OP_WORDS,
    OPS_BY_KIND,
    PROPERTY_KINDS,
    TEXT_FIELDS,
    And,
    Compiler,
    Condition,
    Or,
    QueryError,
    field_names,
    parse,
)

PROPERTY_PREFIX = "properties."
BLANK = [("", "—")]
BOOLEAN_CHOICES = [*BLANK, ("true", "Yes"), ("false", "No")]
TEXT_INPUT_TYPES = {
    PropertyType.DATE: "date",
    PropertyType.DATETIME: "datetime-local",
    PropertyType.EMAIL: "email",
    PropertyType.PHONE: "tel",
    PropertyType.URL: "url",
}


def property_field(definition: PropertyDefinition) -> forms.Field:
    """A lenient form field for one custom property; the service checks the value's type."""
    common = {
        "required": False,
        "label": definition.label or definition.key,
        "help_text": definition.description,
    }
    options = [(str(o), str(o)) for o in definition.options or []]
    kind = definition.type
    if kind == PropertyType.BOOLEAN:
        return forms.ChoiceField(choices=BOOLEAN_CHOICES, **common)
    if kind == PropertyType.SELECT:
        return forms.ChoiceField(choices=BLANK + options, **common)
    if kind == PropertyType.MULTI_SELECT:
        return forms.MultipleChoiceField(
            choices=options, widget=forms.CheckboxSelectMultiple, **common
        )
    if kind == PropertyType.JSON:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    if kind in (PropertyType.NUMBER, PropertyType.CURRENCY):
        step = "0.01" if kind == PropertyType.CURRENCY else "any"
        return forms.CharField(widget=forms.NumberInput(attrs={"step": step}), **common)
    if kind == PropertyType.DATETIME:
        common["help_text"] = common["help_text"] or "In UTC."
    input_type = TEXT_INPUT_TYPES.get(kind, "text")
    return forms.CharField(widget=forms.TextInput(attrs={"type": input_type}), **common)


def property_initial(definition: PropertyDefinition, value: Any) -> Any:
    """The stored JSON value as the form field shows it."""
    if value is None:
        return None
    kind = definition.type
    if kind == PropertyType.BOOLEAN:
        return "true" if value else "false"
    if kind == PropertyType.MULTI_SELECT:
        return value if isinstance(value, list) else [value]
    if kind == PropertyType.JSON:
        return json.dumps(value)
    if kind == PropertyType.DATETIME and isinstance(value, str):
        return value.removesuffix("Z")  # datetime-local inputs take no zone; values are UTC
    return str(value)


def dress_filter_form(form: forms.Form) -> forms.Form:
    """Dashboard touches on the shared ContactFilterSet's form: the filters stay the API's,
    only their widgets change ("Any" for no choice, a search box, tag and list suggestions)."""
    for name in ("status", "lifecycle_stage", "source"):
        form.fields[name].empty_label = "Any"
        form.fields[name].widget.choices = list(form.fields[name].choices)
    form.fields["archived"].widget.choices = [
        ("unknown", "Hide archived"),
        ("true", "Archived only"),
        ("false", "Not archived"),
    ]
    form.fields["q"].widget.input_type = "search"
    form.fields["q"].widget.attrs["placeholder"] = "Name, email, company or phone"
    form.fields["tag"].widget.attrs["list"] = "tag-options"
    form.fields["list"].widget.attrs["list"] = "list-options"
    return form


class ContactForm(forms.Form):
    """The standard fields of a contact plus one field per property definition."""

    email = forms.CharField(max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    phone = forms.CharField(
        max_length=40, required=False, widget=forms.TextInput(attrs={"type": "tel"})
    )
    company = forms.CharField(max_length=200, required=False)
    job_title = forms.CharField(max_length=200, required=False)
    status = forms.ChoiceField(choices=ContactStatus.choices, initial=ContactStatus.ACTIVE)
    lifecycle_stage = forms.ChoiceField(
        choices=LifecycleStage.choices, initial=LifecycleStage.SUBSCRIBER
    )
    source = forms.ChoiceField(choices=ContactSource.choices, initial=ContactSource.MANUAL)
    tracking_opt_out = forms.BooleanField(
        required=False, label="Do not record this person's opens and clicks"
    )

    standard_fields = (
        "email",
        "first_name",
        "last_name",
        "phone",
        "company",
        "job_title",
        "status",
        "lifecycle_stage",
        "source",
        "tracking_opt_out",
    )

    def __init__(self, *args, definitions: list[PropertyDefinition], **kwargs):
        super().__init__(*args, **kwargs)
        self.definitions = definitions
        for definition in definitions:
            self.fields[PROPERTY_PREFIX + definition.key] = property_field(definition)

    @classmethod
    def initial_for(cls, contact: Contact, definitions: list[PropertyDefinition]) -> dict:
        initial = {name: getattr(contact, name) for name in cls.standard_fields}
        for definition in definitions:
            value = property_initial(definition, contact.properties.get(definition.key))
            initial[PROPERTY_PREFIX + definition.key] = value
        return initial

    @property
    def property_fields(self) -> list[forms.BoundField]:
        return [self[PROPERTY_PREFIX + d.key] for d in self.definitions]

    @property
    def standard_bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.standard_fields]

    def clean(self):
        cleaned = super().clean()
        for definition in self.definitions:
            name = PROPERTY_PREFIX + definition.key
            raw = cleaned.get(name)
            if definition.type == PropertyType.JSON and raw:
                try:
                    cleaned[name] = json.loads(raw)
                except ValueError:
                    self.add_error(name, "Enter valid JSON.")
        return cleaned

    def standard_values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.standard_fields}

    def property_values(self) -> dict[str, Any]:
        """Every defined property; an empty field means "no value" (the service removes it)."""
        values = {}
        for definition in self.definitions:
            value = self.cleaned_data.get(PROPERTY_PREFIX + definition.key)
            values[definition.key] = None if value in ("", [], None) else value
        return values


class ContactCreateForm(ContactForm):
    tags = forms.CharField(
        required=False, max_length=2000, help_text="Separate tags with commas.", label="Tags"
    )
    lists = forms.ModelMultipleChoiceField(
        queryset=ContactList.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, lists, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lists"].queryset = lists
        if not lists.exists():
            del self.fields["lists"]

    def tag_names(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["tags"].split(",") if name.strip()]

    def list_ids(self) -> list[Any]:
        return [contact_list.id for contact_list in self.cleaned_data.get("lists") or []]


class TagNameForm(forms.Form):
    name = forms.CharField(
        max_length=100, label="Tag", widget=forms.TextInput(attrs={"list": "tag-names"})
    )


class AddToListForm(forms.Form):
    contact_list = forms.ModelChoiceField(
        queryset=ContactList.objects.none(), label="List", empty_label="Choose a list…"
    )

    def __init__(self, *args, lists, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_list"].queryset = lists


class ActivityForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(kind.value, kind.label) for kind in MANUAL_ACTIVITY_KINDS], label="Type"
    )
    subject = forms.CharField(max_length=300, required=False)
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    occurred_at = forms.DateTimeField(
        required=False,
        label="When (UTC)",
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class TagForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)


class ContactListForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    double_opt_in = forms.BooleanField(
        required=False, help_text="New subscribers confirm by email before they are added."
    )


class PropertyDefinitionForm(forms.Form):
    key = forms.SlugField(
        max_length=64, help_text="Letters, digits, _ and -; used in queries and the API."
    )
    label = forms.CharField(max_length=120, required=False)
    type = forms.ChoiceField(choices=PropertyType.choices, initial=PropertyType.TEXT)
    options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For select and multi-select: one option per line.",
    )
    description = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            # The key names the values on every contact; it cannot change.
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "The key cannot change; create a new property instead."

    @staticmethod
    def initial_for(definition: PropertyDefinition) -> dict:
        return {
            "key": definition.key,
            "label": definition.label,
            "type": definition.type,
            "options": "\n".join(str(o) for o in definition.options or []),
            "description": definition.description,
        }

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["options"] = [line.strip() for line in data["options"].splitlines() if line.strip()]
        return data


# --- segments ----------------------------------------------------------------------------------


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(
        choices=SegmentKind.choices,
        initial=SegmentKind.DYNAMIC,
        widget=forms.RadioSelect,
        help_text="Dynamic segments follow their query; static ones keep hand-picked members.",
    )
    query = forms.CharField(
        required=False,
        max_length=MAX_QUERY_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "query-text"}),
        help_text="For example: status = active AND tag = vip AND last_opened_at > -30d",
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            # A segment keeps its kind: its members are either computed or hand-picked.
            del self.fields["kind"]

    def clean(self):
        cleaned = super().clean()
        # A static segment's edit form has no query field (nor a kind): nothing to require.
        if (
            "query" in self.fields
            and cleaned.get("kind", SegmentKind.DYNAMIC) == SegmentKind.DYNAMIC
            and not (cleaned.get("query") or "").strip()
        ):
            self.add_error("query", "A dynamic segment needs a query.")
        return cleaned


def _kind_of_field(name: str, definitions: Mapping[str, PropertyDefinition]) -> str:
    if name in TEXT_FIELDS or name in ("company." + n for n in COMPANY_TEXT_FIELDS):
        return "text"
    if name in CHOICE_FIELDS:
        return "choice"
    if name in NUMBER_FIELDS or name in ("company." + n for n in COMPANY_NUMBER_FIELDS):
        return "number"
    if name in DATETIME_FIELDS:
        return "datetime"
    if name in BOOLEAN_FIELDS:
        return "boolean"
    if name in ("tag", "list"):
        return "membership"
    if name == "segment":
        return "segment"
    return PROPERTY_KINDS[definitions[name.removeprefix("properties.")].type]


CHOICES_OF_FIELD = {
    "status": ContactStatus.values,
    "lifecycle_stage": LifecycleStage.values,
    "source": ContactSource.values,
    "score_tier": ScoreTier.values,
    "tracking_opt_out": ["true", "false"],
}


def query_builder_fields(
    definitions: Mapping[str, PropertyDefinition], names: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    """What the row builder offers: every field of the query language with the operators
    its kind accepts and, where known, the values to suggest. ``names`` holds the tag, list
    and segment names of the workspace."""
    fields = []
    for name in field_names(definitions):
        kind = _kind_of_field(name, definitions)
        choices = CHOICES_OF_FIELD.get(name) or names.get(name) or []
        definition = definitions.get(name.removeprefix("properties."))
        if definition is not None and name.startswith(PROPERTY_PREFIX):
            choices = [str(o) for o in definition.options or []] or choices
            if kind == "boolean":
                choices = ["true", "false"]
        ops = [{"value": op, "label": OP_WORDS.get(op, op)} for op in OPS_BY_KIND[kind]]
        fields.append({"name": name, "kind": kind, "ops": ops, "choices": list(choices)})
    return fields


def query_builder_rows(text: str) -> dict[str, Any] | None:
    """The builder's rows for a query that is a flat AND or OR of conditions; None when the
    query is more than the builder shows (NOT, brackets mixing AND and OR) or does not parse."""
    try:
        tree = parse(text)
    except QueryError:
        return None
    join, items = "AND", (tree,)
    if isinstance(tree, And | Or):
        join, items = ("AND" if isinstance(tree, And) else "OR"), tree.items
    if not all(isinstance(item, Condition) for item in items):
        return None
    rows = [
        {"field": c.field, "op": c.op, "value": ", ".join(v.text for v in c.values)} for c in items
    ]
    return {"join": join, "rows": rows}


# --- lead scoring ------------------------------------------------------------------------------

EVENT_LABELS = {
    "sent": "Email sent",
    "opened": "Email opened",
    "clicked": "Link clicked",
    "replied": "Replied",
    "visited_page": "Visited a page",
    "bounced": "Email bounced",
    "complained": "Marked as spam",
}
POINTS_PREFIX = "points_"
HYGIENE_FORM_FIELDS = (
    "decay_half_life_days",
    "sunset_after_days",
    "sunset_min_sends",
    "sunset_exclude",
    "sunset_suppress_after_days",
)


class ScoringForm(forms.Form):
    """Points per event (one field each) and the tier thresholds."""

    hot_threshold = forms.IntegerField(label="Hot from", help_text="Score at or above: hot.")
    warm_threshold = forms.IntegerField(label="Warm from", help_text="At or above: warm.")
    recompute = forms.BooleanField(
        required=False,
        initial=True,
        label="Recompute every contact's score and tier from its timeline now",
    )
    decay_half_life_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="Halve scores every … days without engagement",
        help_text="Empty: scores never decay.",
    )
    sunset_after_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="Sunset after … days with no human open or click",
    )
    sunset_min_sends = forms.IntegerField(
        required=False, min_value=1, max_value=10_000, label="…and at least … sends"
    )
    sunset_exclude = forms.BooleanField(
        required=False, label="Leave sunset contacts out of campaigns"
    )
    sunset_suppress_after_days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=3650,
        label="Suppress sunset contacts … days after the flag",
        help_text="Empty: never. Leaves time for a re-engagement automation "
        "(trigger: stopped engaging).",
    )

    def __init__(self, *args, events: tuple[str, ...], **kwargs):
        super().__init__(*args, **kwargs)
        self.events = events
        for event in events:
            self.fields[POINTS_PREFIX + event] = forms.IntegerField(
                label=EVENT_LABELS.get(event, event.replace("_", " ").capitalize()),
                initial=0,
                widget=forms.NumberInput(attrs={"step": 1}),
            )

    @classmethod
    def initial_for(cls, settings) -> dict[str, Any]:
        initial = {
            "hot_threshold": settings.hot_threshold,
            "warm_threshold": settings.warm_threshold,
        } | {name: getattr(settings, name) for name in HYGIENE_FORM_FIELDS}
        return initial | {POINTS_PREFIX + k: v for k, v in (settings.rules or {}).items()}

    @property
    def point_fields(self) -> list[forms.BoundField]:
        return [self[POINTS_PREFIX + event] for event in self.events]

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        rules = {event: data[POINTS_PREFIX + event] for event in self.events}
        return {
            "rules": {event: points for event, points in rules.items() if points},
            "hot_threshold": data["hot_threshold"],
            "warm_threshold": data["warm_threshold"],
            "recompute": data["recompute"],
        } | {
            name: data[name]
            for name in HYGIENE_FORM_FIELDS
            # Left empty: the decay is off, nobody is suppressed; the thresholds stay as they are.
            if data[name] is not None
            or name in ("decay_half_life_days", "sunset_suppress_after_days")
        }

    @property
    def hygiene_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in HYGIENE_FORM_FIELDS]


# --- imports -----------------------------------------------------------------------------------

NEW_PROPERTY = "new"
IMPORT_FIELD_LABELS = {
    "email": "Email",
    "name": "Full name (split into first and last)",
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone",
    "company": "Company",
    "job_title": "Job title",
    "status": "Status",
    "lifecycle_stage": "Lifecycle stage",
    "tracking_opt_out": "Tracking opt-out",
}
# A new property is created with its values' type; select types need options defined first.
NEW_PROPERTY_TYPES = [
    (value, label)
    for value, label in PropertyType.choices
    if value not in (PropertyType.SELECT, PropertyType.MULTI_SELECT)
]


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Comma, semicolon or tab separated, with a header row; UTF-8 or Latin-1.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,text/csv"}),
    )


class ImportMappingForm(forms.Form):
    """Step two: where each column goes (a standard field, a property, a new property or
    nowhere) and the options of the run."""

    update_existing = forms.TypedChoiceField(
        label="Contacts already in the workspace",
        choices=[("true", "Update them with the file's values"), ("false", "Skip them")],
        coerce=lambda value: value == "true",
        initial="true",
        widget=forms.RadioSelect,
    )
    validate_emails = forms.BooleanField(
        required=False,
        label="Validate the addresses first",
        help_text="Rows with an invalid address (bad syntax, no such domain, no mail server) "
        "are refused; risky ones (disposable, role accounts) are imported and flagged. Slower: "
        "one DNS lookup per domain.",
    )
    tags = forms.CharField(
        required=False, max_length=2000, help_text="Add these tags to every imported contact."
    )
    contact_list = forms.ModelChoiceField(
        queryset=ContactList.objects.none(),
        required=False,
        label="Add to list",
        empty_label="No list",
    )

    def __init__(
        self,
        *args,
        columns: list[str],
        definitions: Mapping[str, PropertyDefinition],
        lists,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.columns = columns
        self.fields["contact_list"].queryset = lists
        targets = [("", "Skip this column")]
        targets += [(name, label) for name, label in IMPORT_FIELD_LABELS.items()]
        targets += [
            (PROPERTY_PREFIX + key, f"Property: {d.label or key}")
            for key, d in sorted(definitions.items())
        ]
        targets.append((NEW_PROPERTY, "A new property…"))
        for index, column in enumerate(columns):
            self.fields[f"map_{index}"] = forms.ChoiceField(
                choices=targets, required=False, label=column or f"Column {index + 1}"
            )
            self.fields[f"new_key_{index}"] = forms.SlugField(
                required=False, max_length=64, label="New property key"
            )
            self.fields[f"new_type_{index}"] = forms.ChoiceField(
                choices=NEW_PROPERTY_TYPES, required=False, initial="text", label="Type"
            )

    @property
    def column_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "name": column,
                "index": index,
                "target": self[f"map_{index}"],
                "new_key": self[f"new_key_{index}"],
                "new_type": self[f"new_type_{index}"],
            }
            for index, column in enumerate(self.columns)
        ]

    def clean(self):
        cleaned = super().clean()
        for index, _column in enumerate(self.columns):
            if cleaned.get(f"map_{index}") == NEW_PROPERTY and not cleaned.get(f"new_key_{index}"):
                self.add_error(f"new_key_{index}", "Name the new property.")
        return cleaned

    def mapping(self) -> dict[str, str]:
        """CSV column -> field, ``properties.<key>`` for new properties too."""
        mapping = {}
        for index, column in enumerate(self.columns):
            target = self.cleaned_data.get(f"map_{index}")
            if target == NEW_PROPERTY:
                target = PROPERTY_PREFIX + self.cleaned_data[f"new_key_{index}"]
            if target:
                mapping[column] = target
        return mapping

    def new_properties(self) -> dict[str, str]:
        return {
            self.cleaned_data[f"new_key_{index}"]: self.cleaned_data[f"new_type_{index}"] or "text"
            for index in range(len(self.columns))
            if self.cleaned_data.get(f"map_{index}") == NEW_PROPERTY
        }

    def tag_names(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["tags"].split(",") if name.strip()]


# --- bulk actions ------------------------------------------------------------------------------

DESTRUCTIVE_ACTIONS = (BulkAction.UNSUBSCRIBE, BulkAction.DELETE)


class MultipleUUIDField(forms.Field):
    """Many UUIDs from repeated form keys (``ids=…&ids=…``)."""

    widget = forms.MultipleHiddenInput
    hidden_widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = value if isinstance(value, list | tuple) else ([value] if value else [])
        try:
            return [uuid.UUID(str(item)) for item in values]
        except ValueError:
            raise forms.ValidationError("Select contacts from the list.") from None


class BulkActionForm(forms.Form):
    """What to do to which contacts: the ticked ``ids``, or everyone matching ``filters`` (the
    contacts list's query string) when ``all_matching`` is set."""

    action = forms.ChoiceField(choices=[("", "Choose an action…"), *BulkAction.choices])
    tag = forms.CharField(max_length=100, required=False, label="Tag")
    contact_list = forms.ModelChoiceField(
        queryset=ContactList.objects.none(), required=False, label="List", empty_label="List…"
    )
    stage = forms.ChoiceField(
        choices=[("", "Stage…"), *LifecycleStage.choices], required=False, label="Stage"
    )
    ids = MultipleUUIDField(required=False)
    all_matching = forms.BooleanField(
        required=False, label="All contacts matching the filters, not only the ticked ones"
    )
    filters = forms.CharField(required=False, widget=forms.HiddenInput)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, lists, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_list"].queryset = lists

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        needs = {
            BulkAction.TAG: "tag",
            BulkAction.UNTAG: "tag",
            BulkAction.ADD_TO_LIST: "contact_list",
            BulkAction.REMOVE_FROM_LIST: "contact_list",
            BulkAction.SET_LIFECYCLE_STAGE: "stage",
        }.get(action)
        if needs and not cleaned.get(needs) and needs not in self.errors:
            self.add_error(needs, f"Choose the {self.fields[needs].label.lower()}.")
        if not cleaned.get("all_matching") and not cleaned.get("ids") and "ids" not in self.errors:
            self.add_error("ids", "Tick some contacts first, or choose all matching.")
        return cleaned

    @property
    def destructive(self) -> bool:
        return self.cleaned_data["action"] in DESTRUCTIVE_ACTIONS

    def value(self) -> Any:
        action = self.cleaned_data["action"]
        if action in (BulkAction.TAG, BulkAction.UNTAG):
            return self.cleaned_data["tag"].strip()
        if action in (BulkAction.ADD_TO_LIST, BulkAction.REMOVE_FROM_LIST):
            return str(self.cleaned_data["contact_list"].pk)
        if action == BulkAction.SET_LIFECYCLE_STAGE:
            return self.cleaned_data["stage"]
        return None


def _quoted(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def filters_as_query(data: Mapping[str, Any], workspace) -> str | None:
    """The contacts list's filters (a ContactFilterSet form's cleaned data) as one query of the
    segment language, so "all matching" runs set-based in the background; None when a filter
    has no equivalent (free-text search, archived contacts) and the ids must be listed."""
    if data.get("q") or data.get("archived"):
        return None
    parts = []
    for name in ("status", "lifecycle_stage", "source", "tag", "list", "segment"):
        if data.get(name):
            parts.append(f"{name} = {_quoted(data[name])}")
    for name, op in (("created_after", ">="), ("created_before", "<")):
        if data.get(name):
            parts.append(f"created_at {op} {_quoted(data[name].isoformat())}")
    text = (data.get("query") or "").strip()
    if text:
        try:
            parse(text)
            Compiler(workspace=workspace).compile(parse(text))
        except QueryError:
            return None  # the search shorthand, which only the list's own filter reads
        parts.append(f"({text})")
    return " AND ".join(parts) or "email IS SET"


# --- merging -----------------------------------------------------------------------------------


class MergeForm(forms.Form):
    """One group of likely duplicates: which contact stays (``primary``) and which are merged
    into it (``duplicates``)."""

    primary = forms.UUIDField(error_messages={"required": "Choose the contact to keep."})
    duplicates = MultipleUUIDField(required=False)

    def clean(self):
        cleaned = super().clean()
        primary, duplicates = cleaned.get("primary"), cleaned.get("duplicates") or []
        duplicates = [pk for pk in duplicates if pk != primary]
        if "duplicates" not in self.errors and not duplicates:
            self.add_error("duplicates", "Tick at least one other contact to merge.")
        cleaned["duplicates"] = duplicates
        return cleaned
