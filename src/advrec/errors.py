"""Error types: every user mistake surfaces as an :class:`AdvrecError` with a clear message."""

from __future__ import annotations


class AdvrecError(Exception):
    """Base class of the errors that advrec raises for bad input or bad files."""


class DataError(AdvrecError):
    """A data file or array is missing, malformed or inconsistent."""


class ConfigError(AdvrecError):
    """A configuration key, value or experiment file is invalid."""


class StaleCheckpointError(ConfigError):
    """A checkpoint folder holds the checkpoint of another run (other model, settings or data)."""

    def __init__(self, message: str, path: object) -> None:
        super().__init__(message)
        self.path = path


class ModelFileError(AdvrecError):
    """A saved model is missing, corrupted or does not match what was asked for."""


class CapabilityError(AdvrecError):
    """A model was asked for something it cannot do (fold-in, embeddings, a warm start ...)."""


class LeakageError(DataError):
    """A split leaks test information into training data."""


class AdvrecDeprecationWarning(FutureWarning):
    """An old name or form that still works but will go; shown to users by default."""
