"""The dashboard shell: sign-in, the workspace switcher and the home page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from contacts.models import Contact, ContactList, Tag
from deliverability.health import health_score, health_trend
from mailcrm.dashboard import insights
from mailcrm.dashboard.access import WorkspaceMixin
from mailcrm.dashboard.middleware import SESSION_KEY
from mailcrm.models import Membership

# Counts on the home page stop here, so a workspace with millions of contacts does not pay
# for a full count on every visit; beyond it the page says "100,000+".
COUNT_CAP = 100_000


def capped_count(queryset, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): counts at most ``cap`` ids, cheap on a large table."""
    count = queryset.values("pk")[:cap].count()
    return count, count >= cap


class EmailAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, labelled and typed for an email address."""

    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class LoginView(auth_views.LoginView):
    template_name = "dashboard/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


def login_locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE), for the dashboard and the admin
    sign-in alike: the sign-in page again, saying why and for how long, with status 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = EmailAuthenticationForm(request, initial={"username": username})
    context = {"form": form, "locked_out": True, "cooloff_minutes": minutes, "next": ""}
    return render(request, LoginView.template_name, context, status=429)


class SwitchWorkspaceView(LoginRequiredMixin, View):
    """Remember the chosen workspace in the session. Only the user's own workspaces can be
    chosen; any other id is "not found". Viewers may switch too: it changes no data."""

    http_method_names = ["post"]

    def post(self, request):
        membership = (
            Membership.objects.filter(user=request.user, workspace_id=_uuid_or_404(request))
            .select_related("workspace")
            .first()
        )
        if membership is None:
            raise Http404("No such workspace.")
        request.session[SESSION_KEY] = str(membership.workspace_id)
        messages.success(request, f"Switched to {membership.workspace.name}.")
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = "dashboard:home"
        return redirect(next_url)


def _uuid_or_404(request):
    value = request.POST.get("workspace", "")
    try:
        return forms.UUIDField().clean(value)
    except forms.ValidationError:
        raise Http404("No such workspace.") from None


def _stat(label: str, queryset, url_name: str, query: str = "") -> dict:
    count, capped = capped_count(queryset)
    url = reverse(url_name) + (f"?{query}" if query else "")
    return {"label": label, "count": count, "capped": capped, "url": url}


class HomeView(WorkspaceMixin, TemplateView):
    """Counts, 30-day charts (growth, sends, human open/click rates, bounces and complaints),
    the health score and its trend, campaigns and automations, and the live feed."""

    template_name = "dashboard/home.html"
    recent_size = 10

    def get_context_data(self, **kwargs):
        contacts = self.scoped(Contact)
        recent = contacts.visible().prefetch_related("tags").order_by("-pk")[: self.recent_size]
        stats = [
            _stat("Contacts", contacts.visible(), "dashboard:contacts:contacts"),
            _stat("Active", contacts.subscribed(), "dashboard:contacts:contacts", "status=active"),
            _stat("Tags", self.scoped(Tag), "dashboard:contacts:tags"),
            _stat("Lists", self.scoped(ContactList), "dashboard:contacts:lists"),
        ]
        series = insights.daily_series(self.workspace)
        trend = health_trend(self.workspace, days=insights.HOME_DAYS)
        return super().get_context_data(
            stats=stats,
            recent=recent,
            totals=series["totals"],
            charts=insights.home_charts(series, trend),
            health=health_score(self.workspace),
            campaigns=insights.campaign_lists(self.workspace),
            automations=insights.running_automations(self.workspace),
            feed=insights.activity_feed(self.workspace),
            **kwargs,
        )


class ActivityFeedView(WorkspaceMixin, TemplateView):
    """The home page's live feed alone: htmx polls it."""

    template_name = "dashboard/_activity_feed.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(feed=insights.activity_feed(self.workspace), **kwargs)
