from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from mailcrm.api import audit, views

router = SimpleRouter(trailing_slash=False)
router.register("customer/api-keys", views.ApiKeyViewSet, basename="api-key")
router.register("events", views.EventViewSet, basename="event")
router.register("audit-log", audit.AuditLogViewSet, basename="audit-log")

urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "docs/",
        # The split view serves its start-up script from a URL (no inline script for the CSP);
        # the page's small inline <style> is allowed on this page only.
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(
                url_name="schema", authentication_classes=[], permission_classes=[]
            )
        ),
        name="docs",
    ),
    path("customer/profile", views.ProfileView.as_view(), name="profile"),
    # /contacts/{id}/export and /erase (privacy requests).
    path("", include("privacy.urls")),
    path("", include("contacts.api.urls")),
    path("", include("deliverability.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("templates.api.urls")),
    path("", include("webhooks.api.urls")),
    # /customer/smtp and /customer/smtp/rotate (the SMTP relay's credentials).
    path("", include("smtprelay.api.urls")),
    path("", include("automations.api.urls")),
    # /forms: subscription forms.
    path("", include("subscriptions.api.urls")),
    *router.urls,
]
