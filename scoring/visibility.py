"""Which scores a viewer sees (docs/privacy.md).

Individual forecasters' per-question scores are research data: staff and researchers with
full-history access (``forecasts.privacy.full_history_access``) see every one; everyone else
sees the crowd's scores and, when logged in, their own. A crowd's spot scores are a function
of the crowd at the scoring cutoff; they are shown to everyone else only where that crowd is a
point of the public series — otherwise, differenced against the last public point, they would
give away the forecasts made since.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Greatest, Least

from forecasts.models import CrowdPoint, Forecaster
from forecasts.privacy import BATCH, full_history_access
from scoring.models import Rule, Score, Subject

CROWD_SUBJECTS = (Subject.CROWD, Subject.MEDIAN, Subject.MEAN)
# The market's price history is public (every trade moves it in the open): its scores are too.
MARKET_SUBJECTS = (Subject.MARKET,)
SPOT_RULES = (Rule.SPOT_BRIER, Rule.SPOT_LOG, Rule.SPOT_BASELINE, Rule.SPOT_PEER)


def scores_visible_to(user: Any, scores: QuerySet[Score]) -> QuerySet[Score]:
    """``scores`` narrowed to what ``user`` may see (the module doc): all of them with
    full-history access; otherwise the crowd's (spot rules only where the crowd at the cutoff
    is public) and the user's own."""
    if full_history_access(user):
        return scores
    at_cutoff = CrowdPoint.objects.filter(
        question=OuterRef("question_id"),
        time__lte=Least(OuterRef("question__close_time"), OuterRef("resolution__resolved_at")),
    ).order_by("-seq")
    scores = scores.annotate(
        cutoff_public_seq=Subquery(at_cutoff.values("public_seq")[:1]),
        cutoff_forecasters=Subquery(at_cutoff.values("forecasters")[:1]),
    )
    published = Q(
        cutoff_public_seq__isnull=False,
        cutoff_forecasters__gte=Greatest(Value(BATCH), F("question__tournament__min_forecasters")),
    )
    # The crowd's rows are exactly those without a forecaster (a check constraint of Score):
    # saying so lets the database read them from the partial index "score_reference_rows".
    crowd = Q(forecaster__isnull=True, subject__in=CROWD_SUBJECTS) & (
        ~Q(rule__in=SPOT_RULES) | published
    ) | Q(forecaster__isnull=True, subject__in=MARKET_SUBJECTS)
    if getattr(user, "is_authenticated", False):
        # The viewer's forecaster ids as a list, not a join: the OR then reads two indexes
        # (the reference rows and (forecaster, rule)) instead of every score.
        own = list(Forecaster.objects.filter(user=user).values_list("id", flat=True))
        return scores.filter(crowd | Q(forecaster_id__in=own))
    return scores.filter(crowd)
