"""Dashboard forms of the sending pages: the campaign composer (content, sender, audience,
tracking), its audience picker alone (for the live count), scheduling and test sends."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import validate_email

from campaigns.models import Campaign
from campaigns.window_forms import add_window_fields, window_fields, window_initial, window_value
from contacts.models import ContactList, Segment, Tag
from mailcrm.models import Workspace
from templates.models import EmailTemplate

AUDIENCE_FIELDS = ("lists", "segments", "tags", "exclude_segments")


def _choices(queryset, help_text: str = "") -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=queryset, required=False, widget=forms.CheckboxSelectMultiple, help_text=help_text
    )


class AudienceForm(forms.Form):
    """Lists, segments and tags of the workspace; the audience is their union minus the
    excluded segments. Only the workspace's own rows are choices, so another workspace's id is
    "not a valid choice"."""

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lists"] = _choices(ContactList.objects.for_workspace(workspace))
        self.fields["segments"] = _choices(Segment.objects.for_workspace(workspace))
        self.fields["tags"] = _choices(Tag.objects.for_workspace(workspace).order_by("name"))
        self.fields["exclude_segments"] = _choices(
            Segment.objects.for_workspace(workspace),
            help_text="Contacts in these segments are left out.",
        )
        self.fields["exclude_segments"].label = "Except segments"

    def audience(self) -> dict[str, list[str]]:
        return {
            name: [str(row.pk) for row in self.cleaned_data.get(name) or []]
            for name in AUDIENCE_FIELDS
        }

    def audience_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in AUDIENCE_FIELDS]


class CampaignForm(AudienceForm):
    """The composer: what the service's ``campaign_create``/``campaign_update`` take."""

    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    subject = forms.CharField(
        max_length=998,
        required=False,
        help_text="Personalise with {{ contact.first_name }}; empty takes the template's.",
    )
    template = forms.ChoiceField(required=False, label="Template")
    html = forms.CharField(
        required=False,
        label="HTML",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "code"}),
        help_text="Leave empty to use the template's content.",
    )
    text = forms.CharField(
        required=False,
        label="Text part",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Derived from the HTML when left empty.",
    )
    from_name = forms.CharField(max_length=200, required=False)
    from_email = forms.EmailField(required=False, label="From address")
    reply_to = forms.EmailField(required=False, label="Reply-To")
    track_opens = forms.BooleanField(required=False, initial=True)
    track_clicks = forms.BooleanField(required=False, initial=True)
    rate_per_minute = forms.IntegerField(
        required=False, min_value=1, help_text="At most this many emails a minute; empty: no cap."
    )
    tag = forms.CharField(max_length=100, required=False, help_text="A label for reporting.")
    local_time = forms.TimeField(
        required=False,
        label="Deliver at (recipient's local time)",
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="E.g. 09:00 in each recipient's time zone; empty: as soon as it starts.",
    )

    CONTENT = ("template", "subject", "html", "text")
    SENDER = ("from_name", "from_email", "reply_to")
    OPTIONS = ("track_opens", "track_clicks", "rate_per_minute", "tag")

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, workspace=workspace, **kwargs)
        add_window_fields(self, inherit=True)
        templates = EmailTemplate.objects.for_workspace(workspace).values_list("pk", "name")
        self.fields["template"].choices = [("", "None: write the content here")] + [
            (str(pk), name) for pk, name in templates
        ]

    @classmethod
    def initial_for(cls, campaign: Campaign) -> dict[str, Any]:
        audience = campaign.audience or {}
        initial = {
            name: getattr(campaign, name)
            for name in cls.CONTENT + cls.SENDER + cls.OPTIONS
            if name != "template"
        }
        initial["name"] = campaign.name
        initial["template"] = str(campaign.template_id or "")
        initial["local_time"] = campaign.local_time
        initial |= window_initial(campaign.send_window, inherit=True)
        return initial | {name: audience.get(name, []) for name in AUDIENCE_FIELDS}

    def section(self, names: tuple[str, ...]) -> list[forms.BoundField]:
        return [self[name] for name in names]

    def content_fields(self):
        return self.section(self.CONTENT)

    def sender_fields(self):
        return self.section(self.SENDER)

    def option_fields(self):
        return self.section(self.OPTIONS)

    def timing_fields(self):
        return [self["local_time"], *window_fields(self)]

    def clean(self):
        data = super().clean()
        self.send_window = window_value(self, inherit=True)
        return data

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = {name: data[name] for name in self.CONTENT + self.SENDER + self.OPTIONS}
        fields["template_id"] = fields.pop("template") or None
        fields |= {"local_time": data["local_time"], "send_window": self.send_window}
        return fields | {"name": data["name"], "audience": self.audience()}


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label="Send at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )


class TestSendForm(forms.Form):
    emails = forms.CharField(
        label="Send a test to",
        help_text="Up to 10 addresses, separated by commas.",
        widget=forms.TextInput(attrs={"placeholder": "you@example.com"}),
    )

    def clean_emails(self) -> list[str]:
        emails = [e.strip() for e in self.cleaned_data["emails"].replace(";", ",").split(",")]
        emails = [e for e in emails if e]
        if not emails or len(emails) > 10:
            raise forms.ValidationError("Give between 1 and 10 addresses.")
        for email in emails:
            try:
                validate_email(email)
            except forms.ValidationError:
                raise forms.ValidationError(f"{email} is not an email address.") from None
        return emails


def dress_filter_form(form: forms.Form) -> forms.Form:
    """Dashboard touches on a shared FilterSet's form (the filters stay the API's): "Any" for
    no choice, yes/no for booleans, a search box for text."""
    for field in form.fields.values():
        if isinstance(field, forms.NullBooleanField):
            field.widget.choices = [("", "Any"), ("true", "Yes"), ("false", "No")]
        elif isinstance(field, forms.ChoiceField):
            field.empty_label = "Any"
            field.widget.choices = [("", "Any"), *[c for c in field.choices if c[0] != ""]]
        elif isinstance(field, forms.CharField):
            field.widget.input_type = "search"
    return form
