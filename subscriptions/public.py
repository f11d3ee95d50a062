"""Public sign-up pages: the hosted form (GET and POST /f/{form_id}, also the target of the
embeddable snippet) and the double opt-in confirmation (/f/confirm/{token}).

POST /f/{id} is CSRF-exempt so forms on other sites can post to it; abuse is held off by a
rate limit per address and a honeypot field. It only ever redirects to the success URL the
form's owner configured, never to a URL from the request."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from contacts.properties import definitions_for
from mailcrm.client_ip import client_ip
from mailcrm.ratelimit import over_per_minute
from subscriptions import services
from subscriptions.forms import HONEYPOT, signup_form
from subscriptions.models import SubscriptionForm

SUBMITS_PER_ADDRESS_PER_MINUTE = 20
CONFIRMS_PER_ADDRESS_PER_MINUTE = 30


def _client_ip(request) -> str | None:
    return client_ip(request)


def _limited(request, bucket: str, limit: int) -> bool:
    return over_per_minute(f"subscriptions:{bucket}:{_client_ip(request) or '?'}", limit)


def _too_many() -> HttpResponse:
    response = HttpResponse(
        "Too many sign-ups from your address; try again in a minute.",
        status=429,
        content_type="text/plain",
    )
    response["Retry-After"] = "60"
    return response


def _form_or_404(form_id) -> SubscriptionForm:
    form = (
        SubscriptionForm.objects.select_related("workspace", "contact_list")
        .filter(pk=form_id, is_active=True)
        .first()
    )
    if form is None:
        raise Http404("No such form.")
    return form


def _success(request, form: SubscriptionForm, *, pending: bool):
    if form.success_url:
        return HttpResponseRedirect(form.success_url)
    return render(
        request,
        "subscriptions/public/thanks.html",
        {"form": form, "workspace": form.workspace, "pending": pending},
    )


@csrf_exempt
@xframe_options_exempt  # the hosted form may be shown in an iframe on the owner's site
@require_http_methods(["GET", "POST"])
def hosted_form(request, form_id):
    form = _form_or_404(form_id)
    definitions = definitions_for(form.workspace)
    if request.method == "GET":
        context = {
            "form": form,
            "workspace": form.workspace,
            "signup": signup_form(form, definitions),
        }
        return render(request, "subscriptions/public/form.html", context)
    if _limited(request, "submit", SUBMITS_PER_ADDRESS_PER_MINUTE):
        return _too_many()
    signup = signup_form(form, definitions, data=request.POST)
    if request.POST.get(HONEYPOT):
        # A robot: answer as if it worked, so it learns nothing, and store nothing.
        return _success(request, form, pending=form.contact_list.double_opt_in)
    if signup.is_valid():
        try:
            result = services.form_submit(
                form=form,
                data=signup.cleaned_data,
                ip_address=_client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except ValidationError as exc:
            for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                name = field if field in signup.fields else None
                signup.add_error(name, errors)
        else:
            return _success(request, form, pending=result.pending)
    context = {"form": form, "workspace": form.workspace, "signup": signup, "failed": True}
    return render(request, "subscriptions/public/form.html", context, status=400)


@require_http_methods(["GET", "POST"])
def confirm(request, token: str):
    """GET shows a button (mail scanners follow links; they do not press buttons); POST
    confirms. A replay shows the same "confirmed" page and changes nothing."""
    if _limited(request, "confirm", CONFIRMS_PER_ADDRESS_PER_MINUTE):
        return _too_many()
    consent = services.consent_from_token(token)
    if consent is None:
        return render(request, "subscriptions/public/invalid.html", status=404)
    if request.method == "POST":
        consent = services.consent_confirm(consent=consent, ip_address=_client_ip(request))
    return render(
        request,
        "subscriptions/public/confirm.html",
        {"consent": consent, "workspace": consent.workspace, "token": token},
    )
