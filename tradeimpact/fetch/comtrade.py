"""Fetch UN Comtrade API v1 answers, split by the API's limits, resumable.

Endpoints and parameters (verified, see "Sources" below)
--------------------------------------------------------
* without a key, the public preview endpoint
  ``https://comtradeapi.un.org/public/v1/preview/C/{freq}/HS`` (at most **500 records** a call);
* with a key (environment variable ``COMTRADE_API_KEY``), the subscription endpoint
  ``https://comtradeapi.un.org/data/v1/get/C/{freq}/HS``, key in the header
  ``Ocp-Apim-Subscription-Key`` (never in the URL, so never in a log or a sidecar). The free
  "comtrade - v1" subscription allows **500 calls a day** of up to **100,000 records** each.

Query parameters sent, in this order: ``reporterCode`` (M49 codes, comma-separated), ``period``
(``YYYYMM`` for monthly, ``YYYY`` for annual data, comma-separated, **at most 12 per call**),
``partnerCode`` (left out for "all partners"; ``0`` is World), ``partner2Code=0``, ``cmdCode``
(HS codes, comma-separated), ``flowCode`` (``M``, ``X``...), ``customsCode=C00``, ``motCode=0``
(the totals over second partner, customs procedure and mode of transport, as comtradr fixes them:
without them one flow comes back split into many rows), ``maxRecords`` (the row cap) and
``includeDesc=true`` (the answers then carry all 47 fields, as in the comtradr test fixture).

Splitting: at most 12 periods per call; one reporter per call without a key
(:data:`REPORTERS_PER_CALL`), ten with a key (:data:`KEYED_REPORTERS_PER_CALL`: the 100,000-row
cap leaves room, and the free tier's 500 calls a day are the scarce resource; no documented limit
on reporters per call was found, only comtradr's 4,096-character URL limit, which is checked).
An answer whose row count reaches the cap is incomplete: it is not saved as data; the request is
split in two (periods first, then partners, HS codes, flows, reporters) until no answer is capped.
A split is recorded in ``<stem>.split.meta`` so a resumed fetch goes straight to the parts. A
request that cannot be split further (one period, partner, code and flow) and is still capped
fails with a message (use a key: its cap is 100,000 rows).

An answer is saved byte for byte as ``<name>.json`` (the ``{"elapsedTime", "count", "data",
"error"}`` object the API sends) beside its sidecar (see :mod:`tradeimpact.fetch.chunks`). An
answer whose ``error`` field is set fails that chunk (reported, not saved); a body that is not
JSON, not of that shape, or whose ``count`` disagrees with its ``data`` is retried, then fails.

Time: comtradr throttles to 10 requests a minute by default; :func:`fetch_comtrade` waits
``min_interval`` seconds (default 6) between requests, so 100 chunks take about 10 minutes.

Sources (search tool, stored copies)
------------------------------------
* uncomtrade/comtradeapicall ``src/comtradeapicall/PreviewGet.py``: both base URLs above; the
  parameter names ``reporterCode``, ``period``, ``partnerCode``, ``partner2Code``, ``cmdCode``,
  ``flowCode``, ``customsCode``, ``motCode``, ``maxRecords``, ``includeDesc``; README: preview
  "limited to 500 records", keyed calls "limited to 250K records".
* ropensci/comtradr ``R/ct_check_params.R``: "cannot search more than twelve consecutive
  years/months in a single query"; ``R/ct_build_request.R``: header ``Ocp-Apim-Subscription-Key``,
  URL limit 4,096 characters; ``R/ct_perform_request.R``: 10 requests/minute, 429 and 403 with
  ``Retry-After`` are transient; ``vignettes/large_data.Rmd``: free tier "500 calls per day" of
  "up to 100.000 rows"; ``R/ct_get_data.R``: customsCode C00, motCode 0, partner2Code 0.
* comtradeapicall issue 21 (maintainers): partner World is ``0``; issue 18: monthly periods are
  ``YYYYMM``; issue 3: 429 "Rate limit is exceeded. Try again in 2 seconds."

Not verified: the exact row cap of a paid subscription (the caller can pass ``row_cap``), and
whether the preview endpoint has a daily call limit (none is documented in these sources).
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from tradeimpact.fetch.chunks import (
    Clock,
    FetchPlan,
    Summary,
    is_intact,
    plan_calls,
    print_summary,
    progress_bar,
    request_chunk,
    save_chunk,
    utc_now,
    write_json,
)
from tradeimpact.fetch.codes import comtrade_code
from tradeimpact.fetch.http import BadBody, HttpClient, Response, client_with_key

PUBLIC_BASE = "https://comtradeapi.un.org/public/v1/preview"
KEYED_BASE = "https://comtradeapi.un.org/data/v1/get"
PUBLIC_ROW_CAP = 500
KEYED_ROW_CAP = 100_000
MAX_PERIODS_PER_CALL = 12
REPORTERS_PER_CALL = 1
KEYED_REPORTERS_PER_CALL = 10
KEY_ENV = "COMTRADE_API_KEY"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
MAX_URL_CHARS = 4096


@dataclass(frozen=True)
class ComtradeRequest:
    """One call's selection. Codes are Comtrade numeric codes as text; ``partners=None`` = all."""

    freq: str
    reporters: tuple[str, ...]
    partners: tuple[str, ...] | None
    cmd: tuple[str, ...]
    flows: tuple[str, ...]
    periods: tuple[str, ...]

    def params(self, row_cap: int) -> dict[str, str]:
        """The query parameters, in the order they are sent."""
        out = {"reporterCode": ",".join(self.reporters), "period": ",".join(self.periods)}
        if self.partners is not None:
            out["partnerCode"] = ",".join(self.partners)
        out.update(
            {
                "partner2Code": "0",
                "cmdCode": ",".join(self.cmd),
                "flowCode": ",".join(self.flows),
                "customsCode": "C00",
                "motCode": "0",
                "maxRecords": str(row_cap),
                "includeDesc": "true",
            }
        )
        return out

    def identity(self) -> dict[str, Any]:
        """What the answer holds (endpoint and row cap left out: same data either way)."""
        return {
            "type": "C",
            "freq": self.freq,
            "classification": "HS",
            "reporters": list(self.reporters),
            "partners": "all" if self.partners is None else list(self.partners),
            "cmd": list(self.cmd),
            "flows": list(self.flows),
            "periods": list(self.periods),
        }

    def stem(self) -> str:
        """File stem: readable part plus a hash of the full selection."""
        digest = hashlib.sha256(
            json.dumps(self.identity(), sort_keys=True).encode("utf-8")
        ).hexdigest()[:10]
        who = "-".join(self.reporters) if len(self.reporters) <= 3 else f"{len(self.reporters)}r"
        span = (
            self.periods[0] if len(self.periods) == 1 else f"{self.periods[0]}-{self.periods[-1]}"
        )
        return f"comtrade_{self.freq}_r{who}_{span}_{digest}"

    def split(self) -> tuple[ComtradeRequest, ComtradeRequest] | None:
        """Two halves along the first dimension with more than one value, or None."""
        for name in ("periods", "partners", "cmd", "flows", "reporters"):
            values = getattr(self, name)
            if values is not None and len(values) > 1:
                half = len(values) // 2
                return (
                    replace(self, **{name: values[:half]}),
                    replace(self, **{name: values[half:]}),
                )
        return None


