"""Input that no view should see: refused at the door, before any view, form or query runs.

``InputGuardMiddleware`` answers two kinds of request itself:

- **A NUL character** (U+0000) in the path, a query parameter (its name or a value), a form
  field of the site (the API's bodies are read by its own parsers and serializers) or a
  cookie. PostgreSQL text cannot hold one: a filter, search box or lookup that reached the
  database with it failed there, and the request ended in a 500 (API filters, page filters,
  the admin's search box and list filters, a text primary key in an admin URL, a session
  cookie). No real input holds one, so every door refuses it with a 400, whatever the backend.
- **An API request body larger than** ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django's limit): a 413
  in the API's JSON error shape. Django refuses such a body when it is read
  (``RequestDataTooBig``) with its HTML 400 page; under ``/api/`` a client expects JSON.
  Form posts to the site keep Django's answer (its 400 page).

Under ``/api/`` the answer is JSON in the API's error shape (``{name: [message]}`` for a
parameter, ``{"detail": message}`` otherwise); elsewhere the site's ``400.html`` page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.loader import render_to_string

NUL = "\x00"
API_PREFIX = "/api/"
NUL_MESSAGE = "No NUL characters."


def nul_in(pairs: Iterable[tuple[str, list[str]]]) -> str | None:
    """The first name whose name or one of whose values holds a NUL, else None."""
    for name, values in pairs:
        if NUL in name or any(NUL in value for value in values):
            return name
    return None


def body_too_large(request: HttpRequest) -> bool:
    """Whether the declared body exceeds ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (None: no limit).

    The same test as Django's ``HttpRequest.body`` (the ``Content-Length`` header), made before
    anything reads the body."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return limit is not None and length > limit


class InputGuardMiddleware:
    """Refuse NUL characters anywhere (400) and oversized API bodies (413); see the module."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path.startswith(API_PREFIX)
        if api and body_too_large(request):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return JsonResponse(
                {"detail": f"The request body is larger than {limit} bytes."}, status=413
            )
        return self._nul_refusal(request, api) or self.get_response(request)

    def _nul_refusal(self, request: HttpRequest, api: bool) -> HttpResponse | None:
        if NUL in request.path:
            return _refuse(api, None, "No NUL characters in the address.")
        name = nul_in(request.GET.lists())
        if name is None and not api:
            # The site's form bodies (Django parses nothing else into POST); reading them here
            # is what the CSRF check or the view would do next. The API reads its own bodies
            # (DRF's parsers; its serializers refuse or strip NUL), and reading one here would
            # take the body away from them.
            name = nul_in(request.POST.lists())
        if name is not None:
            return _refuse(api, name, NUL_MESSAGE)
        cookie = nul_in((k, [v]) for k, v in request.COOKIES.items())
        if cookie is not None:
            return _refuse(api, None, "No NUL characters in cookies.")
        return None


def _refuse(api: bool, name: str | None, message: str) -> HttpResponse:
    if api:
        body = {name: [message]} if name is not None else {"detail": message}
        return JsonResponse(body, status=400)
    shown = f"{name.replace(NUL, '')!r}: {message}" if name is not None else message
    # Rendered without the request: its session and user are not looked up (a cookie may be
    # what holds the NUL).
    return HttpResponseBadRequest(render_to_string("400.html", {"message": shown}))
