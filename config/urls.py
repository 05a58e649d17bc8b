from django.contrib import admin
from django.urls import include, path

from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("staff/", include("web.staff_urls")),
    path("", include("api.urls")),
    path("", include("community.urls")),
    path("", include("web.urls")),
]
