"""The deferred field count, the concurrent input hash and the one-call gzip inflater.

The Comtrade CSV and bulk readers no longer count the fields of every record before the store's
first pass: the typed scan is strict (a long record fails it and the text scan takes over) and
the pass lists the rows whose last field is null, a superset of the short and blank records;
only then are the fields counted and the pass run again with the count's checks. The reference
is the text path (every field as text, the fields counted first), whose mapping and whole-row
checks are tested in tests/test_ingest_fast_paths.py and tests/test_bad_input_catalogue.py.
All files here are SYNTHETIC (benchmarks.data.comtrade_frame, seeded).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import zlib
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from benchmarks.data import comtrade_frame
from tradeimpact.ingest import check_rows
from tradeimpact.schema import FLOW_COLUMNS
from tradeimpact.sources import _text
from tradeimpact.sources.comtrade import ComtradeReader
from tradeimpact.sources.comtrade_bulk import ComtradeBulkReader
from tradeimpact.store import FlowStore

#: a reduced Comtrade extract (the reader's essentials, ``isAggregate`` last)
COLUMNS = [
    "freqCode", "period", "reporterCode", "flowCode", "partnerCode", "cmdCode",
    "primaryValue", "netWgt", "isAggregate",
]  # fmt: skip


def lines_of(n: int, seed: int = 3) -> list[str]:
    """Header + ``n`` SYNTHETIC records of the reduced extract (distinct keys)."""
    return comtrade_frame(n, seed=seed).select(COLUMNS).write_csv().splitlines()


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def text_reference(path: Path) -> pl.DataFrame:
    """Valid rows of the text path (fields counted first) after the shared checks."""
    text = ComtradeReader().read_staged(path).fallback
    assert text is not None
    return (
        check_rows(text.canonical())
        .filter(pl.col("reject_reason").is_null())
        .select(FLOW_COLUMNS)
        .collect()
    )


def test_short_and_blank_rows_in_the_middle_of_2m_rows_are_quarantined(tmp_path: Path) -> None:
    lines = lines_of(2_000_000)
    short_line, blank_line = 1_000_001, 1_500_001  # file lines (the header is line 1)
    lines[short_line - 1] = ",".join(lines[short_line - 1].split(",")[:6])  # 6 of 9 fields
    lines[blank_line - 1] = ""
    path = write(tmp_path / "SYNTHETIC_2m.csv", lines)
    report = FlowStore(tmp_path / "store").ingest([path])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (
        2_000_000,
        1_999_998,
        2,
    )
    q = FlowStore(tmp_path / "store").quarantine().sort("source_line").collect()
    assert q["source_line"].to_list() == [short_line, blank_line]
    assert q["field"].to_list() == ["(row)", "(row)"]
    assert q["reason"].to_list() == [
        "6 of the header's 9 fields: a field is missing, the values cannot be placed",
        "empty line",
    ]
    stored = FlowStore(tmp_path / "store").scan().select("source_line").collect()["source_line"]
    assert stored.len() == 1_999_998
    assert short_line not in stored and blank_line not in stored
    assert stored.sort().to_list()[short_line - 3 : short_line - 1] == [
        short_line - 1,
        short_line + 1,
    ]


def test_a_clean_file_is_never_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "SYNTHETIC_clean.csv", lines_of(20_000))
    calls: list[int] = []
    real = _text.count_fields

    def counting(*args: object, **kwargs: object) -> _text.FieldCounts:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_text, "count_fields", counting)
    report = FlowStore(tmp_path / "store").ingest([path])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (20_000, 20_000, 0)
    assert calls == []  # no row with a null last field: the count never ran
    monkeypatch.setattr(_text, "count_fields", real)
    stored = FlowStore(tmp_path / "store").scan().sort("source_line").collect()
    assert_frame_equal(stored, text_reference(path))


def test_empty_last_fields_are_counted_and_stored(tmp_path: Path) -> None:
    """Rows with an empty last field are suspects; the count clears them, they are stored."""
    lines = lines_of(5_000)
    for i in (10, 2_000, 4_999):  # a trailing empty field is a field: valid rows
        lines[i] = lines[i].rsplit(",", 1)[0] + ","
    path = write(tmp_path / "SYNTHETIC_empty_last.csv", lines)
    report = FlowStore(tmp_path / "store").ingest([path])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (5_000, 5_000, 0)
    stored = FlowStore(tmp_path / "store").scan().sort("source_line").collect()
    assert_frame_equal(stored, text_reference(path))


def test_a_long_row_in_the_middle_falls_back_to_the_text_scan(tmp_path: Path) -> None:
    lines = lines_of(50_000)
    lines[30_000] += ",surplus"  # file line 30,001: 10 fields of 9
    path = write(tmp_path / "SYNTHETIC_long.csv", lines)
    report = FlowStore(tmp_path / "store").ingest([path])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (50_000, 49_999, 1)
    q = FlowStore(tmp_path / "store").quarantine().collect().row(0, named=True)
    assert q["source_line"] == 30_001 and q["field"] == "(row)"
    assert q["reason"].startswith("more fields than the header's 9 (first extra value 'surplus'")
    stored = FlowStore(tmp_path / "store").scan().sort("source_line").collect()
    assert_frame_equal(stored, text_reference(path))


def test_the_manifest_holds_hashlibs_sha256_of_the_input(tmp_path: Path) -> None:
    path = write(tmp_path / "SYNTHETIC_hash.csv", lines_of(30_000))
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path])
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert report.files[0].sha256 == expected
    manifest = json.loads((store.root / "manifest.json").read_text())
    assert manifest["inputs"][str(path.resolve())]["sha256"] == expected
    # every data file is named after that hash (no file of the pending name is left)
    assert not list(store.root.rglob("*pending*"))
    # the same bytes again: unchanged; new bytes: replaced, with their own hash
    assert store.ingest([path]).files[0].status == "unchanged"
    write(path, lines_of(30_000, seed=4))
    again = store.ingest([path]).files[0]
    assert again.status == "replaced"
    assert again.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() != expected


def test_gunzip_equals_the_gzip_module() -> None:
    data = "\n".join(lines_of(3_000)).encode()
    one = gzip.compress(data, mtime=0)
    two = gzip.compress(data[:1000], mtime=0) + gzip.compress(data[1000:], mtime=0)
    for raw in (one, two, one + b"\0\0\0\0"):  # one member, two members, zero padding
        assert _text.gunzip(raw) == gzip.decompress(raw)
        assert _text.gunzip(raw, zlib) == gzip.decompress(raw)
    with pytest.raises(EOFError):
        _text.gunzip(one[:-30])
    corrupt = bytearray(one)
    corrupt[-8] ^= 0xFF  # the CRC
    with pytest.raises(zlib.error):
        _text.gunzip(bytes(corrupt))
    with pytest.raises(zlib.error):
        _text.gunzip(one + b"not gzip")


@pytest.mark.parametrize(
    "inflater",
    [
        "zlib",
        pytest.param(
            "isal",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("isal") is None, reason="isal (optional) not installed"
            ),
        ),
    ],
)
def test_bulk_file_rows_equal_the_gzip_module_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inflater: str
) -> None:
    """The bulk file read with each inflater gives the rows of the same text read by gzip."""
    lines = [line.replace(",", "\t") for line in lines_of(20_000)]
    lines[7_000] = "\t".join(lines[7_000].split("\t")[:5])  # a short row: quarantined
    text = ("\n".join(lines) + "\n").encode()
    bulk = tmp_path / "SYNTHETIC_bulk.txt.gz"
    bulk.write_bytes(gzip.compress(text, mtime=0))
    plain = tmp_path / "SYNTHETIC_bulk.txt"
    plain.write_bytes(gzip.decompress(bulk.read_bytes()))  # the gzip module's bytes
    if inflater == "zlib":
        monkeypatch.setattr(_text, "_inflater", lambda: (zlib, (zlib.error,)))
    assert _text.read_bytes(bulk) == plain.read_bytes()
    a = FlowStore(tmp_path / "gz").ingest([bulk])
    b = FlowStore(tmp_path / "plain").ingest([plain])
    assert (a.rows_read, a.rows_stored, a.rows_quarantined) == (20_000, 19_999, 1)
    assert (b.rows_read, b.rows_stored, b.rows_quarantined) == (20_000, 19_999, 1)
    rows_a = FlowStore(tmp_path / "gz").scan().sort("source_line").collect()
    rows_b = FlowStore(tmp_path / "plain").scan().sort("source_line").collect()
    assert_frame_equal(rows_a.drop("source_file"), rows_b.drop("source_file"))
    qa = FlowStore(tmp_path / "gz").quarantine().collect()
    assert qa["source_line"].to_list() == [7_001] and qa["field"].to_list() == ["(row)"]
    staged = ComtradeBulkReader().read_staged(bulk)
    assert staged.fallback is not None
    assert_frame_equal(staged.canonical().collect(), staged.fallback.canonical().collect())
