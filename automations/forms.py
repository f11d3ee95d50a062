import json

from django import forms

from automations.models import Automation, Reentry, StepPath, StepType, TriggerType
from contacts.forms import MultipleUUIDField

# The contacts list's bulk bar offers this action beside the contacts app's own.
ENROLL_ACTION = "enroll_automation"


class JsonField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return {}
        try:
            parsed = json.loads(value)
        except ValueError:
            raise forms.ValidationError('Enter a JSON object, e.g. {"days": 2}.') from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError("Enter a JSON object.")
        return parsed


class AutomationForm(forms.Form):
    name = forms.CharField(max_length=200)
    trigger_type = forms.ChoiceField(choices=TriggerType.choices)
    trigger_config = JsonField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='e.g. {"segment_id": "…"} or {"event": "visited_pricing_page"}',
    )
    goal_query = forms.CharField(required=False, help_text="Contacts matching it leave.")
    reentry = forms.ChoiceField(choices=Reentry.choices)
    reentry_days = forms.IntegerField(required=False, min_value=1)


class StepForm(forms.Form):
    type = forms.ChoiceField(choices=StepType.choices)
    config = JsonField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='e.g. {"template_id": "…"}, {"days": 2}, {"query": "score > 50"}',
    )
    parent_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    path = forms.ChoiceField(choices=StepPath.choices, required=False, widget=forms.HiddenInput)


class EnrollContactsForm(forms.Form):
    """ "Enrol in automation…" on the contacts list: which automation, and the ticked ``ids``
    or everyone matching ``filters`` (the list's query string) when ``all_matching`` is set.
    The field names are the bulk bar's, so the bar posts one form for every action."""

    automation = forms.ModelChoiceField(
        queryset=Automation.objects.none(),
        error_messages={
            "required": "Choose the automation.",
            "invalid_choice": "No such automation.",
        },
    )
    ids = MultipleUUIDField(required=False)
    all_matching = forms.BooleanField(required=False)
    filters = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        automations = Automation.objects.for_workspace(workspace).enrollable()
        self.fields["automation"].queryset = automations

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("all_matching") and not cleaned.get("ids") and "ids" not in self.errors:
            self.add_error("ids", "Tick some contacts first, or choose all matching.")
        return cleaned
