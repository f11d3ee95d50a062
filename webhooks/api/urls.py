from rest_framework.routers import SimpleRouter

from webhooks.api import views

router = SimpleRouter(trailing_slash=False)
router.register("customer/webhooks", views.WebhookEndpointViewSet, basename="webhook")

urlpatterns = router.urls
