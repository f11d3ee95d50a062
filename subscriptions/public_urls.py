from django.urls import path

from subscriptions import public

app_name = "subscriptions_public"

urlpatterns = [
    path("f/confirm/<str:token>", public.confirm, name="confirm"),
    path("f/<uuid:form_id>", public.hosted_form, name="form"),
]
