from celery import shared_task
from django.db import OperationalError


@shared_task(
    acks_late=True,
    max_retries=5,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    time_limit=600,
    soft_time_limit=540,
)
def crowd_fill_medians_task(question_id: int) -> None:
    from django.core.cache import cache

    from forecasts.services import crowd_fill_medians, median_fill_key

    # Clear the marker first: a submission committed while we run schedules the next fill.
    cache.delete(median_fill_key(question_id))
    crowd_fill_medians(question_id=question_id)


@shared_task(
    acks_late=True,
    max_retries=5,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    time_limit=1800,
    soft_time_limit=1700,
)
def crowd_recompute_task(question_id: int) -> None:
    from forecasts.services import crowd_recompute

    crowd_recompute(question_id=question_id)
