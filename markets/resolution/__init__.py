"""The resolution workflow: versions (``versions``), the audit trail (``audit``), resolution by
staff and import (``manual``), milestone rules and their proposals (``milestones``), finality
after the review window or by staff (``finality``) and the periodic sweep (``sweep``).

It reads benchmark results (``markets.benchmarks``) but benchmarks never read it; it announces
final versions with ``signals.resolution_finalized`` and never imports scoring.
"""
