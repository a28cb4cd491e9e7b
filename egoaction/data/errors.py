"""Errors for bad input: every message names the file (and line or key) and what was expected."""

from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Base class of every data error egoaction raises."""


class FormatError(DataError):
    """An annotation or layout file does not follow its format.

    The message reads ``path:line: what was wrong (expected ...)`` so an editor can jump to it.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class SampleError(DataError):
    """One sample cannot be read (a missing frame, a truncated JPEG, a corrupt video)."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")
