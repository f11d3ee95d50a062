from django.urls import path
from rest_framework.routers import SimpleRouter

from deliverability.api import breakers, checks, domains, health, views

router = SimpleRouter(trailing_slash=False)
# The whitelist is registered first: "suppressions/whitelist" must not be taken for an id.
router.register("suppressions/whitelist", views.WhitelistViewSet, basename="whitelist")
router.register("suppressions", views.SuppressionViewSet, basename="suppression")
router.register("unsubscribes", views.UnsubscribeViewSet, basename="unsubscribe")
router.register("customer/domains", domains.SendingDomainViewSet, basename="sending-domain")
router.register(
    "customer/tracking-domains", domains.TrackingDomainViewSet, basename="tracking-domain"
)

urlpatterns = [
    path("health-score", health.HealthScoreView.as_view(), name="health-score"),
    path(
        "customer/circuit-breakers",
        breakers.BreakerSettingsView.as_view(),
        name="circuit-breakers",
    ),
    path("validation/email", checks.ValidateEmailView.as_view(), name="validation-email"),
    path("validation/bulk", checks.ValidateBulkView.as_view(), name="validation-bulk"),
    path("content/score", checks.ContentScoreView.as_view(), name="content-score"),
    path("risk/assess", checks.RiskAssessView.as_view(), name="risk-assess"),
    *router.urls,
]
