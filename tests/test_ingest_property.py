"""Property: generated valid Comtrade rows survive ingest unchanged in meaning.

Rows with distinct flow keys, valid M49 codes, HS codes with leading zeros, annual or monthly
periods, values written in Python's shortest round-trip form, are written as a portal CSV or an
API JSON; after ingest and scan, every row is stored exactly once with the same reporter, partner
(as the ISO3 of the shipped M49 table), flow, HS code, period, value and weight, and nothing is
quarantined.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tradeimpact.codes import country_table
from tradeimpact.store import FlowStore

M49 = country_table("m49").filter(pl.col("iso3").is_not_null())
CODES = dict(zip(M49["code"].to_list(), M49["iso3"].to_list(), strict=True))

hs_codes = st.one_of(
    st.sampled_from(["TOTAL", "01", "0306", "030613", "280530", "850511", "0101210000"]),
    st.from_regex(r"\A\d{6}\Z"),
)
periods = st.one_of(
    st.integers(1990, 2030).map(lambda y: ("A", f"{y}")),
    st.tuples(st.integers(1990, 2030), st.integers(1, 12)).map(
        lambda t: ("M", f"{t[0]}{t[1]:02d}")
    ),
)
values = st.floats(min_value=0, max_value=1e13, allow_nan=False, allow_infinity=False)
row = st.fixed_dictionaries(
    {
        "reporterCode": st.sampled_from(sorted(CODES)),
        "partnerCode": st.sampled_from(sorted(CODES)),
        "flowCode": st.sampled_from(["M", "X", "RX", "RM"]),
        "cmdCode": hs_codes,
        "period": periods,
        "primaryValue": values,
        "netWgt": st.one_of(st.none(), values),
    }
)


def _key(r: dict[str, object]) -> tuple[object, ...]:
    # codes that share an ISO3 (e.g. 251 and 250 are both FRA) share a key in the store
    freq, period = r["period"]  # type: ignore[misc]
    return (
        CODES[str(r["reporterCode"])],
        CODES[str(r["partnerCode"])],
        r["flowCode"],
        r["cmdCode"],
        freq,
        period,
    )


def _period(freq: str, text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]) if freq == "M" else 1, 1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=25, unique_by=_key), as_json=st.booleans())
def test_valid_rows_survive_ingest(rows: list[dict[str, object]], as_json: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if as_json:
            records = [
                {**r, "freqCode": r["period"][0], "period": r["period"][1]}  # type: ignore[index]
                for r in rows
            ]
            path = tmp_path / "data.json"
            path.write_text(json.dumps({"count": len(records), "data": records}))
        else:
            lines = [
                "freqCode,period,reporterCode,flowCode,partnerCode,cmdCode,netWgt,primaryValue"
            ]
            for r in rows:
                freq, period = r["period"]  # type: ignore[misc]
                weight = "" if r["netWgt"] is None else repr(r["netWgt"])
                lines.append(
                    f"{freq},{period},{r['reporterCode']},{r['flowCode']},"
                    f"{r['partnerCode']},{r['cmdCode']},{weight},{r['primaryValue']!r}"
                )
            path = tmp_path / "data.csv"
            path.write_text("\n".join(lines) + "\n")
        store = FlowStore(tmp_path / "store")
        report = store.ingest([path], "comtrade")
        assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (
            len(rows),
            len(rows),
            0,
        )
        stored = store.scan().collect()
        got = {
            (
                r["reporter_iso3"],
                r["partner_iso3"],
                r["flow"],
                r["hs_code"],
                r["freq"],
                r["period"],
            ): (r["value_usd"], r["net_weight_kg"], r["valuation"], r["importer_iso3"])
            for r in stored.iter_rows(named=True)
        }
        expected = {}
        for r in rows:
            freq, period = r["period"]  # type: ignore[misc]
            reporter, partner = CODES[str(r["reporterCode"])], CODES[str(r["partnerCode"])]
            is_import = "M" in str(r["flowCode"])
            expected[
                (reporter, partner, r["flowCode"], r["cmdCode"], freq, _period(freq, period))
            ] = (
                float(r["primaryValue"]),  # type: ignore[arg-type]
                None if r["netWgt"] is None else float(r["netWgt"]),  # type: ignore[arg-type]
                "CIF" if is_import else "FOB",
                reporter if is_import else partner,
            )
        assert got == expected


# ------------------------------------------------ field counts of the shared delimited scan
cells = st.one_of(
    st.text(alphabet="ab1 ", max_size=4),
    # quoted: separators, line breaks and doubled quotes inside do not split the field
    st.text(alphabet='ab,;\n\r"', max_size=5).map(lambda t: '"' + t.replace('"', '""') + '"'),
)
records = st.lists(st.lists(cells, min_size=1, max_size=5), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@example(records=[["", "", ""]], separator="\t", crlf=False, block=3)  # tabs: empty fields
@example(records=[["", ""]], separator="\t", crlf=False, block=3)  # one tab: a short record
@given(
    records=records,
    separator=st.sampled_from([",", ";", "\t"]),
    crlf=st.booleans(),
    block=st.sampled_from([3, 7, 64, 1 << 20]),
)
def test_field_counts_match_the_csv_module(
    records: list[list[str]], separator: str, crlf: bool, block: int
) -> None:
    """``count_fields`` lists exactly the records :mod:`csv` splits into fewer fields than the
    header, and the blank ones, at every block size (records cut across blocks)."""
    import csv
    import io

    import tradeimpact.sources._text as text_module

    width = 3
    end = "\r\n" if crlf else "\n"
    lines = [separator.join(["h1", "h2", "h3"])]
    lines += [separator.join(cell.replace(",", separator) for cell in r) for r in records]
    content = end.join(lines) + end
    expected_short: list[int] = []
    expected_fields: list[int] = []
    expected_blank: list[int] = []
    parsed = list(csv.reader(io.StringIO(content, newline=""), delimiter=separator))
    assert len(parsed) == len(lines)
    for number, fields in enumerate(parsed[1:], start=2):
        # blanks only: spaces, tabs and CR, but not the separator (a TSV line of tabs is a
        # record of empty fields)
        if not lines[number - 1].strip(" \t\r".replace(separator, "")):
            expected_blank.append(number)
        elif len(fields) < width:
            expected_short.append(number)
            expected_fields.append(len(fields))
    original = text_module._BLOCK
    text_module._BLOCK = block
    try:
        got = text_module.count_fields(Path("x.csv"), width, separator, content.encode("utf-8"))
    finally:
        text_module._BLOCK = original
    assert got.records == len(lines) - 1
    assert got.short == expected_short
    assert got.fields == expected_fields
    assert got.blank == expected_blank


def test_field_counts_of_a_wide_file() -> None:
    """A header of 300 fields (counts beyond one byte): a row short by one and a row short by
    256 are listed with their counts; a full row and one with a trailing empty field are not."""
    from tradeimpact.sources._text import count_fields

    width = 300
    full = ",".join(str(i) for i in range(width))
    rows = [full, ",".join(["1"] * (width - 1)), full[: full.rindex(",") + 1], ",".join(["2"] * 44)]
    content = ("\n".join([",".join(f"c{i}" for i in range(width)), *rows]) + "\n").encode()
    got = count_fields(Path("wide.csv"), width, ",", content)
    assert (got.records, got.short, got.fields, got.blank) == (4, [3, 5], [299, 44], [])
