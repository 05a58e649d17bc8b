"""Domain errors raised by forecast services (``config.errors.DomainError``): the API maps them
to HTTP by their ``status_code`` in one handler (``api.errors.exception_handler``); web views
show the message."""

from config.errors import DomainError


class ForecastError(DomainError):
    """Base class: the message is meant for the person who made the request."""


class QuestionNotFound(ForecastError):
    """The question does not exist, or the person asking may not see it."""

    status_code = 404


class QuestionNotOpen(ForecastError):
    """The question does not take forecasts now (upcoming, closed or settled)."""

    status_code = 409


class InvalidProbability(ForecastError):
    """A probability outside the allowed range."""

    field = "probability"


class NothingToWithdraw(ForecastError):
    """A withdrawal without a current forecast to withdraw."""

    status_code = 409


class InvalidForecastValues(ForecastError):
    """Option probabilities or a CDF that do not fit the question (wrong length, not finite,
    not summing to 1, not a standardised CDF), or values for a yes/no question."""

    field = "values"


class BotError(ForecastError):
    """A bot account request that cannot be carried out (bad name, not the owner's bot...)."""


class BotNotAllowed(ForecastError):
    """A bot tried to forecast through a door meant for people (the web forms)."""

    status_code = 403
