"""Lead scoring settings: points per event, tier thresholds, recompute."""

from __future__ import annotations

from functools import cached_property

from django.db.models import Count
from django.urls import reverse

from contacts import scoring
from contacts.forms import (
    ScoringForm,
)
from contacts.models import (
    Contact,
    ScoreTier,
)
from mailcrm.dashboard.access import may_edit
from mailcrm.dashboard.generic import ServiceFormView

# --- lead scoring ------------------------------------------------------------------------------


class ScoringView(ServiceFormView):
    """Points per event and tier thresholds. Viewers see them; only editors may save."""

    editing = False
    form_class = ScoringForm
    template_name = "contacts/scoring.html"
    success_message = "Saved the scoring rules."
    conflict_field = None

    @cached_property
    def settings(self):
        return scoring.scoring_settings(self.workspace)

    @property
    def error_aliases(self):
        return {f"rules.{event}": f"points_{event}" for event in scoring.SCORED_EVENTS}

    def get_initial(self):
        return ScoringForm.initial_for(self.settings) | {"recompute": True}

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"events": scoring.SCORED_EVENTS}

    def get_context_data(self, **kwargs):
        tiers = dict(
            self.scoped(Contact).visible().values_list("score_tier").annotate(n=Count("pk"))
        )
        return super().get_context_data(
            settings=self.settings,
            tiers=[(tier, tiers.get(tier.value, 0)) for tier in ScoreTier],
            sunset_count=self.scoped(Contact).visible().filter(sunset_at__isnull=False).count(),
            can_edit=may_edit(self.membership),
            **kwargs,
        )

    def perform(self, form):
        values = form.values()
        if values["recompute"]:
            self.success_message += " Scores and tiers are being recomputed."
        return scoring.scoring_update(workspace=self.workspace, **values)

    def get_success_url(self):
        return reverse("dashboard:contacts:scoring")
