"""File-level checks and the one scan of delimited text files shared by every reader.

Each file-level check raises :class:`tradeimpact.errors.SourceFormatError` naming the file, the line
and, where it applies, the field: missing or empty file, a corrupt or truncated gzip stream,
undecodable text, wrong delimiter, missing or repeated column, an unterminated quote. The checks
read only the head of the file; a decoding error further down is located by
:func:`locate_bad_utf8` after polars reports it (so the hot path stays a plain ``scan_csv``).

Rules every delimited reader (Comtrade CSV, legacy Comtrade, BACI, Japan Customs, GACC, generic)
applies through :func:`scan_delimited`:

* A UTF-8 byte-order mark before the header is ignored.
* **A row with more fields than the header** is quarantined (field ``(row)``): its values are
  shifted or it holds an unquoted delimiter, so no field of it can be trusted.
* **A row with fewer fields than the header** is quarantined (field ``(row)``) the same way: the
  parser fills missing trailing fields like empty ones, so ``...,280530,1000,8,1000`` with one
  field missing would put the weight in the value column. The fields of every record are
  counted by :func:`count_fields` (one vectorised pass over the bytes, quote-aware); a trailing
  empty field (``...,8,``) is a field and stays valid. A blank line is quarantined as ``empty
  line``.
* **The last line of a download cut mid-row.** A file whose last line ends without a line
  terminator may have been cut anywhere in that line, and a cut number looks like a number
  (``55050`` cut to ``550``, ``3.75`` to ``3``). That last row is quarantined with the reason
  ``last line incomplete (file truncated?)`` followed by what was seen (fewer fields than the
  header, or the value that may be cut). The one exception: a last line that has the header's
  number of fields and ends with a closing quote is provably complete and is read. The real
  files of every format read here end with a line terminator; a complete file that lacks one
  needs a final newline to store its last row (the reason says so).
* Numbers that are not finite (``NaN``, ``inf``, ``-Infinity``...) are quarantined by the shared
  check of :func:`tradeimpact.ingest.shared_checks` (and by the readers' own checks, naming the
  file's column): the Float64 parser accepts them, but they are not trade values.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from tradeimpact.errors import SourceFormatError

_BOM = "\ufeff"


def is_gzip(path: Path) -> bool:
    """True when ``path`` starts with the gzip magic bytes."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _gzip_error(path: Path, exc: BaseException) -> SourceFormatError:
    """A gzip stream that cannot be decompressed, as a SourceFormatError naming the file."""
    if isinstance(exc, EOFError):
        return SourceFormatError(
            path,
            "truncated gzip file: the compressed stream ends before its end marker (the download "
            "was cut?); download it again",
        )
    return SourceFormatError(path, f"corrupt gzip file: {exc}; download it again")


def head_bytes(path: Path, nbytes: int = 65536) -> bytes:
    """The first ``nbytes`` of the (decompressed) file; raises for a missing or empty file.

    Raises
    ------
    SourceFormatError
        Missing file; empty file (0 bytes, only blanks, or a gzip stream of nothing); a gzip
        stream that is truncated or corrupt within its first ``nbytes``.
    """
    try:
        gz = is_gzip(path)
        opener = gzip.open if gz else open
        with opener(path, "rb") as handle:
            head: bytes = handle.read(nbytes)
    except FileNotFoundError:
        raise SourceFormatError(path, "file not found") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _gzip_error(path, exc) from None
    except OSError as exc:
        raise SourceFormatError(path, f"cannot read the file: {exc}") from None
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise SourceFormatError(path, "empty file (no header, no rows)", line=1)
    return head


def _inflater() -> tuple[object, tuple[type[BaseException], ...]]:
    """The fastest gzip inflater installed: ISA-L's (``isal``, optional) or the zlib module's.

    Returns the module (with zlib's ``decompressobj``) and the exceptions it raises on bad data.
    """
    try:
        from isal import isal_zlib  # optional: about 2x zlib's speed
    except ImportError:
        return zlib, (zlib.error,)
    return isal_zlib, (isal_zlib.error, zlib.error)


