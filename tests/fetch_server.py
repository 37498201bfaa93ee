"""A local HTTP server on 127.0.0.1 for the fetch tests (no network), and a fake Comtrade API.

:class:`LocalServer` runs :class:`http.server.ThreadingHTTPServer` on port 0 in a thread; a
``respond(request) -> Reply`` function decides every answer, and every request (path, query,
headers) is recorded so tests can assert what the client sent. A :class:`Reply` can be truncated:
it announces the full ``Content-Length`` but sends fewer bytes and closes the connection; it can
trickle: ``trickle=(n, seconds)`` sends ``n`` bytes, waits, sends the next ``n``... (a slow server).

:class:`FakeComtrade` answers like UN Comtrade API v1: ``{"elapsedTime", "count", "data",
"error"}`` with records of the 47 fields of the real answer (keys as in comtradr's fixture
``HS-60a6ad.json``), one record per (reporter, period, partner, cmdCode, flow) asked, values drawn
from a seeded generator; at most ``maxRecords`` records (a capped answer, like the real API).
The generated data is SYNTHETIC.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tradeimpact.sources.comtrade import API_V1_FIELDS


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_query: str


@dataclass
class Reply:
    """An answer: status, body, headers; ``truncate_to`` sends only that many bytes;
    ``trickle = (n, seconds)`` sends the body ``n`` bytes at a time, ``seconds`` apart."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate_to: int | None = None
    trickle: tuple[int, float] | None = None
    delay: float = 0.0  # seconds before the status line (a server slow to answer)


