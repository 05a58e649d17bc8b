"""API token authentication in one hand-written query that also loads the user's forecaster.

DRF's ``TokenAuthentication`` looks the token up through the ORM, and a forecast submission then
looks up the forecaster: two compiled queries. Here one statement joins token, user and
forecaster (``config.rows``). Same answers as DRF's class: an unknown key or an inactive user
is a 401 with DRF's messages; a revoked (deleted) token is unknown at once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from config import rows
from config.rows import column
from forecasts.models import Forecaster


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        User = get_user_model()
        with rows.prepared_cursor() as cursor:
            cursor.execute(_token_sql(), [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = rows.from_row(Token, row)
        user = rows.from_row(User, row, len(rows.columns(Token)))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token.user = user
        start = len(rows.columns(Token)) + len(rows.columns(User))
        if row[start] is not None:  # the forecaster's id: the user has forecast before
            user.forecaster = rows.from_row(Forecaster, row, start)
        return user, token


@cache
def _token_sql() -> str:
    User = get_user_model()
    return (
        f"SELECT {rows.select_list('k', rows.columns(Token))}, "
        f"{rows.select_list('u', rows.columns(User))}, "
        f"{rows.select_list('f', rows.columns(Forecaster))} "
        f"FROM {rows.table(Token)} k "
        f"JOIN {rows.table(User)} u ON u.{column(User, 'id')} = k.{column(Token, 'user')} "
        f"LEFT JOIN {rows.table(Forecaster)} f "
        f"ON f.{column(Forecaster, 'user')} = u.{column(User, 'id')} "
        f"WHERE k.{column(Token, 'key')} = %s"
    )