def gunzip(raw: bytes, inflater: object | None = None) -> bytes:
    """The decompressed content of gzip data ``raw``, every member (as :func:`gzip.decompress`).

    One call over the whole buffer with the fastest inflater (:func:`_inflater`) instead of
    :mod:`gzip`'s reads of small blocks. Members follow each other; zero bytes after a member
    are padding (as :mod:`gzip` reads them).

    Raises
    ------
    EOFError
        The stream ends before a member's end marker (a cut download).
    zlib.error
        Corrupt data (a bad header, bad deflate data or a CRC or size that does not match).
    """
    module, errors = _inflater() if inflater is None else (inflater, (zlib.error,))
    parts: list[bytes] = []
    rest = memoryview(raw)
    while True:
        inflate = module.decompressobj(wbits=31)  # type: ignore[attr-defined]
        try:
            parts.append(inflate.decompress(rest))
        except errors as exc:
            raise zlib.error(str(exc)) from None
        if not inflate.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        rest = memoryview(inflate.unused_data.lstrip(b"\0"))
        if not rest:
            break
        if rest[:2] != b"\x1f\x8b":  # as gzip says: not a gzipped file
            raise zlib.error("data after the last gzip member is not a gzip member")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_bytes(path: Path) -> bytes:
    """The whole (decompressed) file; raises SourceFormatError for an unreadable gzip stream.

    A gzip file is decompressed by :func:`gunzip` (ISA-L where installed).
    """
    head_bytes(path)  # missing / empty file
    try:
        if is_gzip(path):
            return gunzip(path.read_bytes())
        return path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _gzip_error(path, exc) from None
    except OSError as exc:
        raise SourceFormatError(path, f"cannot read the file: {exc}") from None


def header_line(path: Path, head: bytes) -> str:
    """The first line of ``head`` decoded as UTF-8 (BOM removed); raises on undecodable bytes."""
    first = head.split(b"\n", 1)[0]
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(
            path,
            f"broken encoding: byte 0x{first[exc.start]:02x} at column {exc.start + 1} is not "
            "UTF-8 (re-save the file as UTF-8)",
            line=1,
        ) from None
    return text.lstrip(_BOM).rstrip("\r")


def split_header(path: Path, line: str, delimiter: str = ",") -> list[str]:
    """Column names of a header line; raises when the file is split by another delimiter."""
    line = line.lstrip(_BOM)
    try:
        fields = next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        fields = line.split(delimiter)
    names = [name.strip().strip('"').strip() for name in fields]
    if len(names) == 1:
        for other, label in (("\t", "tab"), (";", "';'"), ("|", "'|'")):
            if other in line:
                raise SourceFormatError(
                    path,
                    f"wrong delimiter: the header is split by {label}, expected '{delimiter}'",
                    line=1,
                )
    return names


def require(
    path: Path,
    present: Iterable[str],
    required: list[str],
    shown: list[str],
    what: str = "the header has",
) -> None:
    """Raise naming the first of ``required`` absent from ``present`` (``shown``: header as read)."""
    have = set(present)
    missing = [name for name in required if name not in have]
    if missing:
        raise SourceFormatError(
            path, f"missing column(s) {missing}; {what} {shown}", line=1, field=missing[0]
        )


def polars_file_error(
    path: Path,
    exc: Exception,
    bad_utf8: str = "the bytes at column {column} are not UTF-8 (re-save the file as UTF-8)",
    data: bytes | None = None,
) -> SourceFormatError:
    """A polars error met while scanning ``path`` as a SourceFormatError naming the file.

    An encoding error names the line and column of the first bytes that are not UTF-8
    (``bad_utf8`` is the message, formatted with ``column``); a quote that is never closed names
    the line where it opens; any other error keeps polars' first line. ``data``: the file's
    (decoded, re-encoded) bytes when they were read in memory.
    """
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "utf-8" in message.lower() or "utf8" in message.lower():
        where = locate_bad_utf8(path)
        if where is not None:
            return SourceFormatError(
                path, "broken encoding: " + bad_utf8.format(column=where[1]), line=where[0]
            )
    if "not properly escaped" in str(exc) or "could not parse" in message:
        try:
            body = data if data is not None else read_bytes(path)
        except SourceFormatError as err:
            return err
        line = locate_open_quote(body)
        if line is not None:
            return SourceFormatError(
                path,
                'unterminated quote: a field opened with " on this line is never closed (the '
                "file was cut, or a quote inside a field is not doubled)",
                line=line,
            )
    return SourceFormatError(path, f"cannot parse the file: {message}")


