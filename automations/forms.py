import json

from django import forms

from automations.models import Reentry, StepPath, StepType, TriggerType


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
