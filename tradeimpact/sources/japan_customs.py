"""Japan Customs (Trade Statistics of Japan, Ministry of Finance): commodity-by-country CSV.

Layout of the download (customs.go.jp / e-Stat "品別国別表"), one line per (direction, year,
9-digit commodity, country), the twelve months side by side::

    Exp or Imp,Year,HS,Country,Unit1,Unit2,Quantity1-Year,Quantity2-Year,Value-Year,
    Quantity1-Jan,Quantity2-Jan,Value-Jan, ... ,Quantity1-Dec,Quantity2-Dec,Value-Dec

* ``Exp or Imp``: 1 = export, 2 = import;
* ``HS``: Japan's 9-digit statistical code written with a leading apostrophe (``'280530000``) so
  spreadsheets keep its leading zero;
* ``Country``: Japan Customs' 3-digit country code (105 = China; table ``codes/japan_customs.csv``);
  exports by country of destination, imports by country of origin;
* ``Unit1``/``Unit2``: the units of ``Quantity1``/``Quantity2`` (``KG``, ``MT``, ``NO``, ``L`` ...,
  blank when the commodity has no such quantity);
* ``Value``: thousand yen, rounded down; exports FOB, imports CIF;
* April is spelled ``Apr`` in some files and ``Apl`` in others: both are read.

Mapping to the canonical record: one row per (line, month) -- the ``-Year`` columns are the annual
total, checked against the sum of the months (a line whose total differs is quarantined, all
twelve months, with the reason) and never stored as a row of its own. ``reporter_iso3 = "JPN"``,
``flow`` X (1) or M (2), ``partner_iso3`` from ``Country``, ``exporter/importer`` accordingly,
``hs_code`` the 9 digits, ``hs6`` the first six, ``hs_revision`` the HS edition in force in
``Year``, ``period`` the first day of the month, ``freq = "M"``, ``value_native = Value * 1000``
(JPY), ``currency = "JPY"``, ``valuation`` CIF (imports) or FOB (exports), ``value_usd`` null unless
a monthly JPY-per-USD table is given. A weight unit (``KG``, ``MT``, ``GR``) fills
``net_weight_kg`` (converted to kg); the other unit fills ``quantity``/``quantity_unit``.

Encoding: the file is decoded as UTF-8 (with or without BOM) and, if that fails, as Shift-JIS
(Windows code page 932). The encoding found is returned by :func:`detect_encoding` and logged; a
file that is neither raises SourceFormatError naming the byte offset and line of the bad bytes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources._codetables import (
    canonical,
    decode_strict,
    exact_scaled,
    hs_revision_for_year,
    iso3_map,
    max_digits,
    out_of_range,
    quoted,
    read_head,
    require_columns,
    split_header,
)
from tradeimpact.sources._text import (
    Check,
    non_finite,
    problem_index,
    problem_text,
    scan_delimited,
)

__all__ = ["MONTHS", "JapanCustomsReader", "detect_encoding"]

log = logging.getLogger(__name__)

#: month names as in the column headers (April has two spellings, see :data:`APRIL_ALIASES`)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
APRIL_ALIASES = ["Apr", "Apl"]

#: weight units of the Japanese tariff schedule -> kilograms per unit
WEIGHT_UNITS = {"KG": 1.0, "MT": 1000.0, "GR": 0.001}

_KEY_COLUMNS = ["Exp or Imp", "Year", "HS", "Country", "Unit1", "Unit2"]
_MEASURES = ["Quantity1", "Quantity2", "Value"]


def detect_encoding(data: bytes, path: str | Path = "<bytes>") -> tuple[str, str]:
    """Decode a Japan Customs file: UTF-8 first, then Shift-JIS (cp932); never a silent guess.

    UTF-8 is tried first because Japanese text in Shift-JIS is almost never valid UTF-8, while
    UTF-8 Japanese text often decodes (wrongly) as cp932.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    path : str or Path
        Used in the error message.

    Returns
    -------
    (encoding, text)
        ``encoding`` is ``"utf-8"``, ``"utf-8-sig"`` (with BOM) or ``"cp932"``.

    Raises
    ------
    SourceFormatError
        When the bytes are neither, naming the byte offset and line of the first bad byte in each.
    """
    try:
        return decode_strict(data, path, "cp932")
    except SourceFormatError as err:
        raise SourceFormatError(
            path,
            err.reason.replace("neither UTF-8 nor cp932", "neither UTF-8 nor Shift-JIS (cp932)"),
            line=err.line,
        ) from None


class JapanCustomsReader:
    """Reader of Japan Customs commodity-by-country CSV files (wide months).

    Parameters
    ----------
    jpy_per_usd : polars.DataFrame, optional
        Monthly exchange rates with columns ``period`` (Date, first day of the month) and
        ``jpy_per_usd`` (yen per US dollar). When given, ``value_usd = value_native / jpy_per_usd``;
        months without a rate keep ``value_usd`` null and get the flag ``no_fx_rate``.
    """

    name = "japan_customs"
    version = "1"
    description = (
        "Japan Customs commodity-by-country CSV (wide months, thousand JPY, UTF-8 or Shift-JIS)"
    )

    def __init__(self, jpy_per_usd: pl.DataFrame | None = None) -> None:
        if jpy_per_usd is not None:
            missing = {"period", "jpy_per_usd"} - set(jpy_per_usd.columns)
            if missing:
                raise ValueError(f"jpy_per_usd lacks column(s) {sorted(missing)}")
            jpy_per_usd = jpy_per_usd.select(
                pl.col("period").cast(pl.Date), pl.col("jpy_per_usd").cast(pl.Float64)
            )
            if jpy_per_usd["period"].is_duplicated().any():
                raise ValueError("jpy_per_usd has more than one rate for a month")
        self._fx = jpy_per_usd

    def sniff(self, path: Path) -> bool:
        """True when the first line starts with ``Exp or Imp,Year,HS,Country``."""
        try:
            head = Path(path).open("rb").read(4096)
        except OSError:
            return False
        first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
        names = [c.strip().strip('"') for c in first.split(",")]
        return names[:4] == _KEY_COLUMNS[:4]

    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason``, one row per line and month.

        Raises
        ------
        SourceFormatError
            Empty file, undecodable text, wrong delimiter, missing column.
        """
        path = Path(path)
        read_head(path)
        encoding, text = detect_encoding(path.read_bytes(), path)
        log.info("%s: decoded as %s", path.name, encoding)
        columns = split_header(path, text.split("\n", 1)[0])
        april = [a for a in APRIL_ALIASES if f"Value-{a}" in columns]
        if len(april) > 1:
            raise SourceFormatError(
                path, "both 'Value-Apr' and 'Value-Apl' in the header", line=1, field="Value-Apl"
            )
        months = [april[0] if m == "Apr" and april else m for m in MONTHS]
        required = _KEY_COLUMNS + [f"{m}-Year" for m in _MEASURES]
        required += [f"{m}-{month}" for month in months for m in _MEASURES]
        require_columns(path, columns, required)

        scanned = scan_delimited(path, data=text.encode("utf-8"), header=text.split("\n", 1)[0])
        lf = scanned.frame.with_columns(
            pl.col("_line").alias("source_line"),
            *[pl.col(c).str.strip_chars() for c in _KEY_COLUMNS if c != "Exp or Imp"],
            # "1"/"2", also written "01"/"02" by some extracts
            pl.col("Exp or Imp").str.strip_chars().str.replace(r"^0+(\d)", "$1"),
            # numbers: blanks and thousands separators away; "" stays "" (-> rejected)
            *[
                pl.col(c).str.replace_all(r"[,\s]", "").alias(c)
                for c in required
                if c not in _KEY_COLUMNS
            ],
        )
        lf = lf.with_columns(
            pl.col("HS").str.strip_chars_start("'").alias("_hs"),
            pl.col("Year").cast(pl.Int32, strict=False).alias("_year"),
            pl.col("Country")
            .replace_strict(iso3_map("japan_customs"), default=None, return_dtype=pl.String)
            .alias("_partner"),
        )

        # line-level checks (a failing line rejects its twelve months)
        numeric = [c for c in required if c not in _KEY_COLUMNS]
        checks: list[Check] = [
            *scanned.checks,
            (
                ~pl.col("Exp or Imp").is_in(["1", "2"]).fill_null(False),
                "Exp or Imp",
                pl.concat_str(pl.lit("'Exp or Imp' "), quoted("Exp or Imp"), pl.lit(" is not 1/2")),
            ),
            (
                pl.col("_year").is_null(),
                "Year",
                pl.concat_str(pl.lit("year "), quoted("Year"), pl.lit(" is not an integer")),
            ),
            (
                pl.col("_hs").str.contains(r"^\d{8}$").fill_null(False),
                "HS",
                pl.concat_str(
                    pl.lit("HS code "),
                    quoted("HS"),
                    pl.lit(
                        " has 8 digits: read as a number, its leading zero lost (Japan Customs "
                        "writes 9 digits after an apostrophe)"
                    ),
                ),
            ),
            (
                ~pl.col("_hs").str.contains(r"^\d{9}$").fill_null(False),
                "HS",
                pl.concat_str(pl.lit("HS code "), quoted("HS"), pl.lit(" is not 9 digits")),
            ),
            (
                pl.col("_partner").is_null(),
                "Country",
                pl.concat_str(pl.lit("unknown Japan Customs country code "), quoted("Country")),
            ),
        ]
        for col in numeric:
            number = pl.col(col).cast(pl.Float64, strict=False)
            checks.append(
                (
                    number.is_null(),
                    col,
                    pl.concat_str(pl.lit(f"non-numeric {col} "), quoted(col)),
                )
            )
            checks.append(
                (
                    non_finite(number),
                    col,
                    pl.concat_str(pl.lit(f"non-finite {col} "), quoted(col)),
                )
            )
            if col.startswith("Value"):
                checks.append(
                    (
                        out_of_range(pl.col(col), 1000),
                        col,
                        pl.concat_str(
                            pl.lit(f"{col} "),
                            quoted(col),
                            pl.lit(
                                f" is out of range: more than {max_digits(1000)} digits "
                                "(thousand JPY)"
                            ),
                        ),
                    )
                )
            checks.append((number < 0, col, pl.concat_str(pl.lit(f"negative {col} "), quoted(col))))
        for measure in _MEASURES:
            total = pl.col(f"{measure}-Year").cast(pl.Float64, strict=False)
            months_sum = pl.sum_horizontal(
                pl.col(f"{measure}-{month}").cast(pl.Float64, strict=False) for month in months
            )
            checks.append(
                (
                    (total - months_sum).abs() > 1e-9 * pl.max_horizontal(total.abs(), pl.lit(1.0)),
                    f"{measure}-Year",
                    pl.concat_str(
                        pl.lit(f"{measure}-Year "),
                        pl.col(f"{measure}-Year"),
                        pl.lit(f" differs from the sum of {measure}-Jan..Dec "),
                        months_sum.cast(pl.String),
                    ),
                )
            )
        # the file is in memory already (decoded above): the ~200 line checks are evaluated here
        # once, as the index of the first failing one (integers), and the reason texts are built
        # for the failing lines only (a text expression per check over every line costs far more)
        frame = lf.with_columns(problem_index(checks).alias("_problem")).collect()
        failing = frame.filter(pl.col("_problem").is_not_null())
        reject_field, reject_reason = problem_text(checks, pl.col("_problem"))
        reasons = failing.select(
            pl.col("source_line"),
            reject_field.cast(pl.String).alias("reject_field"),
            reject_reason.cast(pl.String).alias("reject_reason"),
        )
        lf = (
            frame.drop("_problem")
            .join(reasons, on="source_line", how="left", maintain_order="left")
            .lazy()
        )

        # wide -> long: one struct per month, unpivoted, then unnested
        lf = lf.with_columns(
            pl.struct(
                pl.lit(number, dtype=pl.Int8).alias("_month"),
                *[pl.col(f"{m}-{month}").alias(f"_{m}") for m in _MEASURES],
            ).alias(f"_m{number:02d}")
            for number, month in enumerate(months, start=1)
        )
        month_cols = [f"_m{number:02d}" for number in range(1, 13)]
        keep = [
            "source_line",
            "Exp or Imp",
            "Unit1",
            "Unit2",
            "_hs",
            "_year",
            "_partner",
            "reject_field",
            "reject_reason",
        ]
        long = (
            lf.select(keep + month_cols)
            .unpivot(index=keep, on=month_cols, variable_name="_col", value_name="_m")
            .unnest("_m")
            .sort(["source_line", "_month"])
        )
        return canonical(self._to_canonical(long, path.name))

    def _to_canonical(self, long: pl.LazyFrame, file_name: str) -> pl.LazyFrame:
        is_import = pl.col("Exp or Imp") == "2"
        unit1 = pl.col("Unit1").fill_null("").str.to_uppercase()
        unit2 = pl.col("Unit2").fill_null("").str.to_uppercase()
        q1 = pl.col("_Quantity1").cast(pl.Float64, strict=False)
        q2 = pl.col("_Quantity2").cast(pl.Float64, strict=False)

        def kg(unit: pl.Expr, qty: pl.Expr) -> pl.Expr:
            factor = unit.replace_strict(WEIGHT_UNITS, default=None, return_dtype=pl.Float64)
            return qty * factor

        w1 = unit1.is_in(list(WEIGHT_UNITS))
        w2 = unit2.is_in(list(WEIGHT_UNITS))
        other1 = (unit1 != "") & ~w1
        other2 = (unit2 != "") & ~w2
        weight = pl.when(w2).then(kg(unit2, q2)).when(w1).then(kg(unit1, q1)).otherwise(None)
        quantity = pl.when(other1).then(q1).when(other2).then(q2).otherwise(None)
        quantity_unit = pl.when(other1).then(unit1).when(other2).then(unit2).otherwise(None)
        dropped = (
            pl.when(other1 & other2)
            .then(pl.concat_str(pl.lit("quantity2_not_stored:"), unit2))
            .when(w1 & w2)
            .then(pl.concat_str(pl.lit("quantity1_not_stored:"), unit1))
            .otherwise(None)
        )
        value_jpy = exact_scaled(pl.col("_Value"), 1000)
        out = long.with_columns(
            pl.lit("japan_customs").alias("source"),
            pl.lit("JPN").alias("reporter_iso3"),
            pl.col("_partner").alias("partner_iso3"),
            pl.when(is_import).then(pl.lit("M")).otherwise(pl.lit("X")).alias("flow"),
            pl.when(is_import)
            .then(pl.col("_partner"))
            .otherwise(pl.lit("JPN"))
            .alias("exporter_iso3"),
            pl.when(is_import)
            .then(pl.lit("JPN"))
            .otherwise(pl.col("_partner"))
            .alias("importer_iso3"),
            pl.col("_hs").alias("hs_code"),
            pl.col("_hs").str.slice(0, 6).alias("hs6"),
            hs_revision_for_year(pl.col("_year")).alias("hs_revision"),
            pl.date(pl.col("_year"), pl.col("_month"), 1).alias("period"),
            pl.lit("M").alias("freq"),
            value_jpy.alias("value_native"),
            pl.lit("JPY").alias("currency"),
            pl.when(is_import).then(pl.lit("CIF")).otherwise(pl.lit("FOB")).alias("valuation"),
            weight.alias("net_weight_kg"),
            quantity.alias("quantity"),
            quantity_unit.alias("quantity_unit"),
            dropped.alias("flags"),
            pl.lit(file_name).alias("source_file"),
        )
        if self._fx is None:
            return out.with_columns(pl.lit(None, dtype=pl.Float64).alias("value_usd"))
        out = out.join(self._fx.lazy(), on="period", how="left", maintain_order="left")
        no_rate = pl.col("jpy_per_usd").is_null()
        return out.with_columns(
            (pl.col("value_native") / pl.col("jpy_per_usd")).alias("value_usd"),
            pl.when(no_rate)
            .then(
                pl.when(pl.col("flags").is_null())
                .then(pl.lit("no_fx_rate"))
                .otherwise(pl.concat_str(pl.col("flags"), pl.lit(";no_fx_rate")))
            )
            .otherwise(pl.col("flags"))
            .alias("flags"),
        )