def locate_open_quote(data: bytes) -> int | None:
    """1-based line where a ``"`` opens a field that is never closed, or None.

    Doubled quotes (``""``) inside a quoted field cancel out, so the parity of the quote count
    tells whether a quoted field is open at the end of each line; the unclosed quote opens on
    the last line where the parity turns odd and stays so to the end of the file.
    """
    inside = False
    opened_at: int | None = None
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.count(b'"') % 2 == 1:
            inside = not inside
            if inside:
                opened_at = number
    return opened_at if inside else None


def locate_bad_utf8(path: Path) -> tuple[int, int] | None:
    """``(line, column)`` (1-based) of the first byte that is not UTF-8, or None."""
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, exc.start + 1
    return None


#: the field named by a problem of the whole row (extra or missing fields, a truncated last line)
ROW_FIELD = "(row)"
#: the column that receives the fields beyond the header's (null on a well-formed row)
EXTRA_COLUMN = "__extra_fields"
#: the start of the reason of a last line cut by the end of the file
TRUNCATED = "last line incomplete (file truncated?)"


def _tail(path: Path, data: bytes | None) -> bytes:
    """The last 64 KiB of the (decompressed) file."""
    if data is not None:
        return data[-65536:]
    with open(path, "rb") as handle:
        handle.seek(0, io.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 65536))
        return handle.read()


def _last_line_problem(tail: bytes, names: list[str], separator: str) -> str | None:
    """The reason the last line is suspect, or None when it ends with a line terminator."""
    if tail.endswith((b"\n", b"\r")):
        return None
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", "replace").lstrip(_BOM)
    try:
        fields = next(csv.reader([last], delimiter=separator))
    except (csv.Error, StopIteration):
        fields = last.split(separator)
    if len(fields) == len(names) and last.rstrip().endswith('"'):
        return None  # the last field is closed by its quote: provably complete
    if len(fields) < len(names):
        return (
            f"{TRUNCATED}: no line terminator and {len(fields)} of the header's {len(names)} "
            f"fields (the last, {names[len(fields) - 1]!r}, may be cut too)"
        )
    value = fields[len(names) - 1] if len(fields) >= len(names) else fields[-1]
    return (
        f"{TRUNCATED}: no line terminator, so its last value {value.strip()!r} may be cut (a "
        "download cut mid-row turns 55050 into 550); if the row is complete, end the file with "
        "a newline"
    )


#: bytes per block of :func:`count_fields` (small enough to stay in the CPU caches)
_BLOCK = 1 << 20


@dataclass(frozen=True)
class FieldCounts:
    """The records of a delimited file whose number of fields differs from the header's.

    ``short`` and ``blank`` hold ``_line`` values (1-based, the header is line 1, as in
    :func:`scan_delimited`'s frame); ``fields`` the number of fields of each ``short`` line.
    """

    records: int
    short: list[int]
    fields: list[int]
    blank: list[int]
    #: ``_line`` values of the records with more fields than the header
    long: list[int] = field(default_factory=list)


def _blocks(path: Path, data: bytes | None) -> Iterable[bytes]:
    """The (uncompressed) content in blocks of :data:`_BLOCK` bytes."""
    if data is not None:
        for start in range(0, len(data), _BLOCK):
            yield data[start : start + _BLOCK]
        return
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            yield block


def _csv_fields(record: bytes, separator: str) -> int:
    """Fields of one record by the rules of :mod:`csv` (a quote opens a field only at its start)."""
    text = record.decode("utf-8", "replace")
    try:
        return len(next(csv.reader(io.StringIO(text, newline=""), delimiter=separator)))
    except (csv.Error, StopIteration):
        return text.count(separator) + 1


