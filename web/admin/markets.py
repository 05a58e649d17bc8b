from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from markets.benchmarks.ingest import benchmark_result_record
from markets.errors import ResolutionError
from markets.models import (
    AuditRecord,
    Benchmark,
    BenchmarkResult,
    Conditional,
    FeedSnapshot,
    Question,
    Resolution,
    Tournament,
)
from markets.resolution.finality import resolution_confirm, resolution_reject
from markets.resolution.manual import question_resolve, question_review_clear, question_unresolve
from web.admin.readonly import ReadOnlyAdmin


@admin.register(Tournament)
class TournamentAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "visibility", "min_forecasters", "extremize", "created_at"]
    list_filter = ["visibility"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    readonly_fields = ["fitted_extremize", "fitted_extremize_log_loss"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "visibility", "members"]}),
        ("Reveal", {"fields": ["min_forecasters", "hide_until_forecast", "reveal_time"]}),
        (
            "Aggregation",
            {
                "fields": [
                    "extremize",
                    "base_rate",
                    "half_life_hours",
                    "track_record_weighting",
                    "bots_in_crowd",
                    "fit_extremize",
                    "fitted_extremize",
                    "fitted_extremize_log_loss",
                ]
            },
        ),
    ]
    actions = ["fit_extremizing_factor"]

    def save_model(self, request: HttpRequest, obj: Tournament, form, change: bool) -> None:
        from scoring.workflows import tournament_settings_changed

        super().save_model(request, obj, form, change)
        if change:
            n = tournament_settings_changed(tournament_id=obj.pk, changed=form.changed_data)
            if n:
                self.message_user(
                    request, f"Aggregation changed: recomputing the crowd of {n} question(s)."
                )

    def has_delete_permission(self, request: HttpRequest, obj: Tournament | None = None) -> bool:
        if obj is None or obj.questions.exists():
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(description="Fit the extremizing factor on resolved questions")
    def fit_extremizing_factor(self, request: HttpRequest, queryset: QuerySet) -> None:
        from forecasts.services import tournament_fit_extremize

        for tournament in queryset:
            fit = tournament_fit_extremize(tournament_id=tournament.pk)
            if fit is None:
                self.message_user(
                    request,
                    f"{tournament}: fitting needs at least two resolved YES/NO questions.",
                    messages.WARNING,
                )
                continue
            self.message_user(
                request,
                f"{tournament}: d = {fit.d:.3f} on {fit.questions} questions; leave-one-out log "
                f"loss {fit.loqo_log_loss:.4f} (plain log pool: {fit.loqo_log_loss_d1:.4f}). "
                "Turn on “fit extremize” to use it.",
            )


class AuditInline(admin.TabularInline):
    model = AuditRecord
    extra = 0
    can_delete = False
    fields = ["at", "action", "who", "reason", "resolution"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # "who" reads the actor and the row shows its resolution: join them, not per row.
        return super().get_queryset(request).select_related("actor", "resolution")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="Recorded in the audit trail with your name and the time.",
    )

    def __init__(self, *args: Any, reason_required: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = reason_required


class ResolveForm(ReasonForm):
    resolved_at = forms.DateTimeField(
        required=False,
        label="Effective time (UTC)",
        help_text=(
            "When the truth became known; scoring stops there (docs/methods.md §4.5). Empty: a "
            "re-resolution keeps the current version's, a first resolution takes now."
        ),
    )


def reason_action(
    *,
    name: str,
    description: str,
    intro: str,
    submit: str,
    apply: Callable[[Any, Any, dict[str, Any]], object],
    reason_required: bool = True,
    form_class: type[ReasonForm] = ReasonForm,
):
    """An admin action that first asks for a reason (and ``form_class``'s other fields) on an
    intermediate page, then applies ``apply(obj, user, cleaned_data)`` (a service call) to each
    selected object. A domain error on one object is shown and the others go on."""

    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
        submitted = "apply" in request.POST
        form = form_class(request.POST if submitted else None, reason_required=reason_required)
        if submitted and form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    apply(obj, request.user, form.cleaned_data)
                    done += 1
                except ResolutionError as exc:
                    modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
            if done:
                modeladmin.message_user(request, f"{description}: {done} done.", messages.SUCCESS)
            return None  # back to the change list
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "intro": intro,
            "objects": list(queryset),
            "form": form,
            "action_name": name,
            "submit_label": submit,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "staff/admin_action_form.html", context)

    action.__name__ = name
    return admin.action(description=description, permissions=["resolve"])(action)


