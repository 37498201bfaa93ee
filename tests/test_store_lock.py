"""The writer lock: two writer processes on one store lose nothing; a wait that times out says so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_store import assert_engines_read_scan, comtrade_csv
from tradeimpact.store import FlowStore, StoreLockedError
from tradeimpact.store_lock import writer_lock


def _file(path: Path, reporter: str, n_years: int) -> Path:
    """A Comtrade CSV of 12 * n_years * 20 rows (monthly, 5 partners x 4 products)."""
    rows = [
        (f"{2000 + y}{m:02d}", reporter, "M", p, c, "1", str(1 + i))
        for y in range(n_years)
        for m in range(1, 13)
        for i, (p, c) in enumerate(
            (p, c)
            for p in ("156", "410", "840", "276", "250")
            for c in ("280530", "280540", "284690", "850511")
        )
    ]
    return comtrade_csv(path, rows)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tradeimpact.cli", "--width", "200", *args]


def _wait_for(path: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.05)


def test_two_writer_processes_keep_every_row(tmp_path: Path) -> None:
    """Both processes start while the store is locked, so both must wait: one then writes while
    the other waits for it. Every row of both is stored; other engines read the same rows."""
    a = _file(tmp_path / "a.csv", "392", 10)  # Japan's imports, 2400 rows
    b = _file(tmp_path / "b.csv", "410", 10)  # Korea's imports, 2400 rows
    store = tmp_path / "store"
    store.mkdir()
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    with writer_lock(store):
        processes = []
        for path, log in zip((a, b), logs, strict=True):
            with open(log, "w", encoding="utf-8") as err:
                processes.append(
                    subprocess.Popen(
                        _cli("ingest", str(path), "--store", str(store), "--no-progress"),
                        cwd=REPO,
                        stdout=subprocess.PIPE,
                        stderr=err,
                        text=True,
                    )
                )
        for log in logs:  # both have found the store locked (by this process) and wait
            _wait_for(log, f"waiting for process {os.getpid()} to finish writing")
        assert all(p.poll() is None for p in processes)
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, out
        assert "ingested" in out
    flows = FlowStore(store).scan().collect()
    assert flows.height == 4800
    assert flows.group_by("reporter_iso3").len().sort("reporter_iso3").rows() == [
        ("JPN", 2400),
        ("KOR", 2400),
    ]
    assert sorted(FlowStore(store).inputs()["rows_stored"].to_list()) == [2400, 2400]
    assert_engines_read_scan(store)
    assert FlowStore(store).check().ok
    assert (store / ".lock").read_text() == ""  # the pid is only written while the lock is held


def _big(path: Path, reporter: str, n: int = 50_000) -> Path:
    """``n`` rows of distinct keys: 5,000 products x ``n / 5000`` months (the issue's files)."""
    rows = [
        (f"2000{1 + i // 5000:02d}", reporter, "M", "156", str(100_000 + i % 5000), "1", str(i))
        for i in range(n)
    ]
    return comtrade_csv(path, rows)


def test_two_writers_started_together(tmp_path: Path) -> None:
    """The issue's race, as it happened: two ingests of 50,000 rows each started at once on one
    store (before the lock, one of them lost its rows or died with a FileNotFoundError)."""
    a = _big(tmp_path / "a.csv", "392")
    b = _big(tmp_path / "b.csv", "410")
    store = tmp_path / "store"
    processes = [
        subprocess.Popen(
            _cli("ingest", str(path), "--store", str(store), "--no-progress"),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (a, b)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    flows = FlowStore(store).scan().collect()
    assert flows.height == 100_000
    assert flows["value_usd"].sum() == 2 * sum(range(50_000))
    assert sorted(FlowStore(store).inputs()["rows_stored"].to_list()) == [50_000, 50_000]
    assert_engines_read_scan(store)
    assert FlowStore(store).check().ok


def test_wait_times_out_with_a_clear_error(tmp_path: Path) -> None:
    good = _file(tmp_path / "good.csv", "392", 1)
    store = tmp_path / "store"
    FlowStore(store).ingest([good])
    other = _file(tmp_path / "other.csv", "410", 1)
    messages: list[str] = []
    with writer_lock(store):
        start = time.monotonic()
        with pytest.raises(StoreLockedError) as info:
            FlowStore(store, lock_timeout=0.3, on_wait=messages.append).ingest([other])
        assert 0.3 <= time.monotonic() - start < 5
        assert str(info.value).startswith(
            f"{store}: the store is being written by process {os.getpid()} (its writer lock "
        )
        assert messages == [
            f"{store}: waiting for process {os.getpid()} to finish writing (up to 0.3 s)"
        ]
        result = subprocess.run(
            _cli(
                "ingest",
                str(other),
                "--store",
                str(store),
                "--no-progress",
                "--lock-timeout",
                "0.2",
            ),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1
        err = " ".join(result.stderr.split())
        assert f"the store is being written by process {os.getpid()}" in err
        assert "nothing was stored (the store is unchanged)" in err
        # readers take no lock: a scan while a writer holds it reads the committed state
        assert FlowStore(store).scan().collect().height == 240
        with pytest.raises(StoreLockedError):
            FlowStore(store, lock_timeout=0.0).vacuum()
    assert FlowStore(store).inputs()["path"].to_list() == [str(good)]


def test_lock_is_released_on_error_and_in_one_process(tmp_path: Path) -> None:
    """An ingest that fails releases the lock; two stores objects in one process exclude too."""
    store = tmp_path / "store"
    bad = tmp_path / "bad.csv"
    bad.write_text("")
    with pytest.raises(Exception, match="empty file"):
        FlowStore(store).ingest([bad], "comtrade")
    with writer_lock(store, timeout=0.0):  # free again
        with pytest.raises(StoreLockedError):
            with writer_lock(store, timeout=0.0):
                pass


def test_hive_readers_hold_off_a_commit(tmp_path: Path) -> None:
    """While another engine reads flows/ inside FlowStore.hive(), no commit changes it."""
    import duckdb

    first = _file(tmp_path / "first.csv", "392", 1)
    second = _file(tmp_path / "second.csv", "410", 1)
    store = FlowStore(tmp_path / "store")
    store.ingest([first])
    messages: list[str] = []
    with store.hive() as flows:
        with pytest.raises(StoreLockedError, match=r"readers held .* for more than 0\.3 s"):
            FlowStore(store.root, lock_timeout=0.3, on_wait=messages.append).ingest([second])
        glob = f"{flows}/**/*.parquet"
        n = duckdb.execute(
            "select count(*) from read_parquet(?, hive_partitioning=true)", [glob]
        ).fetchone()
        assert n == (240,)
    assert messages == [f"{store.root}: waiting for readers of {store.root / 'flows'} to finish"]
    assert store.inputs()["path"].to_list() == [str(first)]  # the write left nothing
    assert store.check().ok
    store.ingest([second])
    with store.hive():
        assert_engines_read_scan(store.root)
