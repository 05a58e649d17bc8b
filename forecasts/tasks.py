from celery import shared_task

from config.celery import DB_TASK


@shared_task(**DB_TASK, time_limit=600, soft_time_limit=540)
def crowd_fill_medians_task(question_id: int) -> None:
    from config.celery import release_debounced
    from forecasts.services import crowd_fill_medians

    release_debounced(crowd_fill_medians_task, question_id)
    crowd_fill_medians(question_id=question_id)


@shared_task(**DB_TASK, time_limit=1800, soft_time_limit=1700)
def crowd_recompute_task(question_id: int) -> None:
    """Rebuild the crowd; a resolved question's crowd scores are then recomputed too."""
    from django.db import transaction

    from forecasts.services import crowd_recompute
    from markets.models import Resolution
    from scoring.models import Score
    from scoring.tasks import question_score_task

    with transaction.atomic():
        crowd_recompute(question_id=question_id)
        final = Resolution.objects.filter(
            question_id=question_id, state=Resolution.State.FINAL
        ).first()
        if final is not None:
            Score.objects.filter(question_id=question_id).delete()
            question_score_task.delay_on_commit(question_id, final.pk)
