"""Dashboard pages of sending, included by mailcrm.dashboard.urls at the root under the
namespace "dashboard:campaigns"."""

from django.urls import path

from campaigns import ab_views, views

app_name = "campaigns"

urlpatterns = [
    path("campaigns/", views.CampaignsView.as_view(), name="campaigns"),
    path("campaigns/new/", views.CampaignCreateView.as_view(), name="campaign_new"),
    path("campaigns/audience/", views.AudienceCountView.as_view(), name="audience_count"),
    path("campaigns/<uuid:pk>/", views.CampaignDetailView.as_view(), name="campaign"),
    path("campaigns/<uuid:pk>/edit/", views.CampaignEditView.as_view(), name="campaign_edit"),
    path("campaigns/<uuid:pk>/delete/", views.CampaignDeleteView.as_view(), name="campaign_delete"),
    path(
        "campaigns/<uuid:pk>/preview/", views.CampaignPreviewView.as_view(), name="campaign_preview"
    ),
    path(
        "campaigns/<uuid:pk>/progress/",
        views.CampaignProgressView.as_view(),
        name="campaign_progress",
    ),
    path("campaigns/<uuid:pk>/report/", views.CampaignReportView.as_view(), name="campaign_report"),
    path(
        "campaigns/<uuid:pk>/send/",
        views.CampaignActionView.as_view(action="send"),
        name="campaign_send",
    ),
    path(
        "campaigns/<uuid:pk>/pause/",
        views.CampaignActionView.as_view(action="pause"),
        name="campaign_pause",
    ),
    path(
        "campaigns/<uuid:pk>/resume/",
        views.CampaignActionView.as_view(action="resume"),
        name="campaign_resume",
    ),
    path(
        "campaigns/<uuid:pk>/cancel/",
        views.CampaignActionView.as_view(action="cancel"),
        name="campaign_cancel",
    ),
    path(
        "campaigns/<uuid:pk>/schedule/",
        views.CampaignScheduleView.as_view(),
        name="campaign_schedule",
    ),
    path("campaigns/<uuid:pk>/test/", views.CampaignTestSendView.as_view(), name="campaign_test"),
    path("campaigns/<uuid:pk>/ab/", ab_views.CampaignAbView.as_view(), name="campaign_ab"),
    path(
        "campaigns/<uuid:pk>/ab/remove/",
        ab_views.CampaignAbRemoveView.as_view(),
        name="campaign_ab_remove",
    ),
    path(
        "campaigns/<uuid:pk>/ab/winner/",
        ab_views.CampaignAbWinnerView.as_view(),
        name="campaign_ab_winner",
    ),
    path("emails/", views.EmailsView.as_view(), name="emails"),
    path("emails/<uuid:pk>/", views.EmailDetailView.as_view(), name="email"),
    path("emails/<uuid:pk>/preview/", views.EmailPreviewView.as_view(), name="email_preview"),
    path("outbox/", views.OutboxView.as_view(), name="outbox"),
    path("outbox/<int:pk>/", views.OutboxDetailView.as_view(), name="outbox_email"),
    path("outbox/<int:pk>/html/", views.OutboxHtmlView.as_view(), name="outbox_html"),
]
