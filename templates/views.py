"""Dashboard pages of email templates: the list, the editor with a live preview, and the
sandboxed preview every sending page shows its HTML in.

Campaign HTML is user content: it is always rendered through the template sandbox and only
ever shown inside ``<iframe sandbox>`` — from its own URL served with a ``sandbox`` content
security policy, or as an escaped ``srcdoc`` with the same policy in a meta tag — so a script
in it never runs in the dashboard's origin."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models.functions import Lower
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import escape
from django.views import View
from django.views.generic import TemplateView

from contacts.models import Contact
from mailcrm.dashboard.access import WorkspaceMixin, may_edit
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView
from templates import services
from templates.forms import EmailTemplateForm, PreviewForm
from templates.models import EmailTemplate

# No scripts, no same origin (a unique opaque origin), nothing fetched but images and inline
# styles: what a mail client would show, and nothing that could act in the dashboard.
SANDBOX_CSP = "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'"
# The same policy as a meta tag leading srcdoc previews (the parser moves a leading meta into
# the head; meta CSP cannot carry ``sandbox``: the iframe's own sandbox attribute does that).
SANDBOX_META = (
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; img-src * data:; style-src 'unsafe-inline'\">"
)


@dataclass
class Preview:
    subject: str = ""
    html: str = ""
    text: str = ""
    error: str = ""


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return " ".join(
                f"{field}: {message}"
                for field, messages in exc.message_dict.items()
                for message in messages
            )
        return " ".join(exc.messages)
    return str(exc) or exc.__class__.__name__


def render_preview(
    *,
    workspace: Any,
    subject: str,
    html: str,
    text: str,
    contact: Any = None,
    campaign: Any = None,
    variables: dict[str, Any] | None = None,
) -> Preview:
    """Render content through the sandbox as ``contact`` would get it (with a transactional
    email's ``variables`` beside the standard ones, as at send time); a syntax error, a
    sandbox violation or a limit comes back as ``Preview.error``, never an exception."""
    from templates.rendering import build_context, compile_template

    try:
        compiled = compile_template(subject, html, text)
        context = build_context(
            contact=contact,
            workspace=workspace,
            campaign=campaign,
            urls=dict(services.PREVIEW_URLS),
        )
        if variables:
            context = {**variables, **context} if contact else {**context, **variables}
        rendered = compiled.render(context)
    except Exception as exc:  # anything the sandbox refuses is shown, never a 500
        return Preview(error=_error_text(exc))
    return Preview(subject=rendered.subject, html=rendered.html, text=rendered.text)


def sandboxed_html(html: str) -> HttpResponse:
    """Serve email HTML for an ``<iframe sandbox>`` only: the CSP ``sandbox`` directive keeps it
    out of the dashboard's origin even when the URL is opened directly."""
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


def contact_by_email(workspace: Any, value: str) -> Contact | None:
    """The workspace's contact with this address (any case), for "preview as"."""
    if not value.strip():
        return None
    return (
        Contact.objects.for_workspace(workspace)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower=value.strip().lower())
        .first()
    )


def preview_document(preview: Preview) -> str:
    """What a preview iframe shows: the HTML, else the text part, else why it cannot render."""
    if preview.error:
        return f"<p style='color:#c62828'>Cannot render: {escape(preview.error)}</p>"
    if preview.html:
        return preview.html
    return f"<pre style='white-space:pre-wrap'>{escape(preview.text)}</pre>"


# --- pages -------------------------------------------------------------------------------------


class TemplatesView(WorkspaceMixin, TemplateView):
    template_name = "email_templates/template_list.html"

    def get_context_data(self, **kwargs):
        templates = self.scoped(EmailTemplate).order_by("name", "pk")
        query = (self.request.GET.get("q") or "").strip()
        if query:
            templates = templates.filter(name__icontains=query)
        return super().get_context_data(templates=templates[:500], query=query, **kwargs)


