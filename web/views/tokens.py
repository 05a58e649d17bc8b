"""Web pages to create and revoke your API token (DRF authtoken: one token per user).

The full key is shown once, right after it is created; afterwards only its first characters.
Revoking deletes the token, so every request that sends it gets 401 at once. Creating a new
token replaces (and so revokes) the old one; a double-click makes two in turn, never an error
(``web.tokens.token_replace``). Changing or resetting the password revokes the token too.

URLconf: included at ``account/tokens/`` by ``web.urls``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from web.tokens import token_replace, tokens_revoke

SESSION_KEY = "api_token_once"


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    token = Token.objects.filter(user=request.user).first()
    new_key = request.session.pop(SESSION_KEY, None)
    return render(
        request,
        "api/tokens.html",
        {"token": token, "new_key": new_key if token and new_key == token.key else None},
    )


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    token, replaced = token_replace(request.user)
    request.session[SESSION_KEY] = token.key
    if replaced:
        messages.info(request, "Your previous token was revoked and replaced by a new one.")
    return redirect("api-tokens")


@login_required
@require_POST
def token_revoke(request: HttpRequest) -> HttpResponse:
    deleted = tokens_revoke(request.user)
    request.session.pop(SESSION_KEY, None)
    if deleted:
        messages.success(request, "Your API token was revoked: requests that send it now get 401.")
    else:
        messages.info(request, "You had no API token.")
    return redirect("api-tokens")


urlpatterns = [
    path("", tokens, name="api-tokens"),
    path("create/", token_create, name="api-token-create"),
    path("revoke/", token_revoke, name="api-token-revoke"),
]
