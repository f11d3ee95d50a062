"""Dashboard pages of a campaign's A/B test: set it up (while the campaign is a draft or
scheduled), remove it, and pick the winner from the report. Each calls ``campaigns.ab``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views import View
from django.views.generic import FormView

from campaigns import ab
from campaigns.ab_forms import AbTestForm
from campaigns.views import EDITABLE, CampaignObjectMixin, error_text
from mailcrm.exceptions import DomainError


class CampaignAbView(CampaignObjectMixin, FormView):
    template_name = "campaigns/campaign_ab.html"
    form_class = AbTestForm
    editing = True

    def get(self, request, *args, **kwargs):
        if self.campaign.status not in EDITABLE:
            messages.error(request, f"The A/B test of a {self.campaign.status} campaign is set.")
            return redirect("dashboard:campaigns:campaign_report", self.campaign.pk)
        return super().get(request, *args, **kwargs)

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"workspace": self.workspace}

    def get_initial(self):
        return AbTestForm.initial_for(ab.ab_test_of(self.campaign))

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            campaign=self.campaign, test=ab.ab_test_of(self.campaign), **kwargs
        )

    def form_valid(self, form):
        try:
            ab.ab_configure(campaign=self.campaign, **form.service_fields())
        except ValidationError as exc:
            form.add_service_errors(exc)
            return self.form_invalid(form)
        except DomainError as exc:
            messages.error(self.request, error_text(exc))
            return self.back()
        messages.success(self.request, f"Saved the A/B test of {self.campaign}.")
        return self.back()


class CampaignAbRemoveView(CampaignObjectMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        try:
            ab.ab_remove(campaign=self.campaign)
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"Removed the A/B test of {self.campaign}.")
        return self.back()


class CampaignAbWinnerView(CampaignObjectMixin, View):
    """POST ``variant``: the rest of the audience gets it now."""

    http_method_names = ["post"]

    def post(self, request, pk):
        try:
            test = ab.ab_pick_winner(
                campaign=self.campaign,
                variant=request.POST.get("variant", ""),
                actor=request.user.email,
            )
        except (ValidationError, DomainError) as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(
                request, f"Variant {ab.LABELS[test.winner]} won: it goes to the rest now."
            )
        return redirect("dashboard:campaigns:campaign_report", pk)
