from rest_framework.routers import SimpleRouter

from subscriptions.api import views

router = SimpleRouter(trailing_slash=False)
router.register("forms", views.SubscriptionFormViewSet, basename="form")

urlpatterns = router.urls
