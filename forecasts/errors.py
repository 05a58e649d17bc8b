"""Domain errors raised by forecast services; views and the API map them to clear responses."""


class ForecastError(Exception):
    """Base class: the message is meant for the person who made the request."""


class QuestionNotFound(ForecastError):
    """The question does not exist, or the person asking may not see it."""


class QuestionNotOpen(ForecastError):
    pass


class InvalidProbability(ForecastError):
    pass


class NothingToWithdraw(ForecastError):
    pass
