"""The fetchers' HTTP client against a local server on 127.0.0.1 (no network, no real sleeps)."""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import os
import re
import time
from pathlib import Path

import pytest
from fetch_server import LocalServer, Reply, Seen

from tradeimpact.fetch.http import (
    AuthError,
    BadBody,
    FetchError,
    HttpClient,
    Response,
    RetryPolicy,
    _parse_retry_after,
    atomic_write_bytes,
)

KEY = "k3y-SECRET-0123456789abcdef"


def scripted(replies: list[Reply]):
    """A responder giving ``replies`` in turn (the last one repeats)."""
    state = {"i": 0}

    def respond(seen: Seen) -> Reply:
        reply = replies[min(state["i"], len(replies) - 1)]
        state["i"] += 1
        return reply

    return respond


def make_client(sleeps: list[float], **policy: float) -> HttpClient:
    settings = {"max_attempts": 4, "backoff_base": 1.0, "backoff_cap": 3.0, "retry_after_cap": 5.0}
    settings.update(policy)
    return HttpClient(
        secrets=[KEY],
        policy=RetryPolicy(timeout=5.0, **settings),  # type: ignore[arg-type]
        sleep=sleeps.append,
    )


def validate_json(response: Response) -> None:
    try:
        json.loads(response.body)
    except json.JSONDecodeError as err:
        raise BadBody(f"body is not valid JSON ({err.msg})") from None


OK = Reply(body=b'{"ok": true}')


def test_429_honours_retry_after_capped() -> None:
    sleeps: list[float] = []
    replies = [
        Reply(429, b'{"statusCode":429}', {"Retry-After": "2"}),
        Reply(429, b"", {"Retry-After": "3600"}),
        OK,
    ]
    with LocalServer(scripted(replies)) as srv:
        resp = make_client(sleeps).get(srv.url + "/x", {"a": "1"})
    assert resp.status == 200 and json.loads(resp.body) == {"ok": True}
    assert sleeps == [2.0, 5.0]  # Retry-After as asked, then capped at retry_after_cap
    assert len(srv.seen) == 3


def test_429_without_retry_after_backs_off() -> None:
    sleeps: list[float] = []
    with LocalServer(scripted([Reply(429), Reply(429), OK])) as srv:
        make_client(sleeps).get(srv.url + "/x")
    assert sleeps == [1.0, 2.0]


def test_5xx_retried_with_capped_exponential_backoff() -> None:
    sleeps: list[float] = []
    with LocalServer(scripted([Reply(500), Reply(502), Reply(503), OK])) as srv:
        resp = make_client(sleeps).get(srv.url + "/x")
    assert resp.status == 200
    assert sleeps == [1.0, 2.0, 3.0]  # 1, 2, 4 capped at 3


def test_5xx_forever_gives_up_with_clear_error() -> None:
    sleeps: list[float] = []
    with LocalServer(scripted([Reply(500, b"boom")])) as srv:
        with pytest.raises(FetchError, match=r"gave up after 4 attempts.*HTTP 500: boom"):
            make_client(sleeps).get(srv.url + "/x", what="chunk-1")
    assert len(srv.seen) == 4 and len(sleeps) == 3


@pytest.mark.parametrize("code", [401, 403])
def test_401_403_stop_at_once_with_message_about_the_key(code: int) -> None:
    sleeps: list[float] = []
    body = json.dumps({"statusCode": code, "message": f"Access denied for {KEY}"}).encode()
    with LocalServer(scripted([Reply(code, body)])) as srv:
        with pytest.raises(AuthError) as info:
            make_client(sleeps).get(
                srv.url + "/x", {"appId": KEY}, headers={"Ocp-Apim-Subscription-Key": KEY}
            )
    assert len(srv.seen) == 1 and sleeps == []
    message = str(info.value)
    assert f"HTTP {code}" in message and "API key" in message
    assert KEY not in message and "***" in message  # the echoed key is redacted


def test_403_with_retry_after_is_a_quota_answer_and_retried() -> None:
    sleeps: list[float] = []
    with LocalServer(scripted([Reply(403, b"", {"Retry-After": "1"}), OK])) as srv:
        make_client(sleeps).get(srv.url + "/x")
    assert sleeps == [1.0] and len(srv.seen) == 2


def test_other_4xx_is_not_retried() -> None:
    with LocalServer(scripted([Reply(404, b"no such path")])) as srv:
        with pytest.raises(FetchError, match="HTTP 404"):
            make_client([]).get(srv.url + "/x")
    assert len(srv.seen) == 1


def test_truncated_body_retried_then_whole() -> None:
    sleeps: list[float] = []
    body = b'{"data": [1, 2, 3], "count": 3}'
    with LocalServer(scripted([Reply(body=body, truncate_to=10), Reply(body=body)])) as srv:
        resp = make_client(sleeps).get(srv.url + "/x", validate=validate_json)
    assert resp.body == body and sleeps == [1.0]


