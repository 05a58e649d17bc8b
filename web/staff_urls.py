"""Staff pages: included by config/urls.py as ``path("staff/", include("web.staff_urls"))``."""

from django.urls import path

from web.views import staff as staff_views

app_name = "staff"

urlpatterns = [
    path("resolutions/", staff_views.resolutions, name="resolutions"),
    path(
        "resolutions/<int:pk>/confirm/",
        staff_views.resolution_confirm_view,
        name="resolution-confirm",
    ),
    path(
        "resolutions/<int:pk>/reject/",
        staff_views.resolution_reject_view,
        name="resolution-reject",
    ),
    path(
        "questions/<int:pk>/clear-review/",
        staff_views.question_review_clear_view,
        name="question-review-clear",
    ),
]