def _resolve_with(outcome: str):
    def apply(question: Question, user: Any, data: dict[str, Any]) -> object:
        return question_resolve(
            question_id=question.pk,
            outcome=outcome,
            reason=data["reason"],
            user=user,
            resolved_at=data.get("resolved_at"),
        )

    return apply


def _resolve_action(outcome: str, label: str):
    return reason_action(
        name=f"resolve_{outcome}",
        description=f"Resolve or re-resolve selected questions {label}",
        intro=(
            f"These questions will be resolved {label} as a new final resolution version. "
            "A resolved question is re-resolved: its current version is superseded and scores "
            "are recomputed; it keeps its effective time unless you give a new one. Any pending "
            "proposal is superseded."
        ),
        submit=f"Resolve {label}",
        apply=_resolve_with(outcome),
        form_class=ResolveForm,
    )


class TypedResolveForm(ResolveForm):
    """The outcome of one multiple-choice or continuous question, for ``question_resolve``:
    the option (by its label), or a value in the question's units, or below / above the range
    where that bound is open (docs/methods.md §13.4). The form checks the input's type; the
    service checks that the outcome fits the question (a value beyond a closed bound, say) and
    its message is shown on the form."""

    def __init__(self, *args: Any, question: Question, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.question = question
        if question.type == Question.Type.MULTIPLE_CHOICE:
            self.fields["option"] = forms.TypedChoiceField(
                choices=[("", "---------")]
                + [(str(i), label) for i, label in enumerate(question.options)],
                coerce=int,
                label="Option that happened",
            )
            self.order_fields(["option", "reason", "resolved_at"])
            return
        outcomes = [(Resolution.Outcome.VALUE.value, "A value")]
        if question.open_lower_bound:
            outcomes.append((Resolution.Outcome.BELOW.value, "Below the range (not known exactly)"))
        if question.open_upper_bound:
            outcomes.append((Resolution.Outcome.ABOVE.value, "Above the range (not known exactly)"))
        self.fields["outcome"] = forms.ChoiceField(choices=outcomes, label="Outcome")
        is_date = question.type == Question.Type.DATE
        self.fields["value"] = forms.CharField(
            required=False,
            label="Value",
            help_text=(
                "The date and time (UTC) it happened, as 2026-03-01 or 2026-03-01T12:00:00Z."
                if is_date
                else f"A number in the question's units, from {question.range_min:g} to "
                f"{question.range_max:g} (beyond a bound only where it is open)."
            ),
        )
        self.order_fields(["outcome", "value", "reason", "resolved_at"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.question.type == Question.Type.MULTIPLE_CHOICE:
            if "option" in data:
                data["outcome"], data["value"] = Resolution.Outcome.OPTION.value, None
            return data
        data["option"] = None
        outcome, raw = data.get("outcome"), (data.get("value") or "").strip()
        if outcome is None:
            return data
        if outcome != Resolution.Outcome.VALUE:
            if raw:
                self.add_error("value", "Leave the value empty for below or above the range.")
            data["value"] = None
            return data
        if not raw:
            self.add_error("value", "Enter the value that happened.")
            return data
        try:
            data["value"] = _typed_value(self.question, raw)
        except ValueError as exc:
            self.add_error("value", str(exc))
        return data


def _typed_value(question: Question, raw: str) -> float:
    """A value typed in the admin as the service takes it: a finite number, or for a date
    question an ISO 8601 date or date-time (UTC when no offset is given) as Unix seconds.
    Raises ValueError with the message to show."""
    if question.type == Question.Type.DATE:
        try:
            moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"Enter a date as 2026-03-01 or 2026-03-01T12:00:00Z, not {raw[:40]!r}."
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"Enter a number, not {raw[:40]!r}.") from None
    if not math.isfinite(number):
        raise ValueError("Enter a finite number.")
    return number


@admin.action(
    description="Resolve or re-resolve one multiple-choice, numeric, date or discrete question",
    permissions=["resolve"],
)
def resolve_typed(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> TemplateResponse | None:
    """Ask for the option or value (and a reason, an effective time) of one selected question
    of another type than yes/no, then call ``question_resolve``: a new final version, the old
    one and any proposal superseded, an audit record, scoring after commit — as the YES/NO
    actions do. Bad input, or an outcome the service refuses, re-shows the form with the
    error; nothing is written."""
    questions = list(queryset[:2])
    if len(questions) != 1 or questions[0].type == Question.Type.BINARY:
        modeladmin.message_user(
            request,
            "Select exactly one multiple-choice, numeric, date or discrete question (yes/no "
            "questions resolve with the YES / NO actions).",
            messages.ERROR,
        )
        return None
    question = questions[0]
    submitted = "apply" in request.POST
    form = TypedResolveForm(request.POST if submitted else None, question=question)
    if submitted and form.is_valid():
        data = form.cleaned_data
        try:
            resolution = question_resolve(
                question_id=question.pk,
                outcome=data["outcome"],
                option=data.get("option"),
                value=data.get("value"),
                reason=data["reason"],
                user=request.user,
                resolved_at=data.get("resolved_at"),
            )
        except ResolutionError as exc:
            form.add_error(None, str(exc))
        else:
            modeladmin.message_user(
                request,
                f"{question}: resolved (version {resolution.version}).",
                messages.SUCCESS,
            )
            return None
    kind = "the option" if question.type == Question.Type.MULTIPLE_CHOICE else "the outcome"
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Resolve or re-resolve",
        "intro": (
            f"Give {kind} of this question. It becomes a new final resolution version; a "
            "resolved question is re-resolved (its current version is superseded and scores "
            "are recomputed; it keeps its effective time unless you give a new one). Any "
            "pending proposal is superseded."
        ),
        "objects": [question],
        "form": form,
        "action_name": "resolve_typed",
        "submit_label": "Resolve",
        "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "staff/admin_action_form.html", context)


def _unresolve(question: Question, user: Any, data: dict[str, Any]) -> object:
    return question_unresolve(question_id=question.pk, user=user, reason=data["reason"])


def _clear_review(question: Question, user: Any, data: dict[str, Any]) -> object:
    return question_review_clear(question_id=question.pk, user=user, reason=data["reason"])


def _confirm(resolution: Resolution, user: Any, data: dict[str, Any]) -> object:
    return resolution_confirm(resolution_id=resolution.pk, user=user, reason=data["reason"])


def _reject(resolution: Resolution, user: Any, data: dict[str, Any]) -> object:
    return resolution_reject(resolution_id=resolution.pk, user=user, reason=data["reason"])


class ResolvePermissionMixin:
    """Resolving is a change to questions: staff need the change-question permission."""

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("markets.change_question")


@admin.register(Question)
class QuestionAdmin(ResolvePermissionMixin, admin.ModelAdmin):
    list_display = ["title", "tournament", "status", "open_time", "close_time", "needs_review"]
    list_filter = ["status", "tournament", "needs_review", "benchmark"]
    search_fields = ["title", "key"]
    inlines = [AuditInline]
    actions = [
        _resolve_action("yes", "YES"),
        _resolve_action("no", "NO"),
        _resolve_action("annulled", "ANNULLED"),
        resolve_typed,
        reason_action(
            name="unresolve",
            description="Un-resolve selected questions",
            intro=(
                "The final resolution of these questions will be withdrawn without a new one: "
                "their scores are removed and the leaderboard rebuilt, and each goes back to "
                "open or closed by its window (a milestone question is evaluated by its rule "
                "again)."
            ),
            submit="Un-resolve",
            apply=_unresolve,
        ),
        reason_action(
            name="clear_review",
            description="Keep the resolution of selected flagged questions (clear the flag)",
            intro=(
                "The evidence behind these resolutions changed. Clearing the flag keeps the "
                "resolution as it is; to change the outcome, re-resolve instead."
            ),
            submit="Keep resolution and clear flag",
            apply=_clear_review,
        ),
    ]
    # Status moves only through services (the sweep opens and closes on time; resolve, re-resolve
    # and review actions below), each writing an audit record.
    readonly_fields = ["status", "needs_review"]
    fieldsets = [
        (None, {"fields": ["tournament", "key", "title", "description", "resolution_criteria"]}),
        ("Lifecycle", {"fields": ["open_time", "close_time", "status", "needs_review"]}),
        (
            "Milestone criterion",
            {"fields": ["benchmark", "comparator", "threshold", "deadline", "grace_days"]},
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Question | None = None) -> Any:
        # A settled question's window and criterion are what it was scored on: they stay.
        if obj is not None and obj.is_settled:
            return [
                *self.readonly_fields,
                "tournament",
                "key",
                "open_time",
                "close_time",
                "benchmark",
                "comparator",
                "threshold",
                "deadline",
                "grace_days",
            ]
        return self.readonly_fields

    # Forecasts, resolutions and audit records hang off a question: it goes only while empty.
    def has_delete_permission(self, request: HttpRequest, obj: Question | None = None) -> bool:
        if obj is None or obj.forecasts.exists() or obj.resolutions.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Resolution)
class ResolutionAdmin(ResolvePermissionMixin, ReadOnlyAdmin):
    list_display = [
        "question",
        "version",
        "outcome",
        "state",
        "source",
        "decided_by",
        "evidence_result",
        "finalizes_at",
        "created_at",
    ]
    list_filter = ["state", "outcome", "source"]
    search_fields = ["question__title", "reason"]
    list_select_related = ["question", "decided_by", "evidence_result__benchmark"]
    inlines = [AuditInline]
    actions = [
        reason_action(
            name="confirm_proposals",
            description="Confirm selected proposed resolutions (final now)",
            intro="These proposals become final now, before their review window ends.",
            submit="Confirm",
            apply=_confirm,
            reason_required=False,
        ),
        reason_action(
            name="reject_proposals",
            description="Reject selected proposed resolutions",
            intro=(
                "These proposals are rejected; the question stays unresolved. The milestone "
                "rule will not propose the same evidence again."
            ),
            submit="Reject",
            apply=_reject,
        ),
    ]

    # Versions are created by services only; the admin shows them (ReadOnlyAdmin).


@admin.register(Conditional)
class ConditionalAdmin(ReadOnlyAdmin):
    """Conditional pairs, to look at: they are created through ``conditional_create`` (the API)
    and their branches resolve only from the parent and child (resolve those here)."""

    list_display = ["id", "parent", "child", "if_yes", "if_no", "created_at"]
    list_select_related = ["parent", "child", "if_yes", "if_no"]
    search_fields = ["parent__title", "child__title"]


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "question", "action", "who", "reason"]
    list_select_related = ["question", "actor"]
    list_filter = ["action"]
    search_fields = ["question__title", "reason"]


@admin.register(Benchmark)
class BenchmarkAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "unit", "higher_is_better"]
    prepopulated_fields = {"slug": ["name"]}

    # Results and milestone questions point at a benchmark (PROTECT): it goes only while unused,
    # one at a time from its own page (no bulk "delete selected").
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is None or obj.results.exists() or obj.questions.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(BenchmarkResult)
class BenchmarkResultAdmin(admin.ModelAdmin):
    list_display = [
        "benchmark",
        "system",
        "value",
        "achieved_on",
        "first_seen",
        "is_current",
        "retired_at",
    ]
    list_filter = ["benchmark", "is_current"]
    search_fields = ["system"]
    fields = ["benchmark", "system", "value", "achieved_on", "source_url", "extra"]
    readonly_fields = [
        "first_seen",
        "snapshot",
        "revision_of",
        "is_current",
        "retired_at",
        "retired_in",
        "entered_by",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*self.fields, *(self.readonly_fields if obj is not None else [])]

    # Results are never edited in place: entering the same system again records a revision.
    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    # Results are evidence (proposals and audit records point at them): never deleted.
    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: BenchmarkResult, form, change: bool) -> None:
        result, status = benchmark_result_record(
            benchmark_id=obj.benchmark_id,
            system=obj.system,
            value=obj.value,
            achieved_on=obj.achieved_on,
            source_url=obj.source_url,
            extra=obj.extra,
            user=request.user,
        )
        # The admin logs and redirects with the saved object: hand it the row the service kept.
        obj.pk = result.pk
        obj._state.adding = False
        if status != "added":
            what = "recorded as a revision" if status == "revised" else "unchanged"
            self.message_user(request, f"{result.system}: {what}.", messages.INFO)


@admin.register(FeedSnapshot)
class FeedSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "fetched_at",
        "feed",
        "source",
        "outcome",
        "results_added",
        "results_revised",
        "results_retired",
    ]
    list_filter = ["feed", "outcome"]
    exclude = ["raw"]
    readonly_fields = [
        "feed",
        "source",
        "fetched_at",
        "etag",
        "last_modified",
        "sha256",
        "size",
        "parser_version",
        "outcome",
        "error",
        "results_added",
        "results_revised",
        "results_retired",
    ]
