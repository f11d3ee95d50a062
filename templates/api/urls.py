from rest_framework.routers import SimpleRouter

from templates.api import views

router = SimpleRouter(trailing_slash=False)
router.register("templates", views.EmailTemplateViewSet, basename="template")

urlpatterns = router.urls
