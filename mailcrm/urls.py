from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("mailcrm.api.urls")),
    path("webhooks/anymail/", include("webhooks.anymail_urls")),
    path("", include("campaigns.public_urls")),
    # /t.js and /t/collect: the site snippet and its page views.
    path("", include("automations.public_urls")),
    # /f/{form_id} (hosted and embedded subscription forms) and /f/confirm/{token}.
    path("", include("subscriptions.public_urls")),
    # /tls/ask (the proxy's on-demand TLS question) and /t/health (tracking domains' HTTPS check).
    path("", include("deliverability.public_urls")),
    path("", include("mailcrm.dashboard.urls")),
]
