"""UN Comtrade API v1 data: the JSON response (``{"data": [...]}``) and the same fields as CSV.

Three spellings of the same 47 fields are read: the API's camelCase (``reporterCode``, ``cmdCode``,
``primaryValue``; JSON and portal CSV downloads) and comtradr's snake_case (``reporter_code``,
``cmd_code``, ``primary_value``). Column names are matched case- and underscore-insensitively.
A reduced extract is accepted as long as it has a value, a commodity code, a reporter and a partner
(code or ISO), a flow (code or description) and a period (``period`` or ``refYear``).

Mapping to the canonical record (:mod:`tradeimpact.schema`), the rule this reader follows:

* ``value_usd = primaryValue``: the value as reported, CIF for imports and FOB for exports
  (``valuation`` = ``CIF`` when ``flowCode`` contains ``M`` - M, RM, MIP... - else ``FOB``).
  Where ``primaryValue`` is empty, ``cifvalue`` (imports) or ``fobvalue`` (exports) is used;
  ``value_native = value_usd``, ``currency = "USD"``.
* ``reporter_iso3``/``partner_iso3`` from ``reporterCode``/``partnerCode`` through the shipped M49
  table (``tradeimpact/codes/m49.csv``; 490 "Other Asia, nes" -> TWN, 0 World -> WLD); files with
  only ISO columns are checked against ``iso3.csv`` (Comtrade's W00 -> WLD, S19 -> TWN).
  For imports ``importer = reporter``, ``exporter = partner``; for exports the reverse.
* ``flow = flowCode`` as published (M, X, RM, RX...).
* ``hs_code = cmdCode`` as published, read as text ("TOTAL" for the all-commodity aggregate,
  ``hs6`` then null); ``hs6`` = the first 6 digits of codes with 6 or more digits;
  ``hs_revision = classificationCode`` (H0-H6).
* ``period``: 1 January of the year (``freqCode`` A, period ``2010``) or the first day of the month
  (``freqCode`` M, period ``201009``); the period must agree with the record's own ``refYear`` and
  ``refMonth`` (the declared range of the record).
* ``net_weight_kg = netWgt`` (kg); ``quantity = qty`` with ``quantity_unit = qtyUnitAbbr``
  (null when ``qtyUnitCode`` is -1, "no quantity").
* ``flags``: ``legacyEstimationFlag``, ``isReported``, ``isAggregate`` (where present), as
  ``name=value`` pairs separated by ``;``.

Rows that break a total down (``partner2Code`` other than 0, ``motCode`` other than 0,
``customsCode`` other than C00) are quarantined with that reason: the store holds the totals, one
row per flow key. Row problems (unknown code, non-numeric value, an HS code with an odd number of
digits - a code written from a number column that lost its leading zero) are marked in
``reject_field``/``reject_reason``. File problems raise :class:`SourceFormatError`.
"""

from __future__ import annotations

import json
import mmap
from pathlib import Path
from typing import Any

import polars as pl

from tradeimpact.codes import join_iso3
from tradeimpact.errors import SourceFormatError
from tradeimpact.schema import FLOW_SCHEMA
from tradeimpact.sources._text import (
    Check,
    Staged,
    column_names,
    head_bytes,
    header_line,
    is_gzip,
    non_finite,
    not_a_number,
    number,
    read_bytes,
    require,
    scan_delimited,
    split_header,
)

__all__ = [
    "API_V1_FIELDS",
    "FIELDS",
    "ComtradeReader",
    "canonical_comtrade",
    "normalise_name",
    "staged_comtrade",
]

