"""Domain errors raised by forecast services; views and the API map them to clear responses."""


class ForecastError(Exception):
    """Base class: the message is meant for the person who made the request."""


class QuestionNotOpen(ForecastError):
    pass


class InvalidProbability(ForecastError):
    pass


class NothingToWithdraw(ForecastError):
    pass
