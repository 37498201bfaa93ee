"""``nox -s fetch``: the plan read from the event files, and a whole run against a local fake API."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO
from fetch_server import FakeComtrade, FakeStatsData, LocalServer, estat_line

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


@pytest.fixture
def events_with_app_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The toy event's folder, with no Comtrade key and the e-Stat appId ``appid-SECRET-9``."""
    monkeypatch.delenv("COMTRADE_API_KEY", raising=False)
    monkeypatch.setenv("ESTAT_APP_ID", "appid-SECRET-9")
    events = tmp_path / "events"
    write_event(events)
    return events


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


def test_event_reading_one_unfetched_source_plans_nothing(tmp_path: Path) -> None:
    # an event that reads only the shipped BACI extract (data_source) needs no Comtrade call
    text = EVENT.replace('freq = "M"', 'freq = "M"\ndata_source = "cepii_baci_v202601"')
    plan = plan_event(write_event(tmp_path, text), today=dt.date(2026, 11, 28))
    assert plan.comtrade == [] and plan.estat_years == () and plan.comtrade_calls() == 0
    assert "'cepii_baci_v202601'" in plan.skip_reason and "nothing to fetch" in plan.skip_reason
    # a Comtrade-sourced event is planned as before
    text = EVENT.replace('freq = "M"', 'freq = "M"\ndata_source = "comtrade"')
    plan = plan_event(write_event(tmp_path, text), today=dt.date(2026, 11, 28))
    assert plan.skip_reason == "" and plan.comtrade_calls() == 5


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
    tmp_path: Path, events_with_app_id: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = events_with_app_id
    with LocalServer(FakeComtrade()) as srv:
        code = main(["--events", str(events), "--out", str(tmp_path / "raw"), "--dry-run",
                     "--comtrade-base", srv.url + "/public/v1/preview",
                     "--estat-base", srv.url + "/rest/3.0/app/json"])  # fmt: skip
        assert srv.seen == []  # no request reached the server
    out = capsys.readouterr().out
    assert code == 0 and "appid-SECRET-9" not in out
    assert "toy: 2010-02..2010-07" in out and "5 call(s) before splits" in out
    # importer side 3 reporters, diversion 1, exporter side 1 (Comtrade) + 3 HS codes (e-Stat)
    assert "comtrade: 3 call(s) planned, 3 to make" in out
    assert "estat: 3 call(s) planned, 3 to make" in out
    assert "statsDataId=0003228184&cdCat01From=280530000&cdCat01To=280530999" in out
    assert str(tmp_path / "raw" / "comtrade" / "comtrade_M_r392_201002-201007_") in out
    # 5 Comtrade calls x 6 s + 3 e-Stat calls x 1 s = 33 s = 0.55 min
    assert out.rstrip().endswith(
        f"dry run: 8 call(s) to make before splits and pages, about 0.6 min of throttle; files "
        f"under {tmp_path / 'raw'}; ingest into {tmp_path / 'store'}; nothing was fetched"
    )
    assert not (tmp_path / "raw").exists()


def test_module_dry_run_from_another_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COMTRADE_API_KEY", "ESTAT_APP_ID")}
    done = subprocess.run(
        [sys.executable, "-m", "tradeimpact.fetch.case_studies", "--dry-run"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rare_earth_2010:" in done.stdout and "dual_use_2026:" in done.stdout
    assert f"files under {REPO / 'data_raw'}" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_no_default_events_folder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tradeimpact import paths

    monkeypatch.setattr(paths, "_PACKAGE_DIR", tmp_path / "site" / "tradeimpact")
    assert main(["--dry-run"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "site" / "analysis" / "events") in err and "pass --events" in err
    assert main(["--dry-run", "--events", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    assert "no event files (*.toml) in" in capsys.readouterr().err


def test_whole_run_with_estat_by_table_id(
    tmp_path: Path, events_with_app_id: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = events_with_app_id
    table = (
        estat_line("280530000", "50105", 2010, 10)
        + estat_line("284690000", "50105", 2010, 20)
        + estat_line("281820000", "50103", 2010, 30)
    )
    with LocalServer(FakeComtrade()) as ct, LocalServer(FakeStatsData({"0003228184": table})) as es:
        code = main(["--events", str(events), "--out", str(tmp_path / "raw"),
                     "--store", str(tmp_path / "store"), "--comtrade-base", ct.url + "/public/v1/preview",
                     "--estat-base", es.url + "/rest/3.0/app/json", "--min-interval", "0",
                     "--no-progress"])  # fmt: skip
        asked = [
            (s.query["statsDataId"], s.query["cdCat01From"], s.query["cdTime"]) for s in es.seen
        ]
    assert code == 0, capsys.readouterr()
    assert asked == [
        ("0003228184", f"{hs}000", "2010000000") for hs in ("280530", "284690", "281820")
    ]
    from tradeimpact.store import FlowStore

    flows = (
        FlowStore(tmp_path / "store").scan().filter(pl.col("source") == "japan_customs").collect()
    )
    assert flows.height == 3 * 12
    assert flows.filter(pl.col("hs6") == "281820")["partner_iso3"].unique().to_list() == ["KOR"]
    assert flows["value_native"].sum() == 7 * (10 + 20 + 30) * 78 * 1000
    for path in (tmp_path / "raw").rglob("*"):
        if path.is_file():
            assert b"appid-SECRET-9" not in path.read_bytes(), path
