"""Play-money prediction markets (LMSR market maker, double-entry ledger, settlement).

Layered beside ``forecasts``: it imports ``markets`` and ``config``; ``scoring``, ``web`` and
``api`` may import it. docs/methods.md §15.
"""
