from django.urls import path
from rest_framework.routers import SimpleRouter

from contacts.api import views

router = SimpleRouter(trailing_slash=False)
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("properties", views.PropertyDefinitionViewSet, basename="property")
router.register("tags", views.TagViewSet, basename="tag")
router.register("lists", views.ContactListViewSet, basename="list")
router.register("companies", views.CompanyViewSet, basename="company")
router.register("segments", views.SegmentViewSet, basename="segment")

activities = views.ContactActivityViewSet.as_view({"get": "list", "post": "create"})

urlpatterns = [
    path("contacts/<str:contact_pk>/activities", activities, name="contact-activities"),
    *router.urls,
]
