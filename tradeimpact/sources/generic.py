"""A column-mapping reader for users' own delimited extracts.

Any CSV-like file with one row per flow can be stored once its columns are mapped to the canonical
record. Example, the critical-materials-atlas magnets extract
(``year,exporter_iso2,importer_iso2,value_usd,qty_tonnes,source_note``)::

    GenericReader(
        mapping={"year": "year", "exporter": "exporter_iso2", "importer": "importer_iso2",
                 "value_usd": "value_usd", "net_weight_kg": "qty_tonnes", "flags": "source_note"},
        code_system="iso2", freq="A", reported_by="importer",
        units={"net_weight_kg": 1000},            # tonnes -> kg
        constants={"hs_code": "850511"},          # the file holds one HS6 line
        valuation="FOB", source="critmat_magnets",
    )

Mapping keys (canonical field <- the file's column):

* countries: ``exporter`` and ``importer`` (then ``reported_by`` says whose report the row is:
  ``"importer"`` gives ``reporter = importer, flow = "M"``; ``"exporter"`` gives
  ``reporter = exporter, flow = "X"``), or ``reporter``, ``partner`` and ``flow`` (values M/X or
  1/2 = import/export);
* time: ``period`` (text: ``2010``, ``201009``, ``2010-09`` or ``2010-09-01``) or ``year`` (plus
  ``month`` for monthly data);
* ``hs_code``, ``hs_revision``, ``value_usd``, ``value_native``, ``net_weight_kg``, ``quantity``,
  ``quantity_unit``, ``flags``.

``constants`` fills canonical fields the file does not hold (e.g. ``hs_code``). ``units`` multiplies
numeric fields once (computed in decimal, so ``1.005 * 1000`` is exactly ``1005.0``). Country codes
map to ISO3 through the shipped table of ``code_system`` (``iso3``, ``iso2``, ``m49``, ``baci``...);
unknown codes are quarantined with the code in the reason. ``period_range`` (inclusive) is the
range the file declares; rows outside are quarantined.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from tradeimpact.codes import join_iso3
from tradeimpact.schema import FLOW_SCHEMA
from tradeimpact.sources._text import (
    Reason,
    first_problem,
    head_bytes,
    header_line,
    not_a_number,
    require,
    scan_text_csv,
    split_header,
)

__all__ = ["MAPPABLE", "GenericReader"]

#: the keys a mapping may use
MAPPABLE = (
    "exporter",
    "importer",
    "reporter",
    "partner",
    "flow",
    "period",
    "year",
    "month",
    "hs_code",
    "hs_revision",
    "value_usd",
    "value_native",
    "net_weight_kg",
    "quantity",
    "quantity_unit",
    "flags",
)
_NUMERIC = ("value_usd", "value_native", "net_weight_kg", "quantity")
_FLOW_WORDS = {"M": "M", "X": "X", "1": "M", "2": "X", "IMPORT": "M", "EXPORT": "X"}


def _scaled(text: pl.Expr, factor: float) -> pl.Expr:
    """Number from text times ``factor``.

    Integral factors (thousand -> unit, tonnes -> kg) are applied in decimal arithmetic (18 decimal
    places), so ``"1.005"`` tonnes is exactly ``1005.0`` kg; other factors in floating point.
    """
    stripped = text.str.strip_chars()
    as_float = stripped.cast(pl.Float64, strict=False)
    if factor == 1:
        return as_float
    if float(factor).is_integer():
        exact = (stripped.cast(pl.Decimal(38, 18), strict=False) * int(factor)).cast(pl.Float64)
        return pl.coalesce(exact, as_float * factor)
    return as_float * factor


class GenericReader:
    """Reads a delimited extract through a column mapping (see the module docstring).

    Parameters
    ----------
    mapping : dict
        Canonical field (one of :data:`MAPPABLE`) -> the file's column.
    source : str
        The store's ``source`` partition for these rows (name your data set).
    code_system : str
        Code system of the country columns (a table in :mod:`tradeimpact.codes`).
    freq : {"A", "M"}
        Frequency of the data.
    reported_by : {"importer", "exporter"}, optional
        Whose report the rows are, when the mapping gives ``exporter`` and ``importer``.
    units : dict, optional
        Canonical numeric field -> factor to the canonical unit (e.g. tonnes -> kg: 1000).
    constants : dict, optional
        Canonical field -> value for every row (e.g. ``{"hs_code": "850511"}``).
    valuation : {"CIF", "FOB"}, optional
        Defaults to CIF for imports and FOB for exports.
    currency : str
        Currency of ``value_native`` (``"USD"`` by default).
    separator : str
        Field delimiter.
    period_range : (date, date), optional
        Inclusive range the file declares.
    """

    name = "generic"
    version = "1"
    description = "any delimited extract, through a column mapping (Python API: GenericReader)"

    def __init__(
        self,
        mapping: Mapping[str, str],
        *,
        source: str = "generic",
        code_system: str = "iso3",
        freq: str = "A",
        reported_by: str | None = None,
        units: Mapping[str, float] | None = None,
        constants: Mapping[str, str] | None = None,
        valuation: str | None = None,
        currency: str = "USD",
        separator: str = ",",
        period_range: tuple[dt.date, dt.date] | None = None,
    ) -> None:
        unknown = sorted(set(mapping) - set(MAPPABLE))
        if unknown:
            raise ValueError(f"unknown mapping key(s) {unknown}; allowed: {list(MAPPABLE)}")
        pairwise = {"exporter", "importer"} <= set(mapping)
        directed = {"reporter", "partner", "flow"} <= set(mapping)
        if pairwise == directed:
            raise ValueError(
                "map either 'exporter' and 'importer' (with reported_by) or 'reporter', "
                "'partner' and 'flow'"
            )
        if pairwise and reported_by not in ("importer", "exporter"):
            raise ValueError("reported_by must be 'importer' or 'exporter'")
        if not ({"period", "year"} & set(mapping)):
            raise ValueError("map 'period' or 'year' (plus 'month' for monthly data)")
        if "hs_code" not in mapping and "hs_code" not in (constants or {}):
            raise ValueError("map 'hs_code' or give it in constants")
        if freq not in ("A", "M"):
            raise ValueError("freq must be 'A' or 'M'")
        if valuation not in (None, "CIF", "FOB"):
            raise ValueError("valuation must be 'CIF', 'FOB' or None")
        if "value_usd" not in mapping and "value_native" not in mapping:
            raise ValueError("map 'value_usd' or 'value_native'")
        self.mapping = dict(mapping)
        self.source = source
        self.code_system = code_system
        self.freq = freq
        self.reported_by = reported_by
        self.units = dict(units or {})
        self.constants = dict(constants or {})
        self.valuation = valuation
        self.currency = currency
        self.separator = separator
        self.period_range = period_range

    def sniff(self, path: Path) -> bool:
        """True when the file's header holds every mapped column."""
        try:
            head = head_bytes(Path(path), 8192)
            names = split_header(Path(path), header_line(Path(path), head), self.separator)
        except Exception:
            return False
        return set(self.mapping.values()) <= set(names)

    def declared_range(self, path: Path) -> tuple[dt.date, dt.date] | None:
        """The inclusive period range given at construction (the same for every file)."""
        return self.period_range

    def _period(self) -> pl.Expr:
        m = self.mapping
        if "period" in m:
            text = pl.col(m["period"]).str.strip_chars().str.replace_all("[-/]", "")
            year = text.str.slice(0, 4)
            month = (
                pl.when(text.str.len_chars() >= 6).then(text.str.slice(4, 2)).otherwise(pl.lit("1"))
            )
        else:
            year = pl.col(m["year"]).str.strip_chars()
            month = pl.col(m["month"]).str.strip_chars() if "month" in m else pl.lit("1")
        y = year.cast(pl.Int32, strict=False)
        mo = month.cast(pl.Int8, strict=False)
        valid = y.is_between(1800, 2200) & mo.is_between(1, 12)
        if self.freq == "A":
            valid = valid & (mo == 1)
        return pl.when(valid).then(pl.date(y, mo, 1))

    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason``; raises SourceFormatError."""
        path = Path(path)
        head = head_bytes(path)
        names = split_header(path, header_line(path, head), self.separator)
        require(path, names, list(self.mapping.values()), names)
        frame = scan_text_csv(path, self.separator)
        m = self.mapping

        def text(field: str) -> pl.Expr:
            if field in m:
                return pl.col(m[field]).cast(pl.String).str.strip_chars()
            if field in self.constants:
                return pl.lit(str(self.constants[field]), dtype=pl.String)
            return pl.lit(None, dtype=pl.String)

        if "exporter" in m:
            exp_code, imp_code = text("exporter"), text("importer")
            if self.reported_by == "importer":
                rep_code, par_code, flow = imp_code, exp_code, pl.lit("M")
                rep_col, par_col = m["importer"], m["exporter"]
            else:
                rep_code, par_code, flow = exp_code, imp_code, pl.lit("X")
                rep_col, par_col = m["exporter"], m["importer"]
        else:
            rep_code, par_code = text("reporter"), text("partner")
            rep_col, par_col = m["reporter"], m["partner"]
            flow = text("flow").str.to_uppercase().replace_strict(_FLOW_WORDS, default=None)
        frame = join_iso3(frame, rep_code, self.code_system, "_reporter_iso3")
        frame = join_iso3(frame, par_code, self.code_system, "_partner_iso3")
        reporter, partner = pl.col("_reporter_iso3"), pl.col("_partner_iso3")
        is_import = flow == "M"

        numbers = {name: _scaled(text(name), float(self.units.get(name, 1))) for name in _NUMERIC}
        if "value_usd" not in m and "value_native" in m and self.currency == "USD":
            numbers["value_usd"] = numbers["value_native"]
        if "value_native" not in m and self.currency == "USD":
            numbers["value_native"] = numbers["value_usd"]
        hs = text("hs_code")
        period = self._period()
        period_col = m.get("period", m.get("year", ""))

        table = f"' (not in the {self.code_system} table)"
        checks: list[tuple[pl.Expr, str, Reason]] = [
            (reporter.is_null(), rep_col, ("unknown reporter code '", rep_code, table)),
            (partner.is_null(), par_col, ("unknown partner code '", par_code, table)),
            (flow.is_null(), m.get("flow", ""), ("unknown flow '", text("flow"), "'")),
            (
                hs.is_null() | ~hs.str.contains(r"^(TOTAL|(\d\d){1,5})$"),
                m.get("hs_code", "hs_code"),
                ("not an HS code (2-10 digits, even count, as text): '", hs, "'"),
            ),
            (
                period.is_null(),
                period_col,
                (f"period not readable for freq {self.freq}: '", pl.col(period_col), "'"),
            ),
        ]
        for name in _NUMERIC:
            if name in m:
                checks.append(
                    (not_a_number(text(name)), m[name], (f"non-numeric {name} '", text(name), "'"))
                )
        reject_field, reject_reason = first_problem(checks)

        valuation: pl.Expr = (
            pl.lit(self.valuation)
            if self.valuation
            else pl.when(is_import).then(pl.lit("CIF")).otherwise(pl.lit("FOB"))
        )
        out = frame.select(
            pl.lit(self.source).alias("source"),
            reporter.alias("reporter_iso3"),
            partner.alias("partner_iso3"),
            flow.alias("flow"),
            pl.when(is_import).then(partner).otherwise(reporter).alias("exporter_iso3"),
            pl.when(is_import).then(reporter).otherwise(partner).alias("importer_iso3"),
            hs.alias("hs_code"),
            pl.when(hs.str.contains(r"^\d{6,}$")).then(hs.str.slice(0, 6)).alias("hs6"),
            text("hs_revision").alias("hs_revision"),
            period.alias("period"),
            pl.lit(self.freq).alias("freq"),
            numbers["value_usd"].alias("value_usd"),
            numbers["value_native"].alias("value_native"),
            pl.lit(self.currency).alias("currency"),
            valuation.alias("valuation"),
            numbers["net_weight_kg"].alias("net_weight_kg"),
            numbers["quantity"].alias("quantity"),
            text("quantity_unit").alias("quantity_unit"),
            text("flags").alias("flags"),
            pl.lit(str(path)).alias("source_file"),
            pl.col("_line").alias("source_line"),
            reject_field.alias("reject_field"),
            reject_reason.alias("reject_reason"),
        )
        return out.select(
            [pl.col(n).cast(t) for n, t in FLOW_SCHEMA.items()]
            + [pl.col("reject_field"), pl.col("reject_reason")]
        )