#: The 47 fields of a UN Comtrade API v1 record, in the order of the real answer
#: (comtradeapi.un.org/data/v1/get; e.g. the comtradr test fixture HS-60a6ad.json).
API_V1_FIELDS: tuple[str, ...] = (
    "typeCode", "freqCode", "refPeriodId", "refYear", "refMonth", "period", "reporterCode",
    "reporterISO", "reporterDesc", "flowCode", "flowDesc", "partnerCode", "partnerISO",
    "partnerDesc", "partner2Code", "partner2ISO", "partner2Desc", "classificationCode",
    "classificationSearchCode", "isOriginalClassification", "cmdCode", "cmdDesc", "aggrLevel",
    "isLeaf", "customsCode", "customsDesc", "mosCode", "motCode", "motDesc", "qtyUnitCode",
    "qtyUnitAbbr", "qty", "isQtyEstimated", "altQtyUnitCode", "altQtyUnitAbbr", "altQty",
    "isAltQtyEstimated", "netWgt", "isNetWgtEstimated", "grossWgt", "isGrossWgtEstimated",
    "cifvalue", "fobvalue", "primaryValue", "legacyEstimationFlag", "isReported", "isAggregate",
)  # fmt: skip

#: internal name <- Comtrade field, in camelCase (snake_case variants are matched by normalise_name)
FIELDS: dict[str, str] = {
    "freq": "freqCode",
    "ref_year": "refYear",
    "ref_month": "refMonth",
    "period": "period",
    "reporter_code": "reporterCode",
    "reporter_iso": "reporterISO",
    "partner_code": "partnerCode",
    "partner_iso": "partnerISO",
    "partner2_code": "partner2Code",
    "flow_code": "flowCode",
    "flow_desc": "flowDesc",
    "classification": "classificationCode",
    "cmd_code": "cmdCode",
    "customs_code": "customsCode",
    "mot_code": "motCode",
    "qty_unit_code": "qtyUnitCode",
    "qty_unit": "qtyUnitAbbr",
    "qty": "qty",
    "net_wgt": "netWgt",
    "cif": "cifvalue",
    "fob": "fobvalue",
    "primary_value": "primaryValue",
    "legacy_flag": "legacyEstimationFlag",
    "is_reported": "isReported",
    "is_aggregate": "isAggregate",
}

#: number fields (internal names) parsed by the scan on the fast path of a CSV file
NUMBER_FIELDS = ("primary_value", "cif", "fob", "net_wgt", "qty")

#: the JSON type of each mapped field in the API's answers (the fast decoder's schema)
_JSON_TYPES: dict[str, pl.DataType] = {
    field: (
        pl.Float64()
        if internal in NUMBER_FIELDS
        else pl.Boolean()
        if internal in ("is_reported", "is_aggregate")
        else pl.Int64()
        if internal
        in (
            "ref_year",
            "ref_month",
            "reporter_code",
            "partner_code",
            "partner2_code",
            "mot_code",
            "qty_unit_code",
            "legacy_flag",
        )
        else pl.String()
    )
    for internal, field in FIELDS.items()
}

_FLOW_DESC = {"import": "M", "export": "X", "re-import": "RM", "re-export": "RX"}
_ISO_ALIASES = {"W00": "WLD", "S19": "TWN"}


def normalise_name(name: str) -> str:
    """Field name compared case- and underscore-insensitively (``partner_2_code`` ~ ``partner2Code``)."""
    return name.strip().strip('"').lstrip("\ufeff").lower().replace("_", "").replace(" ", "")


def _match_columns(path: Path, columns: list[str], what: str) -> dict[str, str]:
    """internal name -> column of the file; raises for the missing essentials."""
    by_norm = {normalise_name(col): col for col in columns}
    found = {
        internal: by_norm[normalise_name(field)]
        for internal, field in FIELDS.items()
        if normalise_name(field) in by_norm
    }
    essentials = [
        ("primary_value", "primaryValue"),
        ("cmd_code", "cmdCode"),
        (("reporter_code", "reporter_iso"), "reporterCode"),
        (("partner_code", "partner_iso"), "partnerCode"),
        (("flow_code", "flow_desc"), "flowCode"),
        (("period", "ref_year"), "period"),
    ]
    for internal, field in essentials:
        options = internal if isinstance(internal, tuple) else (internal,)
        if not any(option in found for option in options):
            require(path, found.values(), [field], columns, what)
    return found


