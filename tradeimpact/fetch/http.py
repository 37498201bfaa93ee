"""A small HTTP client for the fetchers: retries, rate limits, key hygiene, atomic writes.

Standard library only (:mod:`urllib.request`); no new dependency.

What it does with each answer (:meth:`HttpClient.get`):

* **429** (rate limited): waits ``Retry-After`` seconds (capped by
  :attr:`RetryPolicy.retry_after_cap`), or the exponential backoff when the header is absent, then
  retries.
* **5xx**: retries with exponential backoff ``base * 2**(attempt-1)``, capped by
  :attr:`RetryPolicy.backoff_cap`.
* **401 / 403**: stops at once with :class:`AuthError`, whose message is about the key (never the
  key itself). One exception, as comtradr does (``ct_perform_request.R``): a 403 that carries a
  ``Retry-After`` header is the API gateway's quota answer and is treated like a 429.
* other **4xx**: :class:`FetchError` at once (the request itself is wrong; retrying will not help).
* a **truncated body** (fewer bytes than ``Content-Length``, or the connection dropped mid-body),
  a connection error, or a body the caller's ``validate`` rejects with :class:`BadBody` (e.g. not
  JSON): retried with backoff; after the last attempt a :class:`FetchError` says what was wrong.
* a **slow answer**: every attempt has a wall-clock deadline (:attr:`RetryPolicy.timeout` for
  :meth:`HttpClient.get`, :attr:`RetryPolicy.download_timeout` for :meth:`HttpClient.download`)
  covering connect, headers and the whole body. The body is read in pieces (``read1``); the time
  left is checked between pieces and is the socket timeout of each read, so a server trickling a
  byte at a time cannot hold an attempt past its deadline. A passed deadline is retried like the
  other transient failures.

Schemes: only ``https`` URLs are fetched, and ``http`` to the loopback host (``127.0.0.1``,
``localhost``, ``::1``: the tests' local servers). The opener has no ``file:``, ``ftp:`` or
``data:`` handler, every URL is checked before it is opened, and so is every redirect target
(:class:`FetchError`, not retried), so a URL taken from an answer (e-Stat's catalog) can never
read a local file.

Key hygiene: every secret given to the client (API keys, app IDs) is replaced by ``***`` in every
message the client raises or logs (:meth:`HttpClient.redact`); headers are never logged.

Writes are atomic (:func:`atomic_write_bytes`): a temporary file in the target folder, flushed and
fsynced, then renamed over the target, so a crash never leaves a partial file under the final name.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import logging
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from tradeimpact.errors import TradeImpactError

log = logging.getLogger("tradeimpact.fetch")

T = TypeVar("T")

USER_AGENT = "tradeimpact-fetch/0.1 (+https://pypi.org/project/tradeimpact)"


class FetchError(TradeImpactError):
    """A download failed for good (after the retries that made sense)."""


class AuthError(FetchError):
    """The server refused the credentials (HTTP 401/403): the key is missing, wrong or expired."""


class BadBody(Exception):
    """Raised by a ``validate`` callback: the body is unusable (truncated, not JSON, ...); retry."""


class DeadlinePassed(BadBody):
    """One attempt took longer than its deadline (a slow or trickling answer); retried."""


#: hosts to which plain http is allowed (the tests' local servers)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_url(url: str, what: str = "request") -> None:
    """Refuse any URL that is not ``https`` (or ``http`` to the loopback host).

    Raises
    ------
    FetchError
        The scheme is not allowed (``file:``, ``ftp:``, ``data:``, plain ``http`` to another
        host...); the message names the scheme and the host, never the query string.
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme == "https" and host:
        return
    if scheme == "http" and host in LOOPBACK_HOSTS:
        return
    shown = f"{scheme}://{parts.netloc}{parts.path}" if scheme else url.split("?", 1)[0]
    raise FetchError(
        f"{what}: refused URL {shown!r}: only https URLs are fetched (http only to the loopback "
        f"host), not {scheme + ':' if scheme else 'a URL without a scheme'}"
    )


def _read_body(
    resp: Any, deadline: float, started: float, block: int, sink: Callable[[bytes], object]
) -> int:
    """Read ``resp`` to its end in pieces into ``sink`` within ``deadline`` s of ``started``.

    ``started`` is a :func:`time.monotonic` reading (the real clock, never the throttle's
    injectable one). Returns the bytes read.
    """
    total = 0
    reader = getattr(resp, "read1", None) or resp.read
    while True:
        left = deadline - (time.monotonic() - started)
        if left <= 0:
            raise DeadlinePassed(
                f"deadline of {deadline:g} s per attempt passed after {total} bytes of the body"
            )
        _set_read_timeout(resp, left)
        try:
            chunk = reader(block)
        except TimeoutError:
            raise DeadlinePassed(
                f"deadline of {deadline:g} s per attempt passed after {total} bytes of the body"
            ) from None
        if not chunk:
            return total
        total += len(chunk)
        sink(chunk)


