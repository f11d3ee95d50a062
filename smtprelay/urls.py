"""Dashboard pages of the SMTP relay — namespace "dashboard:smtprelay"."""

from django.urls import path

from smtprelay import views

app_name = "smtprelay"

urlpatterns = [
    path("settings/smtp/", views.SmtpSettingsView.as_view(), name="smtp"),
]
