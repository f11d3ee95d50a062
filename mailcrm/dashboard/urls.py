from django.contrib.auth import views as auth_views
from django.urls import include, path

from mailcrm.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("workspace/", views.SwitchWorkspaceView.as_view(), name="switch_workspace"),
    path("", views.HomeView.as_view(), name="home"),
    # /contacts/, /tags/, /lists/, /properties/ — namespace "dashboard:contacts".
    path("", include("contacts.urls")),
    # /campaigns/, /emails/, /outbox/ — namespace "dashboard:campaigns".
    path("", include("campaigns.urls")),
    # /templates/ — namespace "dashboard:templates".
    path("", include("templates.urls")),
    # /domains/, /tracking-domains/, /suppressions/, /unsubscribes/, /validation/, /health/ —
    # namespace "dashboard:deliverability".
    path("", include("deliverability.urls")),
    # /webhooks/ — namespace "dashboard:webhooks".
    path("", include("webhooks.urls")),
]
