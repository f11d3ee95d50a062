from django.urls import path
from rest_framework.routers import SimpleRouter

from campaigns.api import ab, views

router = SimpleRouter(trailing_slash=False)
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("emails", views.EmailDetailViewSet, basename="email")

urlpatterns = [
    path("emails", views.EmailView.as_view(), name="emails"),
    path("emails/batch", views.EmailBatchView.as_view(), name="emails-batch"),
    path("campaigns/<str:pk>/ab", ab.CampaignAbView.as_view(), name="campaign-ab"),
    path(
        "campaigns/<str:pk>/ab/winner", ab.CampaignAbWinnerView.as_view(), name="campaign-ab-winner"
    ),
    *router.urls,
]
