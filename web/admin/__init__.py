"""The Django admin: the staff's editing UI for every app's models.

It lives in the web layer because its actions call workflows that span the domain apps
(a tournament's parameters changed → recompute crowds and rescore). Registrations are split by
the app whose models they show.
"""

from web.admin import forecasts, markets, scoring, trading

__all__ = ["forecasts", "markets", "scoring", "trading"]