class LocalServer:
    """HTTP server on 127.0.0.1, port 0, answering with ``respond``; use as a context manager."""

    def __init__(self, respond: Callable[[Seen], Reply]) -> None:
        self.respond = respond
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
                seen = Seen(
                    "GET",
                    parts.path,
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    parts.query,
                )
                outer.seen.append(seen)
                reply = outer.respond(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                body = reply.body
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    if reply.truncate_to is not None:
                        self.wfile.write(body[: reply.truncate_to])
                        self.wfile.flush()
                        return
                    if reply.trickle is not None:
                        step, pause = reply.trickle
                        for start in range(0, len(body), step):
                            self.wfile.write(body[start : start + step])
                            self.wfile.flush()
                            time.sleep(pause)
                        return
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (a deadline): nothing more to send

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


#: the 47 fields of a Comtrade v1 record, in the order of the real answer
COMTRADE_FIELDS = list(API_V1_FIELDS)

ISO = {"156": "CHN", "392": "JPN", "842": "USA", "410": "KOR", "276": "DEU", "251": "FRA",
       "490": "S19", "704": "VNM", "0": "W00"}  # fmt: skip


def comtrade_record(
    freq: str, reporter: str, period: str, partner: str, cmd: str, flow: str
) -> dict[str, Any]:
    """One SYNTHETIC record in the real 47-field shape; values a deterministic function of the key."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(f"{reporter}{period}{partner}{cmd}{flow}"))
    value = float(1000 + seed * 37 % 900_000)
    weight = float(10 + seed * 11 % 50_000)
    year = int(period[:4])
    month = int(period[4:6]) if freq == "M" else 52
    ref = f"{year}{month:02d}01" if freq == "M" else f"{year}0101"
    rec: dict[str, Any] = {
        "typeCode": "C", "freqCode": freq, "refPeriodId": int(ref), "refYear": year,
        "refMonth": month, "period": period, "reporterCode": int(reporter),
        "reporterISO": ISO.get(reporter, "X" + reporter), "reporterDesc": "SYNTHETIC",
        "flowCode": flow, "flowDesc": "Import" if flow == "M" else "Export",
        "partnerCode": int(partner), "partnerISO": ISO.get(partner, "X" + partner),
        "partnerDesc": "SYNTHETIC", "partner2Code": 0, "partner2ISO": "W00", "partner2Desc": "World",
        "classificationCode": "H3", "classificationSearchCode": "HS",
        "isOriginalClassification": True, "cmdCode": cmd, "cmdDesc": "SYNTHETIC",
        "aggrLevel": len(cmd) if cmd != "TOTAL" else 0, "isLeaf": len(cmd) == 6,
        "customsCode": "C00", "customsDesc": "TOTAL CPC", "mosCode": "0", "motCode": 0,
        "motDesc": "TOTAL MOT", "qtyUnitCode": 8, "qtyUnitAbbr": "kg", "qty": weight,
        "isQtyEstimated": False, "altQtyUnitCode": -1, "altQtyUnitAbbr": "N/A", "altQty": None,
        "isAltQtyEstimated": False, "netWgt": weight, "isNetWgtEstimated": False,
        "grossWgt": None, "isGrossWgtEstimated": False,
        "cifvalue": value if flow == "M" else None, "fobvalue": value if flow == "X" else None,
        "primaryValue": value, "legacyEstimationFlag": 0, "isReported": True,
        "isAggregate": False,
    }  # fmt: skip
    assert list(rec) == COMTRADE_FIELDS
    return rec


def comtrade_body(records: list[dict[str, Any]], error: str = "") -> bytes:
    """An answer body in the API's shape (compact JSON, as the API sends it)."""
    answer = {"elapsedTime": "0.01 secs", "count": len(records), "data": records, "error": error}
    return json.dumps(answer, separators=(",", ":")).encode("utf-8")


class FakeComtrade:
    """Answers Comtrade data requests from their parameters (SYNTHETIC values).

    ``all_partners`` are the partners returned when ``partnerCode`` is left out.
    ``hooks`` run first and may return a :class:`Reply` (fault injection) or None.
    """

    def __init__(self, all_partners: tuple[str, ...] = ("156", "410", "842")) -> None:
        self.all_partners = all_partners
        self.hooks: list[Callable[[Seen], Reply | None]] = []

    def records(self, seen: Seen) -> list[dict[str, Any]]:
        """Every record the request selects, in a fixed order."""
        q = seen.query
        freq = seen.path.rstrip("/").split("/")[-2]
        partners = q["partnerCode"].split(",") if "partnerCode" in q else list(self.all_partners)
        out = []
        for reporter in q["reporterCode"].split(","):
            for period in q["period"].split(","):
                for partner in partners:
                    for cmd in q["cmdCode"].split(","):
                        for flow in q["flowCode"].split(","):
                            out.append(comtrade_record(freq, reporter, period, partner, cmd, flow))
        return out

    def __call__(self, seen: Seen) -> Reply:
        for hook in self.hooks:
            reply = hook(seen)
            if reply is not None:
                return reply
        records = self.records(seen)
        cap = int(seen.query.get("maxRecords", "500"))
        return Reply(body=comtrade_body(records[:cap]))


# ------------------------------------------------------------------ e-Stat getStatsData
def estat_line(
    cat01: str,
    area: str,
    year: int,
    base: int,
    *,
    months: int = 12,
    units: tuple[str, str] = ("NO", "KG"),
) -> list[dict[str, str]]:
    """The VALUE records of one (code, country, year) line, SYNTHETIC numbers checkable by hand.

    Month m: Quantity1 = 10 m (unit ``units[0]``), Quantity2 = ``base`` m (``units[1]``),
    Value = 7 ``base`` m thousand yen; the year totals are the sums of the ``months`` months given.
    cat02 codes as in research/events.md 5.2 (Unit1 100, Unit2 110, year 120/130/140, month m
    150/160/170 + 30 (m - 1)).
    """
    time = f"{year}000000"

    def rec(cat02: int, text: str, unit: str = "") -> dict[str, str]:
        out = {"@tab": "100", "@cat01": cat01, "@cat02": str(cat02), "@area": area, "@time": time}
        if unit:
            out["@unit"] = unit
        out["$"] = text
        return out

    span = range(1, months + 1)
    q1 = {m: 10 * m for m in span}
    q2 = {m: base * m for m in span}
    value = {m: 7 * base * m for m in span}
    out = [rec(100, units[0]), rec(110, units[1])]
    out += [rec(120, str(sum(q1.values())), units[0]), rec(130, str(sum(q2.values())), units[1])]
    out.append(rec(140, str(sum(value.values())), "千円"))
    for m in span:
        out.append(rec(150 + 30 * (m - 1), str(q1[m]), units[0]))
        out.append(rec(160 + 30 * (m - 1), str(q2[m]), units[1]))
        out.append(rec(170 + 30 * (m - 1), str(value[m]), "千円"))
    return out


def estat_answer(
    table_id: str,
    values: list[dict[str, str]],
    *,
    total: int | None = None,
    start: int = 1,
    next_key: int | None = None,
    title: str = "品別国別表 輸入",
    notes: list[dict[str, str]] | None = None,
    annotations: list[dict[str, str]] | None = None,
    status: int = 0,
    message: str = "正常に終了しました。",
) -> dict[str, Any]:
    """A getStatsData answer in the real JSON shape (GET_STATS_DATA / STATISTICAL_DATA ...)."""
    total = len(values) if total is None else total
    result_inf: dict[str, Any] = {
        "TOTAL_NUMBER": total,
        "FROM_NUMBER": start,
        "TO_NUMBER": start + len(values) - 1,
    }
    if next_key is not None:
        result_inf["NEXT_KEY"] = next_key
    data_inf: dict[str, Any] = {}
    if notes:
        data_inf["NOTE"] = notes if len(notes) > 1 else notes[0]
    if annotations:
        data_inf["ANNOTATION"] = annotations
    data_inf["VALUE"] = values
    cat02 = sorted({int(v["@cat02"]) for v in values})
    return {
        "GET_STATS_DATA": {
            "RESULT": {"STATUS": status, "ERROR_MSG": message, "DATE": "2026-05-29T10:00:00.000+09:00"},
            "PARAMETER": {"LANG": "J", "STATS_DATA_ID": table_id, "DATA_FORMAT": "J",
                          "START_POSITION": start, "METAGET_FLG": "Y"},
            "STATISTICAL_DATA": {
                "RESULT_INF": result_inf,
                "TABLE_INF": {
                    "@id": table_id,
                    "STAT_NAME": {"@code": "00350300", "$": "貿易統計"},
                    "GOV_ORG": {"@code": "00350", "$": "財務省"},
                    "STATISTICS_NAME": "普通貿易統計 品別国別表",
                    "TITLE": {"@no": "1", "$": title},
                    "CYCLE": "月次",
                },
                "CLASS_INF": {"CLASS_OBJ": [
                    {"@id": "tab", "@name": "表章項目", "CLASS": {"@code": "100", "@name": "値"}},
                    {"@id": "cat01", "@name": "品目", "CLASS": [
                        {"@code": c, "@name": c, "@level": "1"}
                        for c in sorted({v["@cat01"] for v in values})]},
                    {"@id": "cat02", "@name": "数量・金額", "CLASS": [
                        {"@code": str(c), "@name": str(c), "@level": "1"} for c in cat02]},
                    {"@id": "area", "@name": "国", "CLASS": [
                        {"@code": a, "@name": a, "@level": "1"}
                        for a in sorted({v["@area"] for v in values})]},
                    {"@id": "time", "@name": "時間軸（年次）", "CLASS": [
                        {"@code": t, "@name": t[:4] + "年", "@level": "1"}
                        for t in sorted({v["@time"] for v in values})]},
                ]},
                "DATA_INF": data_inf,
            },
        }
    }  # fmt: skip


class FakeStatsData:
    """Answers getStatsData like e-Stat from ``tables`` (statsDataId -> VALUE records, in order).

    Filters ``cdCat01`` (comma list), ``cdCat01From``/``cdCat01To`` (range), ``cdArea``,
    ``cdTime``; pages of ``limit`` records from ``startPosition`` with ``NEXT_KEY``; ``appId``
    ``refused`` gives STATUS 100. ``titles`` and ``annotations`` per table.
    """

    def __init__(self, tables: dict[str, list[dict[str, str]]]) -> None:
        self.tables = tables
        self.titles: dict[str, str] = {}
        self.annotations: dict[str, list[dict[str, str]]] = {}
        self.hooks: list[Callable[[Seen], Reply | None]] = []

    def __call__(self, seen: Seen) -> Reply:
        for hook in self.hooks:
            reply = hook(seen)
            if reply is not None:
                return reply
        q = seen.query
        if q.get("appId") == "refused":
            body = estat_answer("", [], status=100, message="認証に失敗しました。")
            return Reply(body=json.dumps(body, ensure_ascii=False).encode())
        rows = self.tables.get(q.get("statsDataId", ""), [])
        if "cdCat01" in q:
            rows = [r for r in rows if r["@cat01"] in q["cdCat01"].split(",")]
        if "cdCat01From" in q:
            rows = [r for r in rows if q["cdCat01From"] <= r["@cat01"] <= q["cdCat01To"]]
        if "cdArea" in q:
            rows = [r for r in rows if r["@area"] in q["cdArea"].split(",")]
        if "cdTime" in q:
            rows = [r for r in rows if r["@time"] in q["cdTime"].split(",")]
        table = q.get("statsDataId", "")
        if not rows:
            body = estat_answer(table, [], status=1, message="該当データはありません。")
            del body["GET_STATS_DATA"]["STATISTICAL_DATA"]["DATA_INF"]
            return Reply(body=json.dumps(body, ensure_ascii=False).encode())
        start = int(q.get("startPosition", "1"))
        limit = int(q.get("limit", "100000"))
        page = rows[start - 1 : start - 1 + limit]
        end = start + len(page) - 1
        body = estat_answer(
            table, page, total=len(rows), start=start,
            next_key=end + 1 if end < len(rows) else None,
            title=self.titles.get(table, "品別国別表 輸入"),
            annotations=self.annotations.get(table),
        )  # fmt: skip
        return Reply(body=json.dumps(body, ensure_ascii=False).encode())
