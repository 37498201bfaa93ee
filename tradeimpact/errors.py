"""Exceptions with the location of the problem: file, row (line) and field."""

from __future__ import annotations

from pathlib import Path


class TradeImpactError(Exception):
    """Base class of every error raised by tradeimpact."""


class SourceFormatError(TradeImpactError):
    """A raw file cannot be read as the format it claims to be.

    The message always names the file and, where known, the 1-based line (row) and the field.
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = message
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class ModelSpecError(TradeImpactError, ValueError):
    """An estimator was given a panel or specification it cannot estimate (with the reason)."""


class TradeImpactWarning(UserWarning):
    """Base class of every warning raised by tradeimpact.

    The test run turns these into errors unless a test expects them (``pytest.warns``), so a
    warning the package raises is always either asserted or a failure (pyproject.toml).
    """
