"""Private helpers shared by the BACI, Japan Customs and GACC readers.

* the ``code -> iso3`` dictionaries of the tables shipped in :mod:`tradeimpact.codes`
  (``<system>.csv``, read by :func:`tradeimpact.codes.country_table`; the source of each table is
  named in ``<system>.md`` beside it);
* decimal-exact unit scaling of numbers read as text;
* the first-problem-wins rejection bookkeeping every reader needs;
* reading a text file's first line for the file-level checks (empty file, wrong delimiter,
  missing column) that must raise :class:`tradeimpact.errors.SourceFormatError`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl

from tradeimpact.codes import country_table
from tradeimpact.errors import SourceFormatError
from tradeimpact.schema import FLOW_SCHEMA

#: decimal type used to scale numbers exactly (thousand USD -> USD without binary rounding noise)
_EXACT = pl.Decimal(38, 9)


def code_table(system: str) -> pl.DataFrame:
    """The shipped country table ``tradeimpact/codes/<system>.csv``, every column as text.

    Delegates to :func:`tradeimpact.codes.country_table` (cached there).

    Parameters
    ----------
    system : str
        ``"baci"``, ``"japan_customs"`` or ``"gacc"``.

    Returns
    -------
    polars.DataFrame
        At least ``code``, ``iso3`` and ``name`` (String); empty cells are null.
    """
    return country_table(system)


@cache
def iso3_map(system: str) -> dict[str, str]:
    """``code -> iso3`` of the shipped table of ``system`` (codes without an ISO3 left out)."""
    table = code_table(system).filter(pl.col("iso3").is_not_null())
    return dict(zip(table["code"].to_list(), table["iso3"].to_list(), strict=True))


def exact_scaled(raw: pl.Expr, factor: int) -> pl.Expr:
    """``raw`` (text) as a number times ``factor``, computed in decimal then rounded once to float.

    ``"1234.567"`` thousand USD gives exactly ``1234567.0`` USD, where binary floating point would
    give ``1234566.9999999998`` for some inputs (e.g. ``1.005 * 1000``). Unparsable text gives null.
    """
    return (raw.cast(_EXACT, strict=False) * factor).cast(pl.Float64)


def hs_revision_for_year(year: pl.Expr) -> pl.Expr:
    """UN Comtrade classification code of the HS edition in force in ``year``.

    National codes (Japan's 9 digits, China's 8-10 digits) extend the HS edition in force when the
    goods were declared: HS1988 (H0) to 1995, HS1996 (H1), HS2002 (H2), HS2007 (H3), HS2012 (H4),
    HS2017 (H5), HS2022 (H6) from 1 January of the year named.
    """
    out: pl.Expr = pl.lit(None, dtype=pl.String)
    editions = ((1988, "H0"), (1996, "H1"), (2002, "H2"), (2007, "H3"), (2012, "H4"))
    for first_year, code in (*editions, (2017, "H5"), (2022, "H6")):
        out = pl.when(year >= first_year).then(pl.lit(code)).otherwise(out)
    return out


def first_problem(checks: list[tuple[pl.Expr, str, pl.Expr | str]]) -> tuple[pl.Expr, pl.Expr]:
    """``reject_field`` and ``reject_reason`` expressions: the first failing check of a row wins.

    Parameters
    ----------
    checks : list of (condition, field, reason)
        ``condition`` is True when the row has the problem; ``reason`` is a text or a String
        expression (so the message can quote the offending value).
    """
    field: pl.Expr = pl.lit(None, dtype=pl.String)
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for cond, name, why in reversed(checks):
        why_expr = pl.lit(why) if isinstance(why, str) else why
        field = pl.when(cond).then(pl.lit(name)).otherwise(field)
        reason = pl.when(cond).then(why_expr).otherwise(reason)
    return field, reason


def quoted(col: str) -> pl.Expr:
    """``'value'`` of a text column for an error message (``<empty>`` when null or blank)."""
    return pl.concat_str(pl.lit("'"), pl.col(col).fill_null(""), pl.lit("'"))


def canonical(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Select the canonical columns (in order, with their dtypes) plus the two reject columns."""
    exprs = [pl.col(name).cast(dtype) for name, dtype in FLOW_SCHEMA.items()]
    exprs += [pl.col("reject_field").cast(pl.String), pl.col("reject_reason").cast(pl.String)]
    return frame.select(exprs)


_UTF8_BOM = b"\xef\xbb\xbf"


def decode_strict(data: bytes, path: str | Path, fallback: str) -> tuple[str, str]:
    """Decode ``data`` as UTF-8 (BOM allowed) or else as ``fallback``; never a silent guess.

    UTF-8 goes first: text in a legacy East-Asian encoding (Shift-JIS, GBK/GB18030) is almost
    never valid UTF-8, while UTF-8 text often decodes (wrongly) in those encodings.

    Returns
    -------
    (encoding, text)
        ``encoding`` is ``"utf-8"``, ``"utf-8-sig"`` or ``fallback``.

    Raises
    ------
    SourceFormatError
        When neither decodes, naming the byte offset and line of the first bad byte of each try.
    """
    candidates = ["utf-8-sig"] if data.startswith(_UTF8_BOM) else ["utf-8", fallback]
    failures: list[tuple[str, int, int, bytes]] = []
    for encoding in candidates:
        try:
            return encoding, data.decode(encoding)
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            failures.append((encoding, err.start, line, data[err.start : err.start + 2]))
    detail = "; ".join(
        f"not {enc}: byte {bad!r} at byte offset {offset}, line {line}"
        for enc, offset, line, bad in failures
    )
    raise SourceFormatError(
        path, f"undecodable text, neither UTF-8 nor {fallback}: {detail}", line=failures[-1][2]
    )


def read_head(path: Path, nbytes: int = 65536) -> bytes:
    """The first ``nbytes`` of ``path``; raises SourceFormatError for a missing or empty file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(nbytes)
    except FileNotFoundError:
        raise SourceFormatError(path, "file not found") from None
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise SourceFormatError(path, "empty file (no header, no rows)", line=1)
    return head


def split_header(path: Path, first_line: str, expected_delimiter: str = ",") -> list[str]:
    """Column names of a header line; raises SourceFormatError when the delimiter is wrong."""
    line = first_line.lstrip("\ufeff").rstrip("\r\n")
    names = [name.strip().strip('"').strip() for name in line.split(expected_delimiter)]
    if len(names) == 1:
        for other, label in (("\t", "tab"), (";", "';'"), ("|", "'|'")):
            if other in line:
                raise SourceFormatError(
                    path,
                    f"wrong delimiter: the header is split by {label}, this format is separated "
                    f"by '{expected_delimiter}'",
                    line=1,
                )
    return names


def require_columns(path: Path, present: list[str], required: list[str]) -> None:
    """Raise SourceFormatError naming the first required column absent from ``present``."""
    missing = [name for name in required if name not in present]
    if missing:
        raise SourceFormatError(
            path,
            f"missing column(s) {missing}; header has {present}",
            line=1,
            field=missing[0],
        )
