"""API representations of scores, leaderboards and calibration."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import serializers

from forecasts.models import BOT_MARK
from forecasts.privacy import full_history_access
from forecasts.pseudonyms import PseudonymCache
from scoring.models import LeaderboardEntry, Score


def subject_labels(user: Any) -> Any:
    """How the scores list names a forecaster for ``user`` (docs/privacy.md): with full-history
    access by pseudonyms keyed for that user; otherwise (they see only their own rows) by the
    public identity, the username."""
    if full_history_access(user):
        names = PseudonymCache(recipient=user.pk)
        return lambda f: names(f.pk, imported_key=f.key, source=f.source)
    return lambda f: f.display_name


def subject_label(subject: str, forecaster: Any, labels: Any = None) -> str:
    """A forecaster's label (``labels``, default the public identity), or ``crowd`` / ``median``
    / ``mean``."""
    if forecaster is None:
        return subject
    return labels(forecaster) if labels is not None else forecaster.display_name


class ScoreSerializer(serializers.ModelSerializer):
    question = serializers.IntegerField(source="question_id", read_only=True)
    question_key = serializers.CharField(source="question.key", read_only=True)
    tournament = serializers.CharField(source="question.tournament.slug", read_only=True)
    forecaster = serializers.SerializerMethodField(
        help_text=(
            "The forecaster: a pseudonym of your own with full-history access, else your "
            "username (you see only your own rows); crowd, median or mean for the crowd."
        )
    )
    is_bot = serializers.SerializerMethodField(
        help_text="Whether the forecaster is a bot (an AI forecaster); false for the crowd."
    )
    resolution_version = serializers.IntegerField(source="resolution.version", read_only=True)
    outcome = serializers.CharField(source="resolution.outcome", read_only=True)

    class Meta:
        model = Score
        fields = [
            "question",
            "question_key",
            "tournament",
            "subject",
            "forecaster",
            "is_bot",
            "rule",
            "score",
            "coverage",
            "resolution_version",
            "outcome",
            "computed_at",
        ]
        read_only_fields = fields

    def get_forecaster(self, score: Score) -> str:
        return subject_label(score.subject, score.forecaster, self.context.get("labels"))

    def get_is_bot(self, score: Score) -> bool:
        return score.forecaster is not None and score.forecaster.is_bot


SCORE_VALUES = (
    "question_id",
    "question__key",
    "question__tournament__slug",
    "subject",
    "forecaster_id",
    "forecaster__key",
    "forecaster__source",
    "forecaster__user__username",
    "forecaster__is_bot",
    "rule",
    "score",
    "coverage",
    "resolution__version",
    "resolution__outcome",
    "computed_at",
)
"""The columns ``score_list_data`` reads: ``Score`` ``values()`` with these names."""


def score_list_data(rows: Iterable[dict[str, Any]], user: Any) -> list[dict[str, Any]]:
    """``ScoreSerializer(many=True).data`` for ``rows`` (``values(*SCORE_VALUES)`` of scores),
    built without a model instance per row and its related objects (a list page holds up to
    1000 rows). The same fields, order and representations as the serializer: its own fields
    format the values, and a forecaster is named as ``subject_labels(user)`` names it (a test
    compares the two on every rule and subject)."""
    fields = ScoreSerializer().fields
    as_float = fields["score"].to_representation
    when = fields["computed_at"].to_representation
    private = full_history_access(user)
    names = PseudonymCache(recipient=user.pk) if private else None
    data = []
    for row in rows:
        fid = row["forecaster_id"]
        if fid is None:
            who = row["subject"]
        elif names is not None:
            who = names(fid, imported_key=row["forecaster__key"], source=row["forecaster__source"])
        else:  # Forecaster.display_name: the username, else an imported forecaster's key
            username = row["forecaster__user__username"]
            who = username if username is not None else row["forecaster__key"]
            who += BOT_MARK if row["forecaster__is_bot"] else ""
        score = row["score"]
        data.append(
            {
                "question": row["question_id"],
                "question_key": row["question__key"],
                "tournament": row["question__tournament__slug"],
                "subject": row["subject"],
                "forecaster": who,
                "is_bot": bool(row["forecaster__is_bot"]),
                "rule": row["rule"],
                "score": None if score is None else as_float(score),
                "coverage": as_float(row["coverage"]),
                "resolution_version": row["resolution__version"],
                "outcome": row["resolution__outcome"],
                "computed_at": when(row["computed_at"]),
            }
        )
    return data


class LeaderboardEntrySerializer(serializers.ModelSerializer):
    forecaster = serializers.SerializerMethodField(
        help_text=(
            "The forecaster's public identity (username; an imported forecaster's dataset key), "
            "as on the site's leaderboard; crowd, median or mean for the crowd subjects."
        )
    )
    is_bot = serializers.SerializerMethodField(help_text="Whether the forecaster is a bot.")
    you = serializers.SerializerMethodField(help_text="Whether this row is you.")
    would_rank = serializers.SerializerMethodField(
        help_text=(
            "Crowd, median and mean rows: where the row would rank among the ranked "
            "forecasters (1 + the number with a higher total peer score). Null for forecasters."
        )
    )

    class Meta:
        model = LeaderboardEntry
        fields = [
            "rank",
            "would_rank",
            "subject",
            "forecaster",
            "is_bot",
            "you",
            "questions",
            "total_peer",
            "mean_peer",
            "mean_brier",
            "mean_coverage",
            "eligible",
            "computed_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "rank": {
                "help_text": (
                    "1 + the number of ranked forecasters with a higher total peer score: equal "
                    "totals share a rank (1, 1, 3). Null for a row below the minimum "
                    "participation and for the crowd, median and mean rows."
                )
            }
        }

    def get_forecaster(self, entry: LeaderboardEntry) -> str:
        return subject_label(entry.subject, entry.forecaster)

    def get_is_bot(self, entry: LeaderboardEntry) -> bool:
        return entry.forecaster is not None and entry.forecaster.is_bot

    def get_would_rank(self, entry: LeaderboardEntry) -> int | None:
        if entry.forecaster_id is not None:
            return None
        return self.context.get("would_rank", {}).get(entry.subject)

    def get_you(self, entry: LeaderboardEntry) -> bool:
        user = getattr(self.context.get("request"), "user", None)
        if entry.forecaster is None or user is None or not user.is_authenticated:
            return False
        return entry.forecaster.user_id == user.pk


LEADERBOARD_VALUES = (
    "rank",
    "subject",
    "forecaster_id",
    "forecaster__key",
    "forecaster__user_id",
    "forecaster__user__username",
    "forecaster__is_bot",
    "questions",
    "total_peer",
    "mean_peer",
    "mean_brier",
    "mean_coverage",
    "eligible",
    "computed_at",
)
"""The columns ``leaderboard_list_data`` reads: ``LeaderboardEntry`` ``values()``."""


def leaderboard_list_data(
    rows: Iterable[dict[str, Any]], user: Any, would_rank: dict[str, int]
) -> list[dict[str, Any]]:
    """``LeaderboardEntrySerializer(many=True).data`` for ``rows``
    (``values(*LEADERBOARD_VALUES)``) without a model instance per row, as ``score_list_data``:
    the serializer's own fields format the values (a test compares the two). ``would_rank``:
    {subject: rank} of the crowd rows (``scoring.leaderboard.would_rank``)."""
    fields = LeaderboardEntrySerializer().fields
    as_float = fields["total_peer"].to_representation
    when = fields["computed_at"].to_representation
    me = user.pk if getattr(user, "is_authenticated", False) else None
    data = []
    for row in rows:
        subject = row["subject"]
        if row["forecaster_id"] is None:
            who, you, place = subject, False, would_rank.get(subject)
        else:  # Forecaster.display_name: the username, else an imported forecaster's key
            username = row["forecaster__user__username"]
            who = username if username is not None else row["forecaster__key"]
            who += BOT_MARK if row["forecaster__is_bot"] else ""
            you = me is not None and row["forecaster__user_id"] == me
            place = None
        brier = row["mean_brier"]
        data.append(
            {
                "rank": row["rank"],
                "would_rank": place,
                "subject": subject,
                "forecaster": who,
                "is_bot": bool(row["forecaster__is_bot"]),
                "you": you,
                "questions": row["questions"],
                "total_peer": as_float(row["total_peer"]),
                "mean_peer": as_float(row["mean_peer"]),
                "mean_brier": None if brier is None else as_float(brier),
                "mean_coverage": as_float(row["mean_coverage"]),
                "eligible": row["eligible"],
                "computed_at": when(row["computed_at"]),
            }
        )
    return data


class CalibrationBinSerializer(serializers.Serializer):
    lower = serializers.FloatField()
    upper = serializers.FloatField()
    count = serializers.IntegerField()
    mean_forecast = serializers.FloatField(allow_null=True, help_text="null for an empty bin.")
    observed_frequency = serializers.FloatField(allow_null=True, help_text="null when empty.")
    wilson_low = serializers.FloatField()
    wilson_high = serializers.FloatField()


class BrierDecompositionSerializer(serializers.Serializer):
    bs = serializers.FloatField()
    rel = serializers.FloatField()
    res = serializers.FloatField()
    unc = serializers.FloatField()
    wbv = serializers.FloatField()
    wbc = serializers.FloatField()
    murphy = serializers.FloatField(help_text="REL - RES + UNC.")


class CalibrationSerializer(serializers.Serializer):
    tournament = serializers.CharField()
    subject = serializers.CharField()
    forecasts = serializers.IntegerField(help_text="Number of (question, forecast) pairs.")
    questions = serializers.IntegerField()
    held_at = serializers.CharField(help_text="Which forecast of a question counts.")
    bins = CalibrationBinSerializer(many=True)
    decomposition = BrierDecompositionSerializer(allow_null=True)
    multiple_choice = serializers.JSONField(
        required=False,
        help_text="Multiple-choice questions (only when the tournament has resolved ones): "
        "questions, forecasts, one-vs-rest pairs and their reliability bins "
        "(docs/methods.md §5.7).",
    )
    continuous = serializers.JSONField(
        required=False,
        help_text="Numeric, date and discrete questions (only when the tournament has resolved "
        "ones): questions, forecasts, the PIT histogram and the central 50%/90% interval "
        "coverage, each with a 95% Wilson interval (docs/methods.md §5.7).",
    )
