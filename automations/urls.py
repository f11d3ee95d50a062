"""Dashboard pages of automations, namespace "dashboard:automations"."""

from django.urls import path

from automations import views

app_name = "automations"

urlpatterns = [
    path("automations/", views.AutomationsView.as_view(), name="automations"),
    path("automations/new/", views.AutomationCreateView.as_view(), name="automation_new"),
    path("automations/<uuid:pk>/", views.AutomationBuilderView.as_view(), name="automation"),
    path("automations/<uuid:pk>/activate/", views.ActivateView.as_view(), name="activate"),
    path("automations/<uuid:pk>/pause/", views.PauseView.as_view(), name="pause"),
    path("automations/<uuid:pk>/steps/", views.StepAddView.as_view(), name="step_add"),
    path(
        "automations/<uuid:pk>/steps/<uuid:step_id>/delete/",
        views.StepDeleteView.as_view(),
        name="step_delete",
    ),
]
