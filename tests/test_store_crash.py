"""FlowStore after a SIGKILL at every point of an ingest: the old or the new state, never half.

Each trial copies a store holding inputs a (version 1) and b, then runs ``ingest([a, c])`` in a
subprocess with a changed a (replaced) and a new c, killed by ``TRADEIMPACT_CRASH_AT`` at one
named point (:func:`tradeimpact.store_lock.crash_point`): from taking the lock, through staging,
each move and link of the commit, the manifest write and rename, to the sweep of the replaced
files. After the kill:

* ``FlowStore.scan()`` (read-only, before any recovery) equals exactly the state before the
  ingest (killed before the manifest rename) or after it (killed after);
* after recovery (the next write: here ``check(repair=True)``), the hive folder holds exactly the
  manifest's files, and DuckDB and pyarrow reading ``flows/**/*.parquet`` read what scan() reads;
* running the ingest again ends byte-identical to a store where it was never interrupted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import REPO
from tests.test_store import assert_engines_read_scan, comtrade_csv, snapshot
from tradeimpact.errors import TradeImpactError
from tradeimpact.store import FlowStore
from tradeimpact.store_lock import writer_lock

PARTNERS = ["156", "410", "840", "276", "250"]
PRODUCTS = ["280530", "280540", "284690", "850511"]

#: (point, state scan() must show right after the kill); "#n": the n-th time the point is reached.
#: a's new version has 2 year files and a quarantine file, c one year file: 4 files are moved and
#: linked; a's old version has 2 year files and a quarantine file: 3 are dropped.
POINTS = [
    ("locked", "before"),  # lock taken, nothing done
    ("staged", "before"),  # a staged
    ("staged#2", "before"),  # a and c staged
    ("moved", "before"),  # first file moved to versions/ (commit marker written)
    ("moved#3", "before"),  # inside the moves
    ("linked", "before"),  # all 4 moved, the first linked into flows/ (other engines see it)
    ("linked#4", "before"),  # every new file in flows/, beside the replaced ones
    ("synced", "before"),  # folders fsynced
    ("manifest-written", "before"),  # .manifest.json.tmp written, not renamed
    ("manifest-replaced", "after"),  # the commit point passed, root not yet fsynced
    ("dropped", "after"),  # one replaced file unlinked from flows/
    ("dropped#2", "after"),  # inside the sweep
    ("swept", "after"),  # empty folders removed; staging folder and lock still there
]

SCRIPT = "import sys\nfrom tradeimpact.store import FlowStore\nFlowStore(sys.argv[1]).ingest(sys.argv[2:])\n"


def _rows(years: list[str], value: int) -> list[tuple[str, str, str, str, str, str, str]]:
    return [
        (f"{year}{month:02d}", "392", "M", partner, product, str(10 + i), str(value + i))
        for year in years
        for month in range(1, 13)
        for i, (partner, product) in enumerate((p, c) for p in PARTNERS for c in PRODUCTS)
    ]


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Inputs, the store before (a v1 + b), and the store after an uninterrupted ingest."""
    base = tmp_path_factory.mktemp("crash")
    inputs = base / "in"
    inputs.mkdir()
    a = inputs / "a.csv"
    b = comtrade_csv(inputs / "b.csv", _rows(["2013"], 500))
    # a v1: 480 rows, one quarantined (negative value)
    comtrade_csv(
        a, [*_rows(["2010", "2011"], 100), ("201101", "392", "M", "156", "999999", "1", "-1")]
    )
    before = base / "before"
    FlowStore(before).ingest([a, b])
    # a v2 (changed values, another bad row) and a new c
    comtrade_csv(
        a, [*_rows(["2010", "2011"], 200), ("201102", "392", "M", "156", "999998", "1", "-2")]
    )
    c = comtrade_csv(inputs / "c.csv", _rows(["2012"], 300))
    after = base / "after"
    shutil.copytree(before, after)
    FlowStore(after).ingest([a, c])
    return {
        "base": base,
        "inputs": [a, c],
        "before": before,
        "after": after,
        "before_rows": _sorted(FlowStore(before).scan()),
        "after_rows": _sorted(FlowStore(after).scan()),
        "after_bytes": snapshot(after),
    }


def _sorted(frame: pl.LazyFrame) -> pl.DataFrame:
    return frame.collect().sort("source_file", "source_line")


