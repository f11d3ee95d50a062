from django.urls import path

from campaigns import preference_centre, public

app_name = "public"

urlpatterns = [
    path("t/o/<str:token>", public.open_pixel, name="open"),
    path("t/c/<str:token>", public.click, name="click"),
    path("u/<str:token>", public.unsubscribe, name="unsubscribe"),
    path("p/<str:token>", preference_centre.preferences, name="preferences"),
]
