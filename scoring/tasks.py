"""Celery tasks for scoring and the crowd ↔ scores loop: one-line calls into services and
workflows, ids in, nothing returned. All but the periodic repair run on the ``heavy`` queue
(``config.settings.CELERY_TASK_ROUTES``): a recompute may take minutes and must not delay the
minute sweep."""

from celery import shared_task

from config.celery import DB_TASK, release_debounced


@shared_task(**DB_TASK, name="scoring.score_question", time_limit=900, soft_time_limit=840)
def question_score_task(question_id: int, resolution_id: int) -> None:
    """Score a question for its final resolution (a stale version does nothing)."""
    from scoring.services import question_score

    question_score(question_id=question_id, resolution_id=resolution_id)


@shared_task(**DB_TASK, name="scoring.score_questions", time_limit=1800, soft_time_limit=1700)
def questions_score_many_task(pairs: list[tuple[int, int]]) -> None:
    """Score many questions for their final resolutions in one batch (a bulk import)."""
    from scoring.services import questions_score_many

    questions_score_many(pairs=[(int(q), int(r)) for q, r in pairs])


@shared_task(**DB_TASK, name="scoring.recompute_question", time_limit=1800, soft_time_limit=1700)
def question_recompute_task(question_id: int) -> None:
    """Rebuild a question's crowd; a resolved question is then rescored."""
    from scoring.workflows import question_recompute

    question_recompute(question_id=question_id)


@shared_task(**DB_TASK, name="scoring.rebuild_leaderboard", time_limit=900, soft_time_limit=840)
def leaderboard_rebuild_task(tournament_id: int) -> None:
    """Rebuild a tournament's leaderboard and refit its extremizing factor (debounced)."""
    from scoring.workflows import tournament_scores_changed

    release_debounced(leaderboard_rebuild_task, tournament_id)
    tournament_scores_changed(tournament_id=tournament_id)


@shared_task(
    **DB_TASK, name="scoring.repair_scores", time_limit=300, soft_time_limit=240, expires=600
)
def scores_repair_task() -> None:
    """Periodic (beat, with the sweep): scores of every question belong to its final version."""
    from scoring.services import scores_repair

    scores_repair()
