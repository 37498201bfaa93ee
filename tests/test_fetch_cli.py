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
