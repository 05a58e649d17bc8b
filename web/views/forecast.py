"""Submit and withdraw forecasts from the question page.

One endpoint serves three kinds of client: a plain form POST (JavaScript off) gets a redirect back
to the question with a message (POST-redirect-GET); the page's own script asks for JSON
(``Accept: application/json``) and swaps in the returned HTML fragments; htmx
(``HX-Request``) gets the forecast panel with the other fragments as out-of-band swaps.
Multiple-choice and continuous questions post their own forms (``web.typed_forms``; plain
POSTs, with a Preview that saves nothing) to the same endpoint.
Every write goes through ``forecasts.services``; domain errors become clear messages. Writes
count against the per-user submission limit the API enforces (the same bucket and rate,
``THROTTLE_SUBMIT``; ``config.ratelimit.submit_check``): over it, 429 with Retry-After.
"""

from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from community.errors import CommunityError
from community.services import rationale_share
from config import ratelimit
from forecasts import typed
from forecasts.bots import is_bot_user
from forecasts.errors import ForecastError
from forecasts.services import forecast_submit, forecast_withdraw, forecaster_for_user
from markets.models import Question
from web import typed_charts
from web.forms import ForecastForm
from web.typed_forms import typed_form_class
from web.views.question import (
    FRAGMENTS,
    question_context,
    render_fragments,
    visible_question,
)

LOGIN_MESSAGE = "Log in or sign up to forecast: nothing was saved."
BOT_MESSAGE = (
    "Bot accounts forecast through the API with their own token, not through the web forms: "
    "nothing was saved."
)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _async(request: HttpRequest) -> bool:
    return _wants_json(request) or _is_htmx(request)


def _error(request: HttpRequest, question: Question, message: str, status: int, **extra):
    if _wants_json(request):
        return JsonResponse({"ok": False, "error": message, **extra}, status=status)
    if _is_htmx(request):
        html = format_html('<p class="alert alert-error" role="alert">{}</p>', message)
        return HttpResponse(html, status=status)
    messages.error(request, message)
    return redirect(question)


def _anonymous(request: HttpRequest, question: Question) -> HttpResponse:
    url = question.get_absolute_url()
    if _async(request):
        login_url = f"{reverse('login')}?next={url}"
        return _error(request, question, LOGIN_MESSAGE, 401, login_url=login_url)
    messages.info(request, LOGIN_MESSAGE)
    return redirect_to_login(url)


