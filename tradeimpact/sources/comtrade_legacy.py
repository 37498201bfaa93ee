"""Legacy UN Comtrade CSV (the pre-2023 API and portal downloads, ``fmt=csv``).

Header, as the legacy API documented it (35 columns)::

    Classification, Year, Period, Period Desc., Aggregate Level, Is Leaf Code, Trade Flow Code,
    Trade Flow, Reporter Code, Reporter, Reporter ISO, Partner Code, Partner, Partner ISO,
    2nd Partner Code, 2nd Partner, 2nd Partner ISO, Customs Proc. Code, Customs,
    Mode of Transport Code, Mode of Transport, Commodity Code, Commodity, Qty Unit Code, Qty Unit,
    Qty, Alt Qty Unit Code, Alt Qty Unit, Alt Qty, Netweight (kg), Gross weight (kg),
    Trade Value (US$), CIF Trade Value (US$), FOB Trade Value (US$), Flag

Required: ``Classification, Year, Period, Trade Flow Code, Reporter Code, Partner Code,
Commodity Code, Trade Value (US$)``; the others are used where present.

The mapping is the one of :mod:`tradeimpact.sources.comtrade` (same fields, older names):
``Trade Flow Code`` 1/2/3/4 -> ``flow`` M/X/RX/RM; ``Trade Value (US$)`` -> ``value_usd``
(CIF for imports, FOB for exports); ``Period`` 2010 or 201009 gives ``freq`` A or M and must lie
in ``Year``; ``Qty Unit Code`` 1 ("No Quantity") gives a null quantity; ``Flag`` is kept in
``flags`` as ``legacyEstimationFlag=<flag>``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources._text import (
    Staged,
    head_bytes,
    header_line,
    require,
    scan_delimited,
    split_header,
)
from tradeimpact.sources.comtrade import staged_comtrade

__all__ = ["LEGACY_COLUMNS", "ComtradeLegacyReader"]

#: internal name of the Comtrade mapping <- legacy column
LEGACY_COLUMNS: dict[str, str] = {
    "classification": "Classification",
    "ref_year": "Year",
    "period": "Period",
    "reporter_code": "Reporter Code",
    "partner_code": "Partner Code",
    "partner2_code": "2nd Partner Code",
    "customs_code": "Customs Proc. Code",
    "mot_code": "Mode of Transport Code",
    "cmd_code": "Commodity Code",
    "qty_unit": "Qty Unit",
    "qty": "Qty",
    "net_wgt": "Netweight (kg)",
    "primary_value": "Trade Value (US$)",
    "cif": "CIF Trade Value (US$)",
    "fob": "FOB Trade Value (US$)",
    "legacy_flag": "Flag",
}
_REQUIRED = [
    "Classification",
    "Year",
    "Period",
    "Trade Flow Code",
    "Reporter Code",
    "Partner Code",
    "Commodity Code",
    "Trade Value (US$)",
]
_FLOW_CODES = {"1": "M", "2": "X", "3": "RX", "4": "RM"}


class ComtradeLegacyReader:
    """Legacy UN Comtrade CSV (``Trade Value (US$)``, ``Netweight (kg)``...); see module docstring."""

    name = "comtrade_legacy"
    version = "1"
    description = "legacy UN Comtrade CSV (Trade Flow Code, Trade Value (US$), Netweight (kg)...)"

    def __init__(self, source: str = "comtrade") -> None:
        self.source = source

    def sniff(self, path: Path) -> bool:
        """True when the header has ``Trade Value (US$)`` and ``Commodity Code``."""
        try:
            head = head_bytes(Path(path), 8192)
            names = split_header(Path(path), header_line(Path(path), head))
        except SourceFormatError:
            return False
        return {"Trade Value (US$)", "Commodity Code", "Trade Flow Code"} <= set(names)

    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason``; raises SourceFormatError."""
        return self.read_staged(path).canonical()

    def read_staged(self, path: Path) -> Staged:
        """:meth:`read` before its final select (:class:`~tradeimpact.sources._text.Staged`)."""
        path = Path(path)
        head = head_bytes(path)
        line = header_line(path, head)
        names = split_header(path, line)
        require(path, names, _REQUIRED, names)
        scanned = scan_delimited(path, header=line)
        flow_text = pl.col("Trade Flow Code").str.strip_chars()
        # the legacy codes become the v1 API's, in the columns of the same name (so a reason
        # names the file's column: 'Trade Flow Code', not an internal one)
        derived = [
            flow_text.replace_strict(_FLOW_CODES, default=flow_text).alias("Trade Flow Code"),
        ]
        found = {k: v for k, v in LEGACY_COLUMNS.items() if v in names}
        found["flow_code"] = "Trade Flow Code"
        if "Qty Unit Code" in names:
            # legacy unit code 1 = "No Quantity"; the v1 API says -1
            unit = pl.col("Qty Unit Code").str.strip_chars()
            derived.append(
                pl.when(unit == "1").then(pl.lit("-1")).otherwise(unit).alias("Qty Unit Code")
            )
            found["qty_unit_code"] = "Qty Unit Code"
        frame = scanned.frame.with_columns(derived)
        staged = staged_comtrade(frame, found, self.source, str(path))
        return Staged(staged.frame, staged.columns, [*scanned.checks, *staged.checks])