def _country(
    code: str | None, iso: str | None, role: str
) -> tuple[pl.Expr, str, tuple[str, pl.Expr, str]]:
    """(code expression, code system, reason-if-unknown) from a code column or an ISO column."""
    if code is not None:
        raw = pl.col(code)
        return raw, "m49", (f"unknown {role} code '", raw, "' (not in the m49 table)")
    assert iso is not None
    raw = pl.col(iso).str.strip_chars().str.to_uppercase()
    return (
        raw.replace(_ISO_ALIASES),
        "iso3",
        (f"unknown {role} code '", raw, "' (not in the iso3 table)"),
    )


def canonical_comtrade(
    frame: pl.LazyFrame, found: dict[str, str], source: str = "comtrade", file_name: str = ""
) -> pl.LazyFrame:
    """Map a frame of Comtrade fields (text columns + ``_line``) to the canonical record.

    Parameters
    ----------
    frame : polars.LazyFrame
        The file's columns as text plus ``_line`` (1-based line or record number).
    found : dict
        Internal name (keys of :data:`FIELDS`) -> the frame's column.
    source : str
        Value of the ``source`` column.
    file_name : str
        Value of the ``source_file`` column.
    """
    return staged_comtrade(frame, found, source, file_name).canonical()


def staged_comtrade(
    frame: pl.LazyFrame,
    found: dict[str, str],
    source: str = "comtrade",
    file_name: str = "",
    *,
    typed: bool = False,
) -> Staged:
    """:func:`canonical_comtrade` before its final select: the frame, column expressions, checks.

    With ``typed``, the number fields of :data:`NUMBER_FIELDS` are Float64 columns already (the
    scan parsed them); otherwise every column is text.

    Parameters
    ----------
    frame : polars.LazyFrame
        The file's columns as text plus ``_line`` (1-based line or record number).
    found : dict
        Internal name (keys of :data:`FIELDS`) -> the frame's column.
    source : str
        Value of the ``source`` column.
    file_name : str
        Value of the ``source_file`` column.
    """

    def col(internal: str) -> pl.Expr:
        if internal in found:
            return pl.col(found[internal]).cast(pl.String).str.strip_chars()
        return pl.lit(None, dtype=pl.String)

    if "flow_code" in found:
        flow = col("flow_code").str.to_uppercase()
    else:
        flow = col("flow_desc").str.to_lowercase().replace_strict(_FLOW_DESC, default=None)
    is_import = flow.str.contains("M")

    reporter_code, reporter_system, reporter_bad = _country(
        found.get("reporter_code"), found.get("reporter_iso"), "reporter"
    )
    partner_code, partner_system, partner_bad = _country(
        found.get("partner_code"), found.get("partner_iso"), "partner"
    )
    frame = join_iso3(frame, reporter_code, reporter_system, "_reporter_iso3")
    frame = join_iso3(frame, partner_code, partner_system, "_partner_iso3")
    reporter, partner = pl.col("_reporter_iso3"), pl.col("_partner_iso3")

    # values several columns and checks use, computed once as columns of the frame
    frame = frame.with_columns(
        flow.alias("__flow"),
        (col("period") if "period" in found else col("ref_year")).alias("__period_text"),
        col("freq").str.to_uppercase().alias("__freq_given"),
        col("cmd_code").alias("__hs"),
    )
    flow, period_text, freq_given, hs = (
        pl.col(name) for name in ("__flow", "__period_text", "__freq_given", "__hs")
    )
    frame = frame.with_columns(
        flow.str.contains("M").alias("__is_import"),
        period_text.str.len_chars().alias("__period_len"),
        period_text.str.contains(r"^\d+$").alias("__period_digits"),
        hs.str.len_chars().alias("__hs_len"),
        hs.str.contains(r"^\d+$").alias("__hs_digits"),
    )
    is_import, period_len, period_digits, hs_len, hs_digits = (
        pl.col(name)
        for name in ("__is_import", "__period_len", "__period_digits", "__hs_len", "__hs_digits")
    )
    frame = frame.with_columns(
        pl.when(freq_given.is_not_null())
        .then(freq_given)
        .when(period_len == 6)
        .then(pl.lit("M"))
        .otherwise(pl.lit("A"))
        .alias("__freq")
    )
    freq = pl.col("__freq")
    year = period_text.str.slice(0, 4).cast(pl.Int32, strict=False)
    month = (
        pl.when(period_len == 6)
        .then(period_text.str.slice(4, 2).cast(pl.Int8, strict=False))
        .otherwise(pl.lit(1, dtype=pl.Int8))
    )
    # ^\d{4}$ and ^\d{6}$: all digits and 4 (6) characters
    period_ok = period_digits & (period_len == 4) & (freq == "A") | (
        period_digits & (period_len == 6) & (freq == "M") & month.is_between(1, 12)
    )
    period = pl.when(period_ok).then(pl.date(year, month, 1))
    ref_year = col("ref_year").cast(pl.Int32, strict=False)
    ref_month = col("ref_month").cast(pl.Int32, strict=False)

    # ^(\d\d){1,5}$: all digits, an even number of them from 2 to 10
    hs_ok = (hs == "TOTAL") | (hs_digits & (hs_len % 2 == 0) & hs_len.is_between(2, 10))
    hs6 = pl.when(hs_digits & (hs_len >= 6)).then(hs.str.slice(0, 6))

    def num(internal: str) -> pl.Expr:
        """A number field: parsed by the scan when ``typed``, else from its text."""
        if not typed:
            return number(col(internal))
        if internal in found:
            return pl.col(found[internal]).cast(pl.Float64)
        return pl.lit(None, dtype=pl.Float64)

    def non_numeric(internal: str) -> pl.Expr:
        return pl.lit(False) if typed else not_a_number(col(internal))

    primary_text = col("primary_value")
    fallback_text = pl.when(is_import).then(col("cif")).otherwise(col("fob"))
    value_text = (
        pl.when(primary_text.is_null() | (primary_text == ""))
        .then(fallback_text)
        .otherwise(primary_text)
    )
    if typed:
        # an empty field is null once parsed, as an empty text is null as a number
        primary = num("primary_value")
        fallback = pl.when(is_import).then(num("cif")).otherwise(num("fob"))
        value = pl.when(primary.is_null()).then(fallback).otherwise(primary)
    else:
        value = number(value_text)
    no_qty = col("qty_unit_code") == "-1"
    quantity = pl.when(no_qty).then(None).otherwise(num("qty"))
    qty_unit = pl.when(no_qty).then(None).otherwise(col("qty_unit"))

    flag_parts = [
        pl.concat_str(pl.lit(f"{FIELDS[name]}="), col(name).str.to_lowercase())
        for name in ("legacy_flag", "is_reported", "is_aggregate")
        if name in found
    ]
    flags = (
        pl.concat_str(flag_parts, separator=";", ignore_nulls=True)
        if flag_parts
        else pl.lit(None, dtype=pl.String)
    )

    def at(internal: str) -> str:
        return found.get(internal, "")

    flow_raw = col("flow_code") if "flow_code" in found else col("flow_desc")
    checks: list[Check] = [
        (reporter.is_null(), at("reporter_code") or at("reporter_iso"), reporter_bad),
        (partner.is_null(), at("partner_code") or at("partner_iso"), partner_bad),
        (
            flow.is_null() | ~flow.str.contains(r"^[A-Z]{1,3}$"),
            at("flow_code") or at("flow_desc"),
            ("unknown flow '", flow_raw, "'"),
        ),
        (hs.is_null() | (hs == ""), at("cmd_code"), "empty commodity code"),
        (
            hs_digits & (hs_len % 2 == 1),
            at("cmd_code"),
            (
                "HS code '",
                hs,
                "' has ",
                hs.str.len_chars(),
                " digits: it was read as a number and lost its leading zero (keep the "
                "commodity code as text)",
            ),
        ),
        (~hs_ok, at("cmd_code"), ("not an HS code: '", hs, "'")),
        (
            ~period_ok.fill_null(False),
            at("period") or at("ref_year"),
            ("period '", period_text, "' does not match freqCode '", freq, "'"),
        ),
        (
            ref_year.is_not_null() & (ref_year != year),
            at("period"),
            (
                "period '",
                period_text,
                "' is outside the record's declared refYear ",
                ref_year,
            ),
        ),
        (
            (freq == "M") & ref_month.is_not_null() & (ref_month != month.cast(pl.Int32)),
            at("period"),
            (
                "period '",
                period_text,
                "' is outside the record's declared refMonth ",
                ref_month,
            ),
        ),
        (
            pl.lit(False) if typed else not_a_number(value_text),
            at("primary_value"),
            ("non-numeric value '", value_text, "'"),
        ),
        (
            value.is_null(),
            at("primary_value"),
            "no value (primaryValue, cifvalue and fobvalue are all empty)",
        ),
        (
            non_finite(value),
            at("primary_value"),
            ("non-finite value '", value_text, "' (NaN or infinity is not a trade value)"),
        ),
        (
            non_finite(num("net_wgt")),
            at("net_wgt"),
            ("non-finite net weight '", col("net_wgt"), "'"),
        ),
        (
            non_finite(quantity),
            at("qty"),
            ("non-finite quantity '", col("qty"), "'"),
        ),
        (
            non_numeric("net_wgt"),
            at("net_wgt"),
            ("non-numeric net weight '", col("net_wgt"), "'"),
        ),
        (
            non_numeric("qty") & ~no_qty.fill_null(False),
            at("qty"),
            ("non-numeric quantity '", col("qty"), "'"),
        ),
        (
            (col("partner2_code").cast(pl.Int64, strict=False) != 0),
            at("partner2_code"),
            (
                "breakdown row (partner2Code ",
                col("partner2_code"),
                "): the store keeps totals over second partners",
            ),
        ),
        (
            (col("mot_code").cast(pl.Int64, strict=False) != 0),
            at("mot_code"),
            (
                "breakdown row (motCode ",
                col("mot_code"),
                "): the store keeps totals over modes of transport",
            ),
        ),
        (
            (col("customs_code") != "C00") & (col("customs_code") != ""),
            at("customs_code"),
            (
                "breakdown row (customsCode ",
                col("customs_code"),
                "): the store keeps totals over customs procedures",
            ),
        ),
    ]

    exprs: dict[str, pl.Expr] = {
        "source": pl.lit(source, dtype=pl.String),
        "reporter_iso3": reporter,
        "partner_iso3": partner,
        "flow": flow,
        "exporter_iso3": pl.when(is_import).then(partner).otherwise(reporter),
        "importer_iso3": pl.when(is_import).then(reporter).otherwise(partner),
        "hs_code": hs,
        "hs6": hs6,
        "hs_revision": col("classification"),
        "period": period,
        "freq": freq,
        "value_usd": value,
        "value_native": value,
        "currency": pl.lit("USD"),
        "valuation": pl.when(is_import).then(pl.lit("CIF")).otherwise(pl.lit("FOB")),
        "net_weight_kg": num("net_wgt"),
        "quantity": quantity,
        "quantity_unit": qty_unit,
        "flags": flags,
        "source_file": pl.lit(file_name, dtype=pl.String),
        "source_line": pl.col("_line").cast(pl.Int64),
    }
    columns = {name: exprs[name].cast(dtype) for name, dtype in FLOW_SCHEMA.items()}
    return Staged(frame, columns, checks)


