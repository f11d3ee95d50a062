"""Dashboard forms of email templates: the editor's fields are the service's."""

from __future__ import annotations

from typing import Any

from django import forms

from templates.models import EmailTemplate

FIELDS = ("name", "subject", "from_name", "from_email", "html", "text")


class EmailTemplateForm(forms.Form):
    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    subject = forms.CharField(
        max_length=998, required=False, help_text="E.g. Hello {{ contact.first_name }}"
    )
    from_name = forms.CharField(max_length=200, required=False, label="Default from name")
    from_email = forms.EmailField(required=False, label="Default from address")
    html = forms.CharField(
        required=False,
        label="HTML",
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"}),
    )
    text = forms.CharField(
        required=False,
        label="Text part",
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Derived from the HTML when left empty.",
    )

    @staticmethod
    def initial_for(template: EmailTemplate) -> dict[str, Any]:
        return {name: getattr(template, name) for name in FIELDS}


class PreviewForm(forms.Form):
    """What the live preview renders: the editor's unsaved content, as a contact gets it."""

    subject = forms.CharField(required=False)
    html = forms.CharField(required=False, strip=False)
    text = forms.CharField(required=False, strip=False)
    contact = forms.CharField(required=False, label="Preview as")
    template = forms.UUIDField(required=False, help_text="Fills what the content leaves empty.")
