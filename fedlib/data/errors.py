"""Exceptions raised by :mod:`fedlib.data`.

Every error says *what* is wrong (file, row, language, label...) and *what to do*.
All of them derive from :class:`DataError`, itself a :class:`ValueError`, so callers can
catch the whole family at once.
"""

from __future__ import annotations

RESTORE_HINT = "restore the shipped files with `git checkout data/` (or point FEDLIB_DATA at a good copy)"


class DataError(ValueError):
    """Base class of every data problem reported by :mod:`fedlib.data`."""


class DataFileMissingError(DataError, FileNotFoundError):
    """A file the offline loader needs is not there."""


class MalformedRowError(DataError):
    """A row of a data file has the wrong number of fields or cannot be parsed."""


class UnknownTaskError(DataError, KeyError):
    """The task name is not in :data:`fedlib.data.TASKS`."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownLanguageError(DataError, KeyError):
    """A language code is not one of the task's languages."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LabelError(DataError):
    """A row carries a label outside the task's label set."""


class DuplicateRowError(DataError):
    """The same text (and pair) occurs in two splits of one language of a folder task."""


class ChecksumMismatchError(DataError):
    """A shipped file's SHA-256 differs from ``data/SHA256SUMS`` (or is not listed there)."""


class SourceUnavailableError(DataError):
    """The requested source cannot provide the task (no offline copy, or the Hub is unreachable)."""


class EmptyPartitionError(DataError):
    """A partition (client) would receive no rows, or the input has no rows at all."""


class BudgetError(DataError):
    """A per-client budget is negative or larger than the data available."""
