"""What every API view shares: throttles, pagination, id bounds, and visibility lookups that
answer 404 for a private tournament exactly as for one that does not exist."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from api.pagination import Pagination
from api.params import MAX_ID
from api.throttling import API_THROTTLES
from markets.models import Question, Tournament

ERROR_FORMATS = ("json", "api")  # JSONRenderer, BrowsableAPIRenderer


class ApiViewMixin:
    throttle_classes = API_THROTTLES
    pagination_class = Pagination

    def handle_exception(self, exc: Exception) -> Any:
        """DRF's error handling, with the error always in the API's JSON shape (or the browsable
        API's page for a browser): a view that can answer a file (``?format=csv``) must not hand
        an error body to the file's renderer (the calibration CSV renderer raised TypeError on
        ``{"bins": [...]}``, a 500)."""
        response = super().handle_exception(exc)  # type: ignore[misc]
        self._answer_in_json()
        return response

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        """DRF's OPTIONS metadata, in JSON too (``?format=csv`` names the 200's file only)."""
        response = super().options(request, *args, **kwargs)  # type: ignore[misc]
        self._answer_in_json()
        return response

    def _answer_in_json(self) -> None:
        request = getattr(self, "request", None)
        renderer = getattr(request, "accepted_renderer", None)
        if renderer is not None and renderer.format not in ERROR_FORMATS:
            request.accepted_renderer = JSONRenderer()  # type: ignore[union-attr]
            request.accepted_media_type = JSONRenderer.media_type  # type: ignore[union-attr]

    def get_object(self) -> Any:
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        if lookup is not None and str(lookup).isdigit() and int(lookup) > MAX_ID:
            raise NotFound()
        return super().get_object()  # type: ignore[misc]


def api_not_found(request: Any, *args: Any, **kwargs: Any) -> Any:
    """JSON 404 for any /api/ path that matches no route (Django's page would be HTML)."""
    from django.http import JsonResponse

    return JsonResponse({"detail": "Not found."}, status=404)


def visible_tournament(request: Request, slug: str) -> Tournament:
    tournament = Tournament.objects.visible_to(request.user).filter(slug=slug).first()
    if tournament is None:
        raise NotFound("No such tournament.")
    return tournament


def visible_question(request: Request, pk: Any) -> Question:
    """The question, or NotFound (404) when it does not exist or is not visible."""
    question = Question.objects.visible_one(request.user, pk)
    if question is None:
        raise NotFound("No such question.")
    return question