def periods_between(start: str, end: str, freq: str) -> list[str]:
    """API periods from ``start`` to ``end`` inclusive.

    Parameters
    ----------
    start, end : str
        ``YYYY-MM`` (or ``YYYYMM``) for ``freq="M"``; ``YYYY`` for ``freq="A"``.
    freq : str
        ``"M"`` or ``"A"``.

    Returns
    -------
    list of str
        ``YYYYMM`` (monthly) or ``YYYY`` (annual) strings.
    """
    if freq == "A":
        y0, y1 = int(start[:4]), int(end[:4])
        if y1 < y0:
            raise ValueError(f"end {end} is before start {start}")
        return [str(y) for y in range(y0, y1 + 1)]
    if freq != "M":
        raise ValueError(f"freq must be 'M' or 'A', not {freq!r}")

    def parse(text: str) -> tuple[int, int]:
        digits = text.replace("-", "")
        if len(digits) != 6 or not digits.isdigit() or not 1 <= int(digits[4:]) <= 12:
            raise ValueError(f"monthly period must be YYYY-MM, not {text!r}")
        return int(digits[:4]), int(digits[4:])

    (y, m), (y1, m1) = parse(start), parse(end)
    if (y1, m1) < (y, m):
        raise ValueError(f"end {end} is before start {start}")
    out = []
    while (y, m) <= (y1, m1):
        out.append(f"{y:04d}{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def plan_requests(
    reporters: Sequence[str],
    partners: Sequence[str] | None,
    hs: Sequence[str],
    freq: str,
    periods: Sequence[str],
    flows: Sequence[str],
    *,
    max_periods: int = MAX_PERIODS_PER_CALL,
    reporters_per_call: int = REPORTERS_PER_CALL,
) -> list[ComtradeRequest]:
    """The initial calls: reporters in groups, periods in windows of at most ``max_periods``."""
    if not reporters or not hs or not periods or not flows:
        raise ValueError("reporters, hs codes, periods and flows must each be non-empty")
    out = []
    for r0 in range(0, len(reporters), reporters_per_call):
        group = tuple(reporters[r0 : r0 + reporters_per_call])
        for p0 in range(0, len(periods), max_periods):
            out.append(
                ComtradeRequest(
                    freq=freq,
                    reporters=group,
                    partners=None if partners is None else tuple(partners),
                    cmd=tuple(hs),
                    flows=tuple(flows),
                    periods=tuple(periods[p0 : p0 + max_periods]),
                )
            )
    return out


