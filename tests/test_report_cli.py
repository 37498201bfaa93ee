"""``python -m tradeimpact.report.build`` from any folder, and its failures (exit 2, a message).

The defaults (events, spec, output folder) come from the project (tradeimpact.paths), not the
current folder; the appendix's rebuild command is the same wherever the build ran. To stay within
the CI budget the subprocess build runs the REAL annual event only (``--events`` with that one
file) on the whole shipped ``data_raw``; ``nox -s report`` runs every event.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tradeimpact.report.build import main

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the installed (editable) package, as a user runs it
    return env


def test_build_from_another_folder_equals_build_from_root(tmp_path: Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    shutil.copy(REPO / "analysis" / "events" / "magnets_2010_real.toml", events)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    out_a = tmp_path / "a"
    run = subprocess.run(
        [sys.executable, "-m", "tradeimpact.report.build", "--data", str(REPO / "data_raw"),
         "--events", str(events), "--out", str(out_a), "--no-variants"],
        cwd=elsewhere, capture_output=True, text=True, env=_env(), timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert not any(elsewhere.iterdir())  # nothing written in the current folder
    # the same build from the project root, with the data folder given relative to it
    out_b = tmp_path / "b"
    cwd = Path.cwd()
    try:
        os.chdir(REPO)
        assert main(["--data", "data_raw", "--events", str(events), "--out", str(out_b),
                     "--no-variants"]) == 0  # fmt: skip
    finally:
        os.chdir(cwd)
    files_a = sorted(p.relative_to(out_a) for p in out_a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(out_b) for p in out_b.rglob("*") if p.is_file())
    assert files_a == files_b
    names = {p.name for p in files_a}
    # a REAL case: real names, the report not SYNTHETIC, figures and tables present
    assert {"report.pdf", "report.html", "report.typ", "main_magnets_2010_real.md",
            "raw_series_magnets_2010_real.svg", "event_study_magnets_2010_real.svg",
            "synth_gap_magnets_2010_real.svg"} <= names  # fmt: skip
    assert not any("SYNTHETIC" in n for n in names)
    for rel in files_a:
        assert (out_a / rel).read_bytes() == (out_b / rel).read_bytes(), rel
    typ = (out_a / "report.typ").read_text(encoding="utf-8")
    assert "SYNTHETIC" not in typ
    assert "Built by: python -m tradeimpact.report.build --data data_raw --events " in typ
    assert "real/BACI_magnets_850511_CHN_exports_2002-2024.csv" in typ


def test_no_flow_files_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data" / "published").mkdir(parents=True)
    assert main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "o")]) == 2
    assert "no flow files under" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no data folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_no_events_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "events").mkdir()
    rc = main(["--data", str(REPO / "data_raw"), "--events", str(tmp_path / "events"),
               "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "no event files (*.toml) in" in err and str(tmp_path / "events") in err


def test_event_without_flows_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data" / "real"
    data.mkdir(parents=True)
    for f in (REPO / "data_raw" / "real").glob("BACI_*"):
        shutil.copy(f, data / f.name)
    events = tmp_path / "events"
    events.mkdir()
    text = (REPO / "analysis" / "events" / "magnets_2010_real.toml").read_text(encoding="utf-8")
    (events / "nothing.toml").write_text(
        text.replace('name = "magnets_2010_real"', 'name = "nothing"').replace(
            'core = ["850511"]', 'core = ["999999"]'), encoding="utf-8")  # fmt: skip
    rc = main(["--data", str(tmp_path / "data"), "--events", str(events),
               "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "nothing.toml" in err and "no annual flows" in err and "999999" in err
