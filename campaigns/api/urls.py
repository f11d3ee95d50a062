from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from campaigns.api import ab, statistics, views

router = SimpleRouter(trailing_slash=False)
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("emails", views.EmailDetailViewSet, basename="email")

urlpatterns = [
    path("emails", views.EmailView.as_view(), name="emails"),
    path("emails/batch", views.EmailBatchView.as_view(), name="emails-batch"),
    path("statistics", statistics.StatisticsView.as_view(), name="statistics"),
    # The router's pattern for the id, so the isolation tests name another workspace's here too.
    re_path(r"^campaigns/(?P<pk>[^/]+)/ab$", ab.CampaignAbView.as_view(), name="campaign-ab"),
    re_path(
        r"^campaigns/(?P<pk>[^/]+)/ab/winner$",
        ab.CampaignAbWinnerView.as_view(),
        name="campaign-ab-winner",
    ),
    *router.urls,
]
