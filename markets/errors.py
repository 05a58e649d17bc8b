class ResolutionError(Exception):
    """A resolution request that cannot be carried out; the message says why."""
