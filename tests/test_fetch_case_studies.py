"""``nox -s fetch``: the plan read from the event files, and a whole run against a local fake API."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import pytest
from conftest import REPO
from fetch_server import FakeComtrade, LocalServer

from tradeimpact.fetch.case_studies import baci_revision, main, plan_event

EVENT = """
[event]
name = "toy"
treated = "JPN"
source_country = "CHN"
freq = "M"

[products]
core = ["280530", "284690"]
comparison = ["281820"]

[controls]
importers = ["USA", "KOR"]

[diversion]
suppliers = ["VNM"]

[window]
start = 2010-03-01
end = 2010-06-30
event_month = 2010-05-01
event_time = [-3, 2]
"""


def write_event(folder: Path, text: str = EVENT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "toy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_plan_from_a_small_event(tmp_path: Path) -> None:
    plan = plan_event(write_event(tmp_path), today=dt.date(2026, 11, 28))
    # window widened by the event study: May 2010 -3 .. +2 = Feb..Jul 2010
    assert (plan.start, plan.end, plan.freq) == ("2010-02", "2010-07", "M")
    assert plan.hs == ("280530", "284690", "281820")
    jobs = {j.label: j for j in plan.comtrade}
    assert jobs["importer side"].reporters == ("JPN", "USA", "KOR")
    assert jobs["importer side"].partners == ("CHN",) and jobs["importer side"].flows == ("M",)
    assert jobs["diversion"].reporters == ("JPN",) and jobs["diversion"].partners == ("VNM",)
    assert jobs["exporter side"].reporters == ("CHN",)
    assert jobs["exporter side"].partners == ("JPN", "USA", "KOR")
    assert jobs["exporter side"].flows == ("X",)
    assert plan.comtrade_calls() == 3 + 1 + 1 and plan.estat_years == (2010,)


def test_window_clipped_to_last_month_and_bad_files_named(tmp_path: Path) -> None:
    text = EVENT.replace("end = 2010-06-30", "end = 2027-06-30")
    plan = plan_event(write_event(tmp_path, text), today=dt.date(2026, 11, 28))
    assert plan.end == "2026-10"
    bad = write_event(tmp_path / "bad", EVENT.replace('core = ["280530", "284690"]', "core = 5"))
    with pytest.raises(ValueError, match=r"toy.toml: 'core' must be a non-empty list"):
        plan_event(bad)
    bad2 = write_event(tmp_path / "bad2", EVENT.replace('treated = "JPN"\n', ""))
    with pytest.raises(ValueError, match=r"\[event\] needs 'treated'"):
        plan_event(bad2)


@pytest.mark.parametrize("name", ["rare_earth_2010", "dual_use_2026"])
def test_plan_of_the_real_event_files(name: str) -> None:
    path = REPO / "analysis" / "events" / f"{name}.toml"
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    plan = plan_event(path, today=dt.date(2026, 11, 28))
    importer = plan.comtrade[0]
    assert importer.reporters == (doc["event"]["treated"], *doc["controls"]["importers"])
    assert importer.partners == (doc["event"]["source_country"],)
    assert set(doc["products"]["core"]) <= set(plan.hs)
    assert plan.start <= doc["window"]["start"].strftime("%Y-%m")
    assert plan.end >= min(doc["window"]["end"], dt.date(2026, 10, 1)).strftime("%Y-%m")


def test_baci_revision() -> None:
    assert baci_revision(2008) == "HS07" and baci_revision(2023) == "HS22"
    assert baci_revision(2016) == "HS12"


def test_whole_run_fetches_then_ingests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COMTRADE_API_KEY", raising=False)
    monkeypatch.delenv("ESTAT_APP_ID", raising=False)
    events = tmp_path / "events"
    write_event(events)
    fake = FakeComtrade()
    with LocalServer(fake) as srv:
        code = main(["--events", str(events), "--out", str(tmp_path / "data_raw"),
                     "--store", str(tmp_path / "store"), "--comtrade-base", srv.url + "/public/v1/preview",
                     "--min-interval", "0", "--no-progress"])  # fmt: skip
        asked = [
            (s.query["reporterCode"], s.query.get("partnerCode"), s.query["flowCode"])
            for s in srv.seen
        ]
    assert code == 0
    assert asked == [("392", "156", "M"), ("842", "156", "M"), ("410", "156", "M"),
                     ("392", "704", "M"), ("156", "392,842,410", "X")]  # fmt: skip
    assert all(s.query["period"] == "201002,201003,201004,201005,201006,201007" for s in srv.seen)
    out = capsys.readouterr().out
    assert "ESTAT_APP_ID is not set" in out and "fetched 5, skipped 0, failed 0" in out
    files = sorted((tmp_path / "data_raw" / "comtrade").glob("*.json"))
    rows = sum(len(json.loads(p.read_bytes())["data"]) for p in files)
    assert rows == 6 * 3 * (3 + 1 + 3)
    from tradeimpact.store import FlowStore

    flows = FlowStore(tmp_path / "store").scan().collect()
    assert flows.height == rows
    # a second run asks nothing: every chunk is on disk and intact
    with LocalServer(fake) as srv:
        code = main(["--events", str(events), "--out", str(tmp_path / "data_raw"), "--no-ingest",
                     "--comtrade-base", srv.url + "/public/v1/preview", "--no-progress"])  # fmt: skip
        assert srv.seen == [] and code == 0


def test_dry_run_prints_plan_and_fetches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events"
    write_event(events)
    assert main(["--events", str(events), "--out", str(tmp_path / "raw"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "toy: 2010-02..2010-07" in out and "5 call(s) before splits" in out
    assert not (tmp_path / "raw").exists()
