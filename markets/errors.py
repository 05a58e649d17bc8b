"""Domain errors raised by markets services (``config.errors.DomainError``)."""

from config.errors import DomainError


class ResolutionError(DomainError):
    """A resolution request that cannot be carried out; the message says why."""

    status_code = 409
