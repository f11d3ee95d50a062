from django.urls import path

from automations import public

app_name = "automations_public"

urlpatterns = [
    path("t.js", public.snippet, name="snippet"),
    path("t/collect", public.collect, name="collect"),
]
