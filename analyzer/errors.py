"""The analyzer's exceptions: a small hierarchy; messages say what is wrong and how to fix it."""

from __future__ import annotations


class AnalyzerError(Exception):
    """Base class of every error the analyzer reports to its user."""


class StorageError(AnalyzerError):
    """A local file or S3 object that cannot be read or written."""


class DatasetError(AnalyzerError):
    """A baseline dataset that is missing, empty, ragged or unreadable."""


class BaselineError(AnalyzerError):
    """A statistics.json or constraints.json that is missing or not in SageMaker's format."""


class CaptureError(AnalyzerError):
    """Capture files that cannot be listed or read."""


class ConfigError(AnalyzerError):
    """A command-line option or configuration value that is not valid."""


class RunFailed(AnalyzerError):
    """Ends a monitoring run with status Failed and this message as its failure reason."""


class RunStopped(Exception):
    """Ends a monitoring run with status Stopped (--max-runtime passed, or SIGTERM).

    Not an AnalyzerError: a stopped run did nothing wrong, and is run again.
    """
