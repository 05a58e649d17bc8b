"""Admin rows that only services write: staff can look, never add, edit or delete.

The forecast log is append-only; crowd states, history points, scores and leaderboards are
derived from it and rebuilt by services; resolutions, audit records and feed snapshots are the
evidence trail. An edit here would bypass the invariants the services keep (a deleted forecast
left the crowd, the scores and the leaderboard counting it), so the admin offers no door.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never writable: no add, change or delete (and so no "delete selected").

    These tables are large (1.2 million scores, a crowd point per forecast on the ACX demo):
    a filtered list shows its own count only, not a second ``COUNT(*)`` of the whole table.
    """

    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
