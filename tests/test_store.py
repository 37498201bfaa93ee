"""FlowStore: idempotence, replacement of a changed input, atomicity, determinism, mirror view."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from tests.conftest import shared_path
from tradeimpact.schema import FLOW_KEY, FLOW_SCHEMA
from tradeimpact.store import FlowStore, mirror

HEADER = (
    "freqCode,period,reporterCode,flowCode,partnerCode,classificationCode,cmdCode,netWgt,"
    "primaryValue\n"
)


def comtrade_csv(path: Path, rows: list[tuple[str, str, str, str, str, str, str]]) -> Path:
    """rows: (period, reporter, flow, partner, cmd, netWgt, primaryValue); freq from period."""
    lines = [
        f"{'A' if len(p) == 4 else 'M'},{p},{r},{f},{q},H3,{c},{w},{v}\n"
        for p, r, f, q, c, w, v in rows
    ]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under root."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    a = comtrade_csv(
        tmp_path / "a.csv",
        [
            ("2010", "392", "M", "156", "280530", "1000", "5000"),
            ("2010", "392", "M", "410", "280530", "10", "70"),
            ("2011", "392", "M", "156", "280530", "800", "9000"),
        ],
    )
    b = comtrade_csv(
        tmp_path / "b.csv",
        [
            ("2010", "156", "X", "392", "280530", "950", "4600"),
            ("2011", "156", "X", "392", "280530", "", "8000"),
        ],
    )
    return a, b


def test_ingest_scan_layout_and_manifest(tmp_path: Path, two_files: tuple[Path, Path]) -> None:
    store = FlowStore(tmp_path / "store")
    report = store.ingest(two_files)
    assert [f.status for f in report.files] == ["ingested", "ingested"]
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (5, 5, 0)
    flows = store.scan().collect()
    assert dict(flows.schema) == FLOW_SCHEMA
    assert flows.height == 5
    assert flows.select(FLOW_KEY).is_unique().all()
    hive = sorted(store.root.glob("flows/**/*.parquet"))
    parts = sorted(str(p.relative_to(store.root).parent) for p in hive)
    assert parts == [
        "flows/source=comtrade/year=2010",
        "flows/source=comtrade/year=2010",
        "flows/source=comtrade/year=2011",
        "flows/source=comtrade/year=2011",
    ]
    # the first commit's files (-g1), each also linked under versions/ (what scan() reads)
    assert all(p.name.endswith("-g1.parquet") for p in hive)
    for p in hive:
        version = store.root / "versions" / p.relative_to(store.root)
        assert os.path.samefile(p, version)
    manifest = json.loads(store.manifest_path.read_text())
    entry = manifest["inputs"][str(two_files[0].resolve())]
    assert entry["sha256"] == hashlib.sha256(two_files[0].read_bytes()).hexdigest()
    assert (entry["rows_read"], entry["rows_stored"], entry["rows_quarantined"]) == (3, 3, 0)
    assert (entry["reader"], entry["reader_version"]) == ("comtrade", "1")
    assert store.inputs()["rows_stored"].to_list() == [3, 2]


def test_reingest_same_file_changes_nothing(tmp_path: Path, two_files: tuple[Path, Path]) -> None:
    store = FlowStore(tmp_path / "store")
    store.ingest(two_files)
    before = snapshot(store.root)
    report = store.ingest(two_files)
    assert [f.status for f in report.files] == ["unchanged", "unchanged"]
    assert snapshot(store.root) == before
    assert store.scan().collect().height == 5


def test_changed_file_replaces_only_its_rows(tmp_path: Path, two_files: tuple[Path, Path]) -> None:
    a, b = two_files
    store = FlowStore(tmp_path / "store")
    store.ingest([a, b])
    b_rows = store.scan().filter(pl.col("source_file") == str(b)).collect()
    comtrade_csv(a, [("2010", "392", "M", "156", "280530", "1000", "5555")])
    report = store.ingest([a])
    assert [f.status for f in report.files] == ["replaced"]
    flows = store.scan().collect()
    assert flows.filter(pl.col("source_file") == str(a))["value_usd"].to_list() == [5555.0]
    assert (
        flows.filter(pl.col("source_file") == str(b)).sort("period").equals(b_rows.sort("period"))
    )
    assert flows.height == 3
    # no orphan files of a's old version where other engines read
    live = {rel for e in store.manifest()["inputs"].values() for rel in e["files"]}
    on_disk = {str(p.relative_to(store.root)) for p in store.root.glob("flows/**/*.parquet")}
    assert on_disk == live
    # a's old files stay under versions/ (for scans taken before) until a vacuum
    versions = {
        str(p.relative_to(store.root / "versions"))
        for p in store.root.glob("versions/**/*.parquet")
    }
    assert live < versions and len(versions - live) == 2
    assert store.vacuum().removed == sorted(f"versions/{rel}" for rel in versions - live)
    versions = {
        str(p.relative_to(store.root / "versions"))
        for p in store.root.glob("versions/**/*.parquet")
    }
    assert versions == live


def test_crash_mid_write_leaves_old_store_intact(
    tmp_path: Path, two_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_files
    store = FlowStore(tmp_path / "store")
    store.ingest([a, b])
    before = snapshot(store.root)
    flows_before = store.scan().collect()
    comtrade_csv(a, [("2010", "392", "M", "156", "280530", "1", "1")])
    c = comtrade_csv(tmp_path / "c.csv", [("2012", "392", "M", "156", "280530", "1", "2")])

    import tradeimpact.store as store_module

    real_replace = os.replace
    calls = {"n": 0}

    def crashing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the first new file is already moved in: crash on the second
            raise OSError("simulated crash (disk full)")
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", crashing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        store.ingest([a, c])
    monkeypatch.setattr(store_module.os, "replace", real_replace)
    assert calls["n"] == 2
    assert snapshot(store.root) == before
    assert store.scan().collect().equals(flows_before)

    # crash while the quarantine file of a changed input is being written (after its flows)
    store.ingest([c])  # c is now stored
    before = snapshot(store.root)
    real_sink = store_module._sink
    sinks = {"n": 0}

    def crashing_sink(*args: object, **kwargs: object) -> None:
        sinks["n"] += 1
        if sinks["n"] == 2:
            raise OSError("simulated crash while writing")
        real_sink(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "_sink", crashing_sink)
    with pytest.raises(OSError, match="simulated crash while writing"):
        store.ingest([a])
    assert sinks["n"] == 2
    assert snapshot(store.root) == before
    assert not list(store.root.glob(".staging-*"))


def test_same_inputs_give_byte_identical_stores(
    tmp_path: Path, two_files: tuple[Path, Path]
) -> None:
    path = shared_path("data", "real", "comtradr-vignette", "vignette_data_3_example_3.csv")
    first = FlowStore(tmp_path / "s1")
    second = FlowStore(tmp_path / "s2")
    first.ingest([path, *two_files])
    second.ingest([path, *two_files])
    assert snapshot(first.root) == snapshot(second.root)
    assert len(snapshot(first.root)) > 5
    # rows keep the input's order (sorted by source_line) inside each file
    for file in first.root.rglob("flows/**/*.parquet"):
        lines = pl.read_parquet(file)["source_line"]
        assert lines.is_sorted() and lines.is_unique().all()


def test_duplicate_key_across_inputs_is_quarantined(tmp_path: Path) -> None:
    a = comtrade_csv(tmp_path / "a.csv", [("2010", "392", "M", "156", "280530", "1", "10")])
    b = comtrade_csv(
        tmp_path / "b.csv",
        [
            ("2010", "392", "M", "156", "280530", "1", "12"),
            ("2010", "392", "M", "410", "280530", "1", "3"),
        ],
    )
    store = FlowStore(tmp_path / "store")
    report = store.ingest([a, b])
    assert [(f.rows_stored, f.rows_quarantined) for f in report.files] == [(1, 0), (1, 1)]
    q = store.quarantine().collect().row(0, named=True)
    assert q["source_file"] == str(b) and q["source_line"] == 2 and q["field"] == "flow_key"
    assert q["reason"] == f"duplicate flow key: already stored from {a}; none is summed"
    flows = store.scan().collect()
    assert flows.filter(pl.col("partner_iso3") == "CHN")["value_usd"].to_list() == [10.0]


def test_mirror_pairs_reports_and_matches_pandas(
    tmp_path: Path, two_files: tuple[Path, Path]
) -> None:
    store = FlowStore(tmp_path / "store")
    store.ingest(two_files)
    flows = store.scan()
    out = mirror(flows)
    # hand-checked rows: Japan's imports from China (CIF) vs China's exports to Japan (FOB)
    row_2010 = out.filter(
        (pl.col("exporter_iso3") == "CHN") & (pl.col("period") == dt.date(2010, 1, 1))
    ).row(0, named=True)
    assert row_2010["value_import_cif"] == 5000.0 and row_2010["value_export_fob"] == 4600.0
    assert row_2010["value_gap"] == 400.0
    assert row_2010["value_ratio"] == pytest.approx(5000 / 4600, rel=1e-15)
    assert row_2010["weight_gap_kg"] == 50.0
    row_2011 = out.filter(
        (pl.col("exporter_iso3") == "CHN") & (pl.col("period") == dt.date(2011, 1, 1))
    ).row(0, named=True)
    assert row_2011["value_gap"] == 1000.0 and row_2011["weight_gap_kg"] is None
    kor = out.filter(pl.col("exporter_iso3") == "KOR").row(0, named=True)
    assert kor["value_import_cif"] == 70.0 and kor["value_export_fob"] is None
    # independent implementation: pandas outer merge
    frame = flows.collect().to_pandas()
    key = ["source", "exporter_iso3", "importer_iso3", "hs_code", "period", "freq"]
    imp = frame[frame.flow == "M"][[*key, "value_usd"]].rename(columns={"value_usd": "m"})
    exp = frame[frame.flow == "X"][[*key, "value_usd"]].rename(columns={"value_usd": "x"})
    merged = pd.merge(imp, exp, on=key, how="outer")
    assert len(merged) == out.height == 3
    assert sorted((merged.m - merged.x).dropna().tolist()) == sorted(
        out["value_gap"].drop_nulls().to_list()
    )


def engines_read(root: Path) -> tuple[int, float, list[tuple[str, int]]]:
    """(rows, sum of value_usd, sorted (source_file, source_line)) of the hive folder, by DuckDB.

    pyarrow.dataset must count the same rows. This is what any other engine reading the documented
    layout (``flows/**/*.parquet``, hive partitioning) sees.
    """
    import duckdb
    import pyarrow.dataset as ds

    if not list((root / "flows").glob("**/*.parquet")):
        return 0, 0.0, []
    glob = f"{root}/flows/**/*.parquet"
    con = duckdb.connect()
    n, total = con.execute(
        "select count(*), coalesce(sum(value_usd), 0) from read_parquet(?, hive_partitioning=true)",
        [glob],
    ).fetchone()  # type: ignore[misc]
    keys = con.execute(
        "select source_file, source_line from read_parquet(?, hive_partitioning=true) "
        "order by source_file, source_line",
        [glob],
    ).fetchall()
    assert ds.dataset(root / "flows", format="parquet", partitioning="hive").count_rows() == n
    return int(n), float(total), [(str(f), int(line)) for f, line in keys]


def assert_engines_read_scan(root: Path) -> None:
    """DuckDB and pyarrow reading ``flows/`` read exactly the rows FlowStore(root).scan() reads."""
    flows = FlowStore(root).scan().collect().sort("source_file", "source_line")
    n, total, keys = engines_read(root)
    assert n == flows.height
    assert total == pytest.approx(float(flows["value_usd"].sum() or 0.0), rel=1e-12, abs=1e-9)
    assert keys == list(zip(flows["source_file"], flows["source_line"], strict=True))
