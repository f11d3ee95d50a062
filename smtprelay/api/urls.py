from django.urls import path

from smtprelay.api import views

urlpatterns = [
    path("customer/smtp", views.SmtpSettingsView.as_view(), name="smtp"),
    path("customer/smtp/rotate", views.SmtpRotateView.as_view(), name="smtp-rotate"),
]
