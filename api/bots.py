"""Your bots: create them, pick the primary one, give each its own API token (forecasts.bots).

``GET /api/v1/bots/``: the bots you own. ``POST /api/v1/bots/`` ``{"name", "description"}``:
a new bot (your first becomes primary). ``POST /api/v1/bots/<id>/primary/``: make it your
primary bot. ``POST /api/v1/bots/<id>/token/``: a new API token for it (its previous one stops
working); the bot sends it to forecast through ``/api/v1/forecasts/``. A bot cannot own bots.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import ApiViewMixin
from api.errors import READ_ERRORS, errors
from api.params import MAX_ID
from forecasts.bots import bot_create, bot_set_primary, bot_token_replace
from forecasts.errors import BotError
from forecasts.models import Forecaster

BOT_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The bot's id."
)


def bot_data(bot: Forecaster) -> dict[str, Any]:
    return {
        "id": bot.pk,
        "name": bot.name,
        "display_name": bot.display_name,
        "is_bot": True,
        "primary": bot.is_primary,
        "description": bot.description,
        "created_at": bot.created_at,
    }


def _bot_id(raw: str) -> int:
    """The path's bot id; NotFound (404, JSON) for anything but an integer in range."""
    try:
        value = int(raw)
    except ValueError:
        raise NotFound("You have no such bot.") from None
    if not 0 < value <= MAX_ID:
        raise NotFound("You have no such bot.")
    return value


def _text(request: Request, key: str, default: str = "") -> str:
    value = request.data.get(key, default) if hasattr(request.data, "get") else default
    if not isinstance(value, str):
        raise ValidationError({key: ["Give a string."]})
    return value


class BotCreateSerializer(serializers.Serializer):
    name = serializers.RegexField(
        r"^[-a-zA-Z0-9_]+$", max_length=150, help_text="The bot's name: a slug, unique."
    )
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)


class BotListView(ApiViewMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="The bots you own", responses={200: OpenApiTypes.OBJECT, **errors(*READ_ERRORS)}
    )
    def get(self, request: Request) -> Response:
        bots = Forecaster.objects.filter(owner=request.user).select_related("user").order_by("pk")
        return Response({"results": [bot_data(b) for b in bots]})

    @extend_schema(
        summary="Create a bot (its own login-less account; your first bot is primary)",
        request=BotCreateSerializer,
        responses={201: OpenApiTypes.OBJECT, **errors(400, 403, *READ_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        try:
            bot = bot_create(
                owner=request.user,
                name=_text(request, "name"),
                description=_text(request, "description"),
            )
        except BotError as exc:
            raise ValidationError({"name": [str(exc)]}) from None
        return Response(bot_data(bot), status=201)


class BotPrimaryView(ApiViewMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Make one of your bots the primary one (ranked on bot leaderboards)",
        parameters=[BOT_ID],
        request=None,
        responses={200: OpenApiTypes.OBJECT, **errors(400, 403, *READ_ERRORS)},
    )
    def post(self, request: Request, pk: str) -> Response:
        try:
            bot = bot_set_primary(owner=request.user, bot_id=_bot_id(pk))
        except BotError as exc:
            raise NotFound(str(exc)) from None
        return Response(bot_data(bot))


class BotTokenView(ApiViewMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="A new API token for one of your bots (its previous token stops working)",
        parameters=[BOT_ID],
        request=None,
        responses={201: OpenApiTypes.OBJECT, **errors(400, 403, *READ_ERRORS)},
    )
    def post(self, request: Request, pk: str) -> Response:
        bot_id = _bot_id(pk)
        try:
            token = bot_token_replace(owner=request.user, bot_id=bot_id)
        except BotError as exc:
            raise NotFound(str(exc)) from None
        return Response({"bot": bot_id, "token": token.key}, status=201)