def test_truncated_body_forever_is_a_clear_error() -> None:
    body = b'{"data": [1, 2, 3], "count": 3}'
    with LocalServer(scripted([Reply(body=body, truncate_to=10)])) as srv:
        with pytest.raises(FetchError, match=r"gave up after 4 attempts.*truncated body: 10 of"):
            make_client([]).get(srv.url + "/x", validate=validate_json)


def test_non_json_retried_then_clear_error() -> None:
    html = b"<html><body>Service temporarily unavailable</body></html>"
    with LocalServer(scripted([Reply(body=html)])) as srv:
        with pytest.raises(FetchError, match="body is not valid JSON"):
            make_client([]).get(srv.url + "/x", validate=validate_json)
    assert len(srv.seen) == 4
    with LocalServer(scripted([Reply(body=html), OK])) as srv:
        assert make_client([]).get(srv.url + "/x", validate=validate_json).body == OK.body


def test_params_and_headers_are_sent_as_given() -> None:
    with LocalServer(scripted([OK])) as srv:
        make_client([]).get(
            srv.url + "/public/v1/preview/C/M/HS",
            {"reporterCode": "392", "period": "201001,201002", "cmdCode": "280530"},
            headers={"X-Test": "1"},
        )
    seen = srv.seen[0]
    assert seen.path == "/public/v1/preview/C/M/HS"
    assert seen.raw_query == "reporterCode=392&period=201001%2C201002&cmdCode=280530"
    assert seen.headers["x-test"] == "1" and seen.headers["user-agent"].startswith("tradeimpact")


def test_key_never_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tradeimpact.fetch")
    with LocalServer(scripted([Reply(500, f"bad key {KEY}".encode())])) as srv:
        with pytest.raises(FetchError) as info:
            make_client([]).get(srv.url + "/x", {"subscription-key": KEY, "appId": KEY})
    assert KEY not in str(info.value)
    assert caplog.records, "retries are logged"
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_throttle_spaces_requests() -> None:
    sleeps: list[float] = []
    now = {"t": 100.0}
    client = HttpClient(sleep=sleeps.append, min_interval=6.0, clock=lambda: now["t"])
    with LocalServer(scripted([OK])) as srv:
        client.get(srv.url + "/a")
        now["t"] += 2.0
        client.get(srv.url + "/b")
    assert sleeps == [4.0]


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (_parse_retry_after(when) or 0) <= 31
    assert _parse_retry_after("7") == 7.0
    assert _parse_retry_after("soon") is None and _parse_retry_after(None) is None


def test_atomic_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.json"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"second, never whole")
    assert target.read_bytes() == b"first"  # the old whole file, not a partial new one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # no temp file left


def test_key_header_dropped_on_redirect_to_another_host() -> None:
    with LocalServer(scripted([OK])) as other:
        target = other.url.replace("127.0.0.1", "localhost") + "/elsewhere"
        with LocalServer(scripted([Reply(302, b"", {"Location": target})])) as first:
            resp = make_client([]).get(first.url + "/x", headers={"Ocp-Apim-Subscription-Key": KEY})
    assert resp.body == OK.body
    assert first.seen[0].headers["ocp-apim-subscription-key"] == KEY
    assert "ocp-apim-subscription-key" not in other.seen[0].headers  # not sent to another host


def test_key_not_in_repr_nor_in_a_bad_url_error() -> None:
    client = make_client([])
    assert KEY not in repr(client)
    with pytest.raises(FetchError) as info:
        client.get("nonsense-url", {"appId": KEY})
    assert KEY not in str(info.value) and "refused URL 'nonsense-url'" in str(info.value)


def test_trickling_body_stops_at_the_deadline_of_each_attempt() -> None:
    """A body of 400 bytes at 4 bytes per 50 ms (~5 s) against a 0.5 s deadline per attempt."""
    sleeps: list[float] = []
    body = b'{"data": "' + b"x" * 388 + b'"}'
    client = HttpClient(
        policy=RetryPolicy(max_attempts=3, backoff_base=0.01, timeout=0.5), sleep=sleeps.append
    )
    with LocalServer(scripted([Reply(body=body, trickle=(4, 0.05))])) as srv:
        t0 = time.monotonic()
        with pytest.raises(FetchError) as info:
            client.get(srv.url + "/slow", what="slow chunk")
        elapsed = time.monotonic() - t0
    message = str(info.value)
    assert "gave up after 3 attempts" in message
    assert "deadline of 0.5 s per attempt passed after" in message
    assert len(srv.seen) == 3 and len(sleeps) == 2  # retried with backoff like other faults
    # each attempt was cut before the ~5 s body ended: fewer bytes read than the body holds
    read = int(re.search(r"passed after (\d+) bytes", message).group(1))  # type: ignore[union-attr]
    assert read < len(body), (read, len(body))
    assert elapsed < 10, elapsed  # 3 attempts at the 0.5 s deadline; without it 3 x 5 s


