"""The one exception tree of pitchrec.

::

    PitchrecError
    ├── ConfigurationError      a setting is missing, malformed or unsafe
    ├── DataSourceError         the database could not be read or has an unusable shape
    ├── SnapshotError           a snapshot directory is missing, corrupt or of another format
    ├── InvalidRequestError     a request names a field with a value we cannot accept
    └── EvaluationInputError    an evaluation's data, cut, log or configuration is unusable

Callers catch ``PitchrecError`` at the edge (CLI, HTTP) and turn it into a clear message;
anything else is a bug.
"""

from __future__ import annotations


class PitchrecError(Exception):
    """Base class of every error pitchrec raises on purpose."""


class ConfigurationError(PitchrecError):
    """A setting is missing, malformed or refused as unsafe."""


class DataSourceError(PitchrecError):
    """The database could not be read, or its content cannot be used."""


class SnapshotError(PitchrecError):
    """A snapshot directory is missing, corrupt, or written by another format version."""


class InvalidRequestError(PitchrecError):
    """A request field holds a value that cannot be accepted."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TrackingFullError(PitchrecError):
    """Feedback that could not be kept: Redis is down or slow and the spool already holds
    as many events as it may. The client retries later (event ids make retries safe)."""


class EvaluationInputError(PitchrecError):
    """An evaluation cannot run on what it was given: an empty database, a cut outside
    the data, a log without the columns it needs, an unknown configuration."""
