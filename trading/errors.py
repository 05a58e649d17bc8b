"""Domain errors of the play-money market (``config.errors.DomainError``)."""

from config.errors import DomainError


class TradingError(DomainError):
    """A trading request that cannot be carried out; the message says why."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MarketNotFound(TradingError):
    """No market on this question, or the question is one the trader may not see."""

    status_code = 404


class MarketNotOpen(TradingError):
    """The market does not trade now: the question is not open, or the market is settled."""

    status_code = 409


class InsufficientBalance(TradingError):
    """The trade costs more than the trader's balance."""

    status_code = 409


class SlippageExceeded(TradingError):
    """The price moved since the quote: the trade would cost more than ``max_cost`` or buy fewer
    shares than ``min_shares``. Nothing was traded."""

    status_code = 409
