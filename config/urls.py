from django.contrib import admin
from django.urls import include, path

from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("staff/", include("markets.staff_urls")),
    path("", include("config.api_urls")),
    path("", include("markets.urls")),
]