def count_fields(
    path: Path, width: int, separator: str = ",", data: bytes | None = None
) -> FieldCounts:
    """Count the fields of every record (the header is record 1) and keep those not ``width``.

    One pass over the bytes with numpy, a block of :data:`_BLOCK` bytes at a time: the
    separators of each record summed between its line feeds; in a block that holds a ``"``, line feeds and
    separators inside a quoted field (odd number of quotes before them since the record began;
    doubled quotes cancel out) are dropped,
    so a quoted separator or line break does not count and a record spans its quoted line
    breaks, as polars reads it. A record counted short that holds a quote is counted again by
    :mod:`csv` (a quote inside an unquoted field is a plain character there and in polars). A
    carriage return before the line feed is part of the last field (not a separator). A record
    of blanks only (spaces, tabs and CR other than the separator) is ``blank``. Records with more fields than ``width`` are not listed (the scan
    flags them itself, naming the first extra value).
    """
    sep = ord(separator)
    # blank = only spaces, tabs and CR; a tab is a field separator, not a blank, in a TSV file
    blanks = b" \t\r".replace(bytes([sep]), b"")
    short: list[int] = []
    fields: list[int] = []
    blank: list[int] = []
    long: list[int] = []
    base = 0  # records before the current buffer
    tail = b""  # bytes after the last record end (starts a record, outside quotes)
    blocks = iter(_blocks(path, data))
    done = False
    while not done:
        block = next(blocks, None)
        if block is None:
            done = True
            if not tail:
                break
            buffer = tail + b"\n"  # the last record, without its line terminator
        else:
            if len(tail) > len(block):  # a record longer than a block (an open quote?): read
                more = [block]  # as much again, so the copies of ``tail`` add up to O(file)
                while sum(map(len, more)) < len(tail) and (extra := next(blocks, None)):
                    more.append(extra)
                block = b"".join(more)
            buffer = tail + block if tail else block
        array = np.frombuffer(buffer, dtype=np.uint8)
        is_end = array == 10
        is_sep = array == sep
        if b'"' in buffer:  # inside a quoted field: an odd number of quotes before
            outside = (np.cumsum(array == 34, dtype=np.int32) & 1) == 0
            is_end &= outside
            is_sep &= outside
        ends = np.flatnonzero(is_end)
        if ends.size == 0:
            tail = buffer
            continue
        # separators of each record: sums over [previous end + 1, next start); the buffer starts
        # a record; the last sum also covers the tail, whose separators are taken off. In uint8
        # (wrapping at 256) when the header has fewer than 256 fields: a short row's count is
        # then exact; only a long row's may wrap, and the scan flags long rows itself
        starts = np.concatenate(([0], ends[:-1] + 1))
        wide = np.int32 if width >= 256 else np.uint8
        counts = np.add.reduceat(is_sep.view(np.uint8), starts, dtype=wide).astype(np.int64)
        counts[-1] -= int(np.count_nonzero(is_sep[int(ends[-1]) :]))
        counts += 1
        for i in np.flatnonzero(counts != width).tolist():
            start = int(ends[i - 1]) + 1 if i else 0
            record = buffer[start : int(ends[i])]
            line = base + i + 1
            n = int(counts[i])
            if n > width:
                long.append(line)
                continue
            if not record.strip(blanks):
                if line > 1:
                    blank.append(line)
                continue
            if b'"' in record:
                n = _csv_fields(record, separator)
            if n < width and line > 1:
                short.append(line)
                fields.append(n)
        base += int(ends.size)
        tail = buffer[int(ends[-1]) + 1 :]
    return FieldCounts(max(base - 1, 0), short, fields, blank, long)


def _count_checks(counts: FieldCounts, width: int) -> list[Check]:
    """The whole-row checks of the short and blank records of ``counts`` (none when none)."""
    checks: list[Check] = []
    if counts.blank:
        checks.append((pl.col("_line").is_in(counts.blank), ROW_FIELD, "empty line"))
    if counts.short:
        n_fields = pl.col("_line").replace_strict(
            counts.short, counts.fields, default=None, return_dtype=pl.Int64
        )
        checks.append(
            (
                pl.col("_line").is_in(counts.short),
                ROW_FIELD,
                (
                    n_fields,
                    f" of the header's {width} fields: a field is missing, the values cannot "
                    "be placed",
                ),
            )
        )
    return checks


@dataclass(frozen=True)
class Delimited:
    """A delimited file scanned by :func:`scan_delimited`.

    ``frame`` holds the header's columns (text unless ``numbers`` typed them), ``_line`` (the
    1-based line of the row) and :data:`EXTRA_COLUMN`; ``checks`` are the whole-row checks
    (a truncated last line, extra fields, an empty line, missing fields, in that order) to put
    first among the reader's checks.
    """

    names: list[str]
    frame: pl.LazyFrame
    checks: list[Check]
    #: the records with fewer fields than the header (:func:`count_fields`); None when the count
    #: was deferred (``defer_counts``): ``checks`` then lack the empty-line and missing-field
    #: checks, which :meth:`counted` adds
    counts: FieldCounts | None
    #: with the count deferred: True on every row the count could flag (a superset: a record
    #: with fewer fields than the header, or a blank line, has a null last field); else None
    suspect: pl.Expr | None = None
    #: how the file was read (for :meth:`counted`)
    source: tuple[Path, str, bytes | None] | None = field(default=None, repr=False)

    def counted(self) -> list[Check]:
        """The empty-line and missing-field checks, counting the fields now if deferred.

        To insert right after :attr:`checks` (their order among the whole-row checks).
        """
        if self.counts is not None:
            return []
        assert self.source is not None
        path, separator, data = self.source
        return _count_checks(count_fields(path, len(self.names), separator, data), len(self.names))


