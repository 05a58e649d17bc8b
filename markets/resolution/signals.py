"""What the resolution workflow tells the layers above it.

``resolution_finalized`` is sent inside the transaction that made a resolution version final,
with ``question_id`` and ``resolution_id``. Scoring connects a receiver in its app config
(``scoring.apps``) that enqueues scoring after commit: markets never imports scoring.
"""

from django.dispatch import Signal

resolution_finalized = Signal()
