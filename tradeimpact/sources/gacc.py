"""China Customs (GACC): exports of the online statistics query platform (stats.customs.gov.cn).

The platform's CSV export has one row per (month, commodity, partner[, trade mode][, registration
place]), with Chinese headers on the Chinese site and English ones on ``/indexEn``::

    数据年月,商品编码,商品名称,贸易伙伴编码,贸易伙伴名称,[贸易方式编码,贸易方式名称,注册地编码,注册地名称,]
    第一数量,第一计量单位,第二数量,第二计量单位,美元          (or 人民币)

    Date of data,Commodity code,Commodity,Trading partner code,Trading partner,[Trade mode code,
    Trade mode,Registration place code,Registration place,]First quantity,First unit,
    Second quantity,Second unit,US dollar                      (or RMB)

Columns are found by name (either language), not position; unknown columns (a trailing empty one
is common) are ignored. Files are UTF-8 or GBK/GB18030 (detected: UTF-8 first, then GB18030; a file
that is neither raises SourceFormatError with the byte offset). Numbers may carry thousands
separators (``"1,234,567"``).

The export does not say whether it holds imports or exports: the direction comes from a column
(``进出口``/``进出口类型``/``Flow``/``Imports or exports``), else from the ``flow=`` argument, else from
an unambiguous word in the file name (``import``/``进口`` or ``export``/``出口``, recorded in
``flags`` as ``flow_from_file_name``); otherwise the read fails with a SourceFormatError.

Mapping to the canonical record: ``reporter_iso3 = "CHN"``, ``partner_iso3`` from the GACC partner
code (table ``codes/gacc.csv``; the partner name, Chinese or English, when no code column), ``flow``
M/X with exporter/importer accordingly, ``hs_code`` the 8-10 digit commodity code, ``hs6`` its first
six digits, ``hs_revision`` the HS edition in force that year, ``period`` the first day of the
month, ``freq = "M"``, value in US dollars -> ``value_usd = value_native``, ``currency = "USD"``; in
yuan -> ``value_native``, ``currency = "CNY"``, ``value_usd`` null (or converted with a monthly
``cny_per_usd`` table when given). Valuation: China's exports FOB,
imports CIF. A weight unit (千克/kg, 吨/ton, 克/g) fills ``net_weight_kg``; the other unit fills
``quantity``/``quantity_unit`` (as published). Trade mode and registration place, when present, are
kept in ``flags`` (``trade_mode=...;registration_place=...``): such files hold several rows per
canonical key, one per breakdown, which the store quarantines as duplicate keys -- unless the reader
is asked to sum them (``sum_breakdowns=True``, said so in ``flags``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import polars as pl

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources._codetables import (
    canonical,
    code_table,
    decode_strict,
    exact_scaled,
    first_problem,
    hs_revision_for_year,
    max_digits,
    out_of_range,
    quoted,
    read_head,
    split_header,
)
from tradeimpact.sources._text import EXTRA_COLUMN, Check, scan_delimited

__all__ = ["COLUMN_ALIASES", "GaccReader"]

log = logging.getLogger(__name__)

#: canonical role -> accepted header names (Chinese platform, English platform)
COLUMN_ALIASES: dict[str, list[str]] = {
    "period": ["数据年月", "Date of data"],
    "code": ["商品编码", "Commodity code"],
    "partner_code": ["贸易伙伴编码", "Trading partner code"],
    "partner_name": ["贸易伙伴名称", "Trading partner"],
    "trade_mode": ["贸易方式编码", "Trade mode code"],
    "registration_place": ["注册地编码", "Registration place code"],
    "q1": ["第一数量", "First quantity"],
    "u1": ["第一计量单位", "First unit"],
    "q2": ["第二数量", "Second quantity"],
    "u2": ["第二计量单位", "Second unit"],
    "usd": ["美元", "US dollar", "US dollars"],
    "cny": ["人民币", "RMB", "Renminbi Yuan", "Renminbi"],
    "flow": ["进出口", "进出口类型", "Flow", "Imports or exports"],
}

#: weight units as GACC writes them -> kilograms per unit
WEIGHT_UNITS = {
    "千克": 1.0,
    "KG": 1.0,
    "KILOGRAM": 1.0,
    "吨": 1000.0,
    "TON": 1000.0,
    "TONNE": 1000.0,
    "克": 0.001,
    "G": 0.001,
    "GRAM": 0.001,
}

_IMPORT_WORDS = ["进口", "IMPORT", "IMPORTS", "I", "M"]
_EXPORT_WORDS = ["出口", "EXPORT", "EXPORTS", "E", "X"]


def _flow_from_name(name: str) -> str | None:
    lower = name.lower()
    imp = "import" in lower or "进口" in name
    exp = "export" in lower or "出口" in name
    if imp == exp:
        return None
    return "M" if imp else "X"


class GaccReader:
    """Reader of China Customs (GACC) query-platform CSV exports.

    Parameters
    ----------
    flow : {"M", "X"}, optional
        Direction of a file that has no direction column.
    cny_per_usd : polars.DataFrame, optional
        Monthly rates, columns ``period`` (Date, first day of the month) and ``cny_per_usd``
        (yuan per US dollar), for files valued in yuan: ``value_usd = value_native / cny_per_usd``;
        months without a rate keep ``value_usd`` null with the flag ``no_fx_rate``.
    sum_breakdowns : bool, default False
        For a file broken down by trade mode and/or registration place: sum the rows of each
        (month, commodity, partner, direction, units) into one canonical row, on purpose and said
        so in ``flags`` (``summed_over=trade_mode,registration_place;lines=2,5``; ``source_line``
        is the group's first line). Rejected lines are never summed: they stay one row each.
        Without it, such rows keep their breakdown in ``flags`` and the store quarantines them
        as duplicate keys (it never sums silently).
    """

    name = "gacc"
    version = "1"
    description = "China Customs (GACC) query export CSV (month, 8-10 digit code, partner, USD/CNY)"

    def __init__(
        self,
        flow: str | None = None,
        sum_breakdowns: bool = False,
        cny_per_usd: pl.DataFrame | None = None,
    ) -> None:
        if flow is not None and flow not in ("M", "X"):
            raise ValueError(f"flow must be 'M' or 'X', not {flow!r}")
        self._flow = flow
        self._sum_breakdowns = sum_breakdowns
        if cny_per_usd is not None:
            missing = {"period", "cny_per_usd"} - set(cny_per_usd.columns)
            if missing:
                raise ValueError(f"cny_per_usd lacks column(s) {sorted(missing)}")
            cny_per_usd = cny_per_usd.select(
                pl.col("period").cast(pl.Date), pl.col("cny_per_usd").cast(pl.Float64)
            )
            if cny_per_usd["period"].is_duplicated().any():
                raise ValueError("cny_per_usd has more than one rate for a month")
        self._fx = cny_per_usd
        table = code_table("gacc").filter(pl.col("iso3").is_not_null())
        self._by_code = dict(zip(table["code"], table["iso3"], strict=True))
        by_name = dict(zip(table["name"], table["iso3"], strict=True))
        by_name.update(zip(table["name_zh"], table["iso3"], strict=True))
        self._by_name = by_name

    def sniff(self, path: Path) -> bool:
        """True when the header has a period, a commodity code and a partner column of GACC."""
        try:
            head = Path(path).open("rb").read(4096)
        except OSError:
            return False
        first = head.split(b"\n", 1)[0]
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                names = [c.strip().strip('"') for c in first.decode(encoding).split(",")]
            except UnicodeDecodeError:
                continue
            roles = _roles(names)
            return {"period", "code"} <= set(roles) and bool(
                {"partner_code", "partner_name"} & set(roles)
            )
        return False

    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason``.

        Raises
        ------
        SourceFormatError
            Empty file, undecodable text, wrong delimiter, missing column, unknown direction.
        """
        path = Path(path)
        read_head(path)
        encoding, text = decode_strict(path.read_bytes(), path, "gb18030")
        log.info("%s: decoded as %s", path.name, encoding)
        names = split_header(path, text.split("\n", 1)[0])
        roles = _roles(names)
        for role in ("period", "code"):
            if role not in roles:
                raise SourceFormatError(
                    path,
                    f"missing column {COLUMN_ALIASES[role]}; header has {names}",
                    line=1,
                    field=COLUMN_ALIASES[role][0],
                )
        if "partner_code" not in roles and "partner_name" not in roles:
            raise SourceFormatError(
                path,
                f"missing partner column (code {COLUMN_ALIASES['partner_code']} or name "
                f"{COLUMN_ALIASES['partner_name']}); header has {names}",
                line=1,
                field=COLUMN_ALIASES["partner_code"][0],
            )
        if ("usd" in roles) == ("cny" in roles):
            raise SourceFormatError(
                path,
                "need exactly one value column, in US dollars "
                f"{COLUMN_ALIASES['usd']} or in yuan {COLUMN_ALIASES['cny']}; header has {names}",
                line=1,
                field=COLUMN_ALIASES["usd"][0],
            )
        flow_note: str | None = None
        fixed_flow = self._flow
        if "flow" not in roles and fixed_flow is None:
            fixed_flow = _flow_from_name(path.name)
            flow_note = "flow_from_file_name"
            if fixed_flow is None:
                raise SourceFormatError(
                    path,
                    "the file does not say whether it holds imports or exports: no column "
                    f"{COLUMN_ALIASES['flow']}, no 'import'/'export' in its name; pass flow='M' "
                    "or flow='X'",
                )
        currency = "USD" if "usd" in roles else "CNY"

        scanned = scan_delimited(path, data=text.encode("utf-8"), header=text.split("\n", 1)[0])
        picked = {role: pl.col(col).str.strip_chars() for role, col in roles.items()}
        for role in ("partner_code", "partner_name", "trade_mode", "registration_place"):
            picked.setdefault(role, pl.lit(None, dtype=pl.String))
        for role in ("q1", "u1", "q2", "u2", "flow"):
            picked.setdefault(role, pl.lit(None, dtype=pl.String))
        value_role = "usd" if currency == "USD" else "cny"
        lf = scanned.frame.select(
            pl.col("_line"),
            pl.col("_line").alias("source_line"),
            pl.col(EXTRA_COLUMN),
            *[expr.alias(f"_{role}") for role, expr in picked.items() if role != value_role],
            picked[value_role].alias("_value"),
        )
        digits = pl.col("_period").str.replace_all(r"[-/.年月\s]", "")
        year = digits.str.slice(0, 4).cast(pl.Int32, strict=False)
        month = digits.str.slice(4, 2).cast(pl.Int8, strict=False)
        period_ok = digits.str.contains(r"^\d{6}$").fill_null(False) & month.is_between(1, 12)
        code = pl.col("_code").str.strip_chars_start("'")
        partner = (
            pl.when(pl.col("_partner_code").is_not_null())
            .then(
                pl.col("_partner_code")
                .str.strip_chars_start("0")
                .replace_strict(self._by_code, default=None, return_dtype=pl.String)
            )
            .otherwise(
                pl.col("_partner_name").replace_strict(
                    self._by_name, default=None, return_dtype=pl.String
                )
            )
        )
        partner_raw = pl.coalesce(pl.col("_partner_code"), pl.col("_partner_name"))
        if fixed_flow is not None:
            flow = pl.lit(fixed_flow)
        else:
            up = pl.col("_flow").str.to_uppercase()
            flow = (
                pl.when(up.is_in(_IMPORT_WORDS))
                .then(pl.lit("M"))
                .when(up.is_in(_EXPORT_WORDS))
                .then(pl.lit("X"))
                .otherwise(None)
            )

        def number(role: str) -> pl.Expr:
            return pl.col(f"_{role}").str.replace_all(r"[,\s]", "")

        value = exact_scaled(number("value"), 1)
        q1 = exact_scaled(number("q1"), 1)
        q2 = exact_scaled(number("q2"), 1)
        quantity_present = {
            "q1": pl.col("_q1").is_not_null() & (number("q1") != ""),
            "q2": pl.col("_q2").is_not_null() & (number("q2") != ""),
        }
        checks: list[Check] = [
            *scanned.checks,
            (
                ~period_ok,
                roles["period"],
                pl.concat_str(pl.lit("period "), quoted("_period"), pl.lit(" is not YYYYMM")),
            ),
            (
                code.str.contains(r"^\d{7}$").fill_null(False),
                roles["code"],
                pl.concat_str(
                    pl.lit("commodity code "),
                    quoted("_code"),
                    pl.lit(" has 7 digits: read as a number, its leading zero lost"),
                ),
            ),
            (
                ~code.str.contains(r"^\d{8,10}$").fill_null(False),
                roles["code"],
                pl.concat_str(
                    pl.lit("commodity code "), quoted("_code"), pl.lit(" is not 8-10 digits")
                ),
            ),
            (
                partner.is_null(),
                roles.get("partner_code", roles.get("partner_name", "partner")),
                pl.concat_str(
                    pl.lit("unknown GACC trading partner '"),
                    partner_raw.fill_null(""),
                    pl.lit("'"),
                ),
            ),
            (
                flow.is_null(),
                roles.get("flow", "flow"),
                pl.concat_str(
                    pl.lit("direction "), quoted("_flow"), pl.lit(" is not import/export")
                ),
            ),
            (
                pl.col("_value").is_null() | (number("value") == ""),
                roles[value_role],
                "value missing",
            ),
            (
                out_of_range(number("value"), 1),
                roles[value_role],
                pl.concat_str(
                    pl.lit("value "),
                    quoted("_value"),
                    pl.lit(f" is out of range: more than {max_digits(1)} digits"),
                ),
            ),
            (
                value.is_null(),
                roles[value_role],
                pl.concat_str(pl.lit("non-numeric value "), quoted("_value")),
            ),
            (
                value < 0,
                roles[value_role],
                pl.concat_str(pl.lit("negative value "), quoted("_value")),
            ),
        ]
        for role, qty in (("q1", q1), ("q2", q2)):
            column = roles.get(role, role)
            checks.append(
                (
                    quantity_present[role] & qty.is_null(),
                    column,
                    pl.concat_str(pl.lit("non-numeric quantity "), quoted(f"_{role}")),
                )
            )
            checks.append(
                (qty < 0, column, pl.concat_str(pl.lit("negative quantity "), quoted(f"_{role}")))
            )
        reject_field, reject_reason = first_problem(checks)

        unit1 = pl.col("_u1").fill_null("")
        unit2 = pl.col("_u2").fill_null("")
        w1 = unit1.str.to_uppercase().is_in(list(WEIGHT_UNITS))
        w2 = unit2.str.to_uppercase().is_in(list(WEIGHT_UNITS))

        def kg(unit: pl.Expr, qty: pl.Expr) -> pl.Expr:
            factor = unit.str.to_uppercase().replace_strict(
                WEIGHT_UNITS, default=None, return_dtype=pl.Float64
            )
            return qty * factor

        other1 = (unit1 != "") & ~w1
        other2 = (unit2 != "") & ~w2
        weight = pl.when(w1).then(kg(unit1, q1)).when(w2).then(kg(unit2, q2)).otherwise(None)
        quantity = pl.when(other1).then(q1).when(other2).then(q2).otherwise(None)
        quantity_unit = pl.when(other1).then(unit1).when(other2).then(unit2).otherwise(None)
        flag_parts: list[pl.Expr] = [
            pl.when(other1 & other2).then(pl.concat_str(pl.lit("quantity2_not_stored:"), unit2)),
            pl.when(pl.col("_trade_mode").is_not_null()).then(
                pl.concat_str(pl.lit("trade_mode="), pl.col("_trade_mode"))
            ),
            pl.when(pl.col("_registration_place").is_not_null()).then(
                pl.concat_str(pl.lit("registration_place="), pl.col("_registration_place"))
            ),
        ]
        if flow_note is not None:
            flag_parts.append(pl.lit(flow_note))
        flags = pl.concat_str(flag_parts, separator=";", ignore_nulls=True)
        is_import = flow == "M"
        out = lf.with_columns(
            pl.lit("gacc").alias("source"),
            pl.lit("CHN").alias("reporter_iso3"),
            partner.alias("partner_iso3"),
            flow.alias("flow"),
            pl.when(is_import).then(partner).otherwise(pl.lit("CHN")).alias("exporter_iso3"),
            pl.when(is_import).then(pl.lit("CHN")).otherwise(partner).alias("importer_iso3"),
            code.alias("hs_code"),
            code.str.slice(0, 6).alias("hs6"),
            hs_revision_for_year(year).alias("hs_revision"),
            pl.when(period_ok).then(pl.date(year, month, 1)).alias("period"),
            pl.lit("M").alias("freq"),
            (value if currency == "USD" else pl.lit(None, dtype=pl.Float64)).alias("value_usd"),
            value.alias("value_native"),
            pl.lit(currency).alias("currency"),
            pl.when(is_import).then(pl.lit("CIF")).otherwise(pl.lit("FOB")).alias("valuation"),
            weight.alias("net_weight_kg"),
            quantity.alias("quantity"),
            quantity_unit.alias("quantity_unit"),
            pl.when(flags == "").then(None).otherwise(flags).alias("flags"),
            pl.lit(path.name).alias("source_file"),
            reject_field.alias("reject_field"),
            reject_reason.alias("reject_reason"),
        )
        breakdowns: list[str] = [r for r in ("trade_mode", "registration_place") if r in roles]
        out = canonical(out)
        if self._sum_breakdowns and breakdowns:
            out = _sum_over_breakdowns(out, breakdowns, flow_note)
        if currency == "CNY" and self._fx is not None:
            out = _to_usd(out, self._fx)
        return out


def _to_usd(out: pl.LazyFrame, fx: pl.DataFrame) -> pl.LazyFrame:
    """``value_usd = value_native / cny_per_usd`` of the month; flag ``no_fx_rate`` where none."""
    columns = out.collect_schema().names()
    joined = out.join(fx.lazy(), on="period", how="left", maintain_order="left")
    no_rate = pl.col("cny_per_usd").is_null()
    return joined.with_columns(
        (pl.col("value_native") / pl.col("cny_per_usd")).alias("value_usd"),
        pl.when(no_rate)
        .then(
            pl.concat_str([pl.col("flags"), pl.lit("no_fx_rate")], separator=";", ignore_nulls=True)
        )
        .otherwise(pl.col("flags"))
        .alias("flags"),
    ).select(columns)


def _sum_over_breakdowns(
    out: pl.LazyFrame, breakdowns: list[str], flow_note: str | None
) -> pl.LazyFrame:
    """Sum the good rows of each canonical key over trade mode / registration place."""
    ok = pl.col("reject_reason").is_null()
    key = [
        "source", "reporter_iso3", "partner_iso3", "flow", "exporter_iso3", "importer_iso3",
        "hs_code", "hs6", "hs_revision", "period", "freq", "currency", "valuation",
        "quantity_unit", "source_file",
    ]  # fmt: skip
    note = f"summed_over={','.join(breakdowns)}"
    if flow_note is not None:
        note += f";{flow_note}"

    def total(col: str) -> pl.Expr:
        # null only when every row of the group is null (a quantity nobody reported)
        return pl.when(pl.col(col).is_not_null().any()).then(pl.col(col).sum()).alias(col)

    summed = (
        out.filter(ok)
        .group_by(key, maintain_order=True)
        .agg(
            pl.col("source_line").min(),
            total("value_usd"),
            total("value_native"),
            total("net_weight_kg"),
            total("quantity"),
            pl.concat_str(
                pl.lit(note + ";lines="),
                pl.col("source_line").sort().cast(pl.String).str.join(","),
            ).alias("flags"),
        )
        .with_columns(
            pl.lit(None, dtype=pl.String).alias("reject_field"),
            pl.lit(None, dtype=pl.String).alias("reject_reason"),
        )
    )
    columns = out.collect_schema().names()
    rejected = out.filter(~ok)
    return pl.concat([summed.select(columns), rejected.select(columns)]).sort("source_line")


def _roles(names: list[str]) -> dict[str, str]:
    """Header name of each role found in ``names`` (first alias match, case-insensitive)."""
    folded = {re.sub(r"\s+", " ", n.strip().lower()): n for n in names}
    found: dict[str, str] = {}
    for role, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias.lower() in folded:
                found[role] = folded[alias.lower()]
                break
    return found
