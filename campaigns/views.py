"""Dashboard pages of sending: campaigns (composer, preview, test send, send or schedule, live
progress, report), the log of transactional emails and the local outbox of captured mail.

Views parse, authorise (``WorkspaceMixin``), call ``campaigns.services`` and render; a domain
error from a service becomes a message on the page, never a 500. Email HTML is only ever shown
through ``templates.views`` (the sandbox and its iframe policy)."""

from __future__ import annotations

import email
import re
from email import policy
from functools import cached_property
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models.functions import Substr
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from campaigns import services, stats, throttling
from campaigns.audience import audience_contacts
from campaigns.content import campaign_sender, campaign_source
from campaigns.filtersets import CampaignFilterSet, MessageFilterSet, engaged
from campaigns.forms import (
    AudienceForm,
    CampaignForm,
    ScheduleForm,
    TestSendForm,
    dress_filter_form,
)
from campaigns.models import (
    Campaign,
    CampaignStatus,
    CapturedEmail,
    EventType,
    Message,
    MessageKind,
)
from campaigns.recipients import campaign_messages
from contacts.models import Contact, ContactList, Segment, Tag
from mailcrm.dashboard.access import WorkspaceMixin, may_edit
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView
from mailcrm.exceptions import DomainError
from mailcrm.keyset import InvalidCursor, decode_cursor, keyset_page
from templates.views import (
    contact_by_email,
    preview_document,
    render_preview,
    sandboxed_html,
)

PAGE_SIZE = 50
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)


def _cursor(request) -> str | None:
    value = request.GET.get("cursor") or None
    if value:
        try:
            decode_cursor(value)
        except InvalidCursor:
            return None
    return value


def error_text(exc: ValidationError | DomainError) -> str:
    """A service error as one sentence for a flash message, naming the fields at fault."""
    if isinstance(exc, DomainError):
        fields = exc.extra.get("fields") or {}
        details = [str(m) for messages_ in fields.values() for m in messages_]
        return " ".join([exc.message, *details])
    if hasattr(exc, "error_dict"):
        return " ".join(str(m) for errors in exc.message_dict.values() for m in errors)
    return " ".join(exc.messages)


# --- campaigns -----------------------------------------------------------------------------------


class CampaignsView(WorkspaceMixin, TemplateView):
    template_name = "campaigns/campaign_list.html"

    def get_context_data(self, **kwargs):
        filterset = CampaignFilterSet(self.request.GET, queryset=self.scoped(Campaign))
        page = None
        if filterset.is_valid():
            page = keyset_page(filterset.qs, cursor=_cursor(self.request), size=PAGE_SIZE)
        filtered = any(self.request.GET.get(name) for name in filterset.filters)
        return super().get_context_data(
            filter_form=dress_filter_form(filterset.form), page=page, filtered=filtered, **kwargs
        )


class CampaignObjectMixin(WorkspaceMixin):
    @cached_property
    def campaign(self) -> Campaign:
        return self.get_scoped(Campaign, pk=self.kwargs["pk"])

    def back(self):
        return redirect("dashboard:campaigns:campaign", self.campaign.pk)


class CampaignCreateView(ServiceFormView):
    form_class = CampaignForm
    template_name = "campaigns/campaign_form.html"
    success_message = "Saved campaign {object}."
    conflict_field = None
    error_aliases = {
        "template_id": "template",
        "audience.lists": "lists",
        "audience.segments": "segments",
        "audience.tags": "tags",
        "audience.exclude_segments": "exclude_segments",
    }

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"workspace": self.workspace}

    def get_initial(self):
        return {"template": self.request.GET.get("template", "")}

    def perform(self, form):
        return services.campaign_create(workspace=self.workspace, **form.service_fields())

    def get_success_url(self):
        return reverse("dashboard:campaigns:campaign", args=[self.object.pk])


