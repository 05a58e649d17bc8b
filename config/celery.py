import os

from celery import Celery
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("takeoff")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Options every database task shares: acknowledged after it ran (a killed worker's task is
# redelivered), retried with backoff on connection trouble, a bounded number of times.
DB_TASK = {
    "acks_late": True,
    "max_retries": 5,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
}
