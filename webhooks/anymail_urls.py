"""django-anymail's tracking webhooks under /webhooks/anymail/: ``<esp>/tracking/`` (events
attributed to a workspace by the message they name) and ``w/<token>/<esp>/tracking/`` (a
workspace's own URL: events naming no known message still apply to its addresses)."""

from django.urls import path

from webhooks import views

urlpatterns = [
    path("<slug:esp>/tracking/", views.esp_tracking, name="anymail_tracking"),
    path(
        "w/<str:token>/<slug:esp>/tracking/",
        views.esp_tracking,
        name="anymail_workspace_tracking",
    ),
]
