"""The dashboard form of a campaign's A/B test: share, criterion, wait, and up to four variants
(A and B always; C and D when something is filled in). A blank variant field takes the
campaign's own."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from campaigns import ab
from campaigns.models import AbCriterion, AbTest, AbVariant
from mailcrm.models import Workspace
from templates.models import EmailTemplate

VARIANT_FORM_FIELDS = ("subject", "from_name", "template", "html", "text", "send_at")
VARIANT_FIELDS_PLAIN = ("subject", "from_name", "html", "text", "send_at")  # as on AbVariant
_SERVICE_KEY = re.compile(r"variants\[(\d)\]\.(\w+)")


class AbTestForm(forms.Form):
    share = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=20,
        label="Test share (%)",
        help_text="Part of the audience that gets the variants, split evenly between them.",
    )
    criterion = forms.ChoiceField(
        choices=AbCriterion.choices,
        initial=AbCriterion.OPEN,
        label="Winner by",
        help_text="Opens and clicks by people only (not privacy proxies or scanners).",
    )
    wait_hours = forms.DecimalField(
        min_value=Decimal("0.25"),
        max_value=Decimal(ab.MAX_WAIT_MINUTES / 60),
        decimal_places=2,
        initial=4,
        label="Wait (hours)",
        help_text="After the last variant went out, before the winner goes to the rest.",
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        templates = EmailTemplate.objects.for_workspace(workspace).order_by("name")
        for index, label in enumerate(ab.LABELS):
            prefix = f"v{index}_"
            self.fields[prefix + "subject"] = forms.CharField(
                max_length=998, required=False, label=f"{label}: subject"
            )
            self.fields[prefix + "from_name"] = forms.CharField(
                max_length=200, required=False, label=f"{label}: from name"
            )
            self.fields[prefix + "template"] = forms.ModelChoiceField(
                templates, required=False, label=f"{label}: template"
            )
            self.fields[prefix + "html"] = forms.CharField(
                required=False, label=f"{label}: HTML", widget=forms.Textarea(attrs={"rows": 4})
            )
            self.fields[prefix + "text"] = forms.CharField(
                required=False, label=f"{label}: text", widget=forms.Textarea(attrs={"rows": 2})
            )
            self.fields[prefix + "send_at"] = forms.DateTimeField(
                required=False,
                label=f"{label}: send at (UTC)",
                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                help_text="Blank: when the campaign starts.",
            )

    @staticmethod
    def initial_for(test: AbTest | None) -> dict[str, Any]:
        if test is None:
            return {}
        initial: dict[str, Any] = {
            "share": test.share,
            "criterion": test.criterion,
            "wait_hours": Decimal(test.wait_minutes) / 60,
        }
        for variant in AbVariant.objects.filter(campaign_id=test.campaign_id):
            prefix = f"v{variant.position}_"
            initial |= {prefix + name: getattr(variant, name) for name in VARIANT_FIELDS_PLAIN}
            initial[prefix + "template"] = variant.template_id
        return initial

    def variant_groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [
            (label, [self[f"v{i}_{name}"] for name in VARIANT_FORM_FIELDS])
            for i, label in enumerate(ab.LABELS)
        ]

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        variants = []
        for index in range(len(ab.LABELS)):
            prefix = f"v{index}_"
            variant = {name: data.get(prefix + name) for name in VARIANT_FIELDS_PLAIN}
            variant = {k: v for k, v in variant.items() if v not in (None, "")}
            if data.get(prefix + "template"):
                variant["template_id"] = data[prefix + "template"].pk
            if index < ab.MIN_VARIANTS or variant:
                variants.append(variant)
        return {
            "share": data["share"],
            "criterion": data["criterion"],
            "wait_minutes": int(round(data["wait_hours"] * 60)),
            "variants": variants,
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        """The service's field errors (``variants[1].html``) on this form's fields."""
        for key, messages in exc.message_dict.items():
            match = _SERVICE_KEY.fullmatch(key)
            field = None
            if match:
                name = "template" if match[2] == "template_id" else match[2]
                field = f"v{match[1]}_{name}"
            elif key == "wait_minutes":
                field = "wait_hours"
            elif key in self.fields:
                field = key
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
