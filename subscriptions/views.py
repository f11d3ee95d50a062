"""Dashboard pages of subscription forms: the list, the builder, a form's page (hosted link,
embed snippet, sign-up counts) and deletion."""

from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.generic import TemplateView

from contacts.properties import definitions_for
from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.dashboard.generic import ConfirmDeleteView, ServiceFormView
from subscriptions import services
from subscriptions.filtersets import SubscriptionFormFilterSet
from subscriptions.forms import FormBuilderForm, signup_form
from subscriptions.models import SubscriptionForm


class FormsView(WorkspaceMixin, TemplateView):
    template_name = "subscriptions/form_list.html"

    def get_context_data(self, **kwargs):
        # The API's FilterSet: /forms/?q=…&list=…&is_active=… filters like /api/v1/forms.
        scoped = self.scoped(SubscriptionForm).select_related("contact_list").order_by("name")
        forms = SubscriptionFormFilterSet(self.request.GET, queryset=scoped).qs
        return super().get_context_data(forms=forms[:200], **kwargs)


class FormBuilderView(ServiceFormView):
    template_name = "subscriptions/form_builder.html"
    form_class = FormBuilderForm
    success_message = "Saved the form {object}."

    @cached_property
    def subscription_form(self) -> SubscriptionForm | None:
        if "pk" not in self.kwargs:
            return None
        return self.get_scoped(SubscriptionForm, pk=self.kwargs["pk"])

    def get_form_kwargs(self):
        instance = self.subscription_form or SubscriptionForm(workspace=self.workspace)
        return {**super().get_form_kwargs(), "workspace": self.workspace, "instance": instance}

    def get_context_data(self, **kwargs):
        return super().get_context_data(subscription_form=self.subscription_form, **kwargs)

    def perform(self, form):
        form.instance.workspace = self.workspace
        form.instance.fields = form.cleaned_data["fields"]
        return services.form_save(form=form.instance)

    def get_success_url(self):
        return reverse("dashboard:subscriptions:form", args=[self.object.pk])


def embed_snippet(form: SubscriptionForm) -> str:
    """Plain HTML that posts to the hosted endpoint: no script, works on any site."""
    action = settings.PUBLIC_BASE_URL + reverse("subscriptions_public:form", args=[form.pk])
    signup = signup_form(form, definitions_for(form.workspace))
    return render_to_string(
        "subscriptions/embed_snippet.html", {"form": form, "signup": signup, "action": action}
    ).strip()


class FormDetailView(WorkspaceMixin, TemplateView):
    template_name = "subscriptions/form_detail.html"

    def get_context_data(self, **kwargs):
        form = self.get_scoped(
            SubscriptionForm.objects.select_related("contact_list"), pk=self.kwargs["pk"]
        )
        hosted = settings.PUBLIC_BASE_URL + reverse("subscriptions_public:form", args=[form.pk])
        return super().get_context_data(
            subscription_form=form,
            hosted_url=hosted,
            snippet=embed_snippet(form),
            counts=services.form_counts(form),
            **kwargs,
        )


class FormDeleteView(ConfirmDeleteView):
    model = SubscriptionForm
    success_url_name = "dashboard:subscriptions:forms"
    warning = "Its hosted page and embedded copies stop working. Consents it recorded are kept."

    def delete(self, obj) -> None:
        services.form_delete(form=obj)
