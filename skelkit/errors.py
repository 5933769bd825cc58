"""Exception types: every user-facing failure is a `SkelkitError` with a one-line message."""


class SkelkitError(ValueError):
    """Bad input or configuration; the message names the problem."""


class WeightsNotFoundError(SkelkitError, FileNotFoundError):
    """A learned method was asked for but its weights file is missing."""
