from django.urls import path

from privacy import api

urlpatterns = [
    path(
        "contacts/<str:pk>/export", api.ContactExportView.as_view(), name="contact-privacy-export"
    ),
    path("contacts/<str:pk>/erase", api.ContactEraseView.as_view(), name="contact-erase"),
]
