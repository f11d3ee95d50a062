from django.contrib.auth import views as auth_views
from django.urls import include, path

from mailcrm.dashboard import settings_views as settings
from mailcrm.dashboard import views
from mailcrm.dashboard.audit_views import AuditLogView

app_name = "dashboard"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("workspace/", views.SwitchWorkspaceView.as_view(), name="switch_workspace"),
    path("", views.HomeView.as_view(), name="home"),
    path("feed/", views.ActivityFeedView.as_view(), name="home_feed"),
    path("settings/", settings.WorkspaceSettingsView.as_view(), name="settings"),
    path("settings/members/", settings.MembersView.as_view(), name="settings_members"),
    path(
        "settings/members/<int:pk>/role/",
        settings.MemberRoleView.as_view(),
        name="settings_member_role",
    ),
    path(
        "settings/members/<int:pk>/remove/",
        settings.MemberRemoveView.as_view(),
        name="settings_member_remove",
    ),
    path(
        "settings/invitations/<uuid:pk>/revoke/",
        settings.InvitationRevokeView.as_view(),
        name="settings_invitation_revoke",
    ),
    path("invite/<str:token>/", settings.InvitationAcceptView.as_view(), name="invitation_accept"),
    path("settings/api-keys/", settings.ApiKeysView.as_view(), name="settings_api_keys"),
    path(
        "settings/api-keys/<uuid:pk>/rotate/",
        settings.ApiKeyActionView.as_view(action="rotate"),
        name="settings_api_key_rotate",
    ),
    path(
        "settings/api-keys/<uuid:pk>/revoke/",
        settings.ApiKeyActionView.as_view(action="revoke"),
        name="settings_api_key_revoke",
    ),
    path("settings/backends/", settings.BackendsView.as_view(), name="settings_backends"),
    path("settings/audit-log/", AuditLogView.as_view(), name="settings_audit_log"),
    path("settings/backends/new/", settings.BackendFormView.as_view(), name="settings_backend_new"),
    path(
        "settings/backends/<uuid:pk>/edit/",
        settings.BackendFormView.as_view(),
        name="settings_backend_edit",
    ),
    path(
        "settings/backends/<uuid:pk>/delete/",
        settings.BackendDeleteView.as_view(),
        name="settings_backend_delete",
    ),
    # /contacts/, /tags/, /lists/, /properties/ — namespace "dashboard:contacts".
    path("", include("contacts.urls")),
    # /campaigns/, /emails/, /outbox/ — namespace "dashboard:campaigns".
    path("", include("campaigns.urls")),
    # /templates/ — namespace "dashboard:templates".
    path("", include("templates.urls")),
    # /domains/, /tracking-domains/, /suppressions/, /unsubscribes/, /validation/, /health/ —
    # namespace "dashboard:deliverability".
    path("", include("deliverability.urls")),
    # /contacts/{id}/export.json, /contacts/{id}/erase/ — namespace "dashboard:privacy".
    path("", include("privacy.dashboard_urls")),
    # /forms/ — namespace "dashboard:subscriptions".
    path("", include("subscriptions.urls")),
    # /webhooks/ — namespace "dashboard:webhooks".
    path("", include("webhooks.urls")),
    # /settings/smtp/ — namespace "dashboard:smtprelay".
    path("", include("smtprelay.urls")),
    # /automations/ — namespace "dashboard:automations".
    path("", include("automations.urls")),
]
