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
