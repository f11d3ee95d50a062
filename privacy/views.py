"""Dashboard buttons of privacy requests on a contact's page: download the export, erase
(after a confirmation page)."""

from __future__ import annotations

import json
from functools import cached_property

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from contacts.models import Contact
from mailcrm.dashboard.access import WorkspaceMixin
from privacy import services


class ContactPrivacyMixin(WorkspaceMixin):
    # Members and up: an export hands out everything at once; erasing cannot be undone.
    editing = True

    @cached_property
    def contact(self) -> Contact:
        return self.get_scoped(Contact, pk=self.kwargs["pk"])


class ContactExportView(ContactPrivacyMixin, View):
    def get(self, request, pk):
        body = json.dumps(services.contact_export(self.contact), cls=DjangoJSONEncoder, indent=2)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="contact-{self.contact.pk}.json"'
        return response


class ContactEraseView(ContactPrivacyMixin, TemplateView):
    template_name = "privacy/confirm_erase.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(contact=self.contact, **kwargs)

    def post(self, request, pk):
        services.contact_erase(contact=self.contact, actor=request.user, via="dashboard")
        messages.success(
            request,
            "The contact was erased. Their address is kept only as a hash, so it is never "
            "imported or mailed again.",
        )
        return redirect(reverse("dashboard:contacts:contacts"))
