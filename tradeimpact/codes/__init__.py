"""Country-code tables shipped with the package, and the mapping of source codes to ISO3.

Each table is ``tradeimpact/codes/<system>.csv`` with at least the columns ``code,iso3,name``;
``SOURCES.md`` beside it names the source of every table. Systems: ``m49`` (UN M49 / UN Comtrade
numeric codes), ``iso2`` (ISO 3166 alpha-2), ``iso3`` (the valid ISO3 codes of the store: a check,
not a translation), ``baci``, ``japan_customs``, ``gacc``.

A code that is not in the table maps to null; readers turn a null into a quarantined row whose
reason names the code (:func:`unknown_code_reason`), never a dropped row.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import overload

import polars as pl

from tradeimpact.errors import SourceFormatError

__all__ = [
    "CODES_DIR",
    "country_table",
    "join_iso3",
    "systems",
    "to_iso3",
    "unknown_code_reason",
]

#: folder of the shipped tables
CODES_DIR = Path(__file__).resolve().parent


def systems() -> list[str]:
    """The code systems with a shipped table (file names ``<system>.csv``), sorted."""
    return sorted(path.stem for path in CODES_DIR.glob("*.csv"))


@cache
def country_table(system: str) -> pl.DataFrame:
    """The shipped table of ``system`` as text columns (at least ``code``, ``iso3``, ``name``).

    Parameters
    ----------
    system : str
        One of :func:`systems`, e.g. ``"m49"`` or ``"iso2"``.

    Returns
    -------
    polars.DataFrame
        Every column as String, cells stripped, empty cells null; one row per code.

    Raises
    ------
    SourceFormatError
        When the table does not exist, lacks a required column or repeats a code.
    """
    path = CODES_DIR / f"{system}.csv"
    if not path.exists():
        raise SourceFormatError(
            path, f"no country table for code system '{system}'; known systems: {systems()}"
        )
    table = pl.read_csv(path, infer_schema=False)
    missing = {"code", "iso3", "name"} - set(table.columns)
    if missing:
        raise SourceFormatError(path, f"country table lacks column(s) {sorted(missing)}", line=1)
    table = table.with_columns(pl.col(c).str.strip_chars() for c in table.columns)
    repeated = table.filter(pl.col("code").is_duplicated())["code"].unique().sort().to_list()
    if repeated:
        raise SourceFormatError(path, f"country table repeats code(s) {repeated}", field="code")
    return table


@cache
def _lookup(system: str) -> tuple[list[str], list[str], bool]:
    table = country_table(system).filter(pl.col("iso3").is_not_null() & (pl.col("iso3") != ""))
    codes = table["code"].to_list()
    numeric = all(code.isdigit() for code in codes)
    if numeric:
        codes = [str(int(code)) for code in codes]
    return codes, table["iso3"].to_list(), numeric


def _normalise(codes: pl.Expr, numeric: bool) -> pl.Expr:
    text = codes.cast(pl.String).str.strip_chars()
    if numeric:
        # "156", "0156", "156.0" (a code read as a float) -> "156"
        return text.cast(pl.Float64, strict=False).cast(pl.Int64, strict=False).cast(pl.String)
    return text.str.to_uppercase()


@overload
def to_iso3(codes: pl.Expr, system: str) -> pl.Expr: ...
@overload
def to_iso3(codes: pl.Series, system: str) -> pl.Series: ...
def to_iso3(codes: pl.Expr | pl.Series, system: str) -> pl.Expr | pl.Series:
    """Map source country codes to ISO3 through the shipped table of ``system``.

    Parameters
    ----------
    codes : polars.Expr or polars.Series
        Codes as text or numbers. For numeric systems (M49, BACI, Japan Customs, GACC) leading
        zeros and a trailing ``.0`` are ignored; alpha codes are compared upper-cased.
    system : str
        The code system (see :func:`systems`).

    Returns
    -------
    polars.Expr or polars.Series
        ISO3 (String) of each code; null where the code is not in the table (quarantine it with
        :func:`unknown_code_reason`).
    """
    known, iso3, numeric = _lookup(system)
    if isinstance(codes, pl.Series):
        frame = codes.to_frame("c").select(to_iso3(pl.col("c"), system))
        return frame.to_series().rename(codes.name)
    return _normalise(codes, numeric).replace_strict(
        known, iso3, default=None, return_dtype=pl.String
    )


def join_iso3(frame: pl.LazyFrame, codes: pl.Expr, system: str, alias: str) -> pl.LazyFrame:
    """``frame`` plus a column ``alias``: the ISO3 of ``codes`` (null when unknown), by a join.

    The streaming form of :func:`to_iso3` for readers: a left join with the (small) table keeps
    polars' streaming engine streaming, where ``replace_strict`` over a large file holds it in
    memory. Row order is kept.
    """
    known, iso3, numeric = _lookup(system)
    key = f"__{alias}_code"
    table = pl.LazyFrame({key: known, alias: iso3}, schema={key: pl.String(), alias: pl.String()})
    return (
        frame.with_columns(_normalise(codes, numeric).alias(key))
        .join(table, on=key, how="left", maintain_order="left")
        .drop(key)
    )


def unknown_code_reason(codes: pl.Expr, system: str, role: str) -> pl.Expr:
    """Reason text for a code :func:`to_iso3` could not map, naming the code.

    ``unknown_code_reason(pl.col("reporter_code"), "m49", "reporter")`` gives e.g.
    ``"unknown reporter code '999' (not in the m49 table)"``.
    """
    return pl.concat_str(
        pl.lit(f"unknown {role} code '"),
        codes.cast(pl.String).fill_null(""),
        pl.lit(f"' (not in the {system} table)"),
    )
