"""Dashboard pages of outbound webhooks (admins and owners): endpoints, the secret shown once,
the delivery log with retries, test events."""

from __future__ import annotations

from functools import cached_property

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from contacts.views.base import PAGE_SIZE, page_cursor
from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView, apply_errors
from mailcrm.exceptions import DomainError
from mailcrm.keyset import keyset_page
from webhooks import services
from webhooks.filtersets import WebhookDeliveryFilterSet
from webhooks.forms import DeliveryFilterForm, WebhookEndpointForm
from webhooks.models import WebhookDelivery, WebhookEndpoint


class EndpointsView(WorkspaceMixin, TemplateView):
    managing = True
    template_name = "webhooks/endpoint_list.html"

    def get_context_data(self, **kwargs):
        endpoints = self.scoped(WebhookEndpoint).prefetch_related("domains")
        return super().get_context_data(endpoints=endpoints, **kwargs)


class EndpointFormMixin:
    form_class = WebhookEndpointForm
    template_name = "webhooks/endpoint_form.html"
    conflict_field = None

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "workspace": self.workspace}


class EndpointCreateView(EndpointFormMixin, ServiceFormView):
    managing = True

    def form_valid(self, form):
        # The secret is shown on the page answering this POST, once, and never again.
        try:
            endpoint, secret = services.endpoint_create(
                workspace=self.workspace, **form.cleaned_data
            )
        except (ValidationError, DomainError) as exc:
            apply_errors(form, exc)
            return self.form_invalid(form)
        return render(
            self.request,
            "webhooks/endpoint_secret.html",
            {"endpoint": endpoint, "secret": secret, "created": True},
        )


class EndpointEditView(EndpointFormMixin, ServiceFormView):
    managing = True
    success_message = "Saved {object}."

    @cached_property
    def endpoint(self) -> WebhookEndpoint:
        return self.get_scoped(WebhookEndpoint, pk=self.kwargs["pk"])

    def get_initial(self):
        endpoint = self.endpoint
        return {
            "name": endpoint.name,
            "url": endpoint.url,
            "events": endpoint.events,
            "domains": list(endpoint.domains.all()),
            "is_active": endpoint.is_active,
        }

    def get_context_data(self, **kwargs):
        return super().get_context_data(endpoint=self.endpoint, **kwargs)

    def perform(self, form):
        data = dict(form.cleaned_data)
        data.setdefault("domains", [])
        return services.endpoint_update(endpoint=self.endpoint, **data)

    def get_success_url(self):
        return reverse("dashboard:webhooks:endpoint", args=[self.object.pk])


class EndpointDetailView(WorkspaceMixin, TemplateView):
    """The endpoint and its delivery log, newest first, filtered and a keyset page at a time."""

    managing = True
    template_name = "webhooks/endpoint_detail.html"

    def get_context_data(self, **kwargs):
        endpoint = self.get_scoped(
            WebhookEndpoint.objects.prefetch_related("domains"), pk=self.kwargs["pk"]
        )
        filters = DeliveryFilterForm(self.request.GET or None)
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).prefetch_related("log")
        deliveries = WebhookDeliveryFilterSet(self.request.GET, queryset=deliveries).qs
        page = keyset_page(deliveries, cursor=page_cursor(self.request), size=PAGE_SIZE)
        return super().get_context_data(
            endpoint=endpoint,
            filters=filters,
            filtered=any(self.request.GET.get(name) for name in ("status", "event_type")),
            page=page,
            **kwargs,
        )


class EndpointActionView(WorkspaceMixin, View):
    """POST only: send a test event, rotate the secret, or retry one delivery."""

    managing = True
    action = ""

    def post(self, request, pk, delivery_id=None):
        endpoint = self.get_scoped(WebhookEndpoint, pk=pk)
        if self.action == "test":
            services.send_test_event(endpoint=endpoint)
            messages.success(request, "A test event is on its way; it appears in the log below.")
        elif self.action == "rotate":
            secret = services.endpoint_rotate_secret(endpoint=endpoint)
            return render(
                request,
                "webhooks/endpoint_secret.html",
                {"endpoint": endpoint, "secret": secret, "created": False},
            )
        elif self.action == "retry":
            delivery = get_object_or_404(WebhookDelivery, endpoint=endpoint, pk=delivery_id)
            services.delivery_retry(delivery=delivery)
            messages.success(request, f"Sending {delivery.event_type} again.")
        return redirect("dashboard:webhooks:endpoint", pk=endpoint.pk)


class EndpointDeleteView(ConfirmDeleteView):
    managing = True
    model = WebhookEndpoint
    warning = "Events stop going to this URL; its delivery log is deleted with it."
    success_url_name = "dashboard:webhooks:endpoints"

    def delete(self, obj):
        services.endpoint_delete(endpoint=obj)
