"""The verbs of email templates. Every front door (API, dashboard, admin) saves through these,
so a template that does not compile in the sandbox is never stored."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from contacts.models import Contact
from mailcrm.models import Workspace
from templates.models import EmailTemplate
from templates.rendering import Rendered, build_context, compile_template

EDITABLE_FIELDS = ("name", "subject", "html", "text", "from_name", "from_email")
# What a preview shows instead of a real recipient's unsubscribe and preference links.
PREVIEW_URLS = {
    "unsubscribe_url": "#unsubscribe",
    "preferences_url": "#preferences",
    "view_in_browser_url": "#view-in-browser",
}


def _apply(template: EmailTemplate, fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    for name, value in fields.items():
        setattr(template, name, "" if value is None and name != "name" else value)
    try:
        template.full_clean(exclude=["workspace"])
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    # A syntax error (or a tag the sandbox refuses) is reported per part with its line.
    compile_template(template.subject, template.html, template.text)


@transaction.atomic
def template_create(*, workspace: Workspace, name: str, **fields: Any) -> EmailTemplate:
    """Store a new template once its subject, HTML and text compile."""
    template = EmailTemplate(workspace=workspace, name=name)
    _apply(template, fields)
    template.save()
    return template


@transaction.atomic
def template_update(*, template: EmailTemplate, **fields: Any) -> EmailTemplate:
    """Change some fields; the result must still compile."""
    _apply(template, fields)
    template.save()
    return template


@transaction.atomic
def template_delete(*, template: EmailTemplate) -> None:
    """Campaigns that named the template keep only their own content."""
    template.delete()


def template_preview(
    *,
    template: EmailTemplate,
    contact: Contact | None = None,
    variables: dict[str, Any] | None = None,
) -> Rendered:
    """Render the template as ``contact`` would get it, or with the given variables (which
    stand beside the standard ones, as in a transactional send). A preview is an execution:
    the same sandbox and limits apply, and a refusal raises ``RenderError`` (422)."""
    if contact is not None and contact.workspace_id != template.workspace_id:
        raise ValidationError({"contact_id": ["No such contact in this workspace."]})
    context = build_context(contact=contact, workspace=template.workspace, urls=PREVIEW_URLS)
    if variables:
        context = {**context, **variables} if contact is None else {**variables, **context}
    compiled = compile_template(template.subject, template.html, template.text)
    return compiled.render(context)
