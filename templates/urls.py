"""Dashboard pages of email templates, included by mailcrm.dashboard.urls at the root under the
namespace "dashboard:templates"."""

from django.urls import path

from templates import views

app_name = "templates"

urlpatterns = [
    path("templates/", views.TemplatesView.as_view(), name="templates"),
    path("templates/new/", views.TemplateCreateView.as_view(), name="template_new"),
    path("templates/preview/", views.LivePreviewView.as_view(), name="live_preview"),
    path("templates/<uuid:pk>/", views.TemplateDetailView.as_view(), name="template"),
    path("templates/<uuid:pk>/edit/", views.TemplateEditView.as_view(), name="template_edit"),
    path("templates/<uuid:pk>/delete/", views.TemplateDeleteView.as_view(), name="template_delete"),
    path(
        "templates/<uuid:pk>/preview/", views.TemplatePreviewView.as_view(), name="template_preview"
    ),
]
