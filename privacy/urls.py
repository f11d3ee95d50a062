from django.urls import path

from privacy import api

urlpatterns = [
    path(
        "contacts/<str:contact_pk>/export",
        api.ContactExportView.as_view(),
        name="contact-privacy-export",
    ),
    path("contacts/<str:contact_pk>/erase", api.ContactEraseView.as_view(), name="contact-erase"),
]