class TemplateCreateView(ServiceFormView):
    form_class = EmailTemplateForm
    template_name = "email_templates/template_form.html"
    success_message = "Saved template {object}."

    def perform(self, form):
        return services.template_create(workspace=self.workspace, **form.cleaned_data)

    def get_success_url(self):
        return reverse("dashboard:templates:template", args=[self.object.pk])


class TemplateObjectMixin(WorkspaceMixin):
    @cached_property
    def template(self) -> EmailTemplate:
        return self.get_scoped(EmailTemplate, pk=self.kwargs["pk"])


class TemplateEditView(TemplateObjectMixin, TemplateCreateView):
    def get_initial(self):
        return EmailTemplateForm.initial_for(self.template)

    def get_context_data(self, **kwargs):
        return super().get_context_data(template=self.template, **kwargs)

    def perform(self, form):
        return services.template_update(template=self.template, **form.cleaned_data)


class TemplateDeleteView(ConfirmDeleteView):
    model = EmailTemplate
    success_url_name = "dashboard:templates:templates"
    warning = "Campaigns that use it keep their own content only. This cannot be undone."

    def get_cancel_url(self) -> str:
        return reverse("dashboard:templates:template", args=[self.kwargs["pk"]])

    def delete(self, obj) -> None:
        services.template_delete(template=obj)


class TemplateDetailView(TemplateObjectMixin, TemplateView):
    template_name = "email_templates/template_detail.html"

    def get_context_data(self, **kwargs):
        asked = self.request.GET.get("contact", "")
        contact = contact_by_email(self.workspace, asked)
        preview_url = reverse("dashboard:templates:template_preview", args=[self.template.pk])
        if contact is not None:
            preview_url += "?" + urlencode({"contact": contact.email})
        preview = render_preview(
            workspace=self.workspace,
            subject=self.template.subject,
            html="",
            text="",
            contact=contact,
        )
        return super().get_context_data(
            template=self.template,
            preview_subject=preview.subject,
            preview_error=preview.error,
            preview_asked=asked,
            preview_contact=contact,
            preview_url=preview_url,
            can_edit=may_edit(self.membership),
            **kwargs,
        )


class TemplatePreviewView(TemplateObjectMixin, View):
    """The saved template rendered through the sandbox, served for the sandboxed iframe."""

    def get(self, request, pk):
        template = self.template
        contact = contact_by_email(self.workspace, request.GET.get("contact", ""))
        try:
            rendered = services.template_preview(template=template, contact=contact)
        except Exception as exc:  # a stored template the sandbox now refuses: say so
            preview = Preview(error=_error_text(exc))
        else:
            preview = Preview(subject=rendered.subject, html=rendered.html, text=rendered.text)
        return sandboxed_html(preview_document(preview))


class LivePreviewView(WorkspaceMixin, TemplateView):
    """POST (htmx, debounced) the editor's unsaved content; answers the preview fragment with
    the rendered HTML in an escaped ``srcdoc`` of a sandboxed iframe."""

    template_name = "email_templates/_live_preview.html"
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        form = PreviewForm(request.POST)
        form.is_valid()
        data = form.cleaned_data
        contact = contact_by_email(self.workspace, data.get("contact", ""))
        content = {part: data.get(part, "") for part in ("subject", "html", "text")}
        # The campaign composer sends its template: it fills what the campaign leaves empty,
        # as at send time. Another workspace's template id finds nothing.
        template_id = data.get("template")
        template = (
            self.scoped(EmailTemplate).filter(pk=template_id).first() if template_id else None
        )
        if template is not None:
            content = {part: value or getattr(template, part) for part, value in content.items()}
        preview = render_preview(workspace=self.workspace, contact=contact, **content)
        context = self.get_context_data(
            preview=preview,
            document=SANDBOX_META + preview_document(preview),
            contact=contact,
            contact_asked=data.get("contact", ""),
        )
        return self.render_to_response(context)