def _parse_answer(body: bytes) -> dict[str, Any]:
    """The answer as a dict; :class:`BadBody` when it is not a whole Comtrade JSON answer."""
    try:
        answer = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadBody(
            f"body is not valid JSON ({err.msg if hasattr(err, 'msg') else err})"
        ) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("data", []), list):
        raise BadBody("body is JSON but not a Comtrade answer (no 'data' list)")
    if "data" not in answer and not answer.get("error"):
        raise BadBody("body is JSON but has neither 'data' nor 'error'")
    count = answer.get("count")
    data = answer.get("data") or []
    if isinstance(count, int) and count != len(data) and not answer.get("error"):
        raise BadBody(f"'count' is {count} but 'data' holds {len(data)} records")
    return answer


def _validate(response: Response) -> None:
    _parse_answer(response.body)


def _setup(
    reporters: Sequence[str],
    partners: Sequence[str] | str | None,
    hs: Sequence[str],
    start: str,
    end: str,
    freq: str,
    flows: Sequence[str],
    keyed: bool,
    base_url: str | None,
    row_cap: int | None,
    max_periods: int,
    reporters_per_call: int | None,
) -> tuple[str, int, list[ComtradeRequest]]:
    """(endpoint, row cap, initial calls) of a fetch: shared by the fetch and its dry run."""
    base = (base_url or (KEYED_BASE if keyed else PUBLIC_BASE)).rstrip("/")
    cap = row_cap or (KEYED_ROW_CAP if keyed else PUBLIC_ROW_CAP)
    endpoint = f"{base}/C/{freq}/HS"
    reporter_codes = [comtrade_code(r) for r in reporters]
    if isinstance(partners, str):
        partners = None if partners.lower() == "all" else partners.split(",")
    partner_codes = None if partners is None else [comtrade_code(p) for p in partners]
    periods = periods_between(start, end, freq)
    plan = plan_requests(
        reporter_codes,
        partner_codes,
        [h.strip() for h in hs],
        freq,
        periods,
        [f.strip().upper() for f in flows],
        max_periods=max_periods,
        reporters_per_call=reporters_per_call
        or (KEYED_REPORTERS_PER_CALL if keyed else REPORTERS_PER_CALL),
    )
    return endpoint, cap, plan


