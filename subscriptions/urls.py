"""Dashboard pages of subscription forms, under the namespace "dashboard:subscriptions"."""

from django.urls import path

from subscriptions import views

app_name = "subscriptions"

urlpatterns = [
    path("forms/", views.FormsView.as_view(), name="forms"),
    path("forms/new/", views.FormBuilderView.as_view(), name="form_new"),
    path("forms/<uuid:pk>/", views.FormDetailView.as_view(), name="form"),
    path("forms/<uuid:pk>/edit/", views.FormBuilderView.as_view(), name="form_edit"),
    path("forms/<uuid:pk>/delete/", views.FormDeleteView.as_view(), name="form_delete"),
]
