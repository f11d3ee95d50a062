"""Dashboard pages of deliverability — namespace "dashboard:deliverability"."""

from django.urls import path

from deliverability.views import checks as check_views
from deliverability.views import domains as domain_views
from deliverability.views import health as health_views
from deliverability.views import suppressions as suppression_views
from deliverability.views import warmup as warmup_views

app_name = "deliverability"

urlpatterns = [
    # Suppressions, the whitelist and unsubscribes ("whitelist", "import" and "export" come
    # before anything taking an id).
    path("suppressions/", suppression_views.SuppressionsView.as_view(), name="suppressions"),
    path(
        "suppressions/new/",
        suppression_views.SuppressionCreateView.as_view(),
        name="suppression_new",
    ),
    path(
        "suppressions/import/",
        suppression_views.SuppressionImportView.as_view(),
        name="suppression_import",
    ),
    path(
        "suppressions/export/",
        suppression_views.SuppressionExportView.as_view(),
        name="suppression_export",
    ),
    path("suppressions/whitelist/", suppression_views.WhitelistView.as_view(), name="whitelist"),
    path(
        "suppressions/whitelist/<uuid:pk>/delete/",
        suppression_views.WhitelistDeleteView.as_view(),
        name="whitelist_delete",
    ),
    path(
        "suppressions/<uuid:pk>/delete/",
        suppression_views.SuppressionDeleteView.as_view(),
        name="suppression_delete",
    ),
    path("unsubscribes/", suppression_views.UnsubscribesView.as_view(), name="unsubscribes"),
    path(
        "unsubscribes/<uuid:pk>/resubscribe/",
        suppression_views.ResubscribeView.as_view(),
        name="unsubscribe_resubscribe",
    ),
    # Sending and tracking domains.
    path("domains/", domain_views.DomainsView.as_view(), name="domains"),
    path("domains/<uuid:pk>/", domain_views.DomainDetailView.as_view(), name="domain"),
    path(
        "domains/<uuid:pk>/verify/", domain_views.DomainVerifyView.as_view(), name="domain_verify"
    ),
    path(
        "domains/<uuid:pk>/tracking/",
        domain_views.DomainTrackingView.as_view(),
        name="domain_tracking",
    ),
    path(
        "domains/<uuid:pk>/warmup/",
        warmup_views.DomainWarmupView.as_view(),
        name="domain_warmup",
    ),
    path(
        "settings/circuit-breakers/",
        warmup_views.BreakerSettingsView.as_view(),
        name="circuit_breakers",
    ),
    path(
        "domains/<uuid:pk>/delete/", domain_views.DomainDeleteView.as_view(), name="domain_delete"
    ),
    path(
        "tracking-domains/",
        domain_views.TrackingDomainsView.as_view(),
        name="tracking_domains",
    ),
    path(
        "tracking-domains/<uuid:pk>/verify/",
        domain_views.TrackingDomainVerifyView.as_view(),
        name="tracking_domain_verify",
    ),
    path(
        "tracking-domains/<uuid:pk>/delete/",
        domain_views.TrackingDomainDeleteView.as_view(),
        name="tracking_domain_delete",
    ),
    # Health score.
    path("health/", health_views.HealthView.as_view(), name="health"),
    # Validation tool, the composer's content score, a campaign's risk panel.
    path("validation/", check_views.ValidationToolView.as_view(), name="validation"),
    path("content-score/", check_views.ContentScoreView.as_view(), name="content_score"),
    path("campaign-risk/<uuid:pk>/", check_views.CampaignRiskView.as_view(), name="campaign_risk"),
]
