from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from automations.api import views

router = SimpleRouter(trailing_slash=False)
router.register("automations", views.AutomationViewSet, basename="automation")

urlpatterns = [
    path("track", views.TrackView.as_view(), name="track"),
    path("track/batch", views.TrackBatchView.as_view(), name="track-batch"),
    re_path(
        r"^automations/(?P<pk>[^/]+)/steps/(?P<step_id>[^/]+)$",
        views.StepDetailView.as_view(),
        name="automation-step",
    ),
    *router.urls,
]
