"""What the resolution workflow tells the layers above it.

``resolution_finalized`` is sent inside the transaction that made a resolution version final,
with ``question_id`` and ``resolution_id``. Scoring connects a receiver in its app config
(``scoring.apps``) that enqueues scoring after commit: markets never imports scoring.

``resolution_withdrawn`` is sent inside the transaction that withdrew a question's final version
without a new one (the question is un-resolved), with ``question_id`` and ``resolution_id`` (the
withdrawn version). Scoring deletes the question's scores in that transaction: scores always
belong to the current final resolution, and an un-resolved question has none.

``resolutions_finalized`` is ``resolution_finalized`` for many questions at once (a bulk
import), with ``pairs``: a list of (question id, resolution id). Scoring scores them as one
batch after commit.
"""

from django.dispatch import Signal

resolution_finalized = Signal()
resolution_withdrawn = Signal()
resolutions_finalized = Signal()
