"""Sign-up and the rate-limited password reset; the other account pages are Django's auth views
with the site's templates. Logins are limited by django-axes (settings: ``AXES_*``)."""

from __future__ import annotations

import math

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from config import ratelimit
from config.clientip import client_ip


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        required=False,
        help_text="Optional; needed only to reset a forgotten password.",
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


def _next_url(request: HttpRequest) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request) or "home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request, f"Welcome to Takeoff, {user.get_username()}. Pick a question and forecast."
        )
        return redirect(_next_url(request) or "home")
    return render(request, "registration/signup.html", {"form": form, "next": _next_url(request)})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, with a limit on the emails it sends.

    Each valid request counts against two buckets (``config.ratelimit.password_reset_checks``):
    the address (``PASSWORD_RESET_RATE_EMAIL``, default 3 an hour) and the client IP
    (``PASSWORD_RESET_RATE_IP``, default 20 an hour; ``config.clientip``). Over either, nothing
    is sent and the form answers 429 with ``Retry-After``. The address is counted whether or not
    an account has it, and both answers (sent, or limited) are the same for an address with an
    account and one without, so the page reveals nothing about which addresses exist.
    """

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        email = form.cleaned_data["email"]
        wait = ratelimit.gcra(ratelimit.password_reset_checks(email, client_ip(self.request)))
        if wait <= 0:
            return super().form_valid(form)
        minutes = max(1, math.ceil(wait / 60))
        unit = "minute" if minutes == 1 else "minutes"
        context = self.get_context_data(
            form=form,
            limited=(
                "Too many password-reset requests for this address or from your network: "
                f"no email was sent. Try again in {minutes} {unit}."
            ),
        )
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(math.ceil(wait))
        return response


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """The login-lockout page (django-axes' ``AXES_LOCKOUT_CALLABLE``): 429 with Retry-After.

    Shown by the site's login and the admin's alike once a (username, client IP) pair has failed
    ``AXES_FAILURE_LIMIT`` times in a row; the correct password is refused too until the
    cool-off (``AXES_COOLOFF_TIME``) has passed since the last failure.
    """
    cool_off = get_cool_off(request)
    seconds = math.ceil(cool_off.total_seconds()) if cool_off else None
    context = {
        "username": get_client_username(request, credentials) or "",
        "failure_limit": get_failure_limit(request, credentials),
        "minutes": None if seconds is None else max(1, math.ceil(seconds / 60)),
    }
    response = render(request, "registration/locked_out.html", context, status=429)
    if seconds is not None:
        response["Retry-After"] = str(seconds)
    return response
