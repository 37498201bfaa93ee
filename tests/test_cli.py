"""The ``tradeimpact`` command line: ingest with its summary table, sources, generic mapping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_path
from tradeimpact.cli import build_parser, main
from tradeimpact.store import FlowStore

HEADER = "freqCode,period,reporterCode,flowCode,partnerCode,classificationCode,cmdCode,primaryValue"


def test_ingest_prints_summary_and_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vignette = shared_path("data", "real", "comtradr-vignette")
    files = [
        vignette / "vignette_data_3_example_3.csv",
        vignette / "api_fixture" / "HS-60a6ad.json",
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\nA,2010,392,M,999,H3,280530,1\nA,2010,392,M,156,H3,280530,2\n")
    store = tmp_path / "store"
    code = main(
        [
            "--width",
            "200",
            "ingest",
            *map(str, files),
            str(bad),
            "--store",
            str(store),
            "--no-progress",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0
    lines = [line for line in out.splitlines() if "│" in line]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines]
    by_file = {c[0]: c[1:] for c in cells}
    assert by_file[str(files[0])] == ["comtrade 1", "ingested", "1,586", "1,586", "0"]
    assert by_file[str(files[1])] == ["comtrade 1", "ingested", "4", "4", "0"]
    assert by_file[str(bad)] == ["comtrade 1", "ingested", "2", "1", "1"]
    assert by_file["total"] == ["", "", "1,592", "1,591", "1"]
    assert "1 rows quarantined" in err
    assert FlowStore(store).scan().collect().height == 1591
    # again: nothing changes, status "unchanged"
    assert (
        main(["--width", "200", "ingest", *map(str, files), "--store", str(store), "--no-progress"])
        == 0
    )
    assert "unchanged" in capsys.readouterr().out


def test_ingest_error_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "\nA,2010,392,M,156,H3,280530,2\n")
    store = tmp_path / "store"
    args = [
        "--width",
        "200",
        "ingest",
        str(empty),
        str(good),
        "--store",
        str(store),
        "--source",
        "comtrade",
        "--no-progress",
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{empty}, line 1: empty file (no header, no rows)" in err.replace("\n", "")
    assert FlowStore(store).scan().collect().height == 1  # the good file is stored
    store2 = tmp_path / "store2"
    assert (
        main([*args[:-4], str(store2), "--source", "comtrade", "--all-or-nothing", "--no-progress"])
        == 1
    )
    assert "the store is unchanged" in capsys.readouterr().err
    assert FlowStore(store2).scan().collect().height == 0
    assert main(["ingest", str(good), "--store", str(store), "--source", "generic"]) == 2


def test_generic_mapping_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "mine.csv"
    data.write_text("yr,from,to,usd,t\n2010,CN,JP,100,2\n2011,CN,JP,50,\n")
    mapping = tmp_path / "mine.json"
    mapping.write_text(
        json.dumps(
            {
                "mapping": {
                    "year": "yr",
                    "exporter": "from",
                    "importer": "to",
                    "value_usd": "usd",
                    "net_weight_kg": "t",
                },
                "code_system": "iso2",
                "reported_by": "importer",
                "units": {"net_weight_kg": 1000},
                "constants": {"hs_code": "850511"},
                "source": "mine",
                "period_range": ["2010-01-01", "2010-12-31"],
            }
        )
    )
    store = tmp_path / "store"
    assert (
        main(
            [
                "--width",
                "200",
                "ingest",
                str(data),
                "--store",
                str(store),
                "--mapping",
                str(mapping),
                "--no-progress",
            ]
        )
        == 0
    )
    flows = FlowStore(store).scan().collect()
    assert flows["net_weight_kg"].to_list() == [2000.0]
    assert flows["source"].to_list() == ["mine"]
    q = FlowStore(store).quarantine().collect()
    assert q["reason"].to_list() == [
        "period 2011-01-01 is outside the file's declared range 2010-01-01 to 2010-12-31"
    ]


def test_sources_lists_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--width", "250", "sources"]) == 0
    out = capsys.readouterr().out
    for name in ("comtrade", "comtrade_legacy", "baci", "japan_customs", "gacc", "generic"):
        assert f"│ {name} " in out
    assert "not importable" not in out


def test_subcommands_registered_and_entry_point() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"ingest", "sources"} <= set(commands)
    result = subprocess.run(
        [sys.executable, "-m", "tradeimpact.cli", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "tradeimpact 0.1.0"
