"""Form fields for a send window (campaigns.windows), shared by the campaign composer and the
workspace settings page: the days as checkboxes, the start and end as HH:MM."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from campaigns import windows

DAY_CHOICES = [
    (day, label)
    for day, label in zip(
        windows.DAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True
    )
]
INHERIT, ANY_TIME, CUSTOM = "workspace", "any", "custom"
MODE_CHOICES = [
    (INHERIT, "The workspace's window"),
    (ANY_TIME, "Any time"),
    (CUSTOM, "These days and hours"),
]
FIELDS = ("window_days", "window_start", "window_end")


def add_window_fields(form: forms.Form, *, inherit: bool) -> None:
    """Add the window's fields to ``form``; with ``inherit`` (a campaign) also the choice of
    the workspace's window, any time, or its own."""
    if inherit:
        form.fields["window_mode"] = forms.ChoiceField(
            choices=MODE_CHOICES, initial=INHERIT, label="Send window", required=False
        )
    form.fields["window_days"] = forms.MultipleChoiceField(
        choices=DAY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Send on",
        help_text="In each recipient's time zone." + ("" if inherit else " None: any time."),
    )
    form.fields["window_start"] = forms.CharField(
        required=False, max_length=5, label="From", widget=forms.TextInput({"placeholder": "09:00"})
    )
    form.fields["window_end"] = forms.CharField(
        required=False,
        max_length=5,
        label="Until",
        widget=forms.TextInput({"placeholder": "17:00"}),
    )


def window_initial(value: dict | None, *, inherit: bool) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    if inherit:
        initial["window_mode"] = INHERIT if value is None else CUSTOM if value else ANY_TIME
    if value:
        initial |= {
            "window_days": value.get("days", []),
            "window_start": value.get("start", ""),
            "window_end": value.get("end", ""),
        }
    return initial


def window_value(form: forms.Form, *, inherit: bool) -> dict | None:
    """The window the form describes, as stored (None: the workspace's; {}: any time); a bad
    one becomes errors on the form's fields (and the value None)."""
    data = form.cleaned_data
    mode = data.get("window_mode") or INHERIT if inherit else CUSTOM
    if mode == INHERIT:
        return None
    if mode == ANY_TIME or (not inherit and not data.get("window_days")):
        return {}
    raw = {
        "days": data.get("window_days") or [],
        "start": data.get("window_start") or "",
        "end": data.get("window_end") or "",
    }
    try:
        return windows.clean_window(raw, field="window")
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            field = "window_" + key.partition(".")[2] if "." in key else None
            form.add_error(field if field in form.fields else None, messages)
        return None


def window_fields(form: forms.Form) -> list[forms.BoundField]:
    return [form[name] for name in ("window_mode", *FIELDS) if name in form.fields]
