from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("contacts/<uuid:pk>/export.json", views.ContactExportView.as_view(), name="export"),
    path("contacts/<uuid:pk>/erase/", views.ContactEraseView.as_view(), name="erase"),
]
