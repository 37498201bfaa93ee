"""The store's fast paths give the same stored bytes as the plain ones.

* Comtrade CSV: number fields parsed by the scan (typed) vs every field read as text;
* a file written to its year partitions by the first pass (small file) vs through a staging file
  and batches of years (large file; forced here by a batch limit of a few rows);
* a file with a value that is not a number leaves the typed scan for the text scan, and the row
  is quarantined with its reason.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

import tradeimpact.store as store_module
from tradeimpact.sources.comtrade import ComtradeReader
from tradeimpact.store import FlowStore, _year_batches

HEADER = (
    "freqCode,period,reporterCode,flowCode,partnerCode,partner2Code,customsCode,motCode,"
    "classificationCode,cmdCode,qtyUnitCode,qtyUnitAbbr,qty,netWgt,cifvalue,fobvalue,"
    "primaryValue\n"
)


def _rows() -> list[str]:
    """Monthly and annual rows over 2008-2012 with every kind of problem the store handles."""
    rows = []
    for i, (period, reporter, partner) in enumerate(
        [
            (p, r, q)
            for p in ("2008", "200903", "201001", "201012", "2011", "201207")
            for r in ("392", "156", "842")
            for q in ("156", "410", "0")
            if r != q
        ]
    ):
        freq = "A" if len(period) == 4 else "M"
        flow = "M" if i % 3 else "X"
        value = f"{1000 + 37 * i}.25"
        cif, fob = (value, "") if flow == "M" else ("", value)
        rows.append(
            f"{freq},{period},{reporter},{flow},{partner},0,C00,0,H3,280530,8,kg,"
            f"{10 + i},{10 + i}.5,{cif},{fob},{value}"
        )
    rows += [
        "M,201001,392,M,156,0,C00,0,H3,280530,8,kg,1,2,,,77",  # repeats a key above
        "M,201001,392,M,156,0,C00,0,H3,280530,8,kg,1,2,,,78",  # and again
        "M,201001,999,M,156,0,C00,0,H3,280530,8,kg,1,2,,,5",  # unknown reporter
        "M,201001,392,M,156,4,C00,0,H3,280530,8,kg,1,2,,,5",  # partner2 breakdown
        "M,201001,392,M,156,0,C00,0,H3,28053,8,kg,1,2,,,5",  # HS lost its leading zero
        "M,201013,392,M,156,0,C00,0,H3,280530,8,kg,1,2,,,5",  # month 13
        "M,201002,392,M,156,0,C00,0,H3,280530,-1,N/A,,3,,,-4",  # negative value
        "A,2009,392,M,156,0,C00,0,H3,TOTAL,-1,N/A,,,,,",  # no value at all
        "M,201103,392,X,410,0,C00,0,H3,850511,8,kg,5,5,,9.5,",  # value from fobvalue
    ]
    return rows


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under root (manifest excluded: it names the path)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def _ingest(root: Path, paths: list[Path]) -> FlowStore:
    store = FlowStore(root)
    store.ingest(paths)
    return store


def test_year_batches() -> None:
    counts = [(2008, 3), (2009, 1), (2010, 5), (2011, 1), (2012, 1)]
    assert _year_batches(counts, 4) == [[2008, 2009], [2010], [2011, 2012]]
    assert _year_batches(counts, 100) == [[2008, 2009, 2010, 2011, 2012]]
    assert _year_batches(counts, 1) == [[2008], [2009], [2010], [2011], [2012]]
    assert _year_batches([], 4) == []


def test_typed_and_text_scans_store_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "flows.csv", _rows())
    typed = _ingest(tmp_path / "typed", [path])
    staged = ComtradeReader().read_staged(path)
    assert staged.fallback is not None  # the typed fast path was taken
    assert staged.frame.collect_schema()["primaryValue"] == pl.Float64

    real = ComtradeReader.read_staged

    def text_only(self: ComtradeReader, p: Path) -> object:
        return real(self, p).fallback

    monkeypatch.setattr(ComtradeReader, "read_staged", text_only)
    text = _ingest(tmp_path / "text", [path])
    assert snapshot(typed.root) == snapshot(text.root)
    assert typed.inputs().drop("path").equals(text.inputs().drop("path"))
    counts = typed.inputs().row(0, named=True)
    n = len(_rows())
    assert counts["rows_read"] == n
    # 3 copies of one key, unknown reporter, breakdown, odd HS, month 13, negative, no value
    assert counts["rows_quarantined"] == 3 + 6
    assert counts["rows_stored"] == n - 9
    q = typed.quarantine().collect()
    assert q["source_line"].to_list() == [18, 50, 51, 52, 53, 54, 55, 56, 57]
    assert q["field"].to_list() == [
        *["flow_key"] * 3,
        "reporterCode",
        "partner2Code",
        "cmdCode",
        "period",
        "value_usd",
        "primaryValue",
    ]
    assert q["reason"][0] == (
        "duplicate flow key: 3 rows of this file share (source, reporter, partner, flow, "
        "hs_code, period, freq) = (comtrade, JPN, CHN, M, 280530, 2010-01-01, M), lines 18 to "
        "51; none is stored, none is summed"
    )
    assert q["reason"][4] == (
        "breakdown row (partner2Code 4): the store keeps totals over second partners"
    )
    assert q["reason"][7] == "negative value_usd -4.0"
    # the value taken from fobvalue when primaryValue is empty (line 58 is the last)
    last = typed.scan().filter(pl.col("source_line") == n + 1).collect()
    assert last["value_usd"].to_list() == [9.5] and last["valuation"].to_list() == ["FOB"]


def test_non_numeric_value_falls_back_to_the_text_scan(tmp_path: Path) -> None:
    rows = [*_rows()[:5], "M,201001,392,M,410,0,C00,0,H3,280530,8,kg,1,2,,,12O5"]
    path = _write(tmp_path / "flows.csv", rows)
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (6, 5, 1)
    q = store.quarantine().collect().row(0, named=True)
    assert q["source_line"] == 7 and q["field"] == "primaryValue"
    assert q["reason"] == "non-numeric value '12O5'"
    assert not list(store.root.glob(".staging-*"))


def test_direct_and_batched_partitions_store_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows()
    a = _write(tmp_path / "a.csv", rows)
    # b repeats a's first two rows and its 850511 row (quarantined in b, naming a); its other
    # rows get a new HS code (new keys, with the same repeated key inside b)
    b = _write(
        tmp_path / "b.csv", [rows[0], rows[1], *[r.replace(",280530,", ",280540,") for r in rows]]
    )
    direct = _ingest(tmp_path / "direct", [a, b])
    assert store_module._estimated_rows(a) < store_module._BATCH_ROWS
    monkeypatch.setattr(store_module, "_BATCH_ROWS", 7)  # staging file, years in batches
    batched = _ingest(tmp_path / "batched", [a, b])
    assert snapshot(direct.root).keys() == snapshot(batched.root).keys()
    flows = {k: v for k, v in snapshot(direct.root).items() if k.startswith("flows")}
    assert flows == {k: v for k, v in snapshot(batched.root).items() if k.startswith("flows")}
    assert direct.inputs().equals(batched.inputs())
    assert direct.quarantine().collect().equals(batched.quarantine().collect())
    assert direct.scan().collect().equals(batched.scan().collect())
    # every stored file keeps the input's order
    for file in direct.root.rglob("flows/**/*.parquet"):
        lines = pl.read_parquet(file)["source_line"]
        assert lines.is_sorted() and lines.is_unique().all()
    q = direct.quarantine().collect().filter(pl.col("source_file") == str(b))
    assert (
        q.filter(pl.col("field") == "flow_key")["reason"]
        .str.contains(f"already stored from {a}")
        .sum()
        == 3
    )
    assert q.filter(pl.col("field") == "flow_key").height == 3 + 3
