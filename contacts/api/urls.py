from django.urls import path
from rest_framework.routers import SimpleRouter

from contacts.api import bulk, imports, views

router = SimpleRouter(trailing_slash=False)
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("properties", views.PropertyDefinitionViewSet, basename="property")
router.register("tags", views.TagViewSet, basename="tag")
router.register("lists", views.ContactListViewSet, basename="list")
router.register("companies", views.CompanyViewSet, basename="company")
router.register("segments", views.SegmentViewSet, basename="segment")
router.register("imports", imports.ImportViewSet, basename="import")

activities = views.ContactActivityViewSet.as_view({"get": "list", "post": "create"})

urlpatterns = [
    # Before the router, so that "batch", "bulk" and "merge" are not taken for contact ids.
    path("contacts/batch", bulk.ContactBatchView.as_view(), name="contact-batch"),
    path("contacts/bulk", bulk.ContactBulkView.as_view(), name="contact-bulk"),
    path("contacts/bulk/<str:job_id>", bulk.BulkJobView.as_view(), name="contact-bulk-job"),
    path("contacts/merge", bulk.ContactMergeView.as_view(), name="contact-merge"),
    path("scoring", bulk.ScoringView.as_view(), name="scoring"),
    path("contacts/export", imports.ContactExportView.as_view(), name="contact-export"),
    path("contacts/<str:contact_pk>/activities", activities, name="contact-activities"),
    *router.urls,
]
