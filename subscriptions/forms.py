"""The form builder (dashboard) and the public sign-up form built from a SubscriptionForm."""

from __future__ import annotations

from django import forms

from contacts.models import ContactList, PropertyDefinition, PropertyType
from subscriptions.models import FORM_STANDARD_FIELDS, SubscriptionForm
from subscriptions.services import field_choices

# A field people never see (hidden by CSS, skipped by keyboard): only robots fill it in.
HONEYPOT = "website"


class FormBuilderForm(forms.ModelForm):
    success_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="Send people here after signing up (else our own thank-you page).",
    )
    fields = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Fields besides the email",
    )

    class Meta:
        model = SubscriptionForm
        fields = [
            "name",
            "contact_list",
            "title",
            "fields",
            "success_message",
            "error_message",
            "success_url",
            "is_active",
        ]
        widgets = {
            "success_message": forms.Textarea(attrs={"rows": 2}),
            "error_message": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_list"].queryset = ContactList.objects.for_workspace(workspace)
        self.fields[
            "contact_list"
        ].help_text = (
            "Double opt-in is a setting of the list: its subscribers confirm by email first."
        )
        self.fields["fields"].choices = field_choices(workspace)


def signup_form(form: SubscriptionForm, definitions: dict[str, PropertyDefinition], data=None):
    """A Django form with the email, the SubscriptionForm's fields and the honeypot."""
    fields: dict[str, forms.Field] = {
        "email": forms.EmailField(
            label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email"})
        )
    }
    for name in form.fields:
        if name in FORM_STANDARD_FIELDS:
            fields[name] = forms.CharField(
                label=FORM_STANDARD_FIELDS[name], max_length=200, required=False
            )
            continue
        definition = definitions.get(name.removeprefix("properties."))
        if definition is None:
            continue
        label = definition.label or definition.key
        if definition.type == PropertyType.SELECT and definition.options:
            choices = [("", "—"), *((o, o) for o in definition.options)]
            fields[name] = forms.ChoiceField(label=label, choices=choices, required=False)
        else:
            fields[name] = forms.CharField(label=label, max_length=500, required=False)
    fields[HONEYPOT] = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    form_class = type("SignupForm", (forms.Form,), fields)
    return form_class(data=data)
