from celery import shared_task

from config.celery import DB_TASK


@shared_task(**DB_TASK, time_limit=900, soft_time_limit=840)
def question_score_task(question_id: int, resolution_id: int) -> None:
    from scoring.services import question_score

    question_score(question_id=question_id, resolution_id=resolution_id)


@shared_task(**DB_TASK, time_limit=900, soft_time_limit=840)
def leaderboard_rebuild_task(tournament_id: int) -> None:
    from config.celery import release_debounced
    from forecasts.services import tournament_fit_extremize, tournament_recompute
    from markets.models import Tournament
    from scoring.leaderboard import leaderboard_rebuild

    release_debounced(leaderboard_rebuild_task, tournament_id)
    leaderboard_rebuild(tournament_id=tournament_id)
    tournament = Tournament.objects.get(pk=tournament_id)
    if tournament.fit_extremize:
        before = tournament.effective_extremize
        tournament_fit_extremize(tournament_id=tournament_id)
        tournament.refresh_from_db()
        if abs(tournament.effective_extremize - before) > 1e-9:
            tournament_recompute(tournament_id=tournament_id)
