"""Comtrade fetcher against a local fake API on 127.0.0.1 (real answer where ../shared exists)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from conftest import shared_path
from fetch_server import FakeComtrade, LocalServer, Reply, Seen, comtrade_body

import tradeimpact.store as store_module
from tradeimpact.fetch.chunks import read_sidecar, sha256_file
from tradeimpact.fetch.comtrade import (
    ComtradeRequest,
    fetch_comtrade,
    periods_between,
    plan_requests,
)
from tradeimpact.fetch.http import AuthError, HttpClient, RetryPolicy

KEY = "c0mtrade-KEY-5f3a9e1d7b"
FIXED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def client(sleeps: list[float] | None = None) -> HttpClient:
    sleeps = [] if sleeps is None else sleeps
    policy = RetryPolicy(max_attempts=3, backoff_base=0.5, backoff_cap=1.0, retry_after_cap=2.0)
    return HttpClient(policy=policy, sleep=sleeps.append)


def run(srv: LocalServer, out: Path, **kw):  # type: ignore[no-untyped-def]
    args = {
        "reporters": ["JPN"],
        "partners": ["CHN"],
        "hs": ["280530", "284610", "284690"],
        "start": "2010-01",
        "end": "2010-12",
        "freq": "M",
        "flows": ["M"],
        "out": out,
        "base_url": srv.url + "/public/v1/preview",
        "client": client(),
        "clock": lambda: FIXED,
        "progress": False,
        "api_key": "",
    }
    args.update(kw)
    return fetch_comtrade(**args)


def data_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


def all_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_periods_and_plan() -> None:
    assert periods_between("2007-11", "2008-02", "M") == ["200711", "200712", "200801", "200802"]
    assert periods_between("2007", "2009", "A") == ["2007", "2008", "2009"]
    assert len(periods_between("2007-01", "2013-12", "M")) == 84
    with pytest.raises(ValueError, match="before"):
        periods_between("2010-02", "2010-01", "M")
    with pytest.raises(ValueError, match="YYYY-MM"):
        periods_between("2010-13", "2011-01", "M")
    plan = plan_requests(
        ["392", "842"], ["156"], ["280530"], "M", periods_between("2007-01", "2008-02", "M"), ["M"]
    )
    assert [(r.reporters, len(r.periods)) for r in plan] == [
        (("392",), 12), (("392",), 2), (("842",), 12), (("842",), 2)
    ]  # fmt: skip
    req = plan[0]
    left, right = req.split()  # type: ignore[misc]
    assert left.periods == req.periods[:6] and right.periods == req.periods[6:]
    one = ComtradeRequest("M", ("392",), ("156",), ("280530",), ("M",), ("201001",))
    assert one.split() is None


def test_real_answer_saved_unchanged_with_sidecar(tmp_path: Path) -> None:
    fixture = shared_path("data", "real", "comtradr-vignette", "api_fixture", "HS-60a6ad.json")
    real = fixture.read_bytes()

    def respond(seen: Seen) -> Reply:
        return Reply(body=real)

    with LocalServer(respond) as srv:
        summary = run(
            srv, tmp_path, reporters=["CHN"], partners=["ARG", "DEU"], hs=["TOTAL"],
            start="2010", end="2010", freq="A", flows=["M", "X"],
        )  # fmt: skip
    assert (summary.fetched, summary.skipped, summary.failed, summary.rows) == (1, 0, 0, 4)
    (saved,) = data_files(tmp_path)
    assert saved.read_bytes() == real  # byte for byte
    meta = read_sidecar(saved)
    assert meta is not None
    assert meta["sha256"] == sha256_file(fixture) and meta["rows"] == 4
    assert meta["fetched_at"] == "2026-01-02T03:04:05Z" and meta["bytes"] == len(real)
    assert meta["request"]["reporters"] == ["156"] and meta["request"]["partners"] == ["32", "276"]
    (seen,) = srv.seen
    assert seen.path == "/public/v1/preview/C/A/HS"
    assert seen.query == {
        "reporterCode": "156", "period": "2010", "partnerCode": "32,276", "partner2Code": "0",
        "cmdCode": "TOTAL", "flowCode": "M,X", "customsCode": "C00", "motCode": "0",
        "maxRecords": "500", "includeDesc": "true",
    }  # fmt: skip
    assert "ocp-apim-subscription-key" not in seen.headers


def test_requests_split_by_reporter_and_twelve_periods(tmp_path: Path) -> None:
    fake = FakeComtrade()
    with LocalServer(fake) as srv:
        summary = run(srv, tmp_path, reporters=["JPN", "USA"], start="2009-11", end="2010-12")
    assert summary.fetched == 4 and summary.failed == 0
    asked = [(s.query["reporterCode"], s.query["period"].split(",")) for s in srv.seen]
    assert [(r, len(p)) for r, p in asked] == [("392", 12), ("392", 2), ("842", 12), ("842", 2)]
    assert asked[0][1][0] == "200911" and asked[1][1] == ["201011", "201012"]
    # 14 months x 3 codes x 1 partner per reporter
    assert summary.rows == 2 * 14 * 3
    for path in data_files(tmp_path):
        answer = json.loads(path.read_bytes())
        assert answer["count"] == len(answer["data"]) and answer["error"] == ""


def test_capped_answer_is_split_until_no_answer_is_capped(tmp_path: Path) -> None:
    fake = FakeComtrade(all_partners=tuple(str(c) for c in range(100, 160)))  # 60 partners
    with LocalServer(fake) as srv:
        summary = run(srv, tmp_path, partners="all", row_cap=100)
    # 12 months x 60 partners x 3 codes = 2160 rows: capped, split on periods until <100 rows
    assert summary.failed == 0
    assert summary.rows == 12 * 60 * 3
    first = srv.seen[0]
    assert "partnerCode" not in first.query and first.query["maxRecords"] == "100"
    records = set()
    for path in data_files(tmp_path):
        data = json.loads(path.read_bytes())["data"]
        assert 0 < len(data) < 100
        records |= {(r["period"], r["partnerCode"], r["cmdCode"]) for r in data}
    assert len(records) == 12 * 60 * 3  # every record once, none lost to a cap
    marks = sorted(tmp_path.glob("*.split.meta"))
    assert marks, "capped requests leave a split mark"
    assert all(json.loads(m.read_text())["capped_at"] == 100 for m in marks)
    # a rerun makes no request at all: parts are on disk, marks lead straight to them
    n = len(srv.seen)
    with LocalServer(fake) as srv2:
        again = run(srv2, tmp_path, partners="all", row_cap=100)
    assert srv2.seen == [] and again.fetched == 0 and again.skipped == summary.fetched
    assert n == summary.requests


def test_capped_answer_that_cannot_be_split_fails_clearly(tmp_path: Path) -> None:
    fake = FakeComtrade(all_partners=tuple(str(c) for c in range(100, 130)))
    with LocalServer(fake) as srv:
        summary = run(
            srv, tmp_path, partners="all", hs=["280530"], start="2010-01", end="2010-01", row_cap=30
        )
    assert summary.failed == 1 and summary.fetched == 0
    assert (
        "cannot be split further" in summary.failures[0]
        and "COMTRADE_API_KEY" in summary.failures[0]
    )
    assert data_files(tmp_path) == []


def test_error_field_fails_the_chunk_and_saves_nothing(tmp_path: Path) -> None:
    fake = FakeComtrade()

    def hook(seen: Seen) -> Reply | None:
        if seen.query["period"].startswith("201001"):
            return Reply(body=comtrade_body([], error="Invalid cmdCode 999999"))
        return None

    fake.hooks.append(hook)
    with LocalServer(fake) as srv:
        summary = run(srv, tmp_path, start="2010-01", end="2011-12")
    assert summary.failed == 1 and summary.fetched == 1
    assert "Invalid cmdCode 999999" in summary.failures[0]
    (saved,) = data_files(tmp_path)
    assert json.loads(saved.read_bytes())["data"][0]["period"] == "201101"


def test_faults_429_500_truncated_then_success(tmp_path: Path) -> None:
    fake = FakeComtrade()
    faults = [
        Reply(429, b'{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 2 seconds."}',
              {"Retry-After": "2"}),
        Reply(500, b"Internal Server Error"),
    ]  # fmt: skip
    state = {"n": 0}

    def hook(seen: Seen) -> Reply | None:
        state["n"] += 1
        if state["n"] <= 2:
            return faults[state["n"] - 1]
        if state["n"] == 3:
            whole = fake.records(seen)
            return Reply(body=comtrade_body(whole), truncate_to=50)
        return None

    fake.hooks.append(hook)
    sleeps: list[float] = []
    with LocalServer(fake) as srv:
        summary = run(srv, tmp_path, client=HttpClient(
            policy=RetryPolicy(max_attempts=5, backoff_base=0.5, backoff_cap=1.0, retry_after_cap=2.0),
            sleep=sleeps.append))  # fmt: skip
    assert summary.fetched == 1 and summary.failed == 0 and len(srv.seen) == 4
    assert sleeps == [2.0, 1.0, 1.0]  # Retry-After 2; then backoff 0.5*2 and 0.5*4 capped at 1
    (saved,) = data_files(tmp_path)
    assert json.loads(saved.read_bytes())["count"] == 36


def test_non_json_forever_fails_clearly_and_leaves_no_file(tmp_path: Path) -> None:
    def respond(seen: Seen) -> Reply:
        return Reply(body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"})

    with LocalServer(respond) as srv:
        summary = run(srv, tmp_path)
    assert summary.failed == 1 and "not valid JSON" in summary.failures[0]
    assert len(srv.seen) == 3 and list(tmp_path.iterdir()) == []


def test_key_uses_subscription_endpoint_and_never_reaches_a_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tradeimpact.fetch")
    fake = FakeComtrade()
    state = {"n": 0}

    def flaky(seen: Seen) -> Reply | None:
        state["n"] += 1
        return Reply(500, f"upstream echoed key {KEY}".encode()) if state["n"] == 1 else None

    fake.hooks.append(flaky)
    with LocalServer(fake) as srv:
        summary = run(srv, tmp_path, api_key=KEY, base_url=srv.url + "/data/v1/get",
                      start="2010-01", end="2011-03")  # fmt: skip
    assert summary.fetched == 2
    assert all(s.path == "/data/v1/get/C/M/HS" for s in srv.seen)
    assert all(s.headers["ocp-apim-subscription-key"] == KEY for s in srv.seen)
    assert all(KEY not in s.raw_query for s in srv.seen)  # header only, never in the URL
    assert srv.seen[0].query["maxRecords"] == "100000"
    for path in tmp_path.rglob("*"):
        assert KEY.encode() not in path.read_bytes(), path
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)


def test_refused_key_stops_with_message_and_no_key(tmp_path: Path) -> None:
    def respond(seen: Seen) -> Reply:
        msg = {
            "statusCode": 401,
            "message": f"Access denied due to invalid subscription key {KEY}.",
        }
        return Reply(401, json.dumps(msg).encode())

    with LocalServer(respond) as srv:
        with pytest.raises(AuthError) as info:
            run(srv, tmp_path, api_key=KEY, reporters=["JPN", "USA"])
    assert len(srv.seen) == 1  # stops at the first refusal
    text = str(info.value)
    assert "API key" in text and KEY not in text
    assert list(tmp_path.iterdir()) == []


def test_resume_fetches_only_missing_chunks_byte_identical(tmp_path: Path) -> None:
    fake = FakeComtrade()
    kw = {"reporters": ["JPN", "USA", "KOR"], "start": "2009-01", "end": "2010-12"}
    whole, part = tmp_path / "whole", tmp_path / "part"

    class Killed(Exception):
        pass

    saved: list[Path] = []

    def kill_after_two(path: Path) -> None:
        saved.append(path)
        if len(saved) == 2:
            raise Killed

    with LocalServer(fake) as srv:  # one server: same endpoint in every sidecar
        uninterrupted = run(srv, whole, **kw)
        assert uninterrupted.fetched == 6
        with pytest.raises(Killed):
            run(srv, part, on_saved=kill_after_two, **kw)
        assert len(data_files(part)) == 2
        # a half-written leftover of an interrupted write does not count as a chunk
        (part / ".leftover.part").write_bytes(b'{"elapsed')
        before = len(srv.seen)
        resumed = run(srv, part, **kw)
        resumed_seen = srv.seen[before:]
    assert (resumed.skipped, resumed.fetched) == (2, 4)
    asked = {(s.query["reporterCode"], s.query["period"][:6]) for s in resumed_seen}
    first = [json.loads(p.read_bytes())["data"][0] for p in saved]
    done = {(str(r["reporterCode"]), r["period"]) for r in first}
    assert len(resumed_seen) == 4 and len(done) == 2 and not done & asked
    (part / ".leftover.part").unlink()
    assert all_files(part) == all_files(whole)  # data and sidecars, byte for byte


def test_altered_file_is_fetched_again(tmp_path: Path) -> None:
    fake = FakeComtrade()
    with LocalServer(fake) as srv:
        run(srv, tmp_path, start="2010-01", end="2011-12")
    first = data_files(tmp_path)[0]
    original = first.read_bytes()
    first.write_bytes(original[:-20])  # damaged after the fetch
    with LocalServer(fake) as srv:
        again = run(srv, tmp_path, start="2010-01", end="2011-12")
    assert (again.fetched, again.skipped) == (1, 1) and len(srv.seen) == 1
    assert first.read_bytes() == original


def test_iso3_to_comtrade_codes() -> None:
    from tradeimpact.fetch.codes import comtrade_code

    got = {c: comtrade_code(c) for c in ["JPN", "CHN", "USA", "FRA", "IND", "TWN", "ITA", "WLD"]}
    # Comtrade's own codes where they depart from ISO numeric (USA 842 not 840, France 251 not
    # 250, India 699 not 356, Taiwan as 490 "Other Asia, nes"), current Italy 380 not 381
    assert got == {"JPN": "392", "CHN": "156", "USA": "842", "FRA": "251", "IND": "699",
                   "TWN": "490", "ITA": "380", "WLD": "0"}  # fmt: skip
    assert comtrade_code("0392") == "392"
    with pytest.raises(ValueError, match="XYZ"):
        comtrade_code("XYZ")


def test_fetched_answers_ingest_unchanged_through_the_comtrade_reader(tmp_path: Path) -> None:
    from tradeimpact.sources.comtrade import ComtradeReader

    raw, store_root = tmp_path / "raw", tmp_path / "store"
    fake = FakeComtrade()
    with LocalServer(fake) as srv:
        summary = run(srv, raw, reporters=["JPN", "USA"], start="2010-07", end="2010-12")
    paths = summary.files
    assert len(paths) == 2
    reader = ComtradeReader()
    assert all(reader.sniff(p) for p in paths)
    assert not any(reader.sniff(m) for m in raw.glob("*.meta"))  # sidecars are never data
    report = store_module.FlowStore(store_root).ingest(paths)
    assert report.rows_read == summary.rows == 2 * 6 * 3
    assert report.rows_quarantined == 0 and report.rows_stored == summary.rows
    flows = store_module.FlowStore(store_root).scan().collect()
    jpn = flows.filter((flows["reporter_iso3"] == "JPN") & (flows["hs_code"] == "280530"))
    assert jpn.height == 6 and set(jpn["partner_iso3"]) == {"CHN"}
    first = json.loads(paths[0].read_bytes())["data"]
    rec = next(r for r in first if r["cmdCode"] == "280530" and r["period"] == "201007")
    row = jpn.filter(jpn["period"] == dt.date(2010, 7, 1)).row(0, named=True)
    assert row["value_usd"] == rec["primaryValue"] and row["net_weight_kg"] == rec["netWgt"]


def test_real_answer_ingests_through_the_comtrade_reader(tmp_path: Path) -> None:
    fixture = shared_path("data", "real", "comtradr-vignette", "api_fixture", "HS-60a6ad.json")
    real = fixture.read_bytes()
    with LocalServer(lambda seen: Reply(body=real)) as srv:
        summary = run(srv, tmp_path / "raw", reporters=["CHN"], partners=["ARG", "DEU"], hs=["TOTAL"],
                      start="2010", end="2010", freq="A", flows=["M", "X"])  # fmt: skip
    report = store_module.FlowStore(tmp_path / "store").ingest(summary.files)
    assert report.rows_read == 4 and report.rows_quarantined == 0
    flows = store_module.FlowStore(tmp_path / "store").scan().collect()
    arg_m = flows.filter((flows["partner_iso3"] == "ARG") & (flows["flow"] == "M")).row(
        0, named=True
    )
    assert arg_m["value_usd"] == 6804128143.0 and arg_m["reporter_iso3"] == "CHN"


def test_with_a_key_reporters_are_grouped(tmp_path: Path) -> None:
    with LocalServer(FakeComtrade()) as srv:
        summary = run(srv, tmp_path, api_key=KEY, base_url=srv.url + "/data/v1/get",
                      reporters=["JPN", "USA", "KOR"], start="2010-01", end="2011-02")  # fmt: skip
    assert [(s.query["reporterCode"], len(s.query["period"].split(","))) for s in srv.seen] == [
        ("392,842,410", 12), ("392,842,410", 2)
    ]  # fmt: skip
    assert summary.rows == 3 * 14 * 3