class CampaignEditView(CampaignObjectMixin, CampaignCreateView):
    def get(self, request, *args, **kwargs):
        if self.campaign.status not in EDITABLE:
            messages.error(request, f"A {self.campaign.status} campaign cannot be changed.")
            return self.back()
        return super().get(request, *args, **kwargs)

    def get_initial(self):
        return CampaignForm.initial_for(self.campaign)

    def get_context_data(self, **kwargs):
        return super().get_context_data(campaign=self.campaign, **kwargs)

    def perform(self, form):
        return services.campaign_update(campaign=self.campaign, **form.service_fields())


class CampaignDeleteView(ConfirmDeleteView):
    model = Campaign
    success_url_name = "dashboard:campaigns:campaigns"
    warning = "Its messages and report go with it. This cannot be undone."

    def get_cancel_url(self) -> str:
        return reverse("dashboard:campaigns:campaign", args=[self.kwargs["pk"]])

    def delete(self, obj) -> None:
        services.campaign_delete(campaign=obj)

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except DomainError as exc:
            messages.error(request, error_text(exc))
            return redirect(self.get_cancel_url())


def audience_names(campaign: Campaign) -> dict[str, list[str]]:
    audience = campaign.audience or {}
    sources = {
        "lists": ContactList,
        "segments": Segment,
        "tags": Tag,
        "exclude_segments": Segment,
    }
    return {
        key: list(
            model.objects.for_workspace(campaign.workspace_id)
            .filter(pk__in=audience.get(key) or [])
            .values_list("name", flat=True)
        )
        for key, model in sources.items()
    }


class PreviewContactMixin:
    """The contact a preview is rendered for: ``?contact=<email>``, else the audience's first."""

    def preview_contact(self, campaign: Campaign) -> Contact | None:
        wanted = self.request.GET.get("contact") or ""
        if wanted.strip():
            return contact_by_email(self.workspace, wanted)
        return audience_contacts(campaign).order_by("pk").first()


class CampaignDetailView(PreviewContactMixin, CampaignObjectMixin, TemplateView):
    template_name = "campaigns/campaign_detail.html"

    def get_context_data(self, **kwargs):
        campaign = self.campaign
        subject, html, text = campaign_source(campaign)
        from_name, from_email = campaign_sender(campaign)
        contact = self.preview_contact(campaign)
        preview_url = reverse("dashboard:campaigns:campaign_preview", args=[campaign.pk])
        if contact is not None:
            preview_url += "?" + urlencode({"contact": contact.email})
        context = {
            "campaign": campaign,
            "content": {
                "subject": subject,
                "from_name": from_name,
                "from_email": from_email,
                "has_html": bool(html),
                "has_text": bool(text),
            },
            "audience": audience_names(campaign),
            "progress": stats.campaign_progress(campaign),
            "delivery": throttling.delivery_on_page(campaign),
            "preview_contact": contact,
            "preview_asked": self.request.GET.get("contact", ""),
            "preview_value": self.request.GET.get("contact") or (contact.email if contact else ""),
            "preview_url": preview_url,
            "preview_choices": audience_contacts(campaign)
            .order_by("pk")
            .values_list("email", flat=True)[:20],
            "can_edit": may_edit(self.membership),
            "editable": campaign.status in EDITABLE,
        }
        if campaign.status in EDITABLE:
            context["recipients_now"] = services.recipients_count(campaign)
        if context["can_edit"]:
            context |= {"schedule_form": ScheduleForm(), "test_form": TestSendForm()}
        return super().get_context_data(**context | kwargs)


class CampaignPreviewView(PreviewContactMixin, CampaignObjectMixin, View):
    """The campaign's HTML as the chosen contact gets it, for the sandboxed iframe."""

    def get(self, request, pk):
        subject, html, text = campaign_source(self.campaign)
        preview = render_preview(
            workspace=self.workspace,
            subject=subject,
            html=html,
            text=text,
            contact=self.preview_contact(self.campaign),
            campaign=self.campaign,
        )
        return sandboxed_html(preview_document(preview))


