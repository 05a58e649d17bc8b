"""The project's URLconf plus the staff pages, as config/urls.py is to mount them:
``path("staff/", include("markets.staff_urls"))``."""

from django.urls import include, path

urlpatterns = [
    path("staff/", include("markets.staff_urls")),
    path("", include("config.urls")),
]
