from django.urls import path

from deliverability import public

app_name = "deliverability_public"

urlpatterns = [
    path("tls/ask", public.tls_ask, name="tls_ask"),
    path("t/health", public.tracking_health, name="tracking_health"),
]