def column_names(path: Path, header: str, separator: str = ",") -> list[str]:
    """The columns :func:`scan_delimited` gives a header line (empty cells get placeholders).

    Raises
    ------
    SourceFormatError
        A header split by another delimiter, or a repeated column name.
    """
    names = split_header(path, header.lstrip(_BOM).rstrip("\r"), separator)
    # a header cell left empty (a trailing delimiter is common) names no column a reader reads
    names = [name or f"__unnamed_{i + 1}" for i, name in enumerate(names)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SourceFormatError(
            path, f"repeated column name(s) {repeated} in the header", line=1, field=repeated[0]
        )
    return names


def scan_delimited(
    path: Path,
    separator: str = ",",
    numbers: dict[str, pl.DataType] | None = None,
    *,
    data: bytes | None = None,
    header: str | None = None,
    counts: FieldCounts | None = None,
    strict_width: bool = False,
    defer_counts: bool = False,
) -> Delimited:
    """Scan a delimited file with the shared rules of the module docstring.

    Parameters
    ----------
    path : Path
        The file (named in every message; read unless ``data`` is given).
    separator : str
        Field delimiter.
    numbers : dict, optional
        Column -> dtype parsed by the scan (a value that does not parse fails it at collect).
    data : bytes, optional
        The file's content as UTF-8, when the reader decoded it itself (Shift-JIS, GB18030).
    header : str, optional
        The header line, when the reader has read it already.
    counts : FieldCounts, optional
        :attr:`Delimited.counts` of an earlier scan of the same file (saves counting again).
    strict_width : bool
        With ``counts`` that list no record longer than the header: scan without polars'
        ragged-line handling (measurably cheaper; :data:`EXTRA_COLUMN` is then a null column).
        A record with more fields than ``counts`` saw fails the scan at collect, as a value that
        does not parse as a number does, and the reader's text scan takes over.
    defer_counts : bool
        With ``strict_width`` and no ``counts``: do not count the fields now (the file's one
        extra pass over its bytes). The scan is strict (a long record fails it, as above);
        :attr:`Delimited.suspect` marks the rows that may be short or blank and
        :meth:`Delimited.counted` gives their checks when one is seen. In-memory ``data`` is not
        parsed ahead either (an unterminated quote fails the scan at collect; the text scan
        names its line).

    Raises
    ------
    SourceFormatError
        Empty file, broken gzip, undecodable header, wrong delimiter, repeated column name, an
        unterminated quote (in-memory data only; a lazily scanned file reports it when read,
        through :func:`polars_file_error`).
    """
    if header is None:
        head = data[:65536] if data is not None else head_bytes(path)
        if data is not None and not head.strip(b" \t\r\n\xef\xbb\xbf"):
            raise SourceFormatError(path, "empty file (no header, no rows)", line=1)
        header = header_line(path, head)
    names = column_names(path, header, separator)
    gz = data is None and is_gzip(path)
    if gz:
        data = read_bytes(path)
    numbers = numbers or {}
    schema: dict[str, pl.DataType] = {name: numbers.get(name, pl.String()) for name in names}
    schema[EXTRA_COLUMN] = pl.String()
    text_schema: dict[str, pl.DataType] = {name: pl.String() for name in schema}
    options = {
        "has_header": False,
        "skip_rows": 1,
        "separator": separator,
        "truncate_ragged_lines": True,
        # the header is read by us (BOM removed, names checked); EXTRA_COLUMN receives the first
        # field beyond the header's: it is absent from well-formed files, hence "insert"
        # (documented as unstable in polars 2.1; covered by the tests of extra fields)
        "missing_columns": "insert",
    }

    def scan(chosen: dict[str, pl.DataType]) -> pl.LazyFrame:
        src = io.BytesIO(data) if data is not None else path
        return pl.scan_csv(src, schema=chosen, **options)  # type: ignore[arg-type]

    deferred = strict_width and defer_counts and counts is None
    strict = deferred or (strict_width and counts is not None and not counts.long)

    if data is not None and not deferred:
        try:  # in memory: parse now, so an unterminated quote is reported here with its line
            scan(text_schema).select(pl.len()).collect()
        except pl.exceptions.PolarsError as exc:
            raise polars_file_error(path, exc, data=data) from None
    if strict:  # every record has at most the header's fields (counted): no ragged handling
        del options["truncate_ragged_lines"], options["missing_columns"]
        frame = scan({k: v for k, v in schema.items() if k != EXTRA_COLUMN})
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(EXTRA_COLUMN))
    else:
        frame = scan(schema)
    frame = frame.with_row_index("_line", offset=2).with_columns(pl.col("_line").cast(pl.Int64))
    extra = pl.col(EXTRA_COLUMN).is_not_null()
    checks: list[Check] = [
        (
            extra,
            ROW_FIELD,
            (
                f"more fields than the header's {len(names)} (first extra value '",
                pl.col(EXTRA_COLUMN),
                "'): the values are shifted or a field holds an unquoted delimiter",
            ),
        )
    ]
    problem = _last_line_problem(_tail(path, data), names, separator)
    if problem is not None:
        try:
            rows = int(scan(text_schema).select(pl.len()).collect().item())
        except pl.exceptions.PolarsError as exc:
            raise polars_file_error(path, exc, data=data) from None
        checks.insert(0, (pl.col("_line") == rows + 1, ROW_FIELD, problem))
    if deferred:
        # a record with fewer fields than the header, or a blank line, reads as nulls from its
        # last field on (polars fills the missing fields): the last field's nulls are a superset
        suspect = pl.col(names[-1]).is_null()
        return Delimited(names, frame, checks, None, suspect, (path, separator, data))
    if counts is None:
        counts = count_fields(path, len(names), separator, data)
    checks += _count_checks(counts, len(names))
    return Delimited(names, frame, checks, counts)


