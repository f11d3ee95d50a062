from django import forms

from deliverability.models import SendingDomain
from webhooks.services import EVENT_TYPES


class WebhookEndpointForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    url = forms.URLField(
        max_length=2000,
        label="URL",
        assume_scheme="https",
        help_text="A public http(s) address; we POST each event there, signed.",
    )
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )
    domains = forms.ModelMultipleChoiceField(
        queryset=SendingDomain.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only mail from these domains",
        help_text="None ticked: the whole workspace.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["domains"].queryset = SendingDomain.objects.for_workspace(workspace)
        if not self.fields["domains"].queryset.exists():
            del self.fields["domains"]


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            ("", "Any status"),
            ("pending", "Pending"),
            ("succeeded", "Succeeded"),
            ("failed", "Failed"),
        ],
        required=False,
    )
    event_type = forms.ChoiceField(
        choices=[("", "Any event"), ("webhook.test", "webhook.test")]
        + [(event, event) for event in EVENT_TYPES],
        required=False,
        label="Event",
    )
