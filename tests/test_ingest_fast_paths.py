"""The fast paths of the Comtrade CSV reader give the text path's rows, value for value.

The typed scan (numbers parsed by polars, no ragged-line handling when the field count saw no
long record) and the text scan (every field as text, the number parsed by the mapping) read
the same SYNTHETIC file (benchmarks.data.comtrade_frame, seeded, with bad rows put in); the
text scan is the reference (its mapping is tested against hand-read values of the real
comtradr files in tests/test_sources_comtrade.py). A store ingested from the file holds the
rows of the text path's output that pass the shared checks.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from benchmarks.data import comtrade_frame
from tradeimpact.ingest import check_rows
from tradeimpact.schema import FLOW_COLUMNS
from tradeimpact.sources.comtrade import ComtradeReader
from tradeimpact.store import FlowStore


def write(path: Path, n: int = 2_000) -> Path:
    """SYNTHETIC records, with an unknown partner, a negative value, a short and a blank line."""
    frame = comtrade_frame(n, seed=11)
    row = pl.int_range(pl.len())
    frame = frame.with_columns(
        pl.when(row == 3).then(999).otherwise(pl.col("partnerCode")).alias("partnerCode"),
        pl.when(row == 8).then(-2.5).otherwise(pl.col("primaryValue")).alias("primaryValue"),
    )
    lines = frame.write_csv().splitlines()
    lines[20] = ",".join(lines[20].split(",")[:30])  # line 21: 30 of the 47 fields
    lines[40] = ""  # line 41: blank
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_typed_scan_gives_the_text_scans_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "SYNTHETIC_fast.csv")
    staged = ComtradeReader().read_staged(path)
    assert staged.fallback is not None
    typed = staged.canonical().collect()
    text = staged.fallback.canonical().collect()
    assert typed.height == text.height == 2_000
    assert_frame_equal(typed, text)
    bad = typed.filter(pl.col("reject_reason").is_not_null())
    assert bad["source_line"].to_list() == [5, 21, 41]


def test_store_holds_the_text_paths_valid_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "SYNTHETIC_fast.csv")
    report = FlowStore(tmp_path / "store").ingest([path])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (2_000, 1_996, 4)
    reference = (
        check_rows(ComtradeReader().read_staged(path).fallback.canonical())  # type: ignore[union-attr]
        .filter(pl.col("reject_reason").is_null())
        .select(FLOW_COLUMNS)
        .collect()
    )
    stored = FlowStore(tmp_path / "store").scan().sort("source_line").collect()
    assert_frame_equal(stored, reference)
    q = FlowStore(tmp_path / "store").quarantine().sort("source_line").collect()
    assert q["source_line"].to_list() == [5, 10, 21, 41]
    assert q["field"].to_list() == ["partnerCode", "value_usd", "(row)", "(row)"]