def plan_comtrade(
    reporters: Sequence[str],
    partners: Sequence[str] | str | None,
    hs: Sequence[str],
    *,
    start: str,
    end: str,
    freq: str = "M",
    flows: Sequence[str] = ("M",),
    out: Path,
    keyed: bool | None = None,
    base_url: str | None = None,
    row_cap: int | None = None,
    max_periods: int = MAX_PERIODS_PER_CALL,
    reporters_per_call: int | None = None,
    min_interval: float = 6.0,
) -> FetchPlan:
    """What :func:`fetch_comtrade` with these arguments would ask, without asking (a dry run).

    Parameters are those of :func:`fetch_comtrade`; ``keyed`` says whether a key would be used
    (default: whether ``COMTRADE_API_KEY`` is set). The key itself is never read into the plan:
    it travels in a header, so the URLs are the ones sent. Nothing is written, ``out`` is only
    looked at (chunks already on disk and intact are marked).

    Returns
    -------
    FetchPlan
    """
    if keyed is None:
        keyed = bool(os.environ.get(KEY_ENV))
    endpoint, cap, plan = _setup(
        reporters, partners, hs, start, end, freq, flows, keyed, base_url, row_cap,
        max_periods, reporters_per_call,
    )  # fmt: skip
    targets = [
        (
            f"{endpoint}?{urllib.parse.urlencode(list(req.params(cap).items()))}",
            out / f"{req.stem()}.json",
        )
        for req in plan
    ]
    return plan_calls(
        "comtrade",
        targets,
        min_interval,
        notes=[
            (
                f"subscription key from {KEY_ENV} (sent in the {KEY_HEADER} header)"
                if keyed
                else f"no key: public preview endpoint, {cap} rows a call"
            ),
            f"an answer with {cap} rows (the cap) is split in two: more calls than planned",
        ],
    )


