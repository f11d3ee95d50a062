"""Dashboard pages of the checks: the validation tool (one address or a pasted list), the
composer's live content score, and a campaign's risk panel."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cached_property

from django import forms
from django.utils import timezone
from django.views.generic import TemplateView

from campaigns.content import campaign_sender, campaign_source
from campaigns.models import Campaign, CampaignStatus
from deliverability import risk, validation
from deliverability.api.check_serializers import MAX_BULK
from deliverability.content import score_content
from deliverability.models import RiskAssessment
from mailcrm.dashboard.access import WorkspaceMixin, may_edit
from templates.models import EmailTemplate

_SEPARATORS = re.compile(r"[\s,;]+")
RISK_FRESH_FOR = timedelta(hours=1)


class ValidationForm(forms.Form):
    emails = forms.CharField(
        label="Addresses",
        max_length=MAX_BULK * 320,
        widget=forms.Textarea(
            attrs={"rows": 6, "spellcheck": "false", "placeholder": "jane@example.com"}
        ),
        help_text=f"One address, or up to {MAX_BULK:,} separated by new lines, commas or spaces.",
    )

    def clean_emails(self) -> list[str]:
        emails = [e for e in _SEPARATORS.split(self.cleaned_data["emails"]) if e]
        if not emails:
            raise forms.ValidationError("Give at least one address.")
        if len(emails) > MAX_BULK:
            raise forms.ValidationError(
                f"At most {MAX_BULK:,} addresses at a time (got {len(emails):,})."
            )
        return emails


class ValidationToolView(WorkspaceMixin, TemplateView):
    """GET: the form; POST: validate (results recorded for the workspace) and show them."""

    template_name = "deliverability/validation.html"

    def post(self, request, *args, **kwargs):
        form = ValidationForm(request.POST)
        results = None
        if form.is_valid():
            checked = validation.validate_many(self.workspace, form.cleaned_data["emails"])
            results = list(checked.values())
        return self.render_to_response(self.get_context_data(form=form, results=results))

    def get_context_data(self, **kwargs):
        kwargs.setdefault("form", ValidationForm())
        results = kwargs.get("results")
        if results:
            kwargs["summary"] = {
                name: sum(1 for check in results if check.result == name)
                for name in ("valid", "risky", "invalid", "unknown")
            }
        return super().get_context_data(**kwargs)


class ContentScoreForm(forms.Form):
    subject = forms.CharField(required=False, max_length=998)
    html = forms.CharField(required=False, max_length=2_000_000)
    text = forms.CharField(required=False, max_length=2_000_000)
    from_email = forms.CharField(required=False, max_length=320)
    template = forms.UUIDField(required=False)


class ContentScoreView(WorkspaceMixin, TemplateView):
    """POST (htmx, debounced) the composer's unsaved content; answers the score fragment. A
    chosen template fills what the campaign leaves empty, as at send time."""

    template_name = "deliverability/_content_score.html"
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        form = ContentScoreForm(request.POST)
        form.is_valid()
        data = {name: form.cleaned_data.get(name) or "" for name in ContentScoreForm.base_fields}
        template_id = data.pop("template")
        template = (
            self.scoped(EmailTemplate).filter(pk=template_id).first() if template_id else None
        )
        if template is not None:
            for part in ("subject", "html", "text", "from_email"):
                data[part] = data[part] or getattr(template, part, "")
        result = score_content(workspace=self.workspace, **data)
        return self.render_to_response(self.get_context_data(content=result))


def _outdated(assessment: RiskAssessment | None, campaign: Campaign) -> bool:
    """No assessment yet, or one older than the campaign's last change or than an hour (the
    audience and the workspace's figures move)."""
    if assessment is None:
        return True
    return assessment.created_at < max(campaign.updated_at, timezone.now() - RISK_FRESH_FOR)


class CampaignRiskView(WorkspaceMixin, TemplateView):
    """A campaign's risk panel: GET shows the latest assessment, POST assesses now (saved)."""

    template_name = "deliverability/_risk_panel.html"

    @cached_property
    def campaign(self) -> Campaign:
        return self.get_scoped(Campaign, pk=self.kwargs["pk"])

    def post(self, request, *args, **kwargs):
        risk.assess_campaign(campaign=self.campaign)
        return self.get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        campaign = self.campaign
        subject, html, text = campaign_source(campaign)
        content = score_content(
            subject=subject,
            html=html,
            text=text,
            from_email=campaign_sender(campaign)[1],
            workspace=self.workspace,
        )
        sendable = campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
        assessment = risk.latest_assessment(self.workspace, campaign.pk)
        if sendable and may_edit(self.membership) and _outdated(assessment, campaign):
            assessment = risk.assess_campaign(campaign=campaign)
        return super().get_context_data(
            campaign=campaign,
            assessment=assessment,
            content=content,
            sendable=sendable,
            may_override=risk.may_override(self.workspace, self.request.user),
            **kwargs,
        )