@pytest.mark.parametrize("kind", ["trickled headers", "no answer"])
def test_slow_status_line_and_headers_stop_at_the_deadline(kind: str) -> None:
    """Headers a byte every 0.2 s (the socket timeout of each read never passes), or no answer at
    all, against a 0.5 s deadline per attempt: each attempt ends at its deadline, not at the
    server's pleasure (issue 11 item 9: the deadline covers connect, headers and body)."""
    import socket
    import threading

    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"p" * 200
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    sent: list[int] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            for byte in head if kind == "trickled headers" else b"":
                if stop.is_set():
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([byte]))
                    sent.append(byte)
                time.sleep(0.2)
            stop.wait(10)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    client = HttpClient(
        policy=RetryPolicy(max_attempts=2, backoff_base=0.01, timeout=0.5), sleep=lambda s: None
    )
    t0 = time.monotonic()
    try:
        with pytest.raises(FetchError) as info:
            client.get(f"http://127.0.0.1:{listener.getsockname()[1]}/slow", what="slow chunk")
    finally:
        stop.set()
        listener.close()
    elapsed = time.monotonic() - t0
    assert "gave up after 2 attempts" in str(info.value)
    assert "deadline of 0.5 s per attempt passed before the body" in str(info.value)
    # the attempts ended at their deadlines, long before the server finished its headers
    # (2 x 40 s of trickle): only a few of the header bytes were ever sent
    assert len(sent) < len(head) // 4, (len(sent), len(head))
    assert elapsed < 20, elapsed


def test_trickling_body_within_the_deadline_is_read_whole() -> None:
    body = b'{"ok": true, "pad": "' + b"y" * 40 + b'"}'
    client = HttpClient(policy=RetryPolicy(max_attempts=1, timeout=5.0))
    with LocalServer(scripted([Reply(body=body, trickle=(8, 0.01))])) as srv:
        assert client.get(srv.url + "/x", validate=validate_json).body == body


def test_slow_download_stops_at_its_deadline_and_keeps_the_part(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4  # 1024 bytes at 64 bytes per 0.1 s: ~1.6 s
    client = HttpClient(
        policy=RetryPolicy(max_attempts=1, timeout=5.0, download_timeout=0.35), sleep=lambda s: None
    )
    with LocalServer(scripted([Reply(body=data, trickle=(64, 0.1))])) as srv:
        with pytest.raises(FetchError, match=r"deadline of 0.35 s per attempt passed after \d+"):
            client.download(srv.url + "/a.zip", tmp_path / "a.zip", block=64)
    part = tmp_path / ".a.zip.part"
    assert not (tmp_path / "a.zip").exists()
    assert 0 < part.stat().st_size < len(data)  # kept, for the next attempt to resume by Range
    assert part.read_bytes() == data[: part.stat().st_size]


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file:"),
        ("ftp://example.org/x.csv", "ftp:"),
        ("data:text/plain,hello", "data:"),
        ("http://example.org/x.csv", "http:"),
        ("gopher://example.org/x", "gopher:"),
    ],
)
def test_only_https_or_loopback_http_is_fetched(url: str, scheme: str, tmp_path: Path) -> None:
    client = make_client([])
    with pytest.raises(FetchError, match=f"only https URLs are fetched.*not {scheme}"):
        client.get(url, {"appId": KEY})
    with pytest.raises(FetchError, match="refused URL"):
        client.download(url, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_opener_has_no_file_ftp_or_data_handler() -> None:
    import urllib.request

    opener = make_client([])._opener
    handlers = {type(h).__name__ for h in opener.handlers}
    assert not handlers & {"FileHandler", "FTPHandler", "DataHandler", "CacheFTPHandler"}
    for kind in (urllib.request.FileHandler, urllib.request.FTPHandler, urllib.request.DataHandler):
        assert not any(isinstance(h, kind) for h in opener.handlers)
    for kind in (urllib.request.HTTPHandler, urllib.request.HTTPSHandler):  # (the watchdog's)
        assert any(isinstance(h, kind) for h in opener.handlers)


def test_redirect_to_a_file_url_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("local file")
    with LocalServer(scripted([Reply(302, b"", {"Location": secret.as_uri()})])) as srv:
        with pytest.raises(FetchError, match=r"redirect: refused URL 'file://.*not file:"):
            make_client([]).get(srv.url + "/x", headers={"Ocp-Apim-Subscription-Key": KEY})
    assert len(srv.seen) == 1  # refused at once, not retried


def test_server_slow_to_send_its_headers_times_out_each_attempt() -> None:
    client = HttpClient(
        policy=RetryPolicy(max_attempts=2, backoff_base=0.01, timeout=0.3), sleep=lambda s: None
    )
    with LocalServer(scripted([Reply(body=b"{}", delay=1.5)])) as srv:
        t0 = time.monotonic()
        with pytest.raises(
            FetchError,
            match=r"gave up after 2 attempts.*(timed out|TimeoutError|deadline of 0.3 s)",
        ):
            client.get(srv.url + "/x")
        elapsed = time.monotonic() - t0
    assert 0.6 <= elapsed < 1.4, elapsed  # 2 attempts x 0.3 s, not 2 x 1.5 s
