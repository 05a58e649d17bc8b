"""Forecast.accuracy is the track-record weight a_i: name it so; precomputed weights per
(forecaster, tournament) so that a submission reads one row instead of aggregating scores."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("forecasts", "0004_forecast_question_index_covered"),
        ("markets", "0002_milestone_sweep_and_review"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="forecast", name="forecast_accuracy_positive"),
        migrations.RenameField(
            model_name="forecast", old_name="accuracy", new_name="track_record_weight"
        ),
        migrations.AddConstraint(
            model_name="forecast",
            constraint=models.CheckConstraint(
                condition=models.Q(("track_record_weight__gt", 0)),
                name="forecast_track_record_weight_positive",
            ),
        ),
        migrations.CreateModel(
            name="TrackRecordWeight",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("weight", models.FloatField(default=1.0)),
                ("questions", models.PositiveIntegerField(default=0, help_text="Resolved questions counted.")),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "forecaster",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="track_record_weights",
                        to="forecasts.forecaster",
                    ),
                ),
                (
                    "tournament",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="track_record_weights",
                        to="markets.tournament",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("forecaster", "tournament"), name="one_track_record_weight"),
                    models.CheckConstraint(condition=models.Q(("weight__gt", 0)), name="track_record_weight_positive"),
                ],
            },
        ),
    ]
