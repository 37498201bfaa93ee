"""e-Stat fetcher against a local fake e-Stat on 127.0.0.1: catalog, CSV files, appId hygiene.

The catalog answers follow the documented ``getDataCatalog`` JSON paths; the CSVs follow Japan
Customs' commodity-by-country layout with SYNTHETIC numbers (no real file exists in ../shared).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import polars as pl
import pytest
from fetch_server import LocalServer, Reply, Seen

import tradeimpact.sources.japan_customs as reader_module
from tradeimpact.fetch.chunks import read_sidecar
from tradeimpact.fetch.estat import fetch_estat, parse_catalog
from tradeimpact.fetch.http import AuthError, FetchError, HttpClient, RetryPolicy

APP_ID = "estat-APPID-9f8e7d6c5b4a"
FIXED = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def trade_csv(year: int, encoding: str = "utf-8") -> bytes:
    """A SYNTHETIC commodity-by-country CSV: imports of 280530000 from China (105) and Korea (103)."""
    cols = ["Exp or Imp", "Year", "HS", "Country", "Unit1", "Unit2",
            "Quantity1-Year", "Quantity2-Year", "Value-Year"]  # fmt: skip
    cols += [f"{q}-{m}" for m in MONTHS for q in ("Quantity1", "Quantity2", "Value")]
    lines = [",".join([*cols, "国名"])]
    for country, base in (("105", 100), ("103", 7)):
        months = [(0, base + i, 10 * (base + i)) for i in range(12)]
        total = [sum(m[k] for m in months) for k in range(3)]
        cells = ["2", str(year), "'280530000", country, "", "KG", *map(str, total)]
        cells += [str(x) for m in months for x in m]
        lines.append(",".join([*cells, "中華人民共和国" if country == "105" else "大韓民国"]))
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


class FakeEstat:
    """getDataCatalog and file-download, like e-Stat; per-year files 'statInfId=<year>0001'."""

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.status = 0
        self.file_faults: dict[str, list[Reply]] = {}
        self.encoding = "cp932"

    def catalog(self, seen: Seen) -> Reply:
        if self.status:
            body = {"GET_DATA_CATALOG": {"RESULT": {"STATUS": self.status,
                    "ERROR_MSG": f"認証に失敗しました appId={seen.query.get('appId')}"}}}  # fmt: skip
            return Reply(body=json.dumps(body, ensure_ascii=False).encode())
        year = seen.query["surveyYears"]
        flow_word = seen.query["searchWord"].split(" AND ")[-1]
        resources = [
            {"@id": f"{year}0001", "TITLE": {"NAME": f"{year}年 {flow_word} 品別国別表 第25類～第38類"},
             "URL": f"{self.url}/stat-search/file-download?statInfId={year}0001&fileKind=1",
             "FORMAT": "CSV"},
            {"@id": f"{year}0002", "TITLE": {"NAME": f"{year}年 {flow_word} 品別国別表 第84類～第85類"},
             "URL": f"{self.url}/stat-search/file-download?statInfId={year}0002&fileKind=1",
             "FORMAT": "CSV"},
        ]  # fmt: skip
        body = {
            "GET_DATA_CATALOG": {
                "RESULT": {"STATUS": 0, "ERROR_MSG": "正常に終了しました。", "DATE": "2026-01-02T00:00:00.000+09:00"},
                "PARAMETER": {"LANG": "J", "STATS_CODE": "00350300", "SURVEY_YEARS": year},
                "DATA_CATALOG_LIST_INF": {
                    "NUMBER": 1,
                    "RESULT_INF": {"FROM_NUMBER": 1, "TO_NUMBER": 1},
                    "DATA_CATALOG_INF": {"@id": f"00350300{year}", "DATASET": {"TITLE": {"NAME": "普通貿易統計"}},
                                         "RESOURCES": {"RESOURCE": resources}},
                },
            }
        }  # fmt: skip
        return Reply(body=json.dumps(body, ensure_ascii=False).encode())

    def __call__(self, seen: Seen) -> Reply:
        if seen.path.endswith("/getDataCatalog"):
            return self.catalog(seen)
        stat_id = seen.query["statInfId"]
        faults = self.file_faults.get(stat_id)
        if faults:
            return faults.pop(0)
        return Reply(
            body=trade_csv(int(stat_id[:4]), self.encoding), headers={"Content-Type": "text/csv"}
        )


def client() -> HttpClient:
    return HttpClient(policy=RetryPolicy(max_attempts=3, backoff_base=0.1), sleep=lambda s: None)


def run(srv: LocalServer, out: Path, **kw):  # type: ignore[no-untyped-def]
    args = {"years": [2010], "out": out, "app_id": APP_ID, "api_base": srv.url + "/rest/3.0/app/json",
            "client": client(), "clock": lambda: FIXED, "progress": False}  # fmt: skip
    args.update(kw)
    return fetch_estat(**args)


def test_catalog_then_files_saved_unchanged(tmp_path: Path) -> None:
    fake = FakeEstat()
    with LocalServer(fake) as srv:
        fake.url = srv.url
        summary = run(srv, tmp_path, years=[2010, 2011])
    assert (summary.fetched, summary.failed, summary.requests) == (4, 0, 6)
    cat = srv.seen[0]
    assert cat.path == "/rest/3.0/app/json/getDataCatalog"
    assert cat.query == {
        "appId": APP_ID, "lang": "J", "statsCode": "00350300", "surveyYears": "2010",
        "dataType": "CSV", "searchWord": "品別国別表 AND 輸入", "limit": "100",
    }  # fmt: skip
    files = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert files == ["estat_M_2010_20100001.csv", "estat_M_2010_20100002.csv",
                     "estat_M_2011_20110001.csv", "estat_M_2011_20110002.csv"]  # fmt: skip
    saved = tmp_path / "estat_M_2010_20100001.csv"
    assert saved.read_bytes() == trade_csv(2010, "cp932")  # Shift-JIS bytes kept as served
    meta = read_sidecar(saved)
    assert meta is not None and meta["rows"] == 2 and "第25類" in meta["request"]["title"]
    downloads = [s for s in srv.seen if s.path.endswith("/file-download")]
    assert len(downloads) == 4 and all("appId" not in s.query for s in downloads)  # no appId
    # appId never written anywhere
    for path in tmp_path.iterdir():
        assert APP_ID.encode() not in path.read_bytes(), path.name


def test_resume_uses_saved_catalog_and_fetches_only_missing(tmp_path: Path) -> None:
    fake = FakeEstat()
    with LocalServer(fake) as srv:
        fake.url = srv.url
        run(srv, tmp_path)
        before = (tmp_path / "estat_M_2010_20100002.csv").read_bytes()
        (tmp_path / "estat_M_2010_20100002.csv").unlink()
        n = len(srv.seen)
        again = run(srv, tmp_path)
        asked = srv.seen[n:]
    assert (again.skipped, again.fetched) == (1, 1)
    assert [s.query.get("statInfId") for s in asked] == ["20100002"]  # no catalog call either
    assert (tmp_path / "estat_M_2010_20100002.csv").read_bytes() == before


def test_title_filter_and_exports(tmp_path: Path) -> None:
    fake = FakeEstat()
    with LocalServer(fake) as srv:
        fake.url = srv.url
        summary = run(srv, tmp_path, flows=["X"], title_filter="第25類")
    assert summary.fetched == 1
    assert srv.seen[0].query["searchWord"] == "品別国別表 AND 輸出"
    assert [p.name for p in tmp_path.glob("*.csv")] == ["estat_X_2010_20100001.csv"]


def test_html_error_page_retried_then_clear_failure(tmp_path: Path) -> None:
    fake = FakeEstat()
    html = Reply(body="<html>メンテナンス中</html>".encode(), headers={"Content-Type": "text/html"})
    fake.file_faults["20100001"] = [html, Reply(500)]  # then the real file
    fake.file_faults["20100002"] = [html] * 5  # never a CSV
    with LocalServer(fake) as srv:
        fake.url = srv.url
        summary = run(srv, tmp_path)
    assert summary.fetched == 1 and summary.failed == 1
    assert "not a Trade Statistics of Japan commodity-by-country CSV" in summary.failures[0]
    assert not (tmp_path / "estat_M_2010_20100002.csv").exists()


def test_refused_app_id_stops_without_showing_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tradeimpact.fetch")
    fake = FakeEstat()
    fake.status = 100
    with LocalServer(fake) as srv:
        fake.url = srv.url
        with pytest.raises(AuthError) as info:
            run(srv, tmp_path)
    assert "ESTAT_APP_ID" in str(info.value) and APP_ID not in str(info.value)
    assert all(APP_ID not in r.getMessage() for r in caplog.records)
    assert not list(tmp_path.glob("*.csv"))


def test_no_app_id_is_a_clear_error_unless_ids_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ESTAT_APP_ID", raising=False)
    fake = FakeEstat()
    with LocalServer(fake) as srv:
        fake.url = srv.url
        with pytest.raises(FetchError, match="ESTAT_APP_ID"):
            run(srv, tmp_path, app_id=None)
        summary = run(srv, tmp_path, app_id=None, years=[], stat_inf_ids=["20100001"],
                      file_download=srv.url + "/stat-search/file-download")  # fmt: skip
    assert summary.fetched == 1
    assert srv.seen[-1].query == {"statInfId": "20100001", "fileKind": "1"}
    assert (tmp_path / "estat_20100001.csv").read_bytes() == trade_csv(2010, "cp932")


def test_parse_catalog_single_objects_and_paging() -> None:
    answer = {"GET_DATA_CATALOG": {"RESULT": {"STATUS": 0}, "DATA_CATALOG_LIST_INF": {
        "RESULT_INF": {"NEXT_KEY": "101"},
        "DATA_CATALOG_INF": {"@id": "d1", "RESOURCES": {"RESOURCE": {
            "@id": "r1", "TITLE": {"NAME": "輸入 品別国別表"}, "URL": "u", "FORMAT": "CSV"}}}}}}  # fmt: skip
    resources, next_key = parse_catalog(answer, "t")
    assert next_key == "101" and [(r.id, r.dataset, r.format) for r in resources] == [
        ("r1", "d1", "CSV")
    ]
    empty = {"GET_DATA_CATALOG": {"RESULT": {"STATUS": 1, "ERROR_MSG": "該当データはありません"}}}
    assert parse_catalog(empty, "t") == ([], None)
    with pytest.raises(FetchError, match="STATUS 102"):
        parse_catalog({"GET_DATA_CATALOG": {"RESULT": {"STATUS": 102, "ERROR_MSG": "x"}}}, "t")


def test_fetched_csv_reads_with_the_japan_customs_reader(tmp_path: Path) -> None:
    fake = FakeEstat()
    with LocalServer(fake) as srv:
        fake.url = srv.url
        run(srv, tmp_path)
    path = tmp_path / "estat_M_2010_20100001.csv"
    reader = reader_module.JapanCustomsReader()
    assert reader.sniff(path)
    frame = reader.read(path).collect()
    good = frame.filter(frame["reject_reason"].is_null())
    assert good.height == 24  # 2 lines x 12 months
    china_jan = good.filter((good["partner_iso3"] == "CHN") & (good["period"].dt.month() == 1)).row(
        0, named=True
    )
    assert china_jan["value_native"] == pytest.approx(1000 * 1000)  # 1000 thousand JPY
    assert china_jan["net_weight_kg"] == pytest.approx(100) and china_jan["flow"] == "M"


def test_catalog_answer_with_a_file_url_is_refused_and_nothing_saved(tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    (local / "stat-search").mkdir()
    (local / "stat-search" / "file-download").write_bytes(trade_csv(2010))  # a readable file
    out = tmp_path / "out"
    fake = FakeEstat()
    with LocalServer(fake) as srv:
        fake.url = local.as_uri()  # the catalog now points at file:///.../stat-search/...
        summary = run(srv, out)
    assert (summary.fetched, summary.failed) == (0, 2)
    assert all("refused URL 'file://" in f and "only https" in f for f in summary.failures)
    assert [s.path for s in srv.seen] == ["/rest/3.0/app/json/getDataCatalog"]
    assert not list(out.glob("*.csv"))
    assert sorted(p.name for p in out.iterdir()) == [
        "estat_catalog_M_2010.meta",
        "estat_catalog_M_2010.meta.meta",
    ]  # the catalog and its sidecar only


# ------------------------------------------------------------------ getStatsData by table id
from fetch_server import FakeStatsData, estat_line  # noqa: E402

from tradeimpact.fetch.estat import (  # noqa: E402
    fetch_estat_stats_data,
    plan_stats_data,
)


def stats_tables() -> dict[str, list[dict[str, str]]]:
    """Table 0003228184 (imports 2006-10): 850511000 from China and Korea, 280530000 from China."""
    return {
        "0003228184": estat_line("850511000", "50105", 2010, 100)
        + estat_line("850511000", "50103", 2010, 7)
        + estat_line("280530000", "50105", 2010, 3)
        + estat_line("850511000", "50105", 2009, 50),
        "0003228185": estat_line("850511000", "50105", 2011, 9),
    }


def run_stats(srv: LocalServer, out: Path, requests, **kw):  # type: ignore[no-untyped-def]
    args = {"out": out, "app_id": APP_ID, "api_base": srv.url + "/rest/3.0/app/json",
            "client": client(), "clock": lambda: FIXED, "progress": False}  # fmt: skip
    args.update(kw)
    return fetch_estat_stats_data(requests, **args)


def test_plan_by_table_id_and_by_tables() -> None:
    reqs = plan_stats_data(["850511", "280530000"], [2010], stats_data_ids=["0003228184"])
    assert [(r.stats_data_id, r.codes, r.years) for r in reqs] == [
        ("0003228184", ("280530000",), (2010,)),
        ("0003228184", ("850511",), (2010,)),
    ]
    assert reqs[1].params(100_000) == {
        "lang": "J", "statsDataId": "0003228184", "cdCat01From": "850511000",
        "cdCat01To": "850511999", "cdTime": "2010000000", "metaGetFlg": "Y", "cntGetFlg": "N",
        "annotationGetFlg": "Y", "limit": "100000",
    }  # fmt: skip
    by_year = plan_stats_data(["850511"], [2009, 2010, 2011, 2026], tables="imports")
    assert [(r.stats_data_id, r.years) for r in by_year] == [
        ("0003228184", (2009, 2010)), ("0003228185", (2011,)), ("0004049326", (2026,)),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="10 digits"):
        plan_stats_data(["850511"], [2010], stats_data_ids=["12345"])
    with pytest.raises(ValueError, match="needs --years"):
        plan_stats_data(["850511"], [], tables="imports")


def test_stats_data_pages_by_next_key_saved_unchanged_and_ingested(tmp_path: Path) -> None:
    from tradeimpact.store import FlowStore

    fake = FakeStatsData(stats_tables())
    bodies: list[bytes] = []

    def record(seen: Seen) -> Reply | None:
        hooks = fake.hooks
        fake.hooks = []
        reply = fake(seen)
        fake.hooks = hooks
        bodies.append(reply.body)
        return reply

    fake.hooks.append(record)
    reqs = plan_stats_data(["850511", "280530"], [2010], stats_data_ids=["0003228184"])
    with LocalServer(fake) as srv:
        summary = run_stats(srv, tmp_path, reqs, limit=50)
    # 850511 in 2010: 2 lines x 41 records = 82 -> pages of 50 and 32; 280530: one page of 41
    assert (summary.fetched, summary.failed, summary.rows, summary.requests) == (3, 0, 123, 3)
    asked = [(s.query["cdCat01From"], s.query.get("startPosition")) for s in srv.seen]
    assert asked == [("850511000", None), ("850511000", "51"), ("280530000", None)]
    assert all(s.query["appId"] == APP_ID and s.query["limit"] == "50" for s in srv.seen)
    files = sorted(tmp_path.glob("*.json"))
    assert [p.name.rsplit("_", 1)[-1] for p in files] == ["p001.json", "p001.json", "p002.json"]
    assert sorted(p.read_bytes() for p in files) == sorted(bodies)  # unchanged
    for path in tmp_path.iterdir():
        assert APP_ID.encode() not in path.read_bytes(), path.name
    meta = read_sidecar(files[-1])
    assert meta is not None and meta["request"]["params"]["startPosition"] == "51"
    assert meta["rows"] == 32 and "appId" not in meta["request"]["params"]

    store = FlowStore(tmp_path / "store")
    report = store.ingest(files)
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (36, 36, 0)
    flows = store.scan().collect()
    china_mar = flows.filter(
        (pl.col("hs_code") == "850511000") & (pl.col("partner_iso3") == "CHN")
        & (pl.col("period") == dt.date(2010, 3, 1))
    ).row(0, named=True)  # fmt: skip
    assert china_mar["value_native"] == 7 * 100 * 3 * 1000  # 2,100 thousand yen
    assert china_mar["net_weight_kg"] == 100 * 3 and china_mar["quantity"] == 10 * 3
    korea = flows.filter(pl.col("partner_iso3") == "KOR")
    assert korea.height == 12 and korea["value_native"].sum() == 7 * 7 * 78 * 1000
    assert flows.filter(pl.col("hs_code") == "280530000")["net_weight_kg"].sum() == 3 * 78


def test_stats_data_resume_asks_only_the_missing_page(tmp_path: Path) -> None:
    fake = FakeStatsData(stats_tables())
    reqs = plan_stats_data(["850511"], [2010], stats_data_ids=["0003228184"])
    with LocalServer(fake) as srv:
        run_stats(srv, tmp_path, reqs, limit=50)
        [p2] = list(tmp_path.glob("*_p002.json"))
        before = p2.read_bytes()
        p2.unlink()
        n = len(srv.seen)
        again = run_stats(srv, tmp_path, reqs, limit=50)
        asked = srv.seen[n:]
    assert (again.skipped, again.fetched) == (1, 1)
    assert [s.query.get("startPosition") for s in asked] == ["51"]  # NEXT_KEY of the saved page
    assert p2.read_bytes() == before


def test_stats_data_refused_app_id_and_no_data(tmp_path: Path) -> None:
    fake = FakeStatsData(stats_tables())
    reqs = plan_stats_data(["850511"], [2010], stats_data_ids=["0003228184"])
    with LocalServer(fake) as srv:
        with pytest.raises(AuthError) as info:
            run_stats(srv, tmp_path, reqs, app_id="refused")
        assert "ESTAT_APP_ID" in str(info.value)
        empty = plan_stats_data(["999999"], [2010], stats_data_ids=["0003228184"])
        summary = run_stats(srv, tmp_path, empty)
    assert summary.failed == 1 and "no data for this selection (STATUS 1)" in summary.failures[0]
    assert APP_ID not in summary.failures[0]
    assert list(tmp_path.iterdir()) == []


def test_stats_data_by_tables_asks_each_table_its_years(tmp_path: Path) -> None:
    fake = FakeStatsData(stats_tables())
    reqs = plan_stats_data(["850511"], [2010, 2011], tables="imports")
    with LocalServer(fake) as srv:
        summary = run_stats(srv, tmp_path, reqs)
    assert [(s.query["statsDataId"], s.query["cdTime"]) for s in srv.seen] == [
        ("0003228184", "2010000000"), ("0003228185", "2011000000"),
    ]  # fmt: skip
    assert summary.rows == 2 * 41 + 41


def test_stats_data_refresh_replaces_a_revised_table_and_drops_stale_pages(tmp_path: Path) -> None:
    from tradeimpact.sources.estat_api import EstatApiReader

    tables = {"0004049326": estat_line("850511000", "50105", 2026, 4, months=3)}  # 14 records
    fake = FakeStatsData(tables)
    reqs = plan_stats_data(["850511"], [2026], stats_data_ids=["0004049326"])
    with LocalServer(fake) as srv:
        run_stats(srv, tmp_path, reqs, limit=5)  # 3 pages of 5, 5, 4
        assert len(list(tmp_path.glob("*_p*.json"))) == 3
        tables["0004049326"] = estat_line("850511000", "50105", 2026, 5, months=1)  # 8 records
        n = len(srv.seen)
        again = run_stats(srv, tmp_path, reqs, limit=5, refresh=True)
        assert len(srv.seen) == n + 2 and again.fetched == 2
    pages = sorted(tmp_path.glob("*_p*.json"))
    assert [p.name[-9:] for p in pages] == ["p001.json", "p002.json"]  # stale p003 removed
    assert not list(tmp_path.glob("*_p003.json.meta"))
    frame = EstatApiReader().read(pages[0]).collect()
    assert frame["value_native"].to_list() == [7 * 5 * 1000]  # the revised January only


def test_dry_run_names_the_file_the_fetch_writes(tmp_path: Path) -> None:
    # the file route's plan and fetch share one naming rule (an id that is all punctuation too)
    from tradeimpact.fetch.estat import plan_estat

    plan = plan_estat([], out=tmp_path, stat_inf_ids=["20100001", "", "a/b"])
    names = sorted(c.target.name for c in plan.calls)
    assert names == ["estat_20100001.csv", "estat_a_b.csv", "estat_file.csv"]