def _start(
    store: Path, inputs: list[Path], point: str, script: str = SCRIPT
) -> subprocess.Popen[str]:
    env = {**os.environ, "TRADEIMPACT_CRASH_AT": point}
    return subprocess.Popen(
        [sys.executable, "-c", script, str(store), *map(str, inputs)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_killed(process: subprocess.Popen[str], point: str) -> None:
    _, err = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, (point, process.returncode, err)


def _killed(store: Path, inputs: list[Path], point: str, script: str = SCRIPT) -> None:
    _wait_killed(_start(store, inputs, point, script), point)


@pytest.fixture(scope="module")
def killed(trial: dict[str, object]) -> dict[str, Path]:
    """A copy of the store before, per point, with the ingest killed there (run side by side:
    each trial has its own store, so they do not interact)."""
    base = trial["base"]
    inputs = trial["inputs"]
    assert isinstance(base, Path) and isinstance(inputs, list)
    stores, running = {}, {}
    for i, (point, _) in enumerate(POINTS):
        stores[point] = base / f"killed-{i}"
        shutil.copytree(trial["before"], stores[point])  # type: ignore[arg-type]
        running[point] = _start(stores[point], inputs, point)
    for point, process in running.items():
        _wait_killed(process, point)
    return stores


def test_the_states_differ(trial: dict[str, object]) -> None:
    before, after = trial["before_rows"], trial["after_rows"]
    assert isinstance(before, pl.DataFrame) and isinstance(after, pl.DataFrame)
    assert (before.height, after.height) == (480 + 240, 480 + 240 + 240)
    assert not before.equals(after.head(before.height))


@pytest.mark.parametrize(("point", "state"), POINTS, ids=[p for p, _ in POINTS])
def test_kill_at_point(
    trial: dict[str, object], killed: dict[str, Path], point: str, state: str
) -> None:
    store = killed[point]
    inputs = trial["inputs"]
    assert isinstance(inputs, list)
    # a reader needs no recovery: it sees exactly the old or the new state
    assert _sorted(FlowStore(store).scan()).equals(trial[f"{state}_rows"])  # type: ignore[arg-type]
    # other engines: killed before the commit began, the hive folder is the old state; killed
    # inside it, FlowStore.hive() refuses while another process holds the writer lock, and
    # otherwise recovers first (as the next write would): then they read what scan() reads
    if point not in ("locked", "staged", "staged#2"):
        with writer_lock(store, 0.0), pytest.raises(TradeImpactError, match="interrupted write"):
            with FlowStore(store).hive():
                pass
        assert (store / ".commit-pending").exists()
    with FlowStore(store).hive():
        assert not (store / ".commit-pending").exists()
        assert_engines_read_scan(store)
    assert _sorted(FlowStore(store).scan()).equals(trial[f"{state}_rows"])  # type: ignore[arg-type]
    # recovery (what the next write does first), then other engines read what scan() reads
    checked = FlowStore(store).check(repair=True)
    assert checked.ok, checked.summary()
    live = {rel for e in FlowStore(store).manifest()["inputs"].values() for rel in e["files"]}
    assert {str(p.relative_to(store)) for p in store.glob("flows/**/*.parquet")} == live
    with FlowStore(store).hive():
        assert_engines_read_scan(store)
    assert _sorted(FlowStore(store).scan()).equals(trial[f"{state}_rows"])  # type: ignore[arg-type]
    # the ingest run again ends where an uninterrupted one ends, byte for byte
    report = FlowStore(store).ingest(inputs)
    assert [f.status for f in report.files] == (
        ["replaced", "ingested"] if state == "before" else ["unchanged", "unchanged"]
    )
    assert snapshot(store) == trial["after_bytes"]
    assert_engines_read_scan(store)


def test_kill_during_recovery_then_recover(trial: dict[str, object], tmp_path: Path) -> None:
    """A kill inside the recovery itself: the next recovery finishes it (it is idempotent)."""
    store = tmp_path / "store"
    shutil.copytree(trial["before"], store)  # type: ignore[arg-type]
    inputs = trial["inputs"]
    assert isinstance(inputs, list)
    _killed(store, inputs, "linked#3")  # 4 new files in versions/, 3 linked into flows/
    found = FlowStore(store).check(verify=False)
    assert (len(found.unlisted), len(found.uncommitted)) == (3, 4)
    assert ".commit-pending" in found.leftovers
    repair = "import sys\nfrom tradeimpact.store import FlowStore\nFlowStore(sys.argv[1]).check(repair=True)\n"
    _killed(store, [], "recover-removed#2", script=repair)
    half = FlowStore(store).check(verify=False)
    assert not half.ok and (len(half.unlisted), len(half.uncommitted)) == (1, 4)
    assert FlowStore(store).check(repair=True).ok
    assert _sorted(FlowStore(store).scan()).equals(trial["before_rows"])  # type: ignore[arg-type]
    assert_engines_read_scan(store)
    FlowStore(store).ingest(inputs)
    assert snapshot(store) == trial["after_bytes"]


def test_without_recovery_other_engines_see_the_interrupted_write(
    trial: dict[str, object], tmp_path: Path
) -> None:
    """Why recovery matters: between the links and the sweep, flows/ holds both versions."""
    from tests.test_store import engines_read

    store = tmp_path / "store"
    shutil.copytree(trial["before"], store)  # type: ignore[arg-type]
    inputs = trial["inputs"]
    assert isinstance(inputs, list)
    _killed(store, inputs, "manifest-replaced")
    n, _, _ = engines_read(store)
    assert n == 480 + 240 + 480 + 240  # a's old and new rows, b, c: until recovery
    assert FlowStore(store).check(verify=False).unlisted  # check names the files
    FlowStore(store).vacuum()
    assert engines_read(store)[0] == FlowStore(store).scan().collect().height == 960