def scan_text_csv(
    path: Path, separator: str = ",", numbers: dict[str, pl.DataType] | None = None
) -> pl.LazyFrame:
    """Every column as text (codes keep their leading zeros), plus ``_line`` (1-based file line).

    The frame of :func:`scan_delimited` (without its whole-row checks).
    """
    return scan_delimited(path, separator, numbers).frame


def non_finite(value: pl.Expr) -> pl.Expr:
    """True where a Float64 ``value`` is NaN or infinite (the parser accepts ``NaN``, ``inf``)."""
    return value.is_nan() | value.is_infinite()


#: a reason: fixed text, a String expression, or a tuple of parts (texts and plain column
#: expressions) joined in order, e.g. ``("unknown partner code '", pl.col("partnerCode"), "'")``
Reason = str | pl.Expr | tuple[str | pl.Expr, ...]

#: a check: (condition, field, reason); the field is a column name, or an expression for checks
#: that carry a reader's own verdict (``reject_field``)
Check = tuple[pl.Expr, str | pl.Expr, Reason]


def first_problem(checks: Sequence[Check]) -> tuple[pl.Expr, pl.Expr]:
    """``reject_field`` and ``reject_reason`` expressions: the first failing check of a row wins.

    ``checks`` holds ``(condition, field, reason)``; ``condition`` is True when the row has the
    problem (null counts as no problem). ``reason`` is a text, a String expression, or the cheap
    form: a tuple of parts (texts and plain column expressions). Tuple reasons are assembled once
    per row (part ``i`` of the failing check, for each ``i``) instead of one string expression per
    check evaluated on every row (polars evaluates every ``then`` branch on the whole column).
    A null value part shows as an empty text.
    """
    normalised: list[tuple[pl.Expr, str | pl.Expr, tuple[str | pl.Expr, ...]]] = []
    for cond, name, why in checks:
        parts = (why,) if isinstance(why, str | pl.Expr) else tuple(why)
        normalised.append((cond.fill_null(False), name, parts))
    width = max((len(parts) for _, _, parts in normalised), default=1)
    field: pl.Expr = pl.lit(None, dtype=pl.String)
    slots: list[pl.Expr] = [pl.lit(None, dtype=pl.String) for _ in range(width)]
    for hit, name, parts in reversed(normalised):
        field = pl.when(hit).then(pl.lit(name) if isinstance(name, str) else name).otherwise(field)
        for i in range(width):
            part = parts[i] if i < len(parts) else ""
            shown = pl.lit(part) if isinstance(part, str) else part.cast(pl.String).fill_null("")
            slots[i] = pl.when(hit).then(shown).otherwise(slots[i])
    return field, pl.concat_str(slots)