def fetch_comtrade(
    reporters: Sequence[str],
    partners: Sequence[str] | str | None,
    hs: Sequence[str],
    *,
    start: str,
    end: str,
    freq: str = "M",
    flows: Sequence[str] = ("M",),
    out: Path,
    api_key: str | None = None,
    base_url: str | None = None,
    row_cap: int | None = None,
    max_periods: int = MAX_PERIODS_PER_CALL,
    reporters_per_call: int | None = None,
    client: HttpClient | None = None,
    min_interval: float = 6.0,
    clock: Clock = utc_now,
    progress: bool = True,
    on_saved: Callable[[Path], None] | None = None,
) -> Summary:
    """Fetch Comtrade answers into ``out``, skipping chunks already there and intact.

    Parameters
    ----------
    reporters : sequence of str
        ISO3 codes (``JPN``) or Comtrade numeric codes (``392``).
    partners : sequence of str, ``"all"`` or None
        Partner ISO3/numeric codes; ``"all"``/None for all partners (``WLD`` = World, code 0).
    hs : sequence of str
        HS codes (2-6 digits) or ``TOTAL``.
    start, end : str
        ``YYYY-MM`` (monthly) or ``YYYY`` (annual).
    freq : str
        ``"M"`` or ``"A"``.
    flows : sequence of str
        Comtrade flow codes (``M`` imports, ``X`` exports).
    out : Path
        Folder of the answers and sidecars.
    api_key : str, optional
        Subscription key; default: the ``COMTRADE_API_KEY`` environment variable. Without one the
        public preview endpoint is used.
    base_url : str, optional
        Endpoint base (tests point it at 127.0.0.1); default the public or keyed one.
    row_cap : int, optional
        Rows per call (``maxRecords``); an answer with this many rows is split. Default 500
        without a key, 100,000 with one.
    max_periods : int
        Periods a call (12, per comtradr).
    reporters_per_call : int, optional
        Reporters a call; default 1 without a key, 10 with one.
    client : HttpClient, optional
        Pre-built client (tests inject sleeps and retry policy); its secrets get the key added.
    min_interval : float
        Seconds between requests when no client is given.
    clock : callable
        UTC clock for the sidecars.
    progress : bool
        Show a rich progress bar and print the summary.
    on_saved : callable, optional
        Called with each saved file's path (tests use it to interrupt a fetch).

    Returns
    -------
    Summary
        Chunks fetched, skipped, failed; rows; the data files (in plan order).

    Raises
    ------
    AuthError
        The key was refused (the fetch stops: every further call would be refused too).
    """
    key = api_key if api_key is not None else os.environ.get(KEY_ENV) or None
    client = client_with_key(client, key, min_interval)
    headers = {KEY_HEADER: key} if key else {}
    endpoint, cap, plan = _setup(
        reporters, partners, hs, start, end, freq, flows, bool(key), base_url, row_cap,
        max_periods, reporters_per_call,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    summary = Summary(source="comtrade")
    queue = deque(plan)
    with progress_bar("Comtrade", len(plan), enabled=progress) as bar:
        while queue:
            req = queue.popleft()
            path = out / f"{req.stem()}.json"
            split_mark = out / f"{req.stem()}.split.meta"
            if is_intact(path):
                summary.add_skipped(path)
                bar.advance()
                continue
            parts = req.split()
            if split_mark.is_file() and parts is not None:
                queue.extendleft(reversed(parts))
                bar.grow(len(parts))
                bar.advance()
                continue
            params = req.params(cap)
            url_len = len(endpoint) + 1 + sum(len(k) + len(v) + 2 for k, v in params.items())
            if url_len > MAX_URL_CHARS and parts is not None:
                queue.extendleft(reversed(parts))
                bar.grow(len(parts))
                bar.advance()
                continue
            response = request_chunk(
                client,
                summary,
                bar,
                progress,
                partial(
                    client.get,
                    endpoint,
                    params,
                    headers=headers,
                    validate=_validate,
                    what=path.name,
                ),
            )
            if response is None:
                continue
            answer = _parse_answer(response.body)
            if answer.get("error"):
                summary.failed += 1
                summary.failures.append(
                    client.redact(f"{path.name}: the API answered with error: {answer['error']}")
                )
                bar.advance()
                continue
            rows = len(answer.get("data") or [])
            request_record = {"endpoint": endpoint, "params": params, **req.identity()}
            if rows >= cap:
                if parts is None:
                    summary.failed += 1
                    summary.failures.append(
                        f"{path.name}: the answer holds {rows} rows, the cap of {cap}, and the "
                        "request cannot be split further (one period, partner, code and flow); "
                        f"use a key ({KEY_ENV}) for a higher cap"
                    )
                    bar.advance()
                    continue
                write_json(
                    split_mark,
                    {
                        "capped_at": cap,
                        "request": request_record,
                        "parts": [f"{p.stem()}.json" for p in parts],
                    },
                )
                queue.extendleft(reversed(parts))
                bar.grow(len(parts))
                bar.advance()
                continue
            save_chunk(
                path,
                response.body,
                request=request_record,
                rows=rows,
                fetcher="comtrade",
                clock=clock,
            )
            summary.add_fetched(path, rows)
            bar.advance()
            if on_saved is not None:
                on_saved(path)
    if progress:
        print_summary(summary)
    return summary