class CampaignProgressView(CampaignObjectMixin, TemplateView):
    """The progress fragment, polled by htmx every 2 s while the campaign is sending."""

    template_name = "campaigns/_progress.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            campaign=self.campaign,
            progress=stats.campaign_progress(self.campaign),
            delivery=throttling.delivery_on_page(self.campaign),
            **kwargs,
        )

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        if self.request.htmx and self.campaign.status != CampaignStatus.SENDING:
            # Done, paused or cancelled while the page watched: reload it whole, so the
            # status, the actions and the report link follow.
            response["HX-Refresh"] = "true"
        return response


class CampaignActionView(CampaignObjectMixin, View):
    """POST: send now, pause, resume or cancel, through the service of the same name."""

    http_method_names = ["post"]
    action = ""
    verbs = {
        "send": (services.campaign_send, "Sending {object} now."),
        "pause": (services.campaign_pause, "Paused {object}."),
        "resume": (services.campaign_resume, "Resumed {object}."),
        "cancel": (services.campaign_cancel, "Cancelled {object}."),
    }

    def post(self, request, pk):
        service, done = self.verbs[self.action]
        options = {}
        if self.action == "send":
            # Only owners and admins see the box; the service checks the role again.
            override = request.POST.get("override_risk") == "on"
            options = {"override_risk": override, "actor": request.user}
        try:
            campaign = service(campaign=self.campaign, **options)
        except (ValidationError, DomainError) as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, done.format(object=campaign))
        return self.back()


class CampaignScheduleView(CampaignObjectMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        form = ScheduleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a date and time to send at.")
            return self.back()
        try:
            campaign = services.campaign_schedule(
                campaign=self.campaign, send_at=form.cleaned_data["send_at"]
            )
        except (ValidationError, DomainError) as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"Scheduled for {campaign.send_at:%Y-%m-%d %H:%M} UTC.")
        return self.back()


class CampaignTestSendView(CampaignObjectMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        form = TestSendForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(form.errors["emails"]))
            return self.back()
        try:
            sent = services.campaign_test_send(
                campaign=self.campaign, emails=form.cleaned_data["emails"]
            )
        except (ValidationError, DomainError) as exc:
            messages.error(request, error_text(exc))
        else:
            total = len(form.cleaned_data["emails"])
            level = messages.success if sent == total else messages.warning
            to = ", ".join(form.cleaned_data["emails"])
            level(request, f"Test sent to {sent} of {total}: {to}.")
        return self.back()


class AudienceCountView(WorkspaceMixin, TemplateView):
    """The composer's live count: how many the chosen lists, segments and tags reach now."""

    template_name = "campaigns/_audience_count.html"

    def get_context_data(self, **kwargs):
        form = AudienceForm(self.request.GET, workspace=self.workspace)
        count = None
        if form.is_valid():
            # An unsaved campaign carries the audience to the same query the send will use.
            draft = Campaign(workspace=self.workspace, audience=form.audience())
            count = services.recipients_count(draft)
        return super().get_context_data(form=form, count=count, **kwargs)


# --- report --------------------------------------------------------------------------------------


def funnel(numbers: dict) -> list[dict]:
    steps = [
        ("Recipients", numbers["recipients"]),
        ("Sent", numbers["sent"]),
        ("Delivered", numbers["delivered"]),
        ("Opened", numbers["opened"]["unique"]),
        ("Clicked", numbers["clicked"]["unique"]),
    ]
    top = steps[0][1] or 1
    return [
        {"label": label, "count": n, "percent": round(100 * n / top, 1) if steps[0][1] else 0}
        for label, n in steps
    ]


CHART_W, CHART_H, CHART_PAD = 640, 200, 30