def _set_read_timeout(resp: Any, seconds: float) -> None:
    """Make the socket timeout of the next read of ``resp`` at most ``seconds``.

    ``http.client.HTTPResponse.fp`` is a buffered reader over the socket; when it is not (another
    response type), the timeout set at open time stays, and the deadline is still checked
    between reads.
    """
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    Attributes
    ----------
    max_attempts : int
        Attempts per request, the first included.
    backoff_base : float
        Seconds before the 2nd attempt; doubles each attempt.
    backoff_cap : float
        Upper bound of one backoff wait, seconds.
    retry_after_cap : float
        Upper bound of a server-requested ``Retry-After`` wait, seconds (tests set it small).
    timeout : float
        Deadline of one attempt of :meth:`HttpClient.get`, seconds: connect, headers and the
        whole body; also the socket timeout of each read of :meth:`HttpClient.download`.
    download_timeout : float
        Deadline of one attempt of :meth:`HttpClient.download`, seconds (a large archive; the
        part already written is kept, and the next attempt resumes it by Range).
    """

    max_attempts: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 60.0
    retry_after_cap: float = 300.0
    timeout: float = 120.0
    download_timeout: float = 3600.0

    def backoff(self, attempt: int) -> float:
        """Wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        return min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))


@dataclass
class Response:
    """A successful answer: status, headers (lower-case names), body and the redacted URL."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str


@dataclass
class HttpClient:
    """GET with retries, backoff, rate-limit handling and secret redaction.

    Parameters
    ----------
    secrets : iterable of str
        Strings never to show (API keys): redacted from every message and log line.
    policy : RetryPolicy
        Retry counts and waits.
    sleep : callable
        ``sleep(seconds)``; tests inject a recorder so that no test really sleeps.
    min_interval : float
        Minimum seconds between the starts of two requests (client-side throttle).
    clock : callable
        Monotonic clock for the throttle (``time.monotonic``).
    """

    secrets: Iterable[str] = field(default=(), repr=False)  # never in a repr or traceback
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    min_interval: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _last_start: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.secrets = tuple(s for s in self.secrets if s)
        # not build_opener(): it adds FileHandler, FTPHandler and DataHandler (see check_url)
        opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),
            _HTTPHandler(),
            _HTTPSHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            _NoRedirectAuthLeak(),
            urllib.request.HTTPErrorProcessor(),
        ):
            opener.add_handler(handler)
        self._opener = opener

    def redact(self, text: str) -> str:
        """``text`` with every secret (also URL-encoded) replaced by ``***``."""
        for secret in self.secrets:
            for form in {
                secret,
                urllib.parse.quote(secret, safe=""),
                urllib.parse.quote_plus(secret),
            }:
                text = text.replace(form, "***")
        return text

    def _throttle(self) -> None:
        if self.min_interval > 0 and self._last_start is not None:
            wait = self._last_start + self.min_interval - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._last_start = self.clock()

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        validate: Callable[[Response], None] | None = None,
        what: str = "request",
    ) -> Response:
        """GET ``url?params`` and return the answer, retrying as the module docstring says.

        Parameters
        ----------
        url : str
            URL without query string (or with one, then ``params`` are appended).
        params : mapping, optional
            Query parameters, sent in the given order.
        headers : mapping, optional
            Extra request headers (e.g. the subscription key); never logged.
        validate : callable, optional
            Called with the response; raises :class:`BadBody` for a body to retry.
        what : str
            Short description of the request for messages (e.g. the chunk's file name).

        Returns
        -------
        Response

        Raises
        ------
        AuthError
            401/403 (message about the key, never the key).
        FetchError
            Any other failure after the retries that make sense.
        """
        full = url
        if params:
            sep = "&" if "?" in url else "?"
            full = url + sep + urllib.parse.urlencode(list(params.items()))
        shown = self.redact(full)

        def action(resp: Any, started: float) -> Response:
            status = resp.status
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
            pieces: list[bytes] = []
            _read_body(resp, self.policy.timeout, started, 1 << 16, pieces.append)
            body = b"".join(pieces)
            expected = resp_headers.get("content-length")
            if expected is not None and expected.isdigit() and int(expected) != len(body):
                raise BadBody(f"truncated body: {len(body)} of {expected} bytes")
            response = Response(status, resp_headers, body, shown)
            if validate is not None:
                validate(response)
            return response

        return self._with_retries(
            full, dict(headers or {}), what, lambda: {}, action, self.policy.timeout
        )

    def download(
        self,
        url: str,
        dest: Path,
        *,
        headers: Mapping[str, str] | None = None,
        what: str = "download",
        block: int = 1 << 20,
    ) -> int:
        """Stream ``url`` to ``dest`` (large files), resuming a partial ``dest.part`` by Range.

        The bytes go to ``.<dest>.part`` (hidden); only a complete body (as many bytes as announced) is
        fsynced and renamed to ``dest``. A dropped connection keeps the part file and the next
        attempt asks for the rest (``Range: bytes=N-``); a server that answers 200 instead of 206
        sends the whole file again, which then replaces the part.

        Returns
        -------
        int
            Size of ``dest`` in bytes.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.part")  # hidden: never taken for a data file

        def extra_headers() -> dict[str, str]:
            have = part.stat().st_size if part.exists() else 0
            return {"Range": f"bytes={have}-"} if have else {}

        def action(resp: Any, started: float) -> int:
            have = part.stat().st_size if part.exists() else 0
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
            append = resp.status == 206 and have > 0
            if append:
                start = resp_headers.get("content-range", "").split(" ")[-1].split("-")[0]
                if start != str(have):
                    append = False
            expected = resp_headers.get("content-length")
            total = (
                int(expected) + (have if append else 0) if expected and expected.isdigit() else None
            )
            with part.open("ab" if append else "wb") as handle:
                try:
                    _read_body(resp, self.policy.download_timeout, started, block, handle.write)
                finally:  # what arrived is kept: the next attempt resumes it by Range
                    handle.flush()
                    os.fsync(handle.fileno())
            size = part.stat().st_size
            if total is not None and size != total:
                raise BadBody(f"truncated download: {size} of {total} bytes")
            os.replace(part, dest)
            return size

        return self._with_retries(
            url, dict(headers or {}), what, extra_headers, action, self.policy.download_timeout
        )

    def _open(self, req: urllib.request.Request, timeout: float, deadline: float) -> Any:
        """``self._opener.open(req)`` within ``deadline`` seconds, headers included.

        The socket timeout bounds each read, not their sum: a server sending its status line and
        headers a byte at a time would hold the attempt for as long as it likes. A watchdog timer
        shuts the attempt's sockets (registered by :class:`_HTTPConnection` /
        :class:`_HTTPSConnection` when they connect) down at the deadline; the body is then read
        under :func:`_read_body`'s own checks.
        """
        sockets: list[socket.socket] = []
        fired = threading.Event()

        def abort() -> None:
            fired.set()
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(deadline, abort)
        timer.daemon = True
        _attempt.sockets = sockets
        timer.start()
        try:
            return self._opener.open(req, timeout=timeout)
        except urllib.error.HTTPError:
            raise
        except (OSError, http.client.HTTPException) as err:
            if fired.is_set():
                raise DeadlinePassed(
                    f"deadline of {deadline:g} s per attempt passed before the body (the status "
                    "line and headers came too slowly)"
                ) from None
            raise err
        finally:
            timer.cancel()
            _attempt.sockets = None

    def _with_retries(
        self,
        full: str,
        headers: dict[str, str],
        what: str,
        extra_headers: Callable[[], dict[str, str]],
        action: Callable[[Any, float], T],
        deadline: float,
    ) -> T:
        """Open ``full`` and run ``action(resp, started)`` on the answer, retrying as the module
        docstring says; each attempt must end within ``deadline`` seconds of its start."""
        shown = self.redact(full)
        check_url(full, what)
        last_problem = "no attempt made"
        for attempt in range(1, self.policy.max_attempts + 1):
            self._throttle()
            wait: float | None = None
            request_headers = {"User-Agent": USER_AGENT, "Accept": "*/*", **headers}
            request_headers.update(extra_headers())
            try:
                try:
                    req = urllib.request.Request(full, headers=request_headers, method="GET")
                except ValueError as err:  # e.g. "unknown url type: '<url>'": redact the URL
                    raise FetchError(f"{what}: {self.redact(str(err))}") from None
                started = time.monotonic()
                timeout = min(self.policy.timeout, deadline)
                with self._open(req, timeout, deadline) as resp:
                    if time.monotonic() - started > deadline:
                        raise DeadlinePassed(
                            f"deadline of {deadline:g} s per attempt passed before the body"
                        )
                    return action(resp, started)
            except urllib.error.HTTPError as err:
                code = err.code
                err_headers = {k.lower(): v for k, v in (err.headers or {}).items()}
                retry_after = _parse_retry_after(err_headers.get("retry-after"))
                detail = self.redact(_short_body(err))
                if code == 429 or (code == 403 and retry_after is not None):
                    last_problem = f"HTTP {code} (rate limited)"
                    wait = (
                        min(retry_after, self.policy.retry_after_cap)
                        if retry_after is not None
                        else self.policy.backoff(attempt)
                    )
                elif code in (401, 403):
                    raise AuthError(
                        f"{what}: HTTP {code} from {_host(shown)}: the server refused the "
                        "credentials. Check that the API key (environment variable) is set, "
                        "valid and subscribed to this API; without a key use the public endpoint."
                        + (f" Server said: {detail}" if detail else "")
                    ) from None
                elif 500 <= code < 600:
                    last_problem = f"HTTP {code}" + (f": {detail}" if detail else "")
                    wait = self.policy.backoff(attempt)
                else:
                    raise FetchError(
                        f"{what}: HTTP {code} for {shown}" + (f": {detail}" if detail else "")
                    ) from None
            except BadBody as bad:
                last_problem = self.redact(str(bad))
                wait = self.policy.backoff(attempt)
            except (
                http.client.IncompleteRead,
                http.client.HTTPException,
                urllib.error.URLError,
                ConnectionError,
                TimeoutError,
            ) as err:
                last_problem = self.redact(f"{type(err).__name__}: {err}")
                wait = self.policy.backoff(attempt)
            if attempt < self.policy.max_attempts:
                log.info(
                    "%s: attempt %d/%d failed (%s); retrying in %.1f s",
                    what,
                    attempt,
                    self.policy.max_attempts,
                    last_problem,
                    wait or 0.0,
                )
                if wait:
                    self.sleep(wait)
        raise FetchError(
            f"{what}: gave up after {self.policy.max_attempts} attempts for {shown}: {last_problem}"
        )


def client_with_key(client: HttpClient | None, key: str | None, min_interval: float) -> HttpClient:
    """The client a fetch asks with, redacting ``key`` wherever it could show.

    Parameters
    ----------
    client : HttpClient, optional
        A pre-built client (tests inject sleeps and retry policy): ``key`` is added to its
        secrets. None: a new client throttled to ``min_interval`` seconds between requests.
    key : str, optional
        The key or appId of the fetch; None or empty for none.
    min_interval : float
        Seconds between requests of a new client.
    """
    if client is None:
        return HttpClient(secrets=[key] if key else [], min_interval=min_interval)
    if key:
        client.secrets = (*tuple(client.secrets), key)
    return client


#: the sockets of the attempt running in this thread (see :meth:`HttpClient._open`)
_attempt = threading.local()


def _register(sock: socket.socket | None) -> None:
    sockets = getattr(_attempt, "sockets", None)
    if sockets is not None and sock is not None:
        sockets.append(sock)


class _HTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket the running attempt's watchdog can shut down."""

    def connect(self) -> None:
        super().connect()
        _register(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose socket the running attempt's watchdog can shut down."""

    def connect(self) -> None:
        super().connect()
        _register(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_HTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


class _NoRedirectAuthLeak(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but drop the subscription-key header when the host changes."""

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        # the target is checked before urllib looks at it: file:, ftp:, plain http... refused
        location = headers.get("location") or headers.get("uri")
        if location:
            check_url(urllib.parse.urljoin(req.full_url, location), "redirect")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        check_url(newurl, "redirect")
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _host(newurl) != _host(req.full_url):
            for name in list(new.headers):
                if name.lower() not in ("user-agent", "accept"):
                    del new.headers[name]
        return new


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def _short_body(err: urllib.error.HTTPError, limit: int = 300) -> str:
    try:
        raw = err.read()
    except Exception:
        return ""
    text = raw.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text[:limit]


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """A handle whose bytes replace ``path`` atomically when the block ends without error.

    The bytes go to a temporary file in the same folder, which is flushed, fsynced and renamed
    over ``path`` at the end of the block; on any error (or interruption) it is removed and
    ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    with atomic_writer(path) as handle:
        handle.write(data)