def _throttled(request: HttpRequest, question: Question) -> HttpResponse | None:
    """None when the user may write now (and the write is counted), else the 429 answer."""
    check = ratelimit.submit_check(request.user.pk)
    wait = ratelimit.gcra([check]) if check else 0.0
    if wait <= 0:
        return None
    seconds = math.ceil(wait)
    message = (
        f"Too many forecast changes in a short time: try again in {seconds} s. Nothing was saved."
    )
    if _async(request):
        response = _error(request, question, message, 429, retry_after=seconds)
    else:
        messages.error(request, message)
        context = question_context(request, question)
        response = render(request, "markets/question_detail.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _success(request: HttpRequest, question: Question, message: str) -> HttpResponse:
    if not _async(request):
        messages.success(request, message)
        return redirect(question)
    if typed.is_vector(question):
        # The page's fragments are the yes/no ones; a typed form reloads the page instead.
        return JsonResponse({"ok": True, "message": message, "reload": True})
    context = question_context(request, question)
    if _is_htmx(request):
        parts = render_fragments(request, context, oob=True)
        # The panel is the swap target; the others ride along out of band.
        body = parts["panel"].replace(' hx-swap-oob="true"', "", 1) + "".join(
            parts[name] for name in FRAGMENTS if name != "panel"
        )
        return HttpResponse(body)
    crowd = context["crowd"]
    reveal = context["reveal"]
    current = context["current"]
    return JsonResponse(
        {
            "ok": True,
            "message": message,
            "forecast": None
            if current is None
            else {"probability": current.probability, "time": current.time.isoformat()},
            "crowd": {
                "visible": reveal.visible,
                "reason": reveal.reason,
                # The shown crowd's forecasters; while it is hidden, those active now.
                "forecasters": (
                    crowd.forecasters if crowd and reveal.visible else context["live_forecasters"]
                ),
                "probability": crowd.probability if crowd and reveal.visible else None,
            },
            "fragments": render_fragments(request, context),
        }
    )


@require_POST
def forecast_submit_view(request: HttpRequest, pk: int) -> HttpResponse:
    question = visible_question(request, pk)
    if not request.user.is_authenticated:
        return _anonymous(request, question)
    if is_bot_user(request.user):  # bots take part through the API only (forecasts.bots)
        return _error(request, question, BOT_MESSAGE, 403)
    if typed.is_vector(question):
        return _typed_submit(request, question)
    if throttled := _throttled(request, question):
        return throttled
    form = ForecastForm(request.POST)
    if not form.is_valid():
        message = " ".join(e for errors in form.errors.values() for e in errors)
        if _async(request):
            return _error(request, question, message, 400, errors=form.errors.get_json_data())
        messages.error(request, f"Your forecast was not saved. {message}")
        context = question_context(request, question, form=form)
        return render(request, "markets/question_detail.html", context, status=400)
    if not question.is_open_at(timezone.now()):
        # Checked here too so a refused request does not even create a forecaster row; the
        # service remains the authority (it re-checks under the question's row lock).
        return _closed(request, question)
    try:
        forecast = forecast_submit(
            question_id=question.pk,
            forecaster=forecaster_for_user(request.user),
            probability=form.cleaned_data["probability"],
            rationale=form.cleaned_data["rationale"],
        )
    except ForecastError as exc:  # the status its class declares, as the API answers
        return _error(request, question, str(exc), exc.status_code)
    percent = ForecastForm.percent(forecast.probability)
    message = f"Saved your forecast of {percent}%."
    if form.cleaned_data["share_rationale"] and forecast.rationale:
        try:
            rationale_share(forecast=forecast, user=request.user)
            message += " Your rationale is shared in the discussion (without your number)."
        except CommunityError as exc:
            message += f" Your rationale was not shared: {exc}"
    return _success(request, question, message)


def _typed_submit(request: HttpRequest, question: Question) -> HttpResponse:
    """A multiple-choice or continuous forecast from its form (``web.typed_forms``), through
    ``forecast_submit`` as the API's. ``action=preview`` (continuous) validates and re-renders
    the page with the distribution drawn, saving nothing and counting no write."""
    form = typed_form_class(question)(request.POST, question=question)
    preview = request.POST.get("action") == "preview"
    if not preview and (throttled := _throttled(request, question)):
        return throttled
    if not form.is_valid():
        message = " ".join(e for errors in form.errors.values() for e in errors)
        if _async(request):
            return _error(request, question, message, 400, errors=form.errors.get_json_data())
        messages.error(request, f"Your forecast was not saved. {message}")
        context = question_context(request, question, form=form)
        return render(request, "markets/question_detail.html", context, status=400)
    assert form.vector is not None  # set by a valid form's clean()
    if preview:
        chart = typed_charts.preview_chart(question, form.vector)
        messages.info(request, "Preview only: nothing was saved. Save the forecast to record it.")
        context = question_context(request, question, form=form, preview=chart)
        return render(request, "markets/question_detail.html", context)
    if not question.is_open_at(timezone.now()):
        return _closed(request, question)
    try:
        forecast_submit(
            question_id=question.pk,
            forecaster=forecaster_for_user(request.user),
            values=form.vector,
            rationale=form.cleaned_data["rationale"],
        )
    except ForecastError as exc:  # the status its class declares, as the API answers
        return _error(request, question, str(exc), exc.status_code)
    return _success(request, question, "Saved your forecast.")


def _closed(request: HttpRequest, question: Question) -> HttpResponse:
    if question.is_settled:
        word = question.get_status_display().lower()
    elif timezone.now() < question.open_time:
        return _error(
            request,
            question,
            f"This question opens for forecasts on {question.open_time:%d %B %Y, %H:%M} UTC: "
            "nothing was saved.",
            409,
        )
    else:
        word = "closed"
    return _error(
        request, question, f"This question is {word}: forecasts are no longer accepted.", 409
    )


@require_POST
def forecast_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    question = visible_question(request, pk)
    if not request.user.is_authenticated:
        return _anonymous(request, question)
    if is_bot_user(request.user):  # bots take part through the API only (forecasts.bots)
        return _error(request, question, BOT_MESSAGE, 403)
    if throttled := _throttled(request, question):
        return throttled
    if not question.is_open_at(timezone.now()):
        return _closed(request, question)
    try:
        forecast_withdraw(question_id=question.pk, forecaster=forecaster_for_user(request.user))
    except ForecastError as exc:  # the status its class declares, as the API answers
        return _error(request, question, str(exc), exc.status_code)
    return _success(
        request,
        question,
        "Withdrew your forecast. It no longer counts in the crowd forecast; "
        "you can forecast again while the question is open.",
    )
