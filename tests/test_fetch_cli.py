"""``tradeimpact fetch ...`` command line against a local fake API (exit codes, key hygiene)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fetch_server import FakeComtrade, LocalServer, Reply, Seen

import tradeimpact.cli as cli
from tradeimpact.fetch.cli import main

KEY = "cli-KEY-7d1c0ffee42"


def test_fetch_comtrade_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COMTRADE_API_KEY", raising=False)
    with LocalServer(FakeComtrade()) as srv:
        code = main(["comtrade", "--reporters", "JPN,USA", "--partners", "CHN", "--hs", "280530,284610,284690",
                     "--freq", "M", "--start", "2010-01", "--end", "2010-03", "--flow", "M",
                     "--out", str(tmp_path), "--base-url", srv.url + "/public/v1/preview",
                     "--min-interval", "0", "--no-progress"])  # fmt: skip
    assert code == 0
    assert [s.query["reporterCode"] for s in srv.seen] == ["392", "842"]
    assert srv.seen[0].query["period"] == "201001,201002,201003"
    files = sorted(tmp_path.glob("*.json"))
    assert sum(json.loads(p.read_bytes())["count"] for p in files) == 2 * 3 * 3
    assert "2 chunk(s) fetched, 0 skipped" in capsys.readouterr().err


def test_refused_key_exit_code_and_no_key_in_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMTRADE_API_KEY", KEY)

    def refuse(seen: Seen) -> Reply:
        return Reply(401, json.dumps({"statusCode": 401, "message": f"invalid key {KEY}"}).encode())

    with LocalServer(refuse) as srv:
        code = main(["comtrade", "--reporters", "JPN", "--partners", "CHN", "--hs", "280530",
                     "--start", "2010-01", "--end", "2010-02", "--out", str(tmp_path),
                     "--base-url", srv.url + "/data/v1/get", "--no-progress"])  # fmt: skip
    assert code == 3
    assert srv.seen[0].headers["ocp-apim-subscription-key"] == KEY
    captured = capsys.readouterr()
    assert "API key" in captured.err and KEY not in captured.err + captured.out
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["comtrade", "--reporters", "XYZ", "--hs", "280530", "--start", "2010-01",
                 "--end", "2010-02", "--out", str(tmp_path), "--no-progress"])  # fmt: skip
    assert code == 2 and "unknown country code 'XYZ'" in capsys.readouterr().err


def test_tradeimpact_fetch_through_the_package_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMTRADE_API_KEY", raising=False)
    with LocalServer(FakeComtrade()) as srv:
        code = cli.main(["fetch", "comtrade", "--reporters", "JPN", "--partners", "CHN",
                         "--hs", "280530", "--start", "2010-01", "--end", "2010-02",
                         "--out", str(tmp_path), "--base-url", srv.url + "/public/v1/preview",
                         "--min-interval", "0", "--no-progress"])  # fmt: skip
    assert code == 0 and len(srv.seen) == 1
    assert len(list(tmp_path.glob("*.json"))) == 1


def _refuse_all(seen: Seen) -> Reply:
    raise AssertionError(f"a dry run sent a request: {seen.path}")


def test_dry_run_comtrade_prints_the_plan_and_asks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMTRADE_API_KEY", KEY)
    with LocalServer(_refuse_all) as srv:
        code = main(["comtrade", "--reporters", "JPN,USA", "--partners", "CHN", "--hs", "280530",
                     "--start", "2010-01", "--end", "2011-03", "--out", str(tmp_path / "c"),
                     "--base-url", srv.url + "/data/v1/get", "--dry-run"])  # fmt: skip
        assert srv.seen == []
    out = capsys.readouterr().out
    assert code == 0 and KEY not in out
    # with a key: ten reporters a call, 15 months -> 2 calls of 12 + 3 months
    assert out.splitlines()[0] == (
        "comtrade: 2 call(s) planned, 2 to make (0 already on disk and intact); about 0.2 min "
        "at one call per 6 s"
    )
    assert f"GET {srv.url}/data/v1/get/C/M/HS?reporterCode=392%2C842&period=201001" in out
    assert "maxRecords=100000" in out and "subscription key from COMTRADE_API_KEY" in out
    assert str(tmp_path / "c" / "comtrade_M_r392-842_201001-201012_") in out
    assert not (tmp_path / "c").exists()  # nothing written


def test_dry_run_estat_both_routes_and_baci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ESTAT_APP_ID", "appid-SECRET-123")
    with LocalServer(_refuse_all) as srv:
        base = srv.url + "/rest/3.0/app/json"
        assert main(["estat", "--tables", "imports", "--hs", "850511,280530", "--years", "2010-2011",
                     "--out", str(tmp_path / "e"), "--base-url", base, "--dry-run"]) == 0  # fmt: skip
        by_table = capsys.readouterr().out
        assert main(["estat", "--years", "2010", "--flow", "M,X", "--out", str(tmp_path / "e"),
                     "--base-url", base, "--dry-run"]) == 0  # fmt: skip
        files = capsys.readouterr().out
        assert main(["baci", "--release", "202601", "--hs-revision", "HS07", "--years", "2009-2010",
                     "--out", str(tmp_path / "b"), "--base-url", srv.url, "--dry-run"]) == 0  # fmt: skip
        baci = capsys.readouterr().out
        assert srv.seen == []
    assert "appid-SECRET-123" not in by_table + files
    # 2 HS prefixes x 2 tables (2006-10 holds 2010, 2011-15 holds 2011), one second apart
    assert by_table.splitlines()[0].startswith("estat: 4 call(s) planned, 4 to make")
    assert f"{base}/getStatsData?appId=<ESTAT_APP_ID>&lang=J&statsDataId=0003228184" in by_table
    assert "cdCat01From=850511000&cdCat01To=850511999&cdTime=2010000000" in by_table
    assert "statsDataId=0003228185" in by_table and "_p001.json" in by_table
    assert files.splitlines()[0].startswith("estat: 2 call(s) planned")
    assert (
        "getDataCatalog?appId=%3CESTAT_APP_ID%3E" in files and "estat_catalog_X_2010.meta" in files
    )
    assert baci.splitlines()[0].startswith("baci: 1 call(s) planned, 1 to make")
    assert f"GET {srv.url}/BACI_HS07_V202601.zip" in baci
    assert f"unpacks {tmp_path / 'b' / 'BACI_HS07_V202601' / 'BACI_HS07_Y2009_V202601.csv'}" in baci
    assert not (tmp_path / "e").exists() and not (tmp_path / "b").exists()


def test_estat_stats_data_through_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fetch_server import FakeStatsData, estat_line

    monkeypatch.setenv("ESTAT_APP_ID", "appid-SECRET-123")
    fake = FakeStatsData({"0004049326": estat_line("850511000", "50105", 2026, 4, months=3)})
    with LocalServer(fake) as srv:
        code = main(["estat", "--stats-data-id", "0004049326", "--hs", "850511", "--years", "2026",
                     "--out", str(tmp_path), "--base-url", srv.url + "/rest/3.0/app/json",
                     "--min-interval", "0", "--no-progress"])  # fmt: skip
    assert code == 0 and len(srv.seen) == 1
    err = capsys.readouterr().err
    assert "1 chunk(s) fetched" in err and "appid-SECRET-123" not in err
    [saved] = tmp_path.glob("estat_sd_0004049326_850511_2026-2026_*_p001.json")
    assert (
        json.loads(saved.read_bytes())["GET_STATS_DATA"]["STATISTICAL_DATA"]["RESULT_INF"][
            "TOTAL_NUMBER"
        ]
        == 5 + 9
    )


def test_case_studies_through_the_package_cli_dry_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COMTRADE_API_KEY", raising=False)
    monkeypatch.delenv("ESTAT_APP_ID", raising=False)
    monkeypatch.chdir(tmp_path)  # another folder: the defaults come from the project
    with LocalServer(_refuse_all) as srv:
        code = cli.main(["fetch", "case-studies", "--dry-run", "--comtrade-base",
                         srv.url + "/public/v1/preview"])  # fmt: skip
        assert srv.seen == []
    out = capsys.readouterr().out
    assert code == 0
    assert "rare_earth_2010:" in out and "dual_use_2026:" in out
    assert "nothing was fetched" in out and f"GET {srv.url}/public/v1/preview/C/M/HS?" in out
    assert list(tmp_path.iterdir()) == []