def timeline_chart(series: list[dict], bucket: str) -> dict | None:
    """Coordinates for an inline SVG line chart of opens and clicks (no JavaScript)."""
    if not series:
        return None
    peak = max(max(p["opened"], p["clicked"]) for p in series) or 1
    width, height = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD
    step = width / max(len(series) - 1, 1)

    def xy(index: int, value: int) -> tuple[float, float]:
        return (
            round(CHART_PAD + index * step, 1),
            round(CHART_PAD + height - height * value / peak, 1),
        )

    lines = {}
    for key in ("opened", "clicked"):
        points = [xy(i, p[key]) for i, p in enumerate(series)]
        lines[key] = {"points": " ".join(f"{x},{y}" for x, y in points), "dots": points}
    fmt = "%b %d %H:00" if bucket == "hour" else "%b %d"
    marks = sorted({0, len(series) // 2, len(series) - 1})
    return {
        "width": CHART_W,
        "height": CHART_H,
        "pad": CHART_PAD,
        "bottom": CHART_H - CHART_PAD,
        "right": CHART_W - CHART_PAD,
        "peak": peak,
        "lines": lines,
        "labels": [{"x": xy(i, 0)[0], "text": series[i]["at"].strftime(fmt)} for i in marks],
        "rows": series,
        "bucket": bucket,
    }


class CampaignReportView(CampaignObjectMixin, TemplateView):
    template_name = "campaigns/campaign_report.html"

    def get_context_data(self, **kwargs):
        campaign = self.campaign
        numbers = stats.campaign_stats(campaign)
        bucket = self.request.GET.get("bucket")
        if bucket not in stats.TIMELINE_BUCKETS:
            bucket = stats.timeline_bucket(campaign)
        recipients = campaign_messages(campaign).annotate(
            opened=engaged(EventType.OPENED), clicked=engaged(EventType.CLICKED)
        )
        filterset = MessageFilterSet(self.request.GET, queryset=recipients)
        page = None
        if filterset.is_valid():
            page = keyset_page(filterset.qs, cursor=_cursor(self.request), size=PAGE_SIZE)
        return super().get_context_data(
            campaign=campaign,
            stats=numbers,
            progress=stats.campaign_progress(campaign),
            funnel=funnel(numbers),
            chart=timeline_chart(stats.engagement_timeline(campaign, bucket), bucket),
            filter_form=dress_filter_form(filterset.form),
            filtered=any(self.request.GET.get(name) for name in filterset.filters),
            page=page,
            **kwargs,
        )


# --- transactional emails ----------------------------------------------------------------------


class EmailsView(WorkspaceMixin, TemplateView):
    """The log of transactional emails sent through the API."""

    template_name = "campaigns/email_list.html"

    def get_context_data(self, **kwargs):
        emails = (
            self.scoped(Message)
            .filter(kind=MessageKind.TRANSACTIONAL)
            .annotate(opened=engaged(EventType.OPENED), clicked=engaged(EventType.CLICKED))
        )
        filterset = MessageFilterSet(self.request.GET, queryset=emails)
        page = None
        if filterset.is_valid():
            page = keyset_page(filterset.qs, cursor=_cursor(self.request), size=PAGE_SIZE)
        return super().get_context_data(
            filter_form=dress_filter_form(filterset.form),
            filtered=any(self.request.GET.get(name) for name in filterset.filters),
            page=page,
            **kwargs,
        )


class EmailDetailView(WorkspaceMixin, TemplateView):
    template_name = "campaigns/email_detail.html"

    def get_context_data(self, **kwargs):
        message = self.get_scoped(
            self.scoped(Message).filter(kind=MessageKind.TRANSACTIONAL), pk=self.kwargs["pk"]
        )
        return super().get_context_data(
            message=message,
            events=message.events.order_by("occurred_at")[:200],
            captured=captured_for(message),
            **kwargs,
        )


class EmailPreviewView(WorkspaceMixin, View):
    """A transactional email's content rendered for its recipient, for the sandboxed iframe
    (what was asked for; the outbox keeps what went out when mail is captured)."""

    def get(self, request, pk):
        message = self.get_scoped(
            self.scoped(Message).filter(kind=MessageKind.TRANSACTIONAL), pk=pk
        )
        payload = message.payload or {}
        variables = payload.get("variables")
        preview = render_preview(
            workspace=self.workspace,
            subject=payload.get("subject", ""),
            html=payload.get("html", ""),
            text=payload.get("text", ""),
            contact=self.scoped(Contact).filter(pk=message.contact_id).first(),
            variables=variables if isinstance(variables, dict) else None,
        )
        return sandboxed_html(preview_document(preview))


# --- the local outbox ----------------------------------------------------------------------------

_MESSAGE_ID = re.compile(r"^Message-ID:[ \t]*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
# Headers come first and are short; reading only this much of each message keeps a page cheap.
HEAD_CHARS = 8000
OUTBOX_PAGE = 25
# Captured mail is not tenant-owned: it is matched to the workspace's messages by Message-ID.
# A page looks at this many captured rows at most, so other workspaces' mail cannot make a
# page slow; "Older" carries on from where the scan stopped.
OUTBOX_SCAN = 2000
SCAN_CHUNK = 250


def header_message_id(raw: str) -> str:
    head = raw.split("\n\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1) if match else ""


def outbox_page(workspace, *, before: int | None, size: int = OUTBOX_PAGE):
    """(captured emails of the workspace, newest first, each with ``.sent_message``; the id to
    continue before, or None)."""
    rows = (
        CapturedEmail.objects.order_by("-id")
        .only("id", "from_email", "to", "subject", "created_at")
        .annotate(head=Substr("message", 1, HEAD_CHARS))
    )
    found, scanned, cursor = [], 0, before
    while scanned < OUTBOX_SCAN:
        chunk = list((rows.filter(id__lt=cursor) if cursor else rows)[:SCAN_CHUNK])
        if not chunk:
            return found, None
        ids = {row.id: header_message_id(row.head) for row in chunk}
        # The capture backend reports the Message-ID as the provider's id, which is indexed.
        owned = {
            m.provider_message_id: m
            for m in Message.objects.for_workspace(workspace)
            .filter(provider_message_id__in=[v for v in ids.values() if v])
            .only("id", "kind", "campaign_id", "provider_message_id", "status")
        }
        for row in chunk:
            scanned += 1
            cursor = row.id
            if ids[row.id] in owned:
                if len(found) == size:
                    return found, found[-1].id
                row.sent_message = owned[ids[row.id]]
                found.append(row)
    return found, cursor


def captured_for(message: Message) -> CapturedEmail | None:
    if not message.message_id:
        return None
    return (
        CapturedEmail.objects.filter(message__contains=f"{message.message_id}")
        .only("id", "subject", "created_at")
        .order_by("-id")
        .first()
    )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


class OutboxView(WorkspaceMixin, TemplateView):
    """Mail the development capture backend kept instead of sending: what went out."""

    template_name = "campaigns/outbox_list.html"

    def get_context_data(self, **kwargs):
        before = _int_or_none(self.request.GET.get("before"))
        rows, older = outbox_page(self.workspace, before=before)
        capturing = settings.EMAIL_BACKEND == "campaigns.backends.CaptureBackend"
        return super().get_context_data(
            rows=rows, older=older, capturing=capturing, backend=settings.EMAIL_BACKEND, **kwargs
        )


class CapturedObjectMixin(WorkspaceMixin):
    @cached_property
    def captured(self) -> CapturedEmail:
        captured = CapturedEmail.objects.filter(pk=self.kwargs["pk"]).first()
        message_id = header_message_id(captured.message) if captured else ""
        sent = (
            self.scoped(Message).filter(provider_message_id=message_id).first()
            if message_id
            else None
        )
        if sent is None:  # not this workspace's mail: not found, as for any other object
            raise Http404("No such email.")
        captured.sent_message = sent
        return captured

    @cached_property
    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_string(self.captured.message, policy=policy.default)

    def part(self, subtype: str) -> str:
        body = self.parsed.get_body(preferencelist=(subtype,))
        return body.get_content() if body is not None else ""


class OutboxDetailView(CapturedObjectMixin, TemplateView):
    template_name = "campaigns/outbox_detail.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            captured=self.captured,
            headers=[(name, str(value)) for name, value in self.parsed.items()],
            text=self.part("plain"),
            has_html=bool(self.part("html")),
            **kwargs,
        )


class OutboxHtmlView(CapturedObjectMixin, View):
    """The HTML part as it was sent, for the sandboxed iframe only."""

    def get(self, request, pk):
        return sandboxed_html(self.part("html"))
