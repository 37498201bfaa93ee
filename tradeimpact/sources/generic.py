"""A column-mapping reader for users' own delimited extracts.

Any CSV-like file with one row per flow can be stored once its columns are mapped to the canonical
record. Example, the critical-materials-atlas magnets extract
(``year,exporter_iso2,importer_iso2,value_usd,qty_tonnes,source_note``; its ``source_note`` says
which years are BACI, which are provisional raw Comtrade and which a modelled nowcast)::

    GenericReader(
        mapping={"year": "year", "exporter": "exporter_iso2", "importer": "importer_iso2",
                 "value_usd": "value_usd", "net_weight_kg": "qty_tonnes", "flags": "source_note"},
        code_system="iso2", freq="A", reported_by="importer",
        units={"net_weight_kg": 1000},            # tonnes -> kg
        constants={"hs_code": "850511"},          # the file holds one HS6 line
        status={"column": "source_note",          # the source's own status note
                "flag": {"NOWCAST": "modelled", "self-reconciled": "provisional"}},
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

``constants`` fills canonical fields the file does not hold (``hs_code``, ``hs_revision``,
``quantity_unit``, ``flags``). ``units`` multiplies numeric fields once (a positive finite factor;
computed in decimal, so ``1.005 * 1000`` is exactly ``1005.0``). An unknown key of ``mapping``,
``units`` or ``constants`` is an error naming the key, the nearest allowed one and all allowed
ones (a typo such as ``units={"net_weight": 1000}`` would otherwise store tonnes as kg).

Periods must match ``freq``: with ``freq="M"`` a period of 4 digits (a year) is quarantined, and
a ``year`` column needs a ``month`` column; with ``freq="A"`` a period with a month other than
January (``201009``) is quarantined, and mapping ``month`` is an error.

**Status of the rows.** ``status={"column": <the file's column>, "flag": {<text>: <status>}}``
reads the source's own note on each row: a row whose note contains ``<text>`` (case-insensitive)
gets ``status=<status>`` in ``flags`` (before the mapped ``flags`` text, kept verbatim), where
``<status>`` is one of :data:`STATUS_VALUES` (``provisional``, ``modelled``).
Without ``flag``, the words of :data:`STATUS_WORDS` are recognised (``provisional``,
``preliminary``, ``nowcast``, ``modelled``/``modeled``, ``projection``, ``forecast``).
:func:`tradeimpact.panel.build_panel` leaves rows flagged ``provisional`` or ``modelled`` (or
``nowcast``) out of panels unless asked. :meth:`GenericReader.from_json` reads the arguments from
a JSON file (``tradeimpact ingest --mapping``) with errors naming its line and column.

Country codes
map to ISO3 through the shipped table of ``code_system`` (``iso3``, ``iso2``, ``m49``, ``baci``...);
unknown codes are quarantined with the code in the reason. ``period_range`` (inclusive) is the
range the file declares; rows outside are quarantined.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from tradeimpact.codes import join_iso3, systems
from tradeimpact.errors import TradeImpactError
from tradeimpact.schema import FLOW_SCHEMA
from tradeimpact.sources._text import (
    Check,
    Reason,
    first_problem,
    head_bytes,
    header_line,
    non_finite,
    not_a_number,
    require,
    scan_delimited,
    split_header,
)

__all__ = [
    "CONSTANT_KEYS",
    "MAPPABLE",
    "STATUS_VALUES",
    "STATUS_WORDS",
    "GenericReader",
    "MappingError",
]


class MappingError(TradeImpactError, ValueError):
    """The arguments of a :class:`GenericReader` are wrong (the message names the key)."""


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
#: the keys ``constants`` may use (text fields the file may not hold)
CONSTANT_KEYS = ("hs_code", "hs_revision", "quantity_unit", "flags")
#: the statuses a row can be given from the source's note (``status=<value>`` in ``flags``)
STATUS_VALUES = ("provisional", "modelled")
#: words recognised in the status note when ``status`` gives no ``flag`` table
STATUS_WORDS: dict[str, str] = {
    "provisional": "provisional",
    "preliminary": "provisional",
    "nowcast": "modelled",
    "modelled": "modelled",
    "modeled": "modelled",
    "projection": "modelled",
    "forecast": "modelled",
}
#: the keyword arguments of GenericReader (the keys of a mapping JSON file)
_ARGUMENTS = (
    "mapping",
    "source",
    "code_system",
    "freq",
    "reported_by",
    "units",
    "constants",
    "status",
    "valuation",
    "currency",
    "separator",
    "period_range",
)


def _unknown(what: str, key: object, allowed: tuple[str, ...] | list[str]) -> MappingError:
    """An error for an unknown key, with the nearest allowed one."""
    near = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return MappingError(f"unknown {what} key {key!r}{hint} (allowed: {', '.join(allowed)})")


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
        # Decimal(38, 18) holds 20 digits before the point, the product too: larger numbers go
        # the floating-point way (instead of an overflow that would fail the whole file)
        digits = (
            stripped.str.replace(r"^[+-]", "")
            .str.replace(r"[.eE].*$", "")
            .str.strip_chars_start("0")
            .str.len_chars()
        )
        fits = digits <= 20 - len(str(int(factor)))
        safe = pl.when(fits.fill_null(False)).then(stripped)
        exact = (safe.cast(pl.Decimal(38, 18), strict=False) * int(factor)).cast(pl.Float64)
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
        status: Mapping[str, Any] | None = None,
        valuation: str | None = None,
        currency: str = "USD",
        separator: str = ",",
        period_range: tuple[dt.date, dt.date] | None = None,
    ) -> None:
        if not isinstance(mapping, Mapping):
            raise MappingError("mapping must be a dict: canonical field -> the file's column")
        for key, column in mapping.items():
            if key not in MAPPABLE:
                raise _unknown("mapping", key, MAPPABLE)
            if not isinstance(column, str) or not column:
                raise MappingError(f"mapping[{key!r}] must be a column name, not {column!r}")
        for name, value in (("units", units), ("constants", constants)):
            if value is not None and not isinstance(value, Mapping):
                raise MappingError(
                    f"{name} must be a dict (canonical field -> "
                    f"{'factor' if name == 'units' else 'value'}), not {value!r}"
                )
        if not isinstance(code_system, str) or code_system not in systems():
            raise MappingError(
                f"code_system must be one of {', '.join(systems())} (a shipped country table), "
                f"not {code_system!r}"
            )
        if not isinstance(separator, str) or len(separator) != 1:
            raise MappingError(f"separator must be one character, not {separator!r}")
        if not isinstance(source, str) or not source:
            raise MappingError(f"source must be a name (text), not {source!r}")
        for key, factor in (units or {}).items():
            if key not in _NUMERIC:
                raise _unknown("units", key, _NUMERIC)
            if (
                isinstance(factor, bool)
                or not isinstance(factor, int | float)
                or not math.isfinite(factor)
                or factor <= 0
            ):
                raise MappingError(
                    f"units[{key!r}] must be a positive finite number (the factor to the "
                    f"canonical unit, e.g. 1000 for tonnes -> kg), not {factor!r}"
                )
        for key, constant in (constants or {}).items():
            if key not in CONSTANT_KEYS:
                raise _unknown("constants", key, CONSTANT_KEYS)
            if not isinstance(constant, str):
                raise MappingError(
                    f'constants[{key!r}] must be text (e.g. "850511", leading zeros kept), '
                    f"not {constant!r}"
                )
        self.status = self._check_status(status)
        pairwise = {"exporter", "importer"} <= set(mapping)
        directed = {"reporter", "partner", "flow"} <= set(mapping)
        if pairwise == directed:
            raise MappingError(
                "map either 'exporter' and 'importer' (with reported_by) or 'reporter', "
                "'partner' and 'flow'"
            )
        if pairwise and reported_by not in ("importer", "exporter"):
            raise MappingError("reported_by must be 'importer' or 'exporter'")
        if not ({"period", "year"} & set(mapping)):
            raise MappingError("map 'period' or 'year' (plus 'month' for monthly data)")
        if "hs_code" not in mapping and "hs_code" not in (constants or {}):
            raise MappingError("map 'hs_code' or give it in constants")
        if freq not in ("A", "M"):
            raise MappingError(f"freq must be 'A' or 'M', not {freq!r}")
        if freq == "M" and "period" not in mapping and "month" not in mapping:
            raise MappingError(
                "freq 'M' needs the month: map 'month' beside 'year', or a 'period' with months "
                "(201009, 2010-09)"
            )
        if freq == "A" and "month" in mapping:
            raise MappingError("freq 'A' (annual data) takes no 'month' column; use freq='M'")
        if valuation not in (None, "CIF", "FOB"):
            raise MappingError("valuation must be 'CIF', 'FOB' or None")
        if "value_usd" not in mapping and "value_native" not in mapping:
            raise MappingError("map 'value_usd' or 'value_native'")
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

    @staticmethod
    def _check_status(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if status is None:
            return None
        if not isinstance(status, Mapping):
            raise MappingError(
                "status must be a dict {'column': <the file's column>, 'flag': {<text>: <status>}}"
            )
        for key in status:
            if key not in ("column", "flag"):
                raise _unknown("status", key, ("column", "flag"))
        column = status.get("column")
        if not isinstance(column, str) or not column:
            raise MappingError("status['column'] must name the file's column holding the note")
        flag = status.get("flag", STATUS_WORDS)
        if not isinstance(flag, Mapping) or not flag:
            raise MappingError("status['flag'] must be a dict {<text in the note>: <status>}")
        for text, value in flag.items():
            if not isinstance(text, str) or not text:
                raise MappingError(f"status['flag'] keys must be texts, not {text!r}")
            if value not in STATUS_VALUES:
                raise MappingError(
                    f"status['flag'][{text!r}] is {value!r}; a status is one of "
                    f"{', '.join(STATUS_VALUES)}"
                )
        return {"column": column, "flag": dict(flag)}

    @classmethod
    def from_json(cls, path: str | Path) -> GenericReader:
        """A reader from a JSON file of its keyword arguments (``mapping``, ``source``...).

        ``period_range`` is given as two ISO dates (``["2002-01-01", "2024-01-01"]``).

        Raises
        ------
        MappingError
            Unreadable file, invalid JSON (naming its line and column), an unknown argument
            (with the nearest known one), or any error of the constructor (prefixed by the file).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise MappingError(f"{path}: cannot read the mapping file: {exc}") from None
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MappingError(
                f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
            ) from None
        if not isinstance(config, dict):
            raise MappingError(f"{path}: the mapping file must hold a JSON object of arguments")
        for key in config:
            if key not in _ARGUMENTS:
                err = _unknown("argument", key, _ARGUMENTS)
                raise MappingError(f"{path}: {err}") from None
        if config.get("period_range") is not None:
            pr = config["period_range"]
            try:
                start, end = pr
                config["period_range"] = (dt.date.fromisoformat(start), dt.date.fromisoformat(end))
            except (TypeError, ValueError):
                raise MappingError(
                    f"{path}: period_range must be two ISO dates "
                    f'(["2002-01-01", "2024-01-01"]), not {pr!r}'
                ) from None
        if "mapping" not in config:
            raise MappingError(f"{path}: the mapping file has no 'mapping' object")
        try:
            return cls(**config)
        except MappingError as exc:
            raise MappingError(f"{path}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise MappingError(f"{path}: {exc}") from None

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

    def _period(self) -> tuple[pl.Expr, pl.Expr, Reason]:
        """(period, the problem of a row's period, its reason)."""
        m = self.mapping
        if "period" in m:
            raw = pl.col(m["period"]).str.strip_chars()
            text = raw.str.replace_all("[-/]", "")
            length = text.str.len_chars()
            year = text.str.slice(0, 4)
            month = pl.when(length >= 6).then(text.str.slice(4, 2)).otherwise(pl.lit("1"))
            has_month = length >= 6
            shown: pl.Expr = raw
        else:
            year = pl.col(m["year"]).str.strip_chars()
            month = pl.col(m["month"]).str.strip_chars() if "month" in m else pl.lit("1")
            has_month = pl.lit("month" in m)
            shown = year if "month" not in m else pl.concat_str(year, pl.lit("-"), month)
        y = year.cast(pl.Int32, strict=False)
        mo = month.cast(pl.Int8, strict=False)
        readable = y.is_between(1800, 2200) & mo.is_between(1, 12)
        if "period" in m:
            readable = readable & text.str.contains(r"^\d{4}(\d{2}(\d{2})?)?$")
        if self.freq == "A":
            valid = readable & (mo == 1)
            wrong = readable & (mo != 1)
            reason: tuple[str | pl.Expr, ...] = (
                "period '",
                shown,
                "' has a month other than January but freq is 'A' (annual data)",
            )
        else:
            valid = readable & has_month
            wrong = readable & ~has_month
            reason = ("period '", shown, "' is a year but freq is 'M' (monthly data needs YYYYMM)")
        problem = pl.when(~readable.fill_null(False)).then(pl.lit(1)).when(wrong).then(pl.lit(2))
        unreadable: tuple[str | pl.Expr, ...] = (
            f"period not readable for freq {self.freq}: '",
            shown,
            "'",
        )
        parts = [
            pl.when(problem == 2)
            .then(pl.lit(r) if isinstance(r, str) else r)
            .otherwise(pl.lit(u) if isinstance(u, str) else u)
            for r, u in zip(reason, unreadable, strict=True)
        ]
        return pl.when(valid).then(pl.date(y, mo, 1)), problem.is_not_null(), tuple(parts)

    def _status_flag(self) -> pl.Expr | None:
        """``status=<value>`` for rows whose note matches the ``status`` table (else null)."""
        if self.status is None:
            return None
        note = pl.col(self.status["column"]).cast(pl.String).fill_null("").str.to_lowercase()
        out: pl.Expr = pl.lit(None, dtype=pl.String)
        for text, value in reversed(list(self.status["flag"].items())):
            out = (
                pl.when(note.str.contains(text.lower(), literal=True))
                .then(pl.lit(f"status={value}"))
                .otherwise(out)
            )
        return out

    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason``; raises SourceFormatError."""
        path = Path(path)
        head = head_bytes(path)
        line = header_line(path, head)
        names = split_header(path, line, self.separator)
        needed = list(self.mapping.values())
        if self.status is not None:
            needed.append(self.status["column"])
        require(path, names, needed, names)
        scanned = scan_delimited(path, self.separator, header=line)
        frame = scanned.frame
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
        period, period_bad, period_reason = self._period()
        period_col = m.get("period", m.get("year", ""))

        table = f"' (not in the {self.code_system} table)"
        checks: list[Check] = [
            *scanned.checks,
            (reporter.is_null(), rep_col, ("unknown reporter code '", rep_code, table)),
            (partner.is_null(), par_col, ("unknown partner code '", par_code, table)),
            (flow.is_null(), m.get("flow", ""), ("unknown flow '", text("flow"), "'")),
            (
                hs.is_null() | ~hs.str.contains(r"^(TOTAL|(\d\d){1,5})$"),
                m.get("hs_code", "hs_code"),
                ("not an HS code (2-10 digits, even count, as text): '", hs, "'"),
            ),
            (period_bad, period_col, period_reason),
        ]
        for name in _NUMERIC:
            if name in m:
                checks.append(
                    (not_a_number(text(name)), m[name], (f"non-numeric {name} '", text(name), "'"))
                )
                checks.append(
                    (
                        non_finite(numbers[name]),
                        m[name],
                        (f"non-finite {name} '", text(name), "' (NaN or infinity is not a number)"),
                    )
                )
        flags = text("flags")
        status_flag = self._status_flag()
        if status_flag is not None:
            flags = pl.concat_str([status_flag, flags], separator=";", ignore_nulls=True)
            flags = pl.when(flags == "").then(None).otherwise(flags)
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
            flags.alias("flags"),
            pl.lit(str(path)).alias("source_file"),
            pl.col("_line").alias("source_line"),
            reject_field.alias("reject_field"),
            reject_reason.alias("reject_reason"),
        )
        return out.select(
            [pl.col(n).cast(t) for n, t in FLOW_SCHEMA.items()]
            + [pl.col("reject_field"), pl.col("reject_reason")]
        )
