"""A catalogue of bad inputs across every reader, each with its expected outcome (issue 11).

Every case is a small file written from an in-test string that follows the real layout of its
format (UN Comtrade v1 JSON and CSV as in ../shared/data/real/comtradr-vignette; the legacy
Comtrade CSV header; CEPII BACI ``t,i,j,k,v,q`` as in baci_readme.txt; Japan Customs and GACC as
described in tests/test_sources_japan_customs.py and tests/test_sources_gacc.py; the generic
reader over the magnets extract's layout; e-Stat getStatsData answers in the real JSON shape of
tests/fetch_server.estat_answer). Each is ingested through ``FlowStore.ingest`` and one of
two outcomes is asserted:

* a file-level error: ingested with ``on_error="skip"`` beside a good file of the same reader,
  the bad file's status names the file, the line (where one applies), the field (where one
  applies) and the reason, and the good file of the same call is stored all the same;
* quarantined rows: each with its line, field and reason, and the number of rows stored.

On every case ``rows read = rows stored + rows quarantined`` is asserted for each file.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fetch_server import estat_answer, estat_line

from tradeimpact.sources.baci import BaciReader
from tradeimpact.sources.comtrade import ComtradeReader
from tradeimpact.sources.comtrade_legacy import ComtradeLegacyReader
from tradeimpact.sources.estat_api import EstatApiReader
from tradeimpact.sources.gacc import GaccReader
from tradeimpact.sources.generic import GenericReader
from tradeimpact.sources.japan_customs import MONTHS, JapanCustomsReader
from tradeimpact.store import FlowStore

TRUNC = "last line incomplete (file truncated?)"
ROW = "(row)"

# ---------------------------------------------------------------- layouts of the formats
CT = "freqCode,period,reporterCode,flowCode,partnerCode,classificationCode,cmdCode,primaryValue"
CT_OK = "A,2010,392,M,156,H3,280530,12.5"
CT_W = CT + ",netWgt,qtyUnitCode,qty"
CT_W_OK = CT_OK + ",1000,8,1000"
CT_B = (
    "freqCode,refYear,period,reporterCode,flowCode,partnerCode,partner2Code,motCode,customsCode,"
    "cmdCode,primaryValue"
)


def ct(*rows: str, header: str = CT, end: str = "\n") -> str:
    return header + "\n" + "\n".join(rows) + end


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "typeCode": "C",
        "freqCode": "A",
        "refYear": 2010,
        "period": "2010",
        "reporterCode": 392,
        "flowCode": "M",
        "partnerCode": 156,
        "partner2Code": 0,
        "classificationCode": "H3",
        "cmdCode": "280530",
        "customsCode": "C00",
        "motCode": 0,
        "qtyUnitCode": 8,
        "qtyUnitAbbr": "kg",
        "qty": 1000.0,
        "netWgt": 1000.0,
        "primaryValue": 12.5,
        "isReported": True,
    }
    base.update(changes)
    return base


def answer(*records: dict[str, Any], error: str = "") -> str:
    """A Comtrade v1 answer as the API sends it (``json.dumps`` writes NaN/Infinity literals)."""
    return json.dumps(
        {"elapsedTime": "0.01 secs", "count": len(records), "data": list(records), "error": error}
    )


LEG = (
    "Classification,Year,Period,Period Desc.,Aggregate Level,Is Leaf Code,Trade Flow Code,"
    "Trade Flow,Reporter Code,Reporter,Reporter ISO,Partner Code,Partner,Partner ISO,"
    "Commodity Code,Commodity,Qty Unit Code,Qty Unit,Qty,Netweight (kg),Trade Value (US$),Flag"
)


def leg_row(
    flow: str = "1", period: str = "2010", qty: str = "1000", kg: str = "1000", v: str = "7654321"
) -> str:
    return (
        f"H3,2010,{period},{period},6,1,{flow},Import,392,Japan,JPN,156,China,CHN,280530,"
        f"Rare-earth metals,8,Weight in kilograms,{qty},{kg},{v},0"
    )


def leg(*rows: str, end: str = "\n") -> str:
    return LEG + "\n" + "\n".join(rows) + end


BACI = "t,i,j,k,v,q"
BACI_NAME = "BACI_HS17_Y2022_V202601.csv"
BC_OK = "2022,156,392,850511,229683.019,3743.83"


def bc(*rows: str, end: str = "\n") -> str:
    return BACI + "\n" + "\n".join(rows) + end


JC_COLS = ["Exp or Imp", "Year", "HS", "Country", "Unit1", "Unit2"]
JC_COLS += ["Quantity1-Year", "Quantity2-Year", "Value-Year"]
JC_COLS += [f"{q}-{m}" for m in MONTHS for q in ("Quantity1", "Quantity2", "Value")]
JC = ",".join(JC_COLS)


def jc_row(
    flow: str = "2",
    hs: str = "'280530000",
    country: str = "105",
    sep_value: str = "500",
    year_value: str | None = None,
    jan_value: str = "0",
) -> str:
    months = [["0", "0", "0"] for _ in MONTHS]
    months[0][2] = jan_value
    months[8] = ["10", "0", sep_value]  # September: 10 KG, the value in thousand JPY
    total = year_value
    if total is None:
        try:
            total = str(int(sep_value) + int(jan_value))
        except ValueError:
            total = "500"
    cells = [flow, "2010", hs, country, "KG", "", "10", "0", total]
    cells += [c for m in months for c in m]
    return ",".join(cells)


def jc(*rows: str, header: str = JC, end: str = "\n") -> str:
    return header + "\n" + "\n".join(rows) + end


GA = (
    "Date of data,Commodity code,Commodity,Trading partner code,Trading partner,"
    "First quantity,First unit,Second quantity,Second unit,US dollar"
)
GA_OK = "202509,85051110,Permanent magnets of rare earth,116,Japan,228000,kilogram,,,12345678"
GA_NAME = "export_2025.csv"


def ga(*rows: str, header: str = GA, end: str = "\n") -> str:
    return header + "\n" + "\n".join(rows) + end


GN = "year,exporter,importer,hs,value,weight_t,note"
GN_OK = "2010,CN,JP,850511,46151312,120.5,CEPII BACI HS02 V202601"


def gn(*rows: str, header: str = GN, end: str = "\n") -> str:
    return header + "\n" + "\n".join(rows) + end


GM = "period,reporter,partner,flow,hs,value"


def gm(*rows: str) -> str:
    return GM + "\n" + "\n".join(rows) + "\n"


ES_TABLE = "0003228184"  # imports 2006-10 (research/events.md 5.2)


def es(measure_month: str = "", value: str = "", *, area: str = "50105", hs: str = "850511000",
       months: int = 4) -> str:  # fmt: skip
    """An e-Stat getStatsData answer of one line (code, country, 2010) of ``months`` months (no
    year-total check below twelve), its record ``measure_month`` (a cat02 code) set to ``value``."""
    records = estat_line(hs, area, 2010, 100, months=months)
    for rec in records:
        if rec["@cat02"] == measure_month:
            rec["$"] = value
    return json.dumps(estat_answer(ES_TABLE, records), ensure_ascii=False)


def gz(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), mtime=0)


def gz_truncated(text: str) -> bytes:
    return gz(text)[:-12]


def gz_corrupt(text: str) -> bytes:
    data = bytearray(gz(text * 20))
    for i in range(12, min(len(data) - 8, 60)):
        data[i] ^= 0x5A
    return bytes(data)


# ---------------------------------------------------------------- the readers
def generic_annual() -> GenericReader:
    return GenericReader(
        mapping={
            "year": "year",
            "exporter": "exporter",
            "importer": "importer",
            "hs_code": "hs",
            "value_usd": "value",
            "net_weight_kg": "weight_t",
            "flags": "note",
        },
        code_system="iso2",
        freq="A",
        reported_by="importer",
        units={"net_weight_kg": 1000},
        status={"column": "note", "flag": {"nowcast": "modelled", "provisional": "provisional"}},
        valuation="FOB",
        source="catalogue_generic",
    )


def generic_monthly() -> GenericReader:
    return GenericReader(
        mapping={
            "period": "period",
            "reporter": "reporter",
            "partner": "partner",
            "flow": "flow",
            "hs_code": "hs",
            "value_usd": "value",
        },
        freq="M",
        source="catalogue_monthly",
    )


def generic_annual_period() -> GenericReader:
    return GenericReader(
        mapping={
            "period": "period",
            "reporter": "reporter",
            "partner": "partner",
            "flow": "flow",
            "hs_code": "hs",
            "value_usd": "value",
        },
        freq="A",
        source="catalogue_annual",
    )


#: reader key -> (factory of the reader or None for detection, good file name, good content)
READERS: dict[str, tuple[Callable[[], Any] | None, str, str]] = {
    # the good files hold other flow keys than the bad ones (a key stored twice is quarantined)
    "comtrade": (ComtradeReader, "good.csv", ct("A,2012,392,M,156,H3,280530,12.5")),
    "comtrade_json": (ComtradeReader, "good.json", answer(record(period="2012", refYear=2012))),
    "legacy": (ComtradeLegacyReader, "good.csv", leg(leg_row().replace("280530", "284690"))),
    "baci": (BaciReader, BACI_NAME, bc(BC_OK.replace("850511", "280530"))),
    "japan_customs": (JapanCustomsReader, "good.csv", jc(jc_row(hs="'284690000"))),
    "gacc": (GaccReader, GA_NAME, ga(GA_OK.replace("85051110", "28053011"))),
    "generic": (generic_annual, "good.csv", gn(GN_OK.replace("2010", "2012"))),
    "generic_monthly": (generic_monthly, "good.csv", gm("2012-09,JPN,CHN,M,280530,5")),
    "generic_annual": (generic_annual_period, "good.csv", gm("2012,JPN,CHN,M,280530,5")),
    "detect": (None, "good.csv", ct("A,2012,392,M,156,H3,280530,12.5")),
    "estat_api": (EstatApiReader, "good.json", es(hs="280530000")),
}


@dataclass(frozen=True)
class Case:
    """One bad input and what must happen to it."""

    id: str
    reader: str
    name: str
    content: str | bytes
    #: file-level error: (reason text contained, line or None, field or None)
    error: tuple[str, int | None, str | None] | None = None
    #: quarantined rows: (line, field, reason text contained, number of rows with them)
    quarantined: tuple[tuple[int, str, str, int], ...] = ()
    #: rows stored (for quarantine cases)
    stored: int = 0
    #: the ``flags`` of the stored rows, in line order (when given)
    flags: tuple[str | None, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def E(id: str, reader: str, name: str, content: str | bytes, reason: str, line: int | None,
      fld: str | None) -> Case:  # fmt: skip
    return Case(id, reader, name, content, error=(reason, line, fld))


def Q(id: str, reader: str, name: str, content: str | bytes, stored: int,
      *quarantined: tuple[int, str, str, int], flags: tuple[str | None, ...] | None = None
      ) -> Case:  # fmt: skip
    return Case(id, reader, name, content, quarantined=quarantined, stored=stored, flags=flags)


NF = "non-finite value"
SHORT = "fields: a field is missing, the values cannot be placed"
J = "x.json"

CASES: list[Case] = [
    # ---------------------------------------------------------------- Comtrade v1 CSV
    Q("ct-nan", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,NaN"), 1,
      (3, "primaryValue", f"{NF} 'NaN'", 1)),
    Q("ct-nan-lower", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,nan"), 1,
      (3, "primaryValue", NF, 1)),
    Q("ct-inf", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,inf"), 1,
      (3, "primaryValue", f"{NF} 'inf'", 1)),
    Q("ct-minus-inf", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,-inf"), 1,
      (3, "primaryValue", f"{NF} '-inf'", 1)),
    Q("ct-infinity", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,Infinity"), 1,
      (3, "primaryValue", NF, 1)),
    Q("ct-netwgt-nan", "comtrade", "x.csv", ct(CT_W_OK, CT_OK.replace("156", "410") +
      ",NaN,8,1000", header=CT_W), 1, (3, "netWgt", "non-finite net weight 'NaN'", 1)),
    Q("ct-qty-inf", "comtrade", "x.csv", ct(CT_W_OK, CT_OK.replace("156", "410") +
      ",1000,8,inf", header=CT_W), 1, (3, "qty", "non-finite quantity 'inf'", 1)),
    Q("ct-cut-number", "comtrade", "x.csv",
      ct(CT_OK, "A,2010,392,M,410,H3,280530,550", end=""), 1,
      (3, ROW, f"{TRUNC}: no line terminator, so its last value '550' may be cut", 1)),
    Q("ct-cut-short", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,2805", end=""), 1,
      (3, ROW, f"{TRUNC}: no line terminator and 7 of the header's 8 fields", 1)),
    Q("ct-cut-gz", "comtrade", "x.csv.gz",
      gz(ct(CT_OK, "A,2010,392,M,410,H3,280530,550", end="")), 1, (3, ROW, TRUNC, 1)),
    Q("ct-last-quoted-complete", "comtrade", "x.csv",
      ct(CT_OK, 'A,2010,392,M,410,H3,280530,"55050"', end=""), 2),
    Q("ct-extra-field", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,5,5,0"), 1,
      (3, ROW, "more fields than the header's 8 (first extra value '5')", 1)),
    Q("ct-non-numeric", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,n/a"), 1,
      (3, "primaryValue", "non-numeric value 'n/a'", 1)),
    Q("ct-negative", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,-5"), 1,
      (3, "value_usd", "negative value_usd -5.0", 1)),
    Q("ct-no-value", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,"), 1,
      (3, "primaryValue", "no value (primaryValue, cifvalue and fobvalue are all empty)", 1)),
    Q("ct-unknown-partner", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,999,H3,280530,5"), 1,
      (3, "partnerCode", "unknown partner code '999' (not in the m49 table)", 1)),
    Q("ct-unknown-reporter", "comtrade", "x.csv", ct(CT_OK, "A,2010,998,M,156,H3,280530,5"), 1,
      (3, "reporterCode", "unknown reporter code '998'", 1)),
    Q("ct-bad-flow", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,Q1,410,H3,280530,5"), 1,
      (3, "flowCode", "unknown flow 'Q1'", 1)),
    Q("ct-empty-cmd", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,,5"), 1,
      (3, "cmdCode", "empty commodity code", 1)),
    Q("ct-hs-lost-zero", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,30613,5"), 1,
      (3, "cmdCode", "HS code '30613' has 5 digits", 1)),
    Q("ct-hs-not-code", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,28A530,5"), 1,
      (3, "cmdCode", "not an HS code: '28A530'", 1)),
    Q("ct-year-with-freq-m", "comtrade", "x.csv", ct(CT_OK, "M,2010,392,M,410,H3,280530,5"), 1,
      (3, "period", "period '2010' does not match freqCode 'M'", 1)),
    Q("ct-month-13", "comtrade", "x.csv", ct(CT_OK, "M,201013,392,M,410,H3,280530,5"), 1,
      (3, "period", "period '201013' does not match freqCode 'M'", 1)),
    Q("ct-duplicate-key", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,3", CT_OK),
      1, (2, "flow_key", "duplicate flow key: 2 rows", 1), (4, "flow_key", "lines 2 to 4", 1)),
    Q("ct-refyear", "comtrade", "x.csv", ct("A,2010,2011,392,M,156,0,0,C00,280530,5",
      header=CT_B), 0, (2, "period", "outside the record's declared refYear 2010", 1)),
    Q("ct-partner2", "comtrade", "x.csv", ct("A,2010,2010,392,M,156,410,0,C00,280530,5",
      header=CT_B), 0, (2, "partner2Code", "breakdown row (partner2Code 410)", 1)),
    Q("ct-mot", "comtrade", "x.csv", ct("A,2010,2010,392,M,156,0,2100,C00,280530,5",
      header=CT_B), 0, (2, "motCode", "breakdown row (motCode 2100)", 1)),
    Q("ct-customs", "comtrade", "x.csv", ct("A,2010,2010,392,M,156,0,0,C01,280530,5",
      header=CT_B), 0, (2, "customsCode", "breakdown row (customsCode C01)", 1)),
    Q("ct-header-only", "comtrade", "x.csv", CT + "\n", 0),
    Q("ct-bom", "comtrade", "x.csv", "\ufeff" + ct(CT_OK), 1),
    Q("ct-crlf", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530,5").replace(
      "\n", "\r\n"), 2),
    E("ct-empty", "comtrade", "x.csv", "", "empty file (no header, no rows)", 1, None),
    E("ct-blank-lines", "comtrade", "x.csv", "\n\n\n", "empty file", 1, None),
    E("ct-missing-column", "comtrade", "x.csv", "freqCode,period,reporterCode,flowCode,"
      "partnerCode,cmdCode\nA,2010,392,M,156,280530\n", "missing column(s) ['primaryValue']", 1,
      "primaryValue"),
    E("ct-semicolon", "comtrade", "x.csv", ct(CT_OK).replace(",", ";"),
      "wrong delimiter: the header is split by ';', expected ','", 1, None),
    E("ct-tab", "comtrade", "x.csv", ct(CT_OK).replace(",", "\t"),
      "wrong delimiter: the header is split by tab", 1, None),
    E("ct-bad-utf8-row", "comtrade", "x.csv", ct(CT_OK).encode() +
      b"A,2010,392,M,410,H3,28053\xe9,2\n", "broken encoding", 3, None),
    E("ct-bad-utf8-header", "comtrade", "x.csv", b"freqC\xf4de,period\nA,2010\n",
      "broken encoding: byte 0xf4 at column 6 is not UTF-8", 1, None),
    E("ct-unterminated-quote", "comtrade", "x.csv",
      ct(CT_OK, 'A,2010,392,M,410,H3,"280530,5', "A,2010,392,M,156,H3,280530,7"),
      "unterminated quote", 3, None),
    E("ct-repeated-column", "comtrade", "x.csv", ct(CT_OK + ",1", header=CT + ",cmdCode"),
      "repeated column name(s) ['cmdCode']", 1, "cmdCode"),
    E("ct-gz-truncated", "comtrade", "x.csv.gz", gz_truncated(ct(CT_OK)),
      "truncated gzip file", None, None),
    E("ct-gz-corrupt", "comtrade", "x.csv.gz", gz_corrupt(ct(CT_OK)), "corrupt gzip file",
      None, None),
    E("ct-gz-zero-bytes", "comtrade", "x.csv.gz", b"", "empty file", 1, None),
    # ---------------------------------------------------------------- Comtrade v1 JSON
    Q("cj-nan-literal", "comtrade_json", J, answer(record(), record(partnerCode=410,
      primaryValue=float("nan"))), 1, (2, "primaryValue", f"{NF} 'nan'", 1)),
    Q("cj-infinity-literal", "comtrade_json", J, answer(record(), record(partnerCode=410,
      primaryValue=float("inf"))), 1, (2, "primaryValue", f"{NF} 'inf'", 1)),
    Q("cj-minus-infinity", "comtrade_json", J, answer(record(), record(partnerCode=410,
      primaryValue=float("-inf"))), 1, (2, "primaryValue", f"{NF} '-inf'", 1)),
    Q("cj-nan-text", "comtrade_json", J, answer(record(), record(partnerCode=410,
      primaryValue="NaN")), 1, (2, "primaryValue", f"{NF} 'NaN'", 1)),
    Q("cj-netwgt-nan", "comtrade_json", J, answer(record(), record(partnerCode=410,
      netWgt=float("nan"))), 1, (2, "netWgt", "non-finite net weight", 1)),
    Q("cj-qty-inf", "comtrade_json", J, answer(record(), record(partnerCode=410,
      qty=float("inf"))), 1, (2, "qty", "non-finite quantity", 1)),
    Q("cj-negative", "comtrade_json", J, answer(record(), record(partnerCode=410,
      primaryValue=-3.0)), 1, (2, "value_usd", "negative value_usd -3.0", 1)),
    Q("cj-unknown-partner", "comtrade_json", J, answer(record(), record(partnerCode=999)), 1,
      (2, "partnerCode", "unknown partner code '999'", 1)),
    Q("cj-hs-as-number", "comtrade_json", J, answer(record(), record(cmdCode=30613)), 1,
      (2, "cmdCode", "HS code '30613' has 5 digits", 1)),
    Q("cj-breakdown", "comtrade_json", J, answer(record(), record(motCode=2100)), 1,
      (2, "motCode", "breakdown row (motCode 2100)", 1)),
    Q("cj-empty-answer", "comtrade_json", J, answer(), 0),
    Q("cj-empty-answer-detected", "detect", J, answer(), 0),
    Q("cj-empty-answer-bare", "comtrade_json", J, '{"count": 0, "data": []}', 0),
    Q("cj-bom", "comtrade_json", J, "\ufeff" + answer(record()), 1),
    E("cj-error-answer", "comtrade_json", J, answer(error="Too many requests"),
      "the Comtrade API answered with an error (the API said: Too many requests)", None,
      "error"),
    E("cj-error-answer-detected", "detect", J, answer(error="Too many requests"),
      "the API said: Too many requests", None, "error"),
    E("cj-gateway-error", "comtrade_json", J, json.dumps({"statusCode": 401, "message":
      "Access denied due to invalid subscription key."}), "not a Comtrade API response: no "
      "'data' array (the API said: Access denied due to invalid subscription key.)", None,
      "data"),
    E("cj-gateway-error-detected", "detect", J, json.dumps({"statusCode": 401, "message":
      "Access denied"}), "(the API said: Access denied)", None, "data"),
    E("cj-truncated", "comtrade_json", J, answer(record(), record())[:150],
      "truncated JSON: the file ends before the document does", 1, None),
    E("cj-invalid", "comtrade_json", J, '{"data": [1,]}', "invalid JSON", 1, None),
    E("cj-data-not-array", "comtrade_json", J, '{"data": {"a": 1}}',
      "'data' is not an array of records", None, "data"),
    E("cj-missing-value-field", "comtrade_json", J, answer({k: v for k, v in record().items()
      if k != "primaryValue"}), "missing column(s) ['primaryValue']", 1, "primaryValue"),
    E("cj-bad-utf8", "comtrade_json", J, b'{"data": [\n{"cmdCode": "28\xe9"}]}',
      "broken encoding: byte 0xe9 is not UTF-8", 2, None),
    E("cj-gz-corrupt-detected", "detect", "x.json.gz", gz_corrupt(answer(record())),
      "corrupt gzip file", None, None),
    E("cj-gz-truncated", "comtrade_json", "x.json.gz", gz_truncated(answer(record())),
      "truncated gzip file", None, None),
    E("cj-gz-truncated-detected", "detect", "x.json.gz", gz_truncated(answer(record())),
      "truncated gzip file", None, None),
    # ---------------------------------------------------------------- legacy Comtrade CSV
    Q("leg-unknown-flow", "legacy", "x.csv", leg(leg_row(), leg_row(flow="9")), 1,
      (3, "Trade Flow Code", "unknown flow '9'", 1)),
    Q("leg-cut-number", "legacy", "x.csv", leg(leg_row(), leg_row(v="7").replace(
      "392,Japan", "410,Korea")[:-2], end=""), 1,
      (3, ROW, f"{TRUNC}: no line terminator and 21 of the header's 22 fields", 1)),
    Q("leg-no-newline", "legacy", "x.csv", leg(leg_row(), leg_row().replace(
      "156,China,CHN", "410,Korea,KOR"), end=""), 1,
      (3, ROW, f"{TRUNC}: no line terminator, so its last value '0' may be cut", 1)),
    Q("leg-nan", "legacy", "x.csv", leg(leg_row(), leg_row(v="NaN").replace(
      "156,China,CHN", "410,Korea,KOR")), 1, (3, "Trade Value (US$)", NF, 1)),
    Q("leg-inf-weight", "legacy", "x.csv", leg(leg_row(), leg_row(kg="inf").replace(
      "156,China,CHN", "410,Korea,KOR")), 1, (3, "Netweight (kg)", "non-finite net weight", 1)),
    Q("leg-extra-field", "legacy", "x.csv", leg(leg_row(), leg_row() + ",extra"), 1,
      (3, ROW, "more fields than the header's 22 (first extra value 'extra')", 1)),
    Q("leg-period-outside-year", "legacy", "x.csv", leg(leg_row(), leg_row(period="2011")), 1,
      (3, "Period", "period '2011' is outside the record's declared refYear 2010", 1)),
    Q("leg-negative-weight", "legacy", "x.csv", leg(leg_row(), leg_row(kg="-4").replace(
      "156,China,CHN", "410,Korea,KOR")), 1, (3, "net_weight_kg", "negative net_weight_kg", 1)),
    Q("leg-unquoted-comma", "legacy", "x.csv", leg(leg_row(v="1,5")), 0,
      (2, ROW, "more fields than the header's 22 (first extra value '0')", 1)),
    Q("leg-non-numeric", "legacy", "x.csv", leg(leg_row(), leg_row(v="n/a").replace(
      "156,China,CHN", "410,Korea,KOR")), 1,
      (3, "Trade Value (US$)", "non-numeric value 'n/a'", 1)),
    Q("leg-bom", "legacy", "x.csv", "\ufeff" + leg(leg_row()), 1),
    E("leg-missing-column", "legacy", "x.csv", leg(leg_row()).replace("Trade Value (US$)",
      "Value"), "missing column(s) ['Trade Value (US$)']", 1, "Trade Value (US$)"),
    E("leg-semicolon", "legacy", "x.csv", leg(leg_row()).replace(",", ";"), "wrong delimiter",
      1, None),
    E("leg-empty", "legacy", "x.csv", " \n", "empty file", 1, None),
    # ---------------------------------------------------------------- CEPII BACI
    Q("baci-bom", "baci", BACI_NAME, "\ufeff" + bc(BC_OK), 1),
    Q("baci-crlf", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,1.5,NA").replace(
      "\n", "\r\n"), 2),
    Q("baci-v-27-digits", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,"
      "123456789012345678901234567,1"), 1, (3, "v", "value '123456789012345678901234567' is "
      "out of range: more than 26 digits before the decimal point", 1)),
    Q("baci-q-27-digits", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,1.5,"
      "123456789012345678901234567"), 1, (3, "q", "is out of range", 1)),
    Q("baci-v-nan", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,NaN,1"), 1,
      (3, "v", "non-numeric value 'NaN'", 1)),
    Q("baci-v-inf", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,inf,1"), 1,
      (3, "v", "non-numeric value 'inf'", 1)),
    Q("baci-q-inf", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,1.5,inf"), 1,
      (3, "q", "non-numeric quantity 'inf'", 1)),
    Q("baci-q-na", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,1.5,NA"), 2),
    Q("baci-cut-value", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,3.75", end=""), 1,
      (3, ROW, f"{TRUNC}: no line terminator and 5 of the header's 6 fields (the last, 'v', "
       "may be cut too)", 1)),
    Q("baci-cut-quantity", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,3.75,1.2", end=""),
      1, (3, ROW, "its last value '1.2' may be cut", 1)),
    Q("baci-extra-field", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,3.75,1.2,9"), 1,
      (3, ROW, "more fields than the header's 6 (first extra value '9')", 1)),
    Q("baci-year-outside", "baci", BACI_NAME, bc(BC_OK, "2021,156,410,850511,1,1"), 1,
      (3, "t", "year '2021' is outside the file's declared year 2022", 1)),
    Q("baci-year-text", "baci", BACI_NAME, bc(BC_OK, "20x2,156,410,850511,1,1"), 1,
      (3, "t", "year '20x2' is not an integer", 1)),
    Q("baci-unknown-exporter", "baci", BACI_NAME, bc(BC_OK, "2022,999,392,850511,1,1"), 1,
      (3, "i", "unknown BACI country code '999'", 1)),
    Q("baci-unknown-importer", "baci", BACI_NAME, bc(BC_OK, "2022,156,997,850511,1,1"), 1,
      (3, "j", "unknown BACI country code '997'", 1)),
    Q("baci-k-5-digits", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,030613,1,1",
      "2022,156,410,85051,1,1"), 2, (4, "k", "has 5 digits in a file whose other codes keep", 1)),
    Q("baci-k-not-hs", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,8505ab,1,1"), 1,
      (3, "k", "product code '8505ab' is not a 6-digit HS code", 1)),
    Q("baci-v-negative", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,-1,1"), 1,
      (3, "v", "negative value '-1'", 1)),
    Q("baci-v-missing", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,,1"), 1,
      (3, "v", "value missing", 1)),
    Q("baci-q-text", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,1,abc"), 1,
      (3, "q", "non-numeric quantity 'abc'", 1)),
    E("baci-semicolon", "baci", BACI_NAME, bc(BC_OK).replace(",", ";"), "wrong delimiter", 1,
      None),
    E("baci-empty", "baci", BACI_NAME, "", "empty file", 1, None),
    E("baci-missing-column", "baci", BACI_NAME, "t,i,j,k,v\n2022,156,392,850511,1\n",
      "missing column(s) ['q']", 1, "q"),
    E("baci-unterminated-quote", "baci", BACI_NAME, bc(BC_OK, '2022,156,410,"850511,1,1',
      "2022,156,392,850511,1,1"), "unterminated quote", 3, None),
    E("baci-bad-utf8", "baci", BACI_NAME, bc(BC_OK).encode() + b"2022,156,410,85\xff511,1,1\n",
      "broken encoding", 3, None),
    E("baci-no-name", "baci", "baci.csv", bc(BC_OK), "cannot tell the HS revision and year",
      None, None),
    # ---------------------------------------------------------------- Japan Customs
    Q("jc-nan", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103", sep_value="NaN")),
      12, (3, "Value-Sep", "non-finite Value-Sep 'NaN'", 12)),
    Q("jc-inf", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103", sep_value="inf")),
      12, (3, "Value-Sep", "non-finite Value-Sep 'inf'", 12)),
    Q("jc-cut", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103")[:-4], end=""), 12,
      (3, ROW, f"{TRUNC}: no line terminator and 43 of the header's 45 fields (the last, "
       "'Quantity1-Dec', may be cut too)", 12)),
    Q("jc-no-newline", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103"), end=""),
      12, (3, ROW, "its last value '0' may be cut", 12)),
    Q("jc-extra-field", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103") + ",7"),
      12, (3, ROW, "more fields than the header's 45", 12)),
    Q("jc-bom", "japan_customs", "x.csv", "\ufeff" + jc(jc_row()), 12),
    Q("jc-year-total", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103",
      year_value="501")), 12, (3, "Value-Year", "Value-Year 501 differs from the sum", 12)),
    Q("jc-hs-8-digits", "japan_customs", "x.csv", jc(jc_row(), jc_row(hs="28053000")), 12,
      (3, "HS", "HS code '28053000' has 8 digits", 12)),
    Q("jc-unknown-country", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="999")), 12,
      (3, "Country", "unknown Japan Customs country code '999'", 12)),
    Q("jc-bad-direction", "japan_customs", "x.csv", jc(jc_row(), jc_row(flow="3")), 12,
      (3, "Exp or Imp", "'Exp or Imp' '3' is not 1/2", 12)),
    Q("jc-value-huge", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103",
      sep_value="1" * 27, year_value="500")), 12, (3, "Value-Sep", "is out of range", 12)),
    Q("jc-negative", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103",
      jan_value="-5")), 12, (3, "Value-Jan", "negative Value-Jan '-5'", 12)),
    Q("jc-non-numeric", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103",
      sep_value="x")), 12, (3, "Value-Sep", "non-numeric Value-Sep 'x'", 12)),
    E("jc-unterminated-quote", "japan_customs", "x.csv", jc(jc_row(), '2,2010,"\'280530000',
      jc_row(country="103")), "unterminated quote", 3, None),
    E("jc-empty", "japan_customs", "x.csv", "", "empty file", 1, None),
    E("jc-missing-column", "japan_customs", "x.csv", jc(jc_row(), header=JC.replace(
      "Value-Dec", "Value-Dez")), "missing column(s) ['Value-Dec']", 1, "Value-Dec"),
    E("jc-both-aprils", "japan_customs", "x.csv", jc(jc_row(), header=JC.replace(
      "Quantity1-Apr", "Value-Apl")), "both 'Value-Apr' and 'Value-Apl'", 1, "Value-Apl"),
    E("jc-not-text", "japan_customs", "x.csv", jc(jc_row()).encode() + b"\x81\x20\n",
      "undecodable text, neither UTF-8 nor Shift-JIS", 3, None),
    # ---------------------------------------------------------------- China Customs (GACC)
    Q("gacc-nan", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "502,United States")
      .replace("12345678", "NaN")), 1, (3, "US dollar", "non-numeric value 'NaN'", 1)),
    Q("gacc-inf", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "502,United States")
      .replace("12345678", "inf")), 1, (3, "US dollar", "non-numeric value 'inf'", 1)),
    Q("gacc-cut-short", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "502,USA")
      [:-12], end=""), 1, (3, ROW, f"{TRUNC}: no line terminator and 7 of the header's 10 fields (the last, "
       "'First unit', may be cut too)", 1)),
    Q("gacc-cut-number", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "502,USA")
      .replace("12345678", "123"), end=""), 1, (3, ROW, "its last value '123' may be cut", 1)),
    Q("gacc-quoted-last-complete", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan",
      "502,USA").replace("12345678", '"12,345,678"'), end=""), 2),
    Q("gacc-extra-field", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "502,USA") +
      ",5"), 1, (3, ROW, "more fields than the header's 10", 1)),
    Q("gacc-bad-period", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("202509", "2025")), 1,
      (3, "Date of data", "period '2025' is not YYYYMM", 1)),
    Q("gacc-code-7-digits", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("85051110", "2805301")),
      1, (3, "Commodity code", "has 7 digits", 1)),
    Q("gacc-unknown-partner", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "998,X")),
      1, (3, "Trading partner code", "unknown GACC trading partner '998'", 1)),
    Q("gacc-value-missing", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "502,USA")
      .replace("12345678", "")), 1, (3, "US dollar", "value missing", 1)),
    Q("gacc-negative", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "502,USA")
      .replace("12345678", "-5")), 1, (3, "US dollar", "negative value '-5'", 1)),
    Q("gacc-value-huge", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "502,USA")
      .replace("12345678", "9" * 30)), 1, (3, "US dollar", "is out of range", 1)),
    Q("gacc-qty-text", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "502,USA")
      .replace("228000", "1x")), 1, (3, "First quantity", "non-numeric quantity '1x'", 1)),
    Q("gacc-bom", "gacc", GA_NAME, "\ufeff" + ga(GA_OK), 1),
    Q("gacc-trailing-empty-columns", "gacc", GA_NAME, ga(GA_OK + ",,", header=GA + ",,"), 1),
    E("gacc-unterminated-quote", "gacc", GA_NAME, ga(GA_OK, '202510,"85051110,x,116,Japan,1,'
      "kilogram,,,5", GA_OK.replace("202509", "202511")), "unterminated quote", 3, None),
    E("gacc-no-direction", "gacc", "data.csv", ga(GA_OK),
      "the file does not say whether it holds imports or exports", None, None),
    E("gacc-two-value-columns", "gacc", GA_NAME, ga(GA_OK + ",1", header=GA + ",RMB"),
      "need exactly one value column", 1, "美元"),
    E("gacc-empty", "gacc", GA_NAME, "\n", "empty file", 1, None),
    E("gacc-missing-code", "gacc", GA_NAME, ga(GA_OK, header=GA.replace("Commodity code",
      "Code")), "missing column ['商品编码', 'Commodity code']", 1, "商品编码"),
    # ---------------------------------------------------------------- generic reader
    Q("gen-nan-value", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,KR")
      .replace("46151312", "NaN")), 1, (3, "value", "non-finite value_usd 'NaN'", 1)),
    Q("gen-nan-lower", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,KR")
      .replace("46151312", "nan")), 1, (3, "value", "non-finite value_usd 'nan'", 1)),
    Q("gen-inf-weight", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,KR")
      .replace("120.5", "inf")), 1, (3, "weight_t", "non-finite net_weight_kg 'inf'", 1)),
    Q("gen-minus-infinity", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,KR")
      .replace("120.5", "-Infinity")), 1, (3, "weight_t", "non-finite net_weight_kg", 1)),
    Q("gen-cut-short", "generic", "x.csv", gn(GN_OK, "2010,CN,KR,850511,550", end=""), 1,
      (3, ROW, f"{TRUNC}: no line terminator and 5 of the header's 7 fields", 1)),
    Q("gen-cut-note", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,KR"), end=""), 1,
      (3, ROW, "its last value 'CEPII BACI HS02 V202601' may be cut", 1)),
    Q("gen-extra-field", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,KR") + ",x"),
      1, (3, ROW, "more fields than the header's 7", 1)),
    # ------------------------------------------------ rows with fewer fields than the header
    # (issue 11: the parser fills missing trailing fields like empty ones, so the values of a
    # short row land in the wrong columns; every delimited reader counts the fields of each row)
    Q("ct-short-middle", "comtrade", "x.csv", ct(CT_W_OK, "A,2010,392,M,410,H3,280530,1000,8,"
      "1000", CT_W_OK.replace("156", "36"), header=CT_W), 2,
      (3, ROW, f"10 of the header's 11 {SHORT}", 1)),
    Q("ct-short-last-terminated", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530"),
      1, (3, ROW, f"7 of the header's 8 {SHORT}", 1)),
    Q("ct-short-gz", "comtrade", "x.csv.gz", gz(ct(CT_W_OK, "A,2010,392,M,410,H3,280530,1000,8,"
      "1000", CT_W_OK.replace("156", "36"), header=CT_W)), 2,
      (3, ROW, f"10 of the header's 11 {SHORT}", 1)),
    Q("ct-short-crlf", "comtrade", "x.csv", ct(CT_OK, "A,2010,392,M,410,H3,280530",
      CT_OK.replace("156", "36")).replace("\n", "\r\n"), 2,
      (3, ROW, f"7 of the header's 8 {SHORT}", 1)),
    Q("ct-short-bom", "comtrade", "x.csv", "\ufeff" + ct(CT_OK, "A,2010,392,M,410,H3,280530",
      CT_OK.replace("156", "36")), 2, (3, ROW, f"7 of the header's 8 {SHORT}", 1)),
    Q("ct-short-after-quoted-newline", "comtrade", "x.csv", ct(CT_OK + ',"Rare-earth\nmetals"',
      "A,2010,392,M,410,H3,280530,5", CT_OK.replace("156", "36") + ",x", header=CT + ",cmdDesc"),
      2, (3, ROW, f"8 of the header's 9 {SHORT}", 1)),
    Q("ct-quoted-separator", "comtrade", "x.csv", ct(CT_OK + ',"Rare-earth metals, scandium"',
      CT_OK.replace("156", "36") + ',"a ""b"", c"', header=CT + ",cmdDesc"), 2),
    Q("ct-trailing-empty-field", "comtrade", "x.csv", ct(CT_W_OK,
      CT_OK.replace("156", "36") + ",1000,8,", header=CT_W), 2),
    Q("ct-empty-line", "comtrade", "x.csv", ct(CT_OK, "", CT_OK.replace("156", "36")), 2,
      (3, ROW, "empty line", 1)),
    Q("ct-blank-line-crlf", "comtrade", "x.csv", ct(CT_OK, "  ", CT_OK.replace("156", "36"))
      .replace("\n", "\r\n"), 2, (3, ROW, "empty line", 1)),
    Q("leg-short-middle", "legacy", "x.csv", leg(leg_row(), leg_row().replace(
      ",Rare-earth metals", ""), leg_row().replace("156,China,CHN", "410,Korea,KOR")), 2,
      (3, ROW, f"21 of the header's 22 {SHORT}", 1)),
    Q("leg-quoted-separator", "legacy", "x.csv", leg(leg_row().replace("Rare-earth metals",
      '"Rare-earth metals, scandium and yttrium"')), 1),
    Q("baci-short-middle", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,3.75",
      "2022,156,842,850511,1,1"), 2, (3, ROW, f"5 of the header's 6 {SHORT}", 1)),
    Q("baci-short-gz", "baci", BACI_NAME + ".gz", gz(bc(BC_OK, "2022,156,410,850511,3.75",
      "2022,156,842,850511,1,1")), 2, (3, ROW, f"5 of the header's 6 {SHORT}", 1)),
    Q("baci-trailing-empty-quantity", "baci", BACI_NAME, bc(BC_OK, "2022,156,410,850511,3.75,"),
      2),
    Q("jc-short-middle", "japan_customs", "x.csv", jc(jc_row(), jc_row(country="103").replace(
      ",KG,", ","), jc_row(country="106")), 24, (3, ROW, f"44 of the header's 45 {SHORT}", 12)),
    Q("jc-short-shift-jis", "japan_customs", "x.csv", jc(jc_row() + ",中華人民共和国",
      jc_row(country="103").replace(",KG,", ",") + ",韓国", jc_row(country="106") + ",台湾",
      header=JC + ",備考").encode("cp932"), 24, (3, ROW, f"45 of the header's 46 {SHORT}", 12)),
    Q("gacc-short-middle", "gacc", GA_NAME, ga(GA_OK, GA_OK.replace("116,Japan", "410,Korea")
      .replace(",kilogram", ""), GA_OK.replace("116,Japan", "502,USA")), 2,
      (3, ROW, f"9 of the header's 10 {SHORT}", 1)),
    Q("gacc-quoted-separator-middle", "gacc", GA_NAME, ga(GA_OK.replace("12345678",
      '"12,345,678"'), GA_OK.replace("116,Japan", "502,USA")), 2),
    Q("gen-short-middle", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,US")
      .replace(",120.5", ""), GN_OK.replace("CN,JP", "CN,KR")), 2,
      (3, ROW, f"6 of the header's 7 {SHORT}", 1)),
    Q("gen-quoted-separator", "generic", "x.csv", gn(GN_OK.replace("CEPII BACI HS02 V202601",
      '"CEPII BACI, HS02"'), GN_OK.replace("CN,JP", "CN,KR")), 2),
    Q("gen-trailing-empty-field", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,KR")
      .replace("CEPII BACI HS02 V202601", "")), 2),
    Q("gen-monthly-short-middle", "generic_monthly", "x.csv", gm("2010-09,JPN,CHN,M,280530,5",
      "2010-09,JPN,KOR,M,5", "2010-09,JPN,USA,M,280530,7"), 2,
      (3, ROW, f"5 of the header's 6 {SHORT}", 1)),
    Q("gen-unknown-country", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,QQ")), 1,
      (3, "importer", "unknown reporter code 'QQ' (not in the iso2 table)", 1)),
    Q("gen-bad-hs", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP,850511", "CN,KR,85051")),
      1, (3, "hs", "not an HS code", 1)),
    Q("gen-non-numeric", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,KR")
      .replace("46151312", "12a")), 1, (3, "value", "non-numeric value_usd '12a'", 1)),
    Q("gen-year-text", "generic", "x.csv", gn(GN_OK, GN_OK.replace("2010,CN,JP", "20x0,CN,KR")),
      1, (3, "year", "period not readable for freq A: '20x0'", 1)),
    Q("gen-negative", "generic", "x.csv", gn(GN_OK, GN_OK.replace("CN,JP", "CN,KR")
      .replace("46151312", "-1")), 1, (3, "value_usd", "negative value_usd", 1)),
    Q("gen-status-notes", "generic", "x.csv", gn(GN_OK, "2025,CN,JP,850511,5,,provisional raw",
      "2026,CN,JP,850511,6,,DIRECTIONAL 2026 NOWCAST"), 3,
      flags=("CEPII BACI HS02 V202601", "status=provisional;provisional raw",
             "status=modelled;DIRECTIONAL 2026 NOWCAST")),
    E("gen-empty", "generic", "x.csv", "", "empty file", 1, None),
    E("gen-missing-column", "generic", "x.csv", "year,exporter,importer,hs,value,note\n"
      "2010,CN,JP,850511,5,x\n", "missing column(s) ['weight_t']", 1, "weight_t"),
    E("gen-semicolon", "generic", "x.csv", gn(GN_OK).replace(",", ";"), "wrong delimiter", 1,
      None),
    E("gen-unterminated-quote", "generic", "x.csv", gn(GN_OK, '2011,CN,JP,850511,5,1,"note',
      "2012,CN,JP,850511,5,1,x"), "unterminated quote", 3, None),
    Q("gen-month-year-only", "generic_monthly", "x.csv", gm("2010-09,JPN,CHN,M,280530,5",
      "2024,JPN,CHN,M,280530,5"), 1,
      (3, "period", "period '2024' is a year but freq is 'M'", 1)),
    Q("gen-month-13", "generic_monthly", "x.csv", gm("2010-09,JPN,CHN,M,280530,5",
      "2010-13,JPN,CHN,M,280530,5"), 1, (3, "period", "period not readable for freq M", 1)),
    Q("gen-month-garbage", "generic_monthly", "x.csv", gm("2010-09,JPN,CHN,M,280530,5",
      "Sep 2010,JPN,CHN,M,280530,5"), 1, (3, "period", "period not readable", 1)),
    Q("gen-unknown-flow", "generic_monthly", "x.csv", gm("2010-09,JPN,CHN,M,280530,5",
      "2010-09,JPN,CHN,Z,280530,5"), 1, (3, "flow", "unknown flow 'Z'", 1)),
    Q("gen-annual-with-month", "generic_annual", "x.csv", gm("2010,JPN,CHN,M,280530,5",
      "201009,JPN,CHN,M,280530,5"), 1,
      (3, "period", "period '201009' has a month other than January but freq is 'A'", 1)),
    # ---------------------------------------------------------------- e-Stat getStatsData JSON
    # (cat02 200 = Value-Feb, 190 = Quantity2-Feb, 180 = Quantity1-Feb; one line of 4 months,
    # its rows on source_line 1, the line's first record)
    Q("es-nan", "estat_api", J, es("200", "NaN"), 3,
      (1, "Value", "Value-Feb is non-finite 'NaN'", 1)),
    Q("es-infinity", "estat_api", J, es("200", "Infinity"), 3,
      (1, "Value", "Value-Feb is non-finite 'Infinity'", 1)),
    Q("es-overflow-to-inf", "estat_api", J, es("200", "1e400"), 3,
      (1, "Value", "Value-Feb is non-finite '1e400'", 1)),
    Q("es-qty-nan", "estat_api", J, es("190", "nan"), 3,
      (1, "Quantity2", "Quantity2-Feb is non-finite 'nan'", 1)),
    Q("es-value-30-digits", "estat_api", J, es("200", "9" * 30), 3,
      (1, "Value", "is out of range: more than 26 digits (thousand JPY)", 1)),
    Q("es-negative", "estat_api", J, es("200", "-5"), 3, (1, "Value", "Value-Feb is negative", 1)),
    Q("es-text", "estat_api", J, es("200", "abc"), 3,
      (1, "Value", "Value-Feb is 'abc' (not a number)", 1)),
    Q("es-unknown-area", "estat_api", J, es(area="50999"), 0,
      (1, "area", "unknown Japan Customs country code '999'", 4)),
    E("es-truncated", "estat_api", J, es()[:300], "truncated JSON: the file ends before", 1,
      None),
    E("es-invalid", "estat_api", J, '{"GET_STATS_DATA": {,}}', "not valid JSON", 1, None),
    E("es-status-100", "estat_api", J, json.dumps(estat_answer(ES_TABLE, [], status=100,
      message="appId invalid")), "e-Stat answered STATUS 100: appId invalid", None, "STATUS"),
    # ---------------------------------------------------------------- detection (no --source)
    E("detect-empty", "detect", "x.csv", "", "empty file (no header, no rows)", 1, None),
    E("detect-gz-zero-bytes", "detect", "x.csv.gz", b"", "empty file", 1, None),
    E("detect-gz-truncated", "detect", "x.csv.gz", gz_truncated(ct(CT_OK)),
      "truncated gzip file", None, None),
    E("detect-gz-corrupt", "detect", "x.csv.gz", gz_corrupt(ct(CT_OK)), "corrupt gzip file",
      None, None),
    E("detect-semicolon", "detect", "x.csv", "Date;Exports;Imports\n2010/09;1081159313;"
      "1187483029\n", "wrong delimiter: the header is split by ';', expected ','", 1, None),
    E("detect-not-utf8", "detect", "x.csv", "年月,値\n".encode("cp932"), "broken encoding", 1,
      None),
    E("detect-unknown-header", "detect", "x.csv", "a,b\n1,2\n",
      "no reader recognises this file (a header no reader knows: ['a', 'b'])", None, None),
    E("detect-json-not-comtrade", "detect", J, '{"data": [{"fileUrl": "x"}]}',
      "no reader recognises this file (a JSON document without Comtrade records", None, None),
    E("detect-truncated-json", "detect", J, answer(record())[:80], "truncated JSON", 1, None),
]  # fmt: skip


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    return path


def test_catalogue_size() -> None:
    """At least 100 bad inputs, every reader covered, no id twice."""
    assert len(CASES) >= 100
    assert len({case.id for case in CASES}) == len(CASES)
    assert set(READERS) <= {case.reader for case in CASES}
    assert sum(case.error is not None for case in CASES) >= 30
    assert sum(bool(case.quarantined) for case in CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(tmp_path: Path, case: Case) -> None:
    factory, good_name, good_content = READERS[case.reader]
    bad = _write(tmp_path / "bad" / case.name, case.content)
    reader = factory() if factory is not None else None
    store = FlowStore(tmp_path / "store")
    if case.error is None:
        report = store.ingest([bad], reader)
        (bad_report,) = report.files
        assert bad_report.rows_read == bad_report.rows_stored + bad_report.rows_quarantined
        assert bad_report.status == "ingested", bad_report.status
        rows = store.quarantine().collect().select("source_line", "field", "reason").rows()
        expected_total = 0
        for line, fld, reason, count in case.quarantined:
            hits = [r for r in rows if r[0] == line and r[1] == fld and reason in r[2]]
            assert len(hits) == count, (line, fld, reason, rows)
            expected_total += count
        assert len(rows) == expected_total, rows
        assert bad_report.rows_quarantined == expected_total
        assert bad_report.rows_stored == case.stored, (bad_report, rows)
        if case.flags is not None:
            stored = store.scan().sort("source_line").collect()
            assert tuple(stored["flags"].to_list()) == case.flags
        return
    # a file-level error: the file is reported with its error, and the good file given in the
    # same call is stored all the same
    good = _write(tmp_path / "good" / good_name, good_content)
    report = store.ingest([bad, good], reader, on_error="skip")
    for file in report.files:
        assert file.rows_read == file.rows_stored + file.rows_quarantined, file
    bad_report, good_report = report.files
    assert good_report.status == "ingested"
    assert good_report.rows_stored == good_report.rows_read > 0
    reason, line, fld = case.error
    where = str(bad)
    if line is not None:
        where += f", line {line}"
    if fld is not None:
        where += f", field '{fld}'"
    status = bad_report.status
    assert status.startswith(f"error: {where}: "), status
    assert reason in status, status
    assert (bad_report.rows_read, bad_report.rows_stored, bad_report.rows_quarantined) == (0, 0, 0)
    assert store.quarantine().collect().height == 0


def test_rows_around_a_short_row_keep_their_values(tmp_path: Path) -> None:
    """Issue 11: a row missing a field is quarantined, not stored with the weight as its value;
    the rows before and after it are stored with their own values (by hand from the file)."""
    path = _write(tmp_path / "x.csv", ct(
        "A,2010,392,M,156,H3,280530,12.5,1000,8,1000",
        "A,2010,392,M,410,H3,280530,1000,8,1000",  # primaryValue missing: 10 of 11 fields
        "A,2010,392,M,36,H3,280530,77.25,300,8,",  # qty empty: a field, the row is valid
        header=CT_W,
    ))  # fmt: skip
    store = FlowStore(tmp_path / "store")
    (file,) = store.ingest([path]).files
    assert (file.rows_read, file.rows_stored, file.rows_quarantined) == (3, 2, 1)
    stored = store.scan().sort("source_line").collect()
    assert stored.select("source_line", "partner_iso3", "value_usd", "net_weight_kg").rows() == [
        (2, "CHN", 12.5, 1000.0),
        (4, "AUS", 77.25, 300.0),
    ]
    assert stored["quantity"].to_list() == [1000.0, None]
    (row,) = store.quarantine().collect().select("source_line", "field", "reason").rows()
    assert row == (3, ROW, f"10 of the header's 11 {SHORT}")


# ---------------------------------------------------------------- bad reader arguments
GOOD_MAPPING: dict[str, Any] = {
    "mapping": {
        "year": "year",
        "exporter": "exporter",
        "importer": "importer",
        "hs_code": "hs",
        "value_usd": "value",
        "net_weight_kg": "weight_t",
        "flags": "note",
    },
    "code_system": "iso2",
    "freq": "A",
    "reported_by": "importer",
    "units": {"net_weight_kg": 1000},
    "source": "catalogue_generic",
}


def _with(**changes: Any) -> str:
    config = json.loads(json.dumps(GOOD_MAPPING))
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return json.dumps(config, indent=1)


MAPPING_CASES: list[tuple[str, str, str]] = [
    ("units-typo", _with(units={"net_weight": 1000}),
     "unknown units key 'net_weight'; did you mean 'net_weight_kg'? (allowed: value_usd, "
     "value_native, net_weight_kg, quantity)"),
    ("units-text", _with(units={"net_weight_kg": "1000"}),
     "units['net_weight_kg'] must be a positive finite number"),
    ("units-zero", _with(units={"net_weight_kg": 0}), "must be a positive finite number"),
    ("units-negative", _with(units={"net_weight_kg": -1000}), "must be a positive finite number"),
    ("units-bool", _with(units={"net_weight_kg": True}), "must be a positive finite number"),
    ("units-list", _with(units=[1000]), "units must be a dict (canonical field -> factor), not [1000]"),
    ("units-text-not-dict", _with(units="1000"), "units must be a dict"),
    ("constants-list", _with(constants=["850511"]), "constants must be a dict"),
    ("constants-number", _with(constants={"hs_code": 850511}),
     "constants['hs_code'] must be text"),
    ("code-system-unknown", _with(code_system="iso4"),
     "code_system must be one of baci, gacc, iso2, iso3, japan_customs, m49"),
    ("code-system-number", _with(code_system=49), "code_system must be one of"),
    ("separator-two-chars", _with(separator=";;"), "separator must be one character, not ';;'"),
    ("source-number", _with(source=5), "source must be a name (text), not 5"),
    ("mapping-typo", _with(mapping={**GOOD_MAPPING["mapping"], "valeu_usd": "value"}),
     "unknown mapping key 'valeu_usd'; did you mean 'value_usd'?"),
    ("constants-typo", _with(constants={"hs_cod": "850511"}),
     "unknown constants key 'hs_cod'; did you mean 'hs_code'?"),
    ("argument-typo", _with(unit={"net_weight_kg": 1000}),
     "unknown argument key 'unit'; did you mean 'units'?"),
    ("freq-m-without-month", _with(freq="M"), "freq 'M' needs the month"),
    ("freq-bad", _with(freq="Q"), "freq must be 'A' or 'M', not 'Q'"),
    ("status-bad-value", _with(status={"column": "note", "flag": {"nowcast": "guess"}}),
     "status['flag']['nowcast'] is 'guess'; a status is one of provisional, modelled"),
    ("status-typo", _with(status={"colum": "note"}), "unknown status key 'colum'"),
    ("period-range-bad", _with(period_range=["2002", "x"]), "period_range must be two ISO dates"),
    ("no-mapping", _with(mapping=None), "the mapping file has no 'mapping' object"),
    ("not-an-object", "[1, 2]", "must hold a JSON object of arguments"),
    ("invalid-json", '{\n "mapping": {"year": "year",}\n}',
     "line 2, column 29: invalid JSON: Expecting property name enclosed in double quotes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "text", "message"), MAPPING_CASES, ids=[c[0] for c in MAPPING_CASES]
)
def test_bad_mapping_file(tmp_path: Path, case: str, text: str, message: str) -> None:
    """A mapping file with a wrong key or value is an error naming the file, the key and why."""
    from tradeimpact.sources.generic import MappingError

    path = tmp_path / "mapping.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as info:
        GenericReader.from_json(path)
    assert str(info.value).startswith(f"{path}"), str(info.value)
    assert message in str(info.value), str(info.value)


def test_good_mapping_file_reads_like_the_constructor(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text(_with(period_range=["2002-01-01", "2024-01-01"]), encoding="utf-8")
    reader = GenericReader.from_json(path)
    assert reader.units == {"net_weight_kg": 1000}
    assert reader.period_range is not None and reader.period_range[1].year == 2024
    data = _write(tmp_path / "x.csv", gn(GN_OK))
    report = FlowStore(tmp_path / "store").ingest([data], reader)
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (1, 1, 0)
    stored = FlowStore(tmp_path / "store").scan().collect()
    assert stored["net_weight_kg"].to_list() == [120_500.0]  # 120.5 t, converted once


def test_cli_bad_mapping_file_is_a_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tradeimpact.cli import main

    mapping = tmp_path / "mapping.json"
    mapping.write_text(_with(units={"net_weight": 1000}), encoding="utf-8")
    data = _write(tmp_path / "x.csv", gn(GN_OK))
    with pytest.raises(SystemExit) as info:
        main(["ingest", str(data), "--store", str(tmp_path / "store"), "--mapping", str(mapping)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: {mapping}: unknown units key 'net_weight'; did you mean 'net_weight_kg'?" in (
        " ".join(err.split())
    )
