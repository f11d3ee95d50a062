"""Dashboard: the workspace's SMTP settings (admins and owners), the password shown once."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.views.generic import TemplateView

from mailcrm.dashboard.access import WorkspaceMixin
from smtprelay import services


class SmtpSettingsView(WorkspaceMixin, TemplateView):
    managing = True
    template_name = "smtprelay/smtp_settings.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            credential=services.smtp_credential_get(workspace=self.workspace),
            endpoint=services.relay_endpoint(),
            bounce_domain=settings.BOUNCE_DOMAIN,
            **kwargs,
        )

    def post(self, request):
        # The password is on the page answering this POST, once, and never again.
        credential, password = services.smtp_credential_rotate(workspace=self.workspace)
        return render(
            request,
            "smtprelay/smtp_password.html",
            {"credential": credential, "password": password, "endpoint": services.relay_endpoint()},
        )
