"""Forms of the settings pages. Secrets are write-only: a blank secret field keeps what is
stored."""

from __future__ import annotations

from django import forms

from campaigns.models import SendingBackend
from campaigns.window_forms import add_window_fields, window_fields, window_value
from deliverability.models import SendingDomain
from mailcrm.models import ApiKeyScope, Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=200)
    default_from_name = forms.CharField(max_length=200, required=False, label="Default sender name")
    default_from_email = forms.EmailField(required=False, label="Default sender address")
    physical_address = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Postal address for email footers",
        help_text="Anti-spam laws ask for it in every marketing email.",
    )
    time_zone = forms.CharField(
        max_length=64, initial="UTC", help_text="An IANA name, e.g. Europe/Paris or America/Denver."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_window_fields(self, inherit=False)

    def window_fields(self):
        return window_fields(self)

    def clean(self):
        data = super().clean()
        window = window_value(self, inherit=False)
        for name in ("window_days", "window_start", "window_end"):
            data.pop(name, None)
        data["send_window"] = {} if window is None else window
        return data


class InviteForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AcceptInvitationForm(forms.Form):
    full_name = forms.CharField(max_length=200, required=False, label="Your name")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        label="Choose a password",
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “Website signup”.")
    scope = forms.ChoiceField(
        choices=ApiKeyScope.choices,
        initial=ApiKeyScope.FULL_ACCESS,
        required=False,  # left out: full access, as before scopes
        label="Access",
        help_text="Sending only: sends mail and reads campaigns, emails and templates. "
        "Read only: reads everything, changes nothing.",
    )
    sending_domains = forms.ModelMultipleChoiceField(
        queryset=SendingDomain.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Limit what it may send from (none ticked: any domain).",
    )

    def clean_scope(self) -> str:
        return self.cleaned_data.get("scope") or ApiKeyScope.FULL_ACCESS

    def __init__(self, *args, workspace=None, **kwargs):
        super().__init__(*args, **kwargs)
        if workspace is not None:
            self.fields["sending_domains"].queryset = SendingDomain.objects.for_workspace(workspace)


class SendingBackendForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False,
        label="SMTP password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Blank keeps the stored password.",
    )
    new_esp_settings = forms.JSONField(
        required=False,
        label="ESP credentials (JSON)",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='anymail settings, e.g. {"server_token": "…"}. Stored encrypted; blank keeps '
        "them.",
    )

    class Meta:
        model = SendingBackend
        fields = [
            "name",
            "kind",
            "sending_domain",
            "is_default",
            "is_active",
            "host",
            "port",
            "security",
            "username",
            "esp",
            "rate_per_minute",
        ]

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sending_domain"].queryset = SendingDomain.objects.for_workspace(workspace)

    def clean_new_esp_settings(self):
        value = self.cleaned_data.get("new_esp_settings")
        if value in (None, ""):
            return None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise forms.ValidationError("A JSON object of setting names to values.")
        return value
