"""Private helpers shared by the BACI, Japan Customs and GACC readers.

* the ``code -> iso3`` dictionaries of the tables shipped in :mod:`tradeimpact.codes`
  (``<system>.csv``, read by :func:`tradeimpact.codes.country_table`; the source of each table is
  named in ``<system>.md`` beside it);
* decimal-exact unit scaling of numbers read as text;
* the HS edition in force in a year; strict UTF-8-or-legacy decoding;
* re-exported from :mod:`tradeimpact.sources._text` (shared with the Comtrade readers): the
  first-problem-wins rejection bookkeeping and the file-level checks (empty file, wrong delimiter,
  missing column) that raise :class:`tradeimpact.errors.SourceFormatError`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl

from tradeimpact.codes import country_table
from tradeimpact.errors import SourceFormatError
from tradeimpact.schema import FLOW_SCHEMA

# the file-level checks and the first-problem-wins bookkeeping are shared with the Comtrade readers
from tradeimpact.sources._text import first_problem, require, split_header
from tradeimpact.sources._text import head_bytes as read_head

__all__ = [
    "canonical",
    "code_table",
    "decode_strict",
    "exact_scaled",
    "first_problem",
    "hs_revision_for_year",
    "iso3_map",
    "out_of_range",
    "quoted",
    "read_head",
    "require_columns",
    "split_header",
]

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


def max_digits(factor: int) -> int:
    """Digits before the decimal point that :func:`exact_scaled` takes for ``factor``.

    ``Decimal(38, 9)`` holds 29 digits before the point; the product by ``factor`` must fit too
    (26 digits for ``factor = 1000``).
    """
    return 29 - (len(str(abs(int(factor)))) - 1)


def out_of_range(raw: pl.Expr, factor: int) -> pl.Expr:
    """True where the number in ``raw`` (text) has more digits than :func:`exact_scaled` takes."""
    digits = (
        raw.str.strip_chars()
        .str.replace(r"^[+-]", "")
        .str.replace(r"[.eE].*$", "")
        .str.strip_chars_start("0")
        .str.len_chars()
    )
    return digits > max_digits(factor)


def exact_scaled(raw: pl.Expr, factor: int) -> pl.Expr:
    """``raw`` (text) as a number times ``factor``, computed in decimal then rounded once to float.

    ``"1234.567"`` thousand USD gives exactly ``1234567.0`` USD, where binary floating point would
    give ``1234566.9999999998`` for some inputs (e.g. ``1.005 * 1000``). Unparsable text gives null,
    and so does a number too large for the decimal type (:func:`out_of_range`; a reader
    quarantines it with that reason) instead of failing the whole file.
    """
    safe = pl.when(~out_of_range(raw, factor).fill_null(False)).then(raw)
    return (safe.cast(_EXACT, strict=False) * factor).cast(pl.Float64)


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


def require_columns(path: Path, present: list[str], required: list[str]) -> None:
    """Raise SourceFormatError naming the first required column absent from ``present``."""
    require(path, present, required, present)
