"""UN Comtrade bulk files: gzip-compressed tab-separated text, the API v1 fields as columns.

The bulk endpoint (``https://comtradeapi.un.org/bulk/v1/get/{typeCode}/{freqCode}/{clCode}``;
its availability answer lists one file per reporter and period, e.g. the real
``bulk-HS-4f1d0f.json`` of ../shared/data/real/comtradr-vignette/api_fixture) serves each file
as gzip-compressed text with a header line and one record a line, fields separated by tabs;
the columns are the v1 API's (``typeCode``, ``freqCode``, ``refYear`` ... ``primaryValue``,
``isAggregate``; comtradeapicall reads them with ``pandas.read_csv(sep="\\t")``). An
uncompressed tab-separated file with that header is read alike.

The mapping to the canonical record, its checks and its quarantine reasons are the Comtrade v1
reader's (:mod:`tradeimpact.sources.comtrade`), and the rows are stored under the same
``source=comtrade`` partition (a record ingested from a bulk file and again from an API answer
is one key: the second is quarantined, naming the first input). The file is decompressed once;
the number fields are parsed by the scan (the CSV fast path); a file with a field that does not
parse as a number is read as text, where that row is quarantined with its reason. File problems
(truncated or corrupt gzip, a header without the essential columns, a header split by another
delimiter, undecodable text) raise :class:`~tradeimpact.errors.SourceFormatError` naming the
file, the line and the field.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources._text import (
    Staged,
    column_names,
    head_bytes,
    header_line,
    is_gzip,
    read_bytes,
    scan_delimited,
    split_header,
)
from tradeimpact.sources.comtrade import (
    NUMBER_FIELDS,
    _match_columns,
    normalise_name,
    staged_comtrade,
)

__all__ = ["ComtradeBulkReader"]

SEPARATOR = "\t"


class ComtradeBulkReader:
    """UN Comtrade bulk files (gzip-compressed tab-separated text with the v1 API's fields).

    See the module docstring; the mapping is :class:`~tradeimpact.sources.comtrade.ComtradeReader`'s.
    """

    name = "comtrade_bulk"
    version = "1"
    description = "UN Comtrade bulk file: gzip-compressed tab-separated text, API v1 fields"

    def __init__(self, source: str = "comtrade") -> None:
        self.source = source

    def sniff(self, path: Path) -> bool:
        """True for a tab-separated header with the Comtrade fields (gzip or plain)."""
        try:
            head = head_bytes(Path(path), 8192)
            line = header_line(Path(path), head)
        except SourceFormatError:
            return False
        names = {normalise_name(n) for n in line.split(SEPARATOR)}
        return {"cmdcode", "primaryvalue"} <= names and bool(
            {"reportercode", "reporteriso"} & names
        )

    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason`` (see module docstring)."""
        staged = self.read_staged(path)
        return (staged.fallback or staged).canonical()

    def read_staged(self, path: Path) -> Staged:
        """:meth:`read` before its final select (:class:`~tradeimpact.sources._text.Staged`)."""
        path = Path(path)
        head = head_bytes(path)  # missing or empty file, broken gzip header
        line = header_line(path, head)
        names = split_header(path, line, SEPARATOR)  # a header split by another delimiter
        if len(names) == 1 and "," in line:  # (split_header knows tab, ';' and '|')
            raise SourceFormatError(
                path, "wrong delimiter: the header is split by ',', expected tab", line=1
            )
        data = read_bytes(path) if is_gzip(path) else None  # decompressed once, for both scans
        names = column_names(path, line, SEPARATOR)
        found = _match_columns(path, names, "the header has")
        numbers: dict[str, pl.DataType] = {
            found[name]: pl.Float64() for name in NUMBER_FIELDS if name in found
        }
        # the CSV fast path (comtrade.ComtradeReader.read_staged): numbers parsed by the scan,
        # the field count deferred, the text scan built only when the typed one fails
        typed_scan = scan_delimited(
            path,
            SEPARATOR,
            numbers,
            data=data,
            header=line,
            strict_width=True,
            defer_counts=True,
        )
        typed = staged_comtrade(typed_scan.frame, found, self.source, str(path), typed=True)

        def text() -> Staged:
            scanned = scan_delimited(path, SEPARATOR, data=data, header=line)
            staged = staged_comtrade(scanned.frame, found, self.source, str(path))
            return Staged(staged.frame, staged.columns, [*scanned.checks, *staged.checks])

        def recount() -> Staged:
            checks = [*typed_scan.checks, *typed_scan.counted(), *typed.checks]
            return Staged(typed.frame, typed.columns, checks, text=text)

        return Staged(
            typed.frame,
            typed.columns,
            [*typed_scan.checks, *typed.checks],
            text=text,
            suspect=typed_scan.suspect,
            recount=recount,
        )
