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
    assert {"ingest", "sources", "store"} <= set(commands)
    result = subprocess.run(
        [sys.executable, "-m", "tradeimpact.cli", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "tradeimpact 0.1.0"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--width", "250", *args])
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), " ".join(err.split())


def test_store_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a.csv"
    a.write_text(HEADER + "\nA,2010,392,M,156,H3,280530,2\nA,2011,392,M,156,H3,280530,3\n")
    b = tmp_path / "b.csv"
    b.write_text(HEADER + "\nA,2010,392,M,410,H3,280530,5\n")
    store = str(tmp_path / "store")
    assert _run(capsys, "ingest", str(a), str(b), "--store", store, "--no-progress")[0] == 0
    assert _run(capsys, "store", "check", "--store", store)[:2] == (0, f"store {store}: ok")
    # an orphan where other engines read: check fails and names it; --repair removes it
    live = sorted((tmp_path / "store" / "flows").glob("**/*.parquet"))
    (live[0].parent / "stray.parquet").write_bytes(live[0].read_bytes())
    code, out, _ = _run(capsys, "store", "check", "--store", store, "--quick")
    assert code == 1 and "not listed (orphan): flows/source=comtrade/year=2010/stray.parquet" in out
    # the orphan is out of flows/ (kept under versions/ until a vacuum, like a replaced file)
    code, out, _ = _run(capsys, "store", "check", "--repair", "--store", store)
    assert code == 0 and out == (
        f"store {store}: ok 1 files of earlier versions ({len(live[0].read_bytes()):,} bytes) "
        "kept for older scans; `tradeimpact store vacuum` removes them"
    )
    assert not (live[0].parent / "stray.parquet").exists()
    # a moved input: rehome; a removed one: remove (then its old files are vacuumed)
    moved = tmp_path / "moved-a.csv"
    a.rename(moved)
    code, out, _ = _run(capsys, "store", "check", "--store", store)
    assert code == 0 and f"note: input {a} is no longer there" in out
    code, out, _ = _run(capsys, "store", "rehome", str(a), str(moved), "--store", store)
    assert code == 0 and out == f"{a} -> {moved} (rows unchanged)"
    code, out, _ = _run(capsys, "ingest", str(moved), "--store", store, "--no-progress")
    assert code == 0 and "unchanged" in out
    code, out, _ = _run(capsys, "store", "remove", str(b), "--store", store)
    assert code == 0 and out == f"removed {b} 1 stored rows removed"
    assert FlowStore(store).scan().collect()["value_usd"].to_list() == [2.0, 3.0]
    code, out, err = _run(capsys, "store", "remove", str(b), "--store", store)
    assert code == 1 and f"{b}: not an input of the store" in err and "nothing was changed" in err
    code, out, _ = _run(capsys, "store", "vacuum", "--store", store)
    # the stray copy and b's old file
    assert code == 0 and out.endswith("bytes freed") and out.count("removed versions/") == 2
    assert int(out.split(" files removed, ")[1].split(" ")[0].replace(",", "")) > 0
    code, out, _ = _run(capsys, "store", "vacuum", "--store", store)
    assert out == "0 files removed, 0 bytes freed"
    # a corrupt manifest: check exits 1 naming it, ingest refuses, the file is kept as it is
    manifest = tmp_path / "store" / "manifest.json"
    manifest.write_text("{not json")
    code, out, _ = _run(capsys, "store", "check", "--store", store)
    assert code == 1 and f"manifest: {manifest}, line 1, column 2: the store manifest" in out
    code, _, err = _run(capsys, "ingest", str(moved), "--store", store, "--no-progress")
    assert code == 1 and "is not valid JSON" in err and manifest.read_text() == "{not json"


def test_ingest_bad_store_path_and_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "\nA,2010,392,M,156,H3,280530,2\n")
    code, _, err = _run(capsys, "ingest", str(good), "--store", str(good), "--no-progress")
    assert code == 1
    assert f"error: {good}: the store must be a folder, but this path is a file" in err
    folder = tmp_path / "folder"
    folder.mkdir()
    store = tmp_path / "store"
    code, _, err = _run(
        capsys, "ingest", str(folder), str(good), "--store", str(store), "--no-progress"
    )
    assert code == 1 and f"error: {folder}: is a directory, not a file" in err
    assert FlowStore(store).scan().collect().height == 1


def test_unterminated_quote_is_a_per_file_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: a Japan Customs file with an unterminated quote raised a traceback from
    its reader (outside the store's error handling), so the good file of the call was lost."""
    from tests.test_sources_japan_customs import header, line, month_list

    bad = tmp_path / "jc.csv"
    rows = [
        header(),
        line("2", "2010", "'280530000", "105", "KG", "", month_list(Jan=(10, 0, 5)), "China"),
        line("2", "2010", "'280530000", "103", "KG", "", month_list(Jan=(10, 0, 5)), '"Korea'),
    ]
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "\nA,2010,392,M,156,H3,280530,2\n")
    store = tmp_path / "store"
    code, _out, err = _run(
        capsys, "ingest", str(bad), str(good), "--store", str(store), "--no-progress"
    )
    assert code == 1
    assert f"error: {bad}" in err and "Traceback" not in err
    assert FlowStore(store).inputs()["path"].to_list() == [str(good)]


def test_ingest_interrupted_says_what_the_store_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "\nA,2010,392,M,156,H3,280530,2\n")
    store = tmp_path / "store"

    def interrupted(self: FlowStore, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(FlowStore, "ingest", interrupted)
    code, _, err = _run(capsys, "ingest", str(good), "--store", str(store), "--no-progress")
    assert code == 130
    assert "error: interrupted the store holds its state before or after this ingest" in err