def problem_index(checks: Sequence[Check]) -> pl.Expr:
    """Index (UInt16) of the first failing check of a row, null when none fails.

    Cheap (integers only): the store filters on it and builds the texts of
    :func:`problem_text` for the rejected rows only.
    """
    index: pl.Expr = pl.lit(None, dtype=pl.UInt16)
    for k in reversed(range(len(checks))):
        hit = checks[k][0].fill_null(False)
        index = pl.when(hit).then(pl.lit(k, dtype=pl.UInt16)).otherwise(index)
    return index


def problem_text(checks: Sequence[Check], index: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``reject_field`` and ``reject_reason`` of the check numbered ``index`` (:func:`problem_index`).

    Gives the texts :func:`first_problem` gives; meant for the (few) rejected rows.
    """
    normalised = [
        (
            index == k,
            pl.lit(name) if isinstance(name, str) else name,
            (why,) if isinstance(why, str | pl.Expr) else tuple(why),
        )
        for k, (_, name, why) in enumerate(checks)
    ]
    width = max((len(parts) for _, _, parts in normalised), default=1)
    field: pl.Expr = pl.lit(None, dtype=pl.String)
    slots: list[pl.Expr] = [pl.lit(None, dtype=pl.String) for _ in range(width)]
    for hit, name_expr, parts in reversed(normalised):
        field = pl.when(hit).then(name_expr).otherwise(field)
        for i in range(width):
            part = parts[i] if i < len(parts) else ""
            shown = pl.lit(part) if isinstance(part, str) else part.cast(pl.String).fill_null("")
            slots[i] = pl.when(hit).then(shown).otherwise(slots[i])
    return field, pl.concat_str(slots)


@dataclass(frozen=True)
class Staged:
    """A reader's output before the canonical select, for the store's single-pass ingest.

    ``frame`` holds the file's columns; ``columns`` maps each canonical column (in
    :data:`~tradeimpact.schema.FLOW_SCHEMA` order, with its dtype) to an expression over
    ``frame``; ``checks`` are the reader's row checks (:func:`first_problem` form). The reader's
    ``read`` is ``frame.select(columns..., first_problem(checks))``; the store evaluates the checks
    as one cheap index and builds reason texts only for rejected rows.
    """

    frame: pl.LazyFrame
    columns: dict[str, pl.Expr]
    checks: list[Check]
    #: builds the same input read as text (:attr:`fallback`), for when ``frame``'s typed scan
    #: fails on a value
    text: Callable[[], Staged] | None = field(default=None, repr=False, compare=False)
    #: True on every row a deferred field count could quarantine (a superset; see
    #: :attr:`Delimited.suspect`); None when ``checks`` are complete
    suspect: pl.Expr | None = None
    #: the same Staged with the whole-row checks of the deferred field count (when a row is
    #: ``suspect``); it counts the fields when called
    recount: Callable[[], Staged] | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def fallback(self) -> Staged | None:
        """The same input read as text (built on first use), or None."""
        return self.text() if self.text is not None else None

    def canonical(self) -> pl.LazyFrame:
        """The reader contract: canonical columns + ``reject_field`` + ``reject_reason``.

        With a deferred field count (``recount``), the fields are counted now, so every check
        is in (the store's ingest defers it: it counts only when a ``suspect`` row is seen).
        """
        if self.recount is not None:
            return self.recount().canonical()
        field, reason = first_problem(self.checks)
        return self.frame.select(
            *(expr.alias(name) for name, expr in self.columns.items()),
            field.alias("reject_field"),
            reason.alias("reject_reason"),
        )


def quoted(expr: pl.Expr) -> pl.Expr:
    """``'text'`` of a String expression for a message (``''`` when null)."""
    return pl.concat_str(pl.lit("'"), expr.cast(pl.String).fill_null(""), pl.lit("'"))


def number(text: pl.Expr) -> pl.Expr:
    """Text -> Float64 (null when blank or unparsable; see :func:`not_a_number`)."""
    return text.str.strip_chars().cast(pl.Float64, strict=False)


def not_a_number(text: pl.Expr) -> pl.Expr:
    """True where ``text`` is non-blank but does not parse as a number."""
    stripped = text.str.strip_chars()
    return (stripped != "") & stripped.cast(pl.Float64, strict=False).is_null()
