"""Dashboard pages of automations: the list, and a builder showing the flow top to bottom
(trigger, steps, branches' yes/no paths) with per-step counts, where steps are added, changed
and removed, and the automation activated or paused — all through ``services``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from automations import services
from automations.api.views import step_counts
from automations.flow import Flow
from automations.forms import AutomationForm, StepForm
from automations.models import Automation, Enrollment, Step
from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.dashboard.generic import ServiceFormView
from mailcrm.exceptions import DomainError


class AutomationsView(WorkspaceMixin, TemplateView):
    template_name = "automations/automation_list.html"

    def get_context_data(self, **kwargs):
        rows = self.scoped(Automation).order_by("-created_at")[:200]
        return super().get_context_data(automations=rows, **kwargs)


class AutomationCreateView(ServiceFormView):
    form_class = AutomationForm
    template_name = "automations/automation_form.html"
    success_message = "Created {object}."

    def perform(self, form):
        return services.automation_create(workspace=self.workspace, **form.cleaned_data)

    def get_success_url(self):
        return reverse("dashboard:automations:automation", args=[self.object.pk])


class AutomationBuilderView(WorkspaceMixin, TemplateView):
    template_name = "automations/automation_builder.html"

    def get_context_data(self, **kwargs):
        automation = self.get_scoped(Automation, pk=self.kwargs["pk"])
        counts = {row["step_id"]: row for row in step_counts(automation)}
        flow = Flow.of(automation.pk)
        rows = [
            {"step": s, "depth": depth, "path": path, "counts": counts.get(s.pk, {})}
            for s, depth, path in flow.walk()
        ]
        recent = (
            Enrollment.objects.filter(automation=automation)
            .select_related("contact", "step")
            .order_by("-id")[:20]
        )
        return super().get_context_data(
            automation=automation, rows=rows, form=StepForm(), recent=recent, **kwargs
        )


class _Act(WorkspaceMixin, View):
    """POST-only actions on one automation; errors become messages."""

    def post(self, request, pk, **kwargs):
        automation = self.get_scoped(Automation, pk=pk)
        try:
            self.act(automation, request, **kwargs)
        except (ValidationError, DomainError) as exc:
            text = (
                getattr(exc, "message", None)
                or "; ".join(
                    f"{k}: {' '.join(v)}" for k, v in getattr(exc, "message_dict", {}).items()
                )
                or "; ".join(exc.messages)
            )
            messages.error(request, text)
        return redirect("dashboard:automations:automation", pk=automation.pk)


class ActivateView(_Act):
    def act(self, automation, request):
        services.automation_activate(automation=automation)


class PauseView(_Act):
    def act(self, automation, request):
        services.automation_pause(automation=automation)


class StepAddView(_Act):
    def act(self, automation, request):
        form = StepForm(request.POST)
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        data = form.cleaned_data
        parent = None
        if data.get("parent_id"):
            parent = Step.objects.filter(automation=automation, pk=data["parent_id"]).first()
        services.step_add(
            automation=automation,
            type=data["type"],
            config=data["config"],
            parent=parent,
            path=data.get("path") or "",
        )


class StepDeleteView(_Act):
    def act(self, automation, request, step_id):
        # A step of another automation (or workspace) is not found, as for any other object.
        services.step_delete(step=get_object_or_404(Step, automation=automation, pk=step_id))
