"""The site's pages. Forecast writes live in ``web.views.forecast``."""

from web.views.accounts import signup
from web.views.benchmarks import benchmark_detail, benchmark_list
from web.views.browse import home, question_list, tournament_detail, tournament_list
from web.views.question import question_detail
from web.views.scores import crowd_track_record, leaderboard, my_track_record, track_record

__all__ = [
    "benchmark_detail",
    "benchmark_list",
    "crowd_track_record",
    "home",
    "leaderboard",
    "my_track_record",
    "question_detail",
    "question_list",
    "signup",
    "tournament_detail",
    "tournament_list",
    "track_record",
]
