"""Dashboard pages of outbound webhooks (admins and owners): endpoints, the secret shown once,
the delivery log with retries, test events."""

from __future__ import annotations

import logging
from functools import cached_property

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import HttpResponseForbidden, HttpResponseNotFound
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from contacts.views.base import PAGE_SIZE, page_cursor
from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView, apply_errors
from mailcrm.exceptions import DomainError
from mailcrm.keyset import keyset_page
from webhooks import inbound, services
from webhooks.filtersets import WebhookDeliveryFilterSet
from webhooks.forms import DeliveryFilterForm, WebhookEndpointForm
from webhooks.models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger("mailcrm.webhooks")


class EndpointsView(WorkspaceMixin, TemplateView):
    managing = True
    template_name = "webhooks/endpoint_list.html"

    def get_context_data(self, **kwargs):
        endpoints = self.scoped(WebhookEndpoint).prefetch_related("domains")
        token = inbound.workspace_token(self.workspace)
        return super().get_context_data(
            endpoints=endpoints,
            inbound_url=f"{settings.PUBLIC_BASE_URL}/webhooks/anymail/w/{token}/<esp>/tracking/",
            inbound_enabled=bool(settings.ANYMAIL.get("WEBHOOK_SECRET")),
            **kwargs,
        )


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


# --- inbound ESP events ------------------------------------------------------------------------


def _anymail_tracking_views() -> dict:
    from anymail import urls as anymail_urls

    return {
        pattern.name.removesuffix("_tracking_webhook"): pattern.callback
        for pattern in anymail_urls.urlpatterns
        if pattern.name and pattern.name.endswith("_tracking_webhook")
    }


@csrf_exempt
def esp_tracking(request, esp: str, token: str | None = None):
    """Hand the request to anymail's view for ``esp``, which checks the shared secret and the
    ESP's signature, then stores each event (webhooks.inbound)."""
    view = _anymail_tracking_views().get(esp)
    if view is None:
        return HttpResponseNotFound(f"No tracking webhook for {esp!r}.", content_type="text/plain")
    if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return HttpResponseForbidden(
            "Inbound ESP webhooks are off until ANYMAIL_WEBHOOK_SECRET is set.",
            content_type="text/plain",
        )
    workspace_id = None
    if token is not None:
        workspace_id = inbound.workspace_from_token(token)
        if workspace_id is None:
            return HttpResponseNotFound("Unknown webhook URL.", content_type="text/plain")
    with inbound.posted_for(workspace_id):
        try:
            return view(request)
        except ImproperlyConfigured as exc:
            logger.warning("anymail %s webhook is not configured: %s", esp, exc)
            return HttpResponseNotFound(
                f"The {esp} webhook is not configured on this server.", content_type="text/plain"
            )
