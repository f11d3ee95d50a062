"""Subscription forms: build them, and take sign-ups (single or double opt-in) with consent
recorded.

A sign-up never changes an existing contact's fields (anyone can type anyone's address into a
public form); it only adds a consent and, once effective, the list membership. On a double
opt-in list the membership waits for the confirmation link (a signed token naming the
consent). ``form.submitted`` is announced when the subscription takes effect, so automations
never mail someone who has not confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from contacts import services as contact_services
from contacts.models import ActivityKind, Contact, ContactList, ContactSource
from contacts.properties import definitions_for
from deliverability import services as deliverability
from mailcrm import events
from mailcrm.exceptions import Conflict
from mailcrm.models import Workspace
from privacy.services import is_erased
from subscriptions.models import (
    FORM_STANDARD_FIELDS,
    Consent,
    ConsentMethod,
    ConsentStatus,
    SubscriptionForm,
)

FORM_SUBMITTED = "form.submitted"
CONFIRM_SALT = "subscriptions.confirm"
CONFIRM_MAX_AGE = timedelta(days=7)


def field_choices(workspace: Workspace) -> list[tuple[str, str]]:
    """Fields a form may ask for: standard ones, then each property definition."""
    choices = list(FORM_STANDARD_FIELDS.items())
    choices += [
        (f"properties.{d.key}", f"{d.label or d.key} (property)")
        for d in definitions_for(workspace).values()
    ]
    return choices


def _clean_form(form: SubscriptionForm) -> None:
    errors: dict[str, list[str]] = {}
    allowed = {value for value, _ in field_choices(form.workspace)}
    unknown = [name for name in form.fields if name not in allowed]
    if unknown:
        errors["fields"] = [f"Unknown field: {', '.join(unknown)}."]
    if form.contact_list_id is None:
        errors["contact_list"] = ["A form needs a list."]
    elif form.contact_list.workspace_id != form.workspace_id:
        errors["contact_list"] = ["No such list in this workspace."]
    if not form.name.strip():
        errors["name"] = ["A form needs a name."]
    if form.success_url and not form.success_url.startswith(("https://", "http://")):
        errors["success_url"] = ["An http(s) address."]
    if errors:
        raise ValidationError(errors)


def form_save(*, form: SubscriptionForm) -> SubscriptionForm:
    """Validate and save a form (new or changed); a taken name is a Conflict (409)."""
    form.name = form.name.strip()
    form.fields = list(dict.fromkeys(form.fields or []))  # each field once, in order
    _clean_form(form)
    clash = SubscriptionForm.objects.for_workspace(form.workspace).filter(name=form.name)
    if clash.exclude(pk=form.pk).exists():
        raise Conflict(f"A form named '{form.name}' already exists.")
    form.save()
    return form


# What a caller may set on a form (the API's body; the dashboard goes through its ModelForm).
FORM_EDITABLE = {
    "name",
    "contact_list",
    "fields",
    "title",
    "success_message",
    "error_message",
    "success_url",
    "is_active",
}


def _form_assign(form: SubscriptionForm, changes: dict[str, Any]) -> None:
    unknown = set(changes) - FORM_EDITABLE
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    for name, value in changes.items():
        setattr(form, name, value)


@transaction.atomic
def form_create(*, workspace: Workspace, **data: Any) -> SubscriptionForm:
    """A new form for one of the workspace's lists (see ``form_save`` for the rules)."""
    form = SubscriptionForm(workspace=workspace)
    _form_assign(form, data)
    return form_save(form=form)


@transaction.atomic
def form_update(*, form: SubscriptionForm, **changes: Any) -> SubscriptionForm:
    """Change some of a form's settings (see ``form_save`` for the rules)."""
    _form_assign(form, changes)
    return form_save(form=form)


def form_delete(*, form: SubscriptionForm) -> None:
    """Consents keep their proof (the form becomes null on them)."""
    form.delete()


@dataclass
class SignUp:
    consent: Consent
    pending: bool


def _contact_for(
    form: SubscriptionForm, email: str, fields: dict[str, Any], properties: dict[str, Any]
) -> Contact:
    contact = contact_services.find_contact_by_email(form.workspace, email)
    if contact is not None:
        return contact
    return contact_services.contact_create(
        workspace=form.workspace,
        email=email,
        source=ContactSource.FORM,
        properties=properties,
        **fields,
    )


