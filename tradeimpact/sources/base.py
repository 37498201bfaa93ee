"""The contract every reader of a raw format fulfils.

A reader turns one raw file into a polars LazyFrame with the canonical columns of
:data:`tradeimpact.schema.FLOW_SCHEMA` (units already converted) plus two columns:

* ``reject_field`` (String, null when the row is fine): the field at fault;
* ``reject_reason`` (String, null when the row is fine): why the row cannot be stored.

Row-level problems (a non-numeric value, an unknown country code) are marked, never dropped: the
ingest step sends marked rows to the quarantine table, so ``rows in = rows stored + rows
quarantined``. File-level problems (empty file, missing column, wrong delimiter, truncated JSON,
undecodable text) raise :class:`tradeimpact.errors.SourceFormatError` naming the file, line and field.

The delimited readers share one scan, :func:`tradeimpact.sources._text.scan_delimited`, and its
rules (a byte-order mark ignored; a row with more fields than the header, and the last row of a
file whose last line has no line terminator, quarantined; an unterminated quote an error naming
its line); non-finite numbers are quarantined by the readers and by
:func:`tradeimpact.ingest.shared_checks`.

Two optional members are honoured by :class:`tradeimpact.store.FlowStore` when a reader has them:

* ``source`` (str): the store's ``source=`` partition for the rows (defaults to ``name``; the
  generic reader takes it from the user, both Comtrade readers use ``"comtrade"``);
* ``declared_range(path) -> (date, date) | None``: the inclusive period range the file declares;
  rows outside it are quarantined (readers that know the range from the file itself may instead
  mark those rows in ``reject_reason``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl


@runtime_checkable
class Reader(Protocol):
    """A reader of one raw format."""

    #: short name, used as the store's ``source=`` partition and in ``tradeimpact sources``
    name: str
    #: bumped whenever the mapping to the canonical record changes (recorded in the manifest)
    version: str
    #: one-line description of the format, for ``tradeimpact sources``
    description: str

    def sniff(self, path: Path) -> bool:
        """True when ``path`` looks like this format (cheap: reads at most the first few KiB)."""
        ...

    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason``; raises SourceFormatError."""
        ...
