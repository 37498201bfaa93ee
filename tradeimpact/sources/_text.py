"""File-level checks of delimited text files shared by the Comtrade and generic readers.

Each check raises :class:`tradeimpact.errors.SourceFormatError` naming the file, the line and, where
it applies, the field: missing or empty file, undecodable text, wrong delimiter, missing column.
The checks read only the head of the file; a decoding error further down is located by
:func:`locate_bad_utf8` after polars reports it (so the hot path stays a plain ``scan_csv``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tradeimpact.errors import SourceFormatError

_BOM = "\ufeff"


def is_gzip(path: Path) -> bool:
    """True when ``path`` starts with the gzip magic bytes."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def head_bytes(path: Path, nbytes: int = 65536) -> bytes:
    """The first ``nbytes`` of the (decompressed) file; raises for a missing or empty file."""
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rb") as handle:
            head: bytes = handle.read(nbytes)
    except FileNotFoundError:
        raise SourceFormatError(path, "file not found") from None
    except (OSError, EOFError) as exc:
        raise SourceFormatError(path, f"cannot read the file: {exc}") from None
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise SourceFormatError(path, "empty file (no header, no rows)", line=1)
    return head


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
    names = [name.strip().strip('"').strip() for name in line.split(delimiter)]
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
) -> SourceFormatError:
    """A polars error met while scanning ``path`` as a SourceFormatError naming the file.

    An encoding error names the line and column of the first bytes that are not UTF-8
    (``bad_utf8`` is the message, formatted with ``column``); any other error keeps polars'
    first line.
    """
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "utf-8" in message.lower() or "utf8" in message.lower():
        where = locate_bad_utf8(path)
        if where is not None:
            return SourceFormatError(
                path, "broken encoding: " + bad_utf8.format(column=where[1]), line=where[0]
            )
    return SourceFormatError(path, f"cannot parse the file: {message}")


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


def scan_text_csv(
    path: Path, separator: str = ",", numbers: dict[str, pl.DataType] | None = None
) -> pl.LazyFrame:
    """Every column as text (codes keep their leading zeros), plus ``_line`` (1-based file line).

    Plain files are scanned lazily; gzip files are decompressed by polars' reader. ``numbers``
    (column -> dtype) are parsed by the scan instead (a value that does not parse fails it).
    """
    if is_gzip(path):
        frame = pl.read_csv(
            path, infer_schema=False, separator=separator, schema_overrides=numbers
        ).lazy()
    else:
        frame = pl.scan_csv(path, infer_schema=False, separator=separator, schema_overrides=numbers)
    return frame.with_row_index("_line", offset=2).with_columns(pl.col("_line").cast(pl.Int64))


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
    #: the same input read as text, for when ``frame``'s typed scan fails on a value
    fallback: Staged | None = None

    def canonical(self) -> pl.LazyFrame:
        """The reader contract: canonical columns + ``reject_field`` + ``reject_reason``."""
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
