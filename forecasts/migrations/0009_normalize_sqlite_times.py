"""SQLite: times written by the old bulk path (``…+00:00``) rewritten in Django's spelling.

Until issue 20, ``config.bulk.bulk_insert`` (crowd history rebuilt by imports and recomputes)
let the sqlite3 module write times as ``YYYY-MM-DD HH:MM:SS+00:00``, which SQLite compares as
text after the ORM's ``YYYY-MM-DD HH:MM:SS``. Every datetime column of the app is checked. A
no-op on PostgreSQL, which stores a real timestamp.
"""

from django.db import migrations

from config.sqlite import normalize_model_times


def normalize(apps, schema_editor):
    normalize_model_times(schema_editor.connection, list(apps.get_app_config("forecasts").get_models()))


class Migration(migrations.Migration):

    dependencies = [
        ("forecasts", "0008_median_checkpoint"),
    ]

    operations = [
        migrations.RunPython(normalize, migrations.RunPython.noop, elidable=True),
    ]