@transaction.atomic
def form_submit(
    *,
    form: SubscriptionForm,
    data: dict[str, Any],
    ip_address: str | None = None,
    user_agent: str = "",
) -> SignUp:
    """Take one sign-up. ``data`` holds ``email`` and the form's fields (``properties.<key>``
    for properties). Raises ValidationError naming the bad field."""
    email = contact_services.normalize_email(data.get("email", ""))
    if is_erased(form.workspace, email):
        # Said like any refusal: a public form must not reveal who asked to be forgotten.
        raise ValidationError({"email": ["This address cannot be subscribed."]})
    fields = {k: str(data.get(k, "")).strip() for k in form.fields if k in FORM_STANDARD_FIELDS}
    properties = {
        k.removeprefix("properties."): data.get(k)
        for k in form.fields
        if k.startswith("properties.") and data.get(k) not in (None, "")
    }
    contact = _contact_for(form, email, {k: v for k, v in fields.items() if v}, properties)
    double = form.contact_list.double_opt_in
    consent = Consent.objects.create(
        workspace=form.workspace,
        contact=contact,
        contact_list=form.contact_list,
        form=form,
        status=ConsentStatus.PENDING if double else ConsentStatus.CONFIRMED,
        method=ConsentMethod.DOUBLE_OPT_IN if double else ConsentMethod.FORM,
        ip_address=ip_address or None,
        user_agent=(user_agent or "")[:300],
        confirmed_at=None if double else timezone.now(),
    )
    contact_services.timeline_record(
        contact=contact,
        kind=ActivityKind.CONSENT,
        subject=f"Signed up through the form “{form.name}”"
        + (" (waiting for confirmation)" if double else ""),
        data={"consent_id": str(consent.id), "form_id": str(form.id), "ip": ip_address},
    )
    if double:
        _send_confirmation(consent)
    else:
        _subscribe(consent)
    return SignUp(consent=consent, pending=double)


def confirmation_token(consent: Consent) -> str:
    return signing.dumps(str(consent.pk), salt=CONFIRM_SALT)


def confirmation_url(consent: Consent) -> str:
    path = reverse("subscriptions_public:confirm", args=[confirmation_token(consent)])
    return f"{settings.PUBLIC_BASE_URL}{path}"


def consent_from_token(token: str) -> Consent | None:
    """The consent a confirmation token names (forged or older than 7 days: None)."""
    try:
        pk = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:
        return None
    return (
        Consent.objects.select_related("workspace", "contact", "contact_list", "form")
        .filter(pk=pk)
        .first()
    )


def _send_confirmation(consent: Consent) -> None:
    from campaigns.transactional import email_queue

    workspace, contact_list = consent.workspace, consent.contact_list
    link = confirmation_url(consent)
    name = escape(contact_list.name)
    email_queue(
        workspace=workspace,
        data={
            "from_email": workspace.default_from_email or settings.DEFAULT_FROM_EMAIL,
            "from_name": workspace.default_from_name or workspace.name,
            "to": [consent.contact.email],
            "subject": f"Please confirm your subscription to {contact_list.name}",
            "text": (
                f"Please confirm that you want to receive {contact_list.name}:\n\n{link}\n\n"
                "If you did not ask for this, ignore this message: you will not be added.\n"
            ),
            "html": (
                f"<p>Please confirm that you want to receive <strong>{name}</strong>.</p>"
                f'<p><a href="{escape(link)}">Confirm my subscription</a></p>'
                "<p>If you did not ask for this, ignore this message: you will not be added.</p>"
            ),
            "tag": "double-opt-in",
            # The link must reach the person as written, not through click tracking.
            "track_clicks": False,
            "track_opens": False,
        },
    )


@transaction.atomic
def consent_confirm(*, consent: Consent, ip_address: str | None = None) -> Consent:
    """Follow a confirmation link: the contact joins the list (once; a replay changes
    nothing). An explicit confirmation lifts an earlier unsubscribe of the address."""
    claimed = Consent.objects.filter(pk=consent.pk, status=ConsentStatus.PENDING).update(
        status=ConsentStatus.CONFIRMED,
        confirmed_at=timezone.now(),
        confirmation_ip=ip_address or None,
    )
    consent.refresh_from_db()
    if claimed:
        deliverability.resubscribe(workspace=consent.workspace, email=consent.contact.email)
        contact_services.timeline_record(
            contact=consent.contact,
            kind=ActivityKind.CONSENT,
            subject=f"Confirmed the subscription to {consent.contact_list.name}",
            data={"consent_id": str(consent.id), "ip": ip_address},
        )
        _subscribe(consent)
    return consent


def _subscribe(consent: Consent) -> None:
    contact_services.list_add_contacts(
        contact_list=consent.contact_list, contact_ids=[consent.contact_id]
    )
    # Signing up to a list again is asking for it again: its list unsubscribe goes.
    deliverability.list_resubscribe(
        workspace=consent.workspace,
        email=consent.contact.email,
        contact_list=consent.contact_list,
    )
    events.emit(
        consent.workspace,
        FORM_SUBMITTED,
        subject_id=consent.contact_id,
        data={
            "form_id": consent.form_id,
            "form": consent.form.name if consent.form else None,
            "contact_id": consent.contact_id,
            "email": consent.contact.email,
            "list_id": consent.contact_list_id,
            "double_opt_in": consent.method == ConsentMethod.DOUBLE_OPT_IN,
        },
    )


def form_counts(form: SubscriptionForm) -> dict[str, int]:
    """Sign-ups of a form by consent status (one grouped query)."""
    from django.db.models import Count

    rows = Consent.objects.filter(form=form).values_list("status").annotate(n=Count("id"))
    counts = {ConsentStatus.PENDING.value: 0, ConsentStatus.CONFIRMED.value: 0}
    counts.update(dict(rows))
    return counts


def lists_for(workspace: Workspace):
    return ContactList.objects.for_workspace(workspace)
