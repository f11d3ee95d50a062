"""Dashboard pages of outbound webhooks — namespace "dashboard:webhooks"."""

from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("webhooks/", views.EndpointsView.as_view(), name="endpoints"),
    path("webhooks/new/", views.EndpointCreateView.as_view(), name="endpoint_new"),
    path("webhooks/<uuid:pk>/", views.EndpointDetailView.as_view(), name="endpoint"),
    path("webhooks/<uuid:pk>/edit/", views.EndpointEditView.as_view(), name="endpoint_edit"),
    path("webhooks/<uuid:pk>/delete/", views.EndpointDeleteView.as_view(), name="endpoint_delete"),
    path(
        "webhooks/<uuid:pk>/test/",
        views.EndpointActionView.as_view(action="test"),
        name="endpoint_test",
    ),
    path(
        "webhooks/<uuid:pk>/rotate/",
        views.EndpointActionView.as_view(action="rotate"),
        name="endpoint_rotate",
    ),
    path(
        "webhooks/<uuid:pk>/deliveries/<uuid:delivery_id>/retry/",
        views.EndpointActionView.as_view(action="retry"),
        name="delivery_retry",
    ),
]
