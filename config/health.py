"""``/healthz``: liveness and database readiness, for load balancers and docker-compose."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

PATH = "/healthz"


def healthz(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok"}`` when the database answers ``SELECT 1``, else 503 with the error."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "not ready"
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


class HealthCheckMiddleware:
    """Answer ``GET /healthz`` before host validation and the HTTPS redirect.

    First in ``MIDDLEWARE``. docker-compose's healthcheck calls ``http://127.0.0.1:8000/healthz``
    from inside the container: that host is not in a production ``ALLOWED_HOSTS`` (400) and
    plain HTTP would be redirected to HTTPS (301) without ever asking the database. Every other
    request passes through untouched. The URL route stays for tests and clients that go through
    the full stack.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == PATH and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)
