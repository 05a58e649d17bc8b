"""SQLite: times written by the old bulk path (``…+00:00``) rewritten in Django's spelling.

Until issue 20, ``config.bulk.bulk_insert`` (scores, leaderboards) let the sqlite3 module write
``computed_at`` as ``YYYY-MM-DD HH:MM:SS.ffffff+00:00``; Django writes
``YYYY-MM-DD HH:MM:SS.ffffff`` and SQLite compares the text. Every datetime column of the app
is checked. A no-op on PostgreSQL, which stores a real timestamp.
"""

from django.db import migrations

from config.sqlite import normalize_model_times


def normalize(apps, schema_editor):
    normalize_model_times(schema_editor.connection, list(apps.get_app_config("scoring").get_models()))


class Migration(migrations.Migration):

    dependencies = [
        ("scoring", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(normalize, migrations.RunPython.noop, elidable=True),
    ]
