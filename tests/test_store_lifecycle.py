"""Store lifecycle: remove and re-home inputs, vacuum, check, old scans, bad store paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from tests.test_store import assert_engines_read_scan, comtrade_csv, snapshot
from tradeimpact.errors import SourceFormatError, TradeImpactError
from tradeimpact.store import FlowStore


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    """a: 3 rows (one negative value: quarantined); b: 2 rows, one of them a's key."""
    a = comtrade_csv(
        tmp_path / "a.csv",
        [
            ("2010", "392", "M", "156", "280530", "1000", "5000"),
            ("2011", "392", "M", "156", "280530", "800", "9000"),
            ("2011", "392", "M", "410", "280530", "8", "-1"),
        ],
    )
    b = comtrade_csv(
        tmp_path / "b.csv",
        [
            ("2010", "392", "M", "156", "280530", "1", "12"),  # a's key: quarantined in b
            ("2012", "392", "M", "840", "280530", "1", "3"),
        ],
    )
    return a, b


def test_remove_an_input(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    a, b = inputs
    store = FlowStore(tmp_path / "store")
    store.ingest([a, b])
    assert sorted(store.quarantine().collect()["source_file"]) == [str(a), str(b)]
    before = snapshot(store.root)
    with pytest.raises(TradeImpactError, match=r"nope\.csv: not an input of the store"):
        store.remove([a, tmp_path / "nope.csv"])
    assert snapshot(store.root) == before  # all or nothing
    report = store.remove([a])
    assert report.removed == [str(a)] and report.rows_removed == 2
    # b's row that repeated a's key was quarantined naming a: it is stored nowhere now
    assert report.affected == {str(b): 1}
    assert store.inputs()["path"].to_list() == [str(b)]
    flows = store.scan().collect()
    assert flows["source_file"].to_list() == [str(b)] and flows["value_usd"].to_list() == [3.0]
    assert store.quarantine().collect()["source_file"].to_list() == [str(b)]
    assert_engines_read_scan(store.root)
    assert len(list(store.root.glob("quarantine/**/*.parquet"))) == 1  # b's
    # a removed input can be ingested again; b, removed and ingested again, stores its row too
    store.remove([b])
    store.ingest([a, b])
    assert store.scan().collect().height == 3
    # a removed input's file need not exist: it is named by the path it was ingested from
    a.unlink()
    assert store.remove([str(a)]).removed == [str(a)]


def test_moved_input_is_rehomed_not_quarantined(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    a, b = inputs
    store = FlowStore(tmp_path / "store")
    store.ingest([a, b])
    flows = store.scan().collect()
    moved = tmp_path / "archive" / "a-2010.csv"
    moved.parent.mkdir()
    shutil.move(a, moved)
    # ingested from the new path, each of its rows would be "already stored from" the old path:
    # a per-file error says to re-home it
    report = store.ingest([moved, b], on_error="skip")
    assert report.files[0].status == (
        f"error: {moved}: has the bytes of {a}, an input of the store {store.root} whose file is "
        f"no longer there: if it moved, re-home it (`tradeimpact store rehome {a} {moved} --store "
        f"{store.root}`, no row is rewritten); to store it as a new input, remove the old one "
        "first (`tradeimpact store remove`)"
    )
    assert report.files[1].status == "unchanged"
    assert store.rehome(a, moved) == str(moved.resolve())
    entry = store.manifest()["inputs"][str(moved.resolve())]
    assert entry["path"] == str(moved) and entry["moved_from"] == [str(a)]
    assert str(a.resolve()) not in store.manifest()["inputs"]
    assert store.scan().collect().equals(flows)  # no row rewritten
    assert [f.status for f in store.ingest([moved]).files] == ["unchanged"]
    assert store.check().ok
    # a file with other bytes is not the same input; an existing input cannot be a target
    with pytest.raises(TradeImpactError, match="not the file stored from"):
        store.rehome(moved, b)
    with pytest.raises(SourceFormatError, match="file not found"):
        store.rehome(moved, tmp_path / "missing.csv")
    shutil.copy(moved, tmp_path / "copy.csv")
    store.ingest([tmp_path / "copy.csv"])  # all its rows repeat a's keys: quarantined
    with pytest.raises(TradeImpactError, match="already an input"):
        store.rehome(moved, tmp_path / "copy.csv")


def test_scan_taken_before_a_write_keeps_reading_its_state(
    tmp_path: Path, inputs: tuple[Path, Path]
) -> None:
    a, b = inputs
    store = FlowStore(tmp_path / "store")
    store.ingest([a, b])
    old_scan = store.scan()
    old_quarantine = store.quarantine()
    old = old_scan.collect()
    comtrade_csv(a, [("2010", "392", "M", "156", "280530", "1000", "7777")])
    store.ingest([a])
    assert old_scan.collect().equals(old)  # the old snapshot, not a FileNotFoundError
    assert old_quarantine.collect().height == 2
    new = store.scan().collect()
    assert new.filter(pl.col("source_file") == str(a))["value_usd"].to_list() == [7777.0]
    assert_engines_read_scan(store.root)  # the hive folder holds the new state only
    check = store.check()
    assert check.ok and check.old_versions == 3  # a's 2 year files + its quarantine file
    vacuumed = store.vacuum()
    assert len(vacuumed.removed) == 3
    sizes = [p.stat().st_size for p in (tmp_path / "store").glob("versions/**/*")]
    assert vacuumed.bytes_freed > 0 and sizes
    assert store.check().old_versions == 0
    with pytest.raises((FileNotFoundError, pl.exceptions.ComputeError)):
        old_scan.collect()  # after a vacuum the old snapshot is gone
    assert store.scan().collect().equals(new)
    assert_engines_read_scan(store.root)


def test_vacuum_frees_exactly_the_old_files(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    a, b = inputs
    store = FlowStore(tmp_path / "store")
    store.ingest([a, b])
    old_files = {p: p.stat().st_size for p in store.root.glob("versions/**/*.parquet")}
    live_before = {rel for e in store.manifest()["inputs"].values() for rel in e["files"]}
    store.remove([a])
    live = {
        rel
        for e in store.manifest()["inputs"].values()
        for rel in [*e["files"], *e["quarantine_files"]]
    }
    gone = {
        p: n
        for p, n in old_files.items()
        if str(p.relative_to(store.root / "versions")) not in live
    }
    (store.root / ".staging-leftover").mkdir()
    (store.root / ".staging-leftover" / "x.parquet").write_bytes(b"12345")
    report = store.vacuum()
    assert sorted(report.removed) == sorted(
        [".staging-leftover", *(str(p.relative_to(store.root)) for p in gone)]
    )
    assert report.bytes_freed == sum(gone.values()) + 5
    assert live_before - live  # a's files were live before
    assert {
        str(p.relative_to(store.root / "versions"))
        for p in store.root.glob("versions/**/*.parquet")
    } == live
    assert store.vacuum().removed == []  # nothing left to do


def test_check_finds_and_repair_fixes(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    a, b = inputs
    store = FlowStore(tmp_path / "store")
    store.ingest([a, b])
    assert store.check().ok
    live = sorted(rel for e in store.manifest()["inputs"].values() for rel in e["files"])
    # an orphan in the hive folder (other engines would read it), a lost hive link, a leftover
    orphan = store.root / "flows" / "source=comtrade" / "year=2010" / "stray.parquet"
    shutil.copy(store.root / live[0], orphan)
    (store.root / live[1]).unlink()
    (store.root / ".staging-abc").mkdir()
    (store.root / ".manifest.json.tmp").write_text("{")
    found = store.check()
    assert not found.ok
    assert found.unlisted == ["flows/source=comtrade/year=2010/stray.parquet"]
    assert found.missing == [live[1]]
    assert found.leftovers == [".staging-abc", ".manifest.json.tmp"]
    assert "PROBLEMS" in found.summary() and "stray.parquet" in found.summary()
    repaired = store.check(repair=True)
    assert repaired.ok, repaired.summary()
    assert (store.root / live[1]).exists()  # re-linked from versions/
    assert_engines_read_scan(store.root)
    # damaged bytes: the sha256 recorded at ingest differs (repair cannot fix that)
    target = store.root / live[0]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.unlink()  # break the hard link: only the hive copy is damaged
    target.write_bytes(bytes(data))
    damaged = store.check()
    assert damaged.mismatched == [f"{live[0]}: its sha256 is not the one recorded at ingest"]
    assert store.check(verify=False).ok  # names only
    # an input moved away is a note, not a problem
    a.unlink()
    assert any("is no longer there" in n for n in store.check(verify=False).notes)


def test_bad_manifest_and_store_path(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    a, b = inputs
    store = FlowStore(tmp_path / "store")
    store.ingest([a])
    text = store.manifest_path.read_text()
    store.manifest_path.write_text(text[:-40])
    with pytest.raises(TradeImpactError, match=r"manifest.json, line \d+, column \d+: the store"):
        store.ingest([b])
    with pytest.raises(TradeImpactError, match="not valid JSON"):
        store.scan()
    assert store.manifest_path.read_text() == text[:-40]  # never overwritten
    assert "not valid JSON" in str(store.check().manifest_error)
    assert not store.check(repair=True).ok  # repair touches nothing without a manifest
    assert len(list(store.root.glob("flows/**/*.parquet"))) == 2
    for wrong in (
        [],
        {"format": "tradeimpact-store/1", "inputs": []},
        {"format": "tradeimpact-store/1", "inputs": {"x": {"path": "x"}}},
        {"format": "other", "inputs": {}},
    ):
        store.manifest_path.write_text(json.dumps(wrong))
        with pytest.raises(TradeImpactError, match=r"manifest\.json"):
            store.ingest([b])
    bad = json.loads(text)
    next(iter(bad["inputs"].values()))["files"] = ["../../etc/passwd"]
    store.manifest_path.write_text(json.dumps(bad))
    with pytest.raises(TradeImpactError, match="is not a file of flows/ or quarantine/"):
        store.vacuum()
    # --store pointing at a file
    file_store = FlowStore(a)
    for call in (lambda: file_store.ingest([b]), file_store.scan, file_store.vacuum):
        with pytest.raises(TradeImpactError, match="the store must be a folder"):
            call()
    assert "must be a folder" in str(file_store.check().manifest_error)
    # maintenance of a store that does not exist creates nothing
    for call in (
        FlowStore(tmp_path / "none").vacuum,
        lambda: FlowStore(tmp_path / "none").remove(a),
    ):
        with pytest.raises(TradeImpactError, match="no store here"):
            call()
    assert not (tmp_path / "none").exists()


def test_store_of_an_older_version_is_upgraded(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    """A store written before the versions/ links and generations reads, and is upgraded by
    the next write (its files are linked under versions/)."""
    a, b = inputs
    store = FlowStore(tmp_path / "store")
    store.ingest([a])
    shutil.rmtree(store.root / "versions")
    manifest = json.loads(store.manifest_path.read_text())
    del manifest["generation"]
    for entry in manifest["inputs"].values():  # the file names of then: no "-g<n>"
        del entry["file_sha256"]
        for kind in ("files", "quarantine_files"):
            for i, rel in enumerate(entry[kind]):
                entry[kind][i] = rel.replace("-g1.parquet", ".parquet")
                (store.root / rel).rename(store.root / entry[kind][i])
    store.manifest_path.write_text(json.dumps(manifest))
    flows = store.scan().collect()
    assert flows.height == 2
    # the orphan: a replaced file that a kill after the manifest rename left in flows/
    # (other engines counted its rows); now moved out of flows/ by the next write, then vacuumed
    listed = store.root / manifest["inputs"][str(a.resolve())]["files"][0]
    orphan = listed.with_name("0123456789abcdef0123.parquet")
    shutil.copy(listed, orphan)
    store.ingest([b])
    assert not orphan.exists()
    assert store.check().ok and store.check().old_versions == 1
    assert store.vacuum().removed == [f"versions/{orphan.relative_to(store.root)}"]
    assert store.check().ok
    assert store.scan().collect().height == 3
    assert store.manifest()["generation"] == 1
    assert_engines_read_scan(store.root)


def test_reader_exceptions_are_per_file_errors(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    """Whatever a reader raises on one file, the other files of the call are stored."""
    import csv
    import zlib

    from tradeimpact.sources.comtrade import ComtradeReader

    a, _b = inputs
    bad = tmp_path / "bad.csv"
    bad.write_text("x")
    raised: list[Exception] = [
        pl.exceptions.ComputeError("unterminated quote at line 7"),
        csv.Error("line 3: field larger than field limit"),
        zlib.error("Error -3 while decompressing data: invalid block type"),
        UnicodeDecodeError("shift_jis", b"\x80", 0, 1, "illegal multibyte sequence"),
        PermissionError(13, "Permission denied"),
        ValueError("could not convert string to float: 'n/a' (line 12)"),
    ]
    expected = [
        f"{bad}: cannot parse the file: unterminated quote at line 7",  # polars_file_error's
        f"{bad}, line 3: malformed CSV: line 3: field larger than field limit",
        f"{bad}: broken compressed data: Error -3 while decompressing data: invalid block type",
        f"{bad}: broken encoding: 'shift_jis' codec can't decode byte 0x80 in position 0: "
        "illegal multibyte sequence",
        f"{bad}: cannot read the file: [Errno 13] Permission denied",
        f"{bad}, line 12: cannot read the file (ValueError): could not convert string to float: "
        "'n/a' (line 12)",
    ]

    class Flaky(ComtradeReader):
        def read_staged(self, path: Path):  # type: ignore[no-untyped-def]
            if path == bad:
                raise self.error
            return super().read_staged(path)

    for i, (error, message) in enumerate(zip(raised, expected, strict=True)):
        reader = Flaky()
        reader.error = error  # type: ignore[attr-defined]
        store = FlowStore(tmp_path / f"store{i}")
        report = store.ingest([bad, a], reader, on_error="skip")
        assert [f.status for f in report.files] == [f"error: {message}", "ingested"]
        assert store.inputs()["path"].to_list() == [str(a)]
        with pytest.raises(SourceFormatError) as info:
            FlowStore(tmp_path / f"other{i}").ingest([a, bad], reader)
        assert str(info.value) == message
        assert FlowStore(tmp_path / f"other{i}").scan().collect().height == 0
    # a directory among the inputs
    folder = tmp_path / "folder"
    folder.mkdir()
    report = FlowStore(tmp_path / "dirs").ingest([folder, a], on_error="skip")
    assert report.files[0].status == (
        f"error: {folder}: is a directory, not a file (give the files in it, e.g. DIR/*.csv)"
    )
    assert report.files[1].status == "ingested"
    # memory exhaustion is no file's fault: it aborts, and the store is as before
    reader = Flaky()
    reader.error = MemoryError()  # type: ignore[attr-defined]
    with pytest.raises(MemoryError):
        FlowStore(tmp_path / "mem").ingest([a, bad], reader, on_error="skip")
    assert FlowStore(tmp_path / "mem").scan().collect().height == 0
    assert not list((tmp_path / "mem").glob(".staging-*"))


def test_kill_during_vacuum_then_vacuum(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    a, b = inputs
    store = FlowStore(tmp_path / "store")
    store.ingest([a, b])
    store.remove([a, b])
    n = store.check().old_versions
    assert n == 5  # a: 2 year files and a quarantine file; b: 1 and 1
    script = (
        "import sys\nfrom tradeimpact.store import FlowStore\nFlowStore(sys.argv[1]).vacuum()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(store.root)],
        cwd=REPO,
        env={**os.environ, "TRADEIMPACT_CRASH_AT": "vacuumed#2"},
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL
    assert store.check().old_versions == n - 2 and store.check().ok
    assert len(store.vacuum().removed) == n - 2
    assert not list(store.root.glob("versions/**/*.parquet"))


def test_older_manifest_copy_costs_no_data(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    """manifest.json replaced by an older copy (a restore gone wrong): the newer files are
    reported, and neither a repair nor a vacuum removes them; the right manifest brings all back."""
    a, b = inputs
    store = FlowStore(tmp_path / "store")
    store.ingest([a])  # generation 1
    older = store.manifest_path.read_text()
    store.ingest([b])  # generation 2
    comtrade_csv(a, [("2010", "392", "M", "156", "280530", "1000", "5555")])
    store.ingest([a])  # generation 3
    newer = store.manifest_path.read_text()
    flows = store.scan().collect()
    store.manifest_path.write_text(older)
    found = store.check()
    assert not found.ok
    assert found.later and all("-g2." in f or "-g3." in f for f in found.later)
    assert "newer than the manifest" in found.summary()
    assert not store.check(repair=True).ok
    store.vacuum()
    assert sorted(store.check().later) == sorted(found.later)  # nothing of them removed
    store.manifest_path.write_text(newer)
    assert store.check(repair=True).ok
    assert store.scan().collect().equals(flows)
    assert_engines_read_scan(store.root)