def _load_json(path: Path) -> list[dict[str, Any]]:
    """The ``data`` array of an API response; raises SourceFormatError naming line and column."""
    raw = read_bytes(path)  # missing / empty file, broken gzip
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceFormatError(
            path, f"broken encoding: byte 0x{raw[exc.start]:02x} is not UTF-8", line=line
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        body = text.rstrip()
        if not body.endswith(("}", "]")):
            last_line = body.count("\n") + 1
            raise SourceFormatError(
                path,
                f"truncated JSON: the file ends before the document does ({exc.msg} at line "
                f"{exc.lineno}, column {exc.colno})",
                line=last_line,
            ) from None
        raise SourceFormatError(
            path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno
        ) from None
    error = (doc.get("error") or doc.get("message")) if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or "data" not in doc:
        detail = f" (the API said: {error})" if error else ""
        raise SourceFormatError(
            path, f"not a Comtrade API response: no 'data' array{detail}", field="data"
        )
    if error:
        raise SourceFormatError(
            path,
            f"the Comtrade API answered with an error (the API said: {error}); no data to read",
            field="error",
        )
    data = doc["data"]
    if not isinstance(data, list) or not all(isinstance(rec, dict) for rec in data):
        raise SourceFormatError(path, "'data' is not an array of records", field="data")
    return data


def _json_columns(data: list[dict[str, Any]]) -> list[str]:
    """Every field name of the records, in order of first appearance."""
    columns: list[str] = []
    seen: set[str] = set()
    for record in data:
        if len(record) == len(seen) and all(key in seen for key in record):
            continue  # the usual case: a record with the fields already seen
        for key in record:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    return columns


def _json_frame(data: list[dict[str, Any]], columns: list[str]) -> pl.LazyFrame:
    """The records' ``columns`` as text columns plus ``_line`` (the record number)."""

    def text(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return f"{value:.1f}"
        return str(value)

    # The records are parsed by Python's json already; each field becomes a text column so the
    # CSV and JSON paths share one mapping (numbers as published, codes with their zeros).
    # Only the fields the mapping reads are converted.
    table = {key: [text(rec.get(key)) for rec in data] for key in columns}
    frame = pl.DataFrame(table, schema=dict.fromkeys(columns, pl.String), height=len(data))
    frame = frame.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_line"))
    return frame.lazy()


def _is_empty_answer(head: bytes) -> bool:
    """True for a whole (small) API answer whose ``data`` is an empty array."""
    try:
        doc = json.loads(head.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("data") == [] and not doc.get("error")


class ComtradeReader:
    """UN Comtrade API v1 records, as JSON (``{"data": [...]}``) or CSV (camelCase or snake_case).

    See the module docstring for the mapping rule. ``read`` is lazy for plain CSV files; JSON
    responses (at most a few hundred thousand records per call) are parsed in memory, by msgspec
    where it is installed (:mod:`tradeimpact.sources._comtrade_json`), else by Python's ``json``.
    """

    name = "comtrade"
    version = "1"
    description = "UN Comtrade API v1 JSON ({'data': [...]}) or CSV, camelCase or snake_case fields"

    def __init__(self, source: str = "comtrade") -> None:
        self.source = source

    @staticmethod
    def _is_json(head: bytes) -> bool:
        return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")

    def sniff(self, path: Path) -> bool:
        """True for a JSON response with Comtrade fields, or a CSV header with them."""
        try:
            head = head_bytes(Path(path), 8192)
        except SourceFormatError:
            return False
        if self._is_json(head):
            if b'"data"' in head and b'"cmdCode"' in head and b'"primaryValue"' in head:
                return True
            # an empty answer has no field names: {"count": 0, "data": [], "error": ""}
            return len(head) < 8192 and _is_empty_answer(head)
        try:
            names = {normalise_name(n) for n in header_line(Path(path), head).split(",")}
        except SourceFormatError:
            return False
        return {"cmdcode", "primaryvalue"} <= names and bool(
            {"reportercode", "reporteriso"} & names
        )

    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason`` (see module docstring)."""
        staged = self.read_staged(path)
        return (staged.fallback or staged).canonical()

    def _read_json_fast(self, path: Path) -> Staged | None:
        """The answer decoded by msgspec (:mod:`tradeimpact.sources._comtrade_json`), or ``None``
        for the general path (no msgspec, or a file that is not the common case)."""
        from tradeimpact.sources import _comtrade_json

        if not _comtrade_json.available():
            return None
        numbers = [FIELDS[name] for name in NUMBER_FIELDS]
        if is_gzip(path) or path.stat().st_size == 0:
            decoded = _comtrade_json.decode_answer(read_bytes(path), _JSON_TYPES, numbers)
        else:
            # a plain file is decoded in place from a memory map (no copy of its bytes)
            with path.open("rb") as handle:
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                try:
                    decoded = _comtrade_json.decode_answer(mapped, _JSON_TYPES, numbers)
                finally:
                    try:
                        mapped.close()
                    except BufferError:  # pragma: no cover - a traceback holds a raw record
                        pass  # the map is closed when the record is freed (no data is lost)
        if decoded is None:
            return None
        present, frame = decoded
        try:
            found = _match_columns(path, present, "the records have the fields")
        except SourceFormatError:
            return None  # the general path names the missing field among all the records' fields
        return staged_comtrade(frame.lazy(), found, self.source, str(path), typed=True)

    def read_staged(self, path: Path) -> Staged:
        """:meth:`read` before its final select (:class:`~tradeimpact.sources._text.Staged`)."""
        path = Path(path)
        head = head_bytes(path)
        if self._is_json(head):
            fast = self._read_json_fast(path)
            if fast is not None:
                return fast
            data = _load_json(path)
            # a valid empty answer ({"count": 0, "data": []}) has no fields: zero rows
            columns = _json_columns(data) if data else list(API_V1_FIELDS)
            found = _match_columns(path, columns, "the records have the fields")
            frame = _json_frame(data, sorted(set(found.values()), key=columns.index))
            return staged_comtrade(frame, found, self.source, str(path))
        line = header_line(path, head)
        split_header(path, line)  # wrong delimiter
        if is_gzip(path):
            return self._text_staged(path, line)
        names = column_names(path, line)
        found = _match_columns(path, names, "the header has")
        # the fast path: number fields parsed by the scan, the field count deferred; a file with
        # a field that does not parse as a number, or a record longer than the header, fails
        # that scan and is read as text (``fallback``), where the row is quarantined with its
        # reason; a row that may be short or blank (``suspect``) has the file counted
        # (``recount``)
        numbers: dict[str, pl.DataType] = {
            found[name]: pl.Float64() for name in NUMBER_FIELDS if name in found
        }
        typed_scan = scan_delimited(
            path, numbers=numbers, header=line, strict_width=True, defer_counts=True
        )
        typed = staged_comtrade(typed_scan.frame, found, self.source, str(path), typed=True)

        def recount() -> Staged:
            checks = [*typed_scan.checks, *typed_scan.counted(), *typed.checks]
            return Staged(typed.frame, typed.columns, checks, text=typed_text)

        def typed_text() -> Staged:
            return self._text_staged(path, line)

        return Staged(
            typed.frame,
            typed.columns,
            [*typed_scan.checks, *typed.checks],
            text=typed_text,
            suspect=typed_scan.suspect,
            recount=recount,
        )

    def _text_staged(self, path: Path, line: str) -> Staged:
        """The CSV file read as text (every check, the fields counted)."""
        scanned = scan_delimited(path, header=line)
        found = _match_columns(path, scanned.names, "the header has")
        text = staged_comtrade(scanned.frame, found, self.source, str(path))
        return Staged(text.frame, text.columns, [*scanned.checks, *text.checks])
