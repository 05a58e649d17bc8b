"""Domain errors raised by markets services (``config.errors.DomainError``)."""

from config.errors import DomainError


class ResolutionError(DomainError):
    """A resolution request that cannot be carried out; the message says why."""

    status_code = 409


class QuestionTypeError(DomainError):
    """A question type configuration (options, range, bounds, zero point) that is not valid, or
    a type change on a question that already has forecasts."""

    status_code = 400


class QuestionError(DomainError):
    """A question that cannot be created as asked (title, key, window); ``field`` names the
    input the message is about."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConditionalError(DomainError):
    """A conditional pair that cannot be created as asked (a parent that is not yes/no, a branch
    from another tournament, a self-reference, a cycle…); ``field`` names the input the message
    is about."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
