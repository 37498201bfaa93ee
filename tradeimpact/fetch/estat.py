"""Fetch Trade Statistics of Japan (commodity by country, monthly) through Japan's e-Stat.

Two routes, both with the e-Stat application ID ``ESTAT_APP_ID`` (never written to a file, a
sidecar, a log line or an error message).

Route 1, by table id (:func:`fetch_estat_stats_data`, ``tradeimpact fetch estat --stats-data-id``
or ``--tables imports``): the database tables of the commodity-by-country statistics, whose
statsDataIds and dimensions research/events.md section 5.2 lists (imports 2006-10
``0003228184`` ... 2026- ``0004049326``; ``cat01`` the 9-digit code, ``cat02`` measure x month,
``area`` ``'5'`` + the country code, ``time`` the year). ``GET {api}/getStatsData?appId=...
&lang=J&statsDataId=...&cdCat01=...`` (or ``cdCat01From``/``cdCat01To`` for an HS prefix)
``&cdTime=YYYY000000&metaGetFlg=Y&cntGetFlg=N&annotationGetFlg=Y&limit=100000``; an answer of
more than 100,000 records continues with ``startPosition`` = ``RESULT_INF.NEXT_KEY``. Each page
is saved unchanged as ``<stem>_pNNN.json`` beside its sidecar and read by
:class:`tradeimpact.sources.estat_api.EstatApiReader` (the pages of one answer together).

Route 2, by file (:func:`fetch_estat`, the fallback): the same statistics published as CSV files
"品別国別表" (9-digit commodity by country, twelve months side by side, the layout of Japan
Customs' own download that :mod:`tradeimpact.sources.japan_customs` reads). Saved **unchanged**
(bytes as served, UTF-8 or Shift-JIS). ``getDataCatalog`` lists a statistic's files with their
download URLs. Steps, per (year, flow):

1. ``GET {api}/getDataCatalog?appId=...&lang=J&statsCode=00350300&surveyYears=YYYY&dataType=CSV
   &searchWord=品別国別表 AND 輸入&limit=100`` (``輸出`` for exports; more pages by ``startPosition``
   = the answer's ``NEXT_KEY``). ``GET_DATA_CATALOG.RESULT.STATUS`` 0 = found, 1 = nothing found,
   100 = the appId was refused (-> :class:`AuthError`), other codes >= 100 = error (message from
   ``ERROR_MSG``). Resources: ``DATA_CATALOG_LIST_INF.DATA_CATALOG_INF[].RESOURCES.RESOURCE[]``
   with ``@id``, ``TITLE.NAME``, ``URL`` and ``FORMAT`` (one element comes as an object, several
   as a list: both are read). The answer is kept as ``estat_catalog_<flow>_<year>.meta``
   (JSON; a ``.meta`` name, so no reader or ``flow_files`` takes it for data) and reused by a
   resumed fetch unless ``refresh_catalog``; the appId is never written (redacted if the server
   echoed it).
2. Each CSV resource whose title names the flow (輸入 or 輸出) and matches ``title_filter`` is
   downloaded from its ``URL`` (public file download, no appId; only an https URL is followed,
   :func:`tradeimpact.fetch.http.check_url`: a ``file:`` URL in an answer is refused), checked to
   be a commodity-by-country table (first line has ``Exp or Imp``, ``HS`` and ``Country``; an
   HTML error page is retried, then fails), and saved as
   ``estat_<flow>_<year>_<resource id>.csv`` beside its sidecar.

Every route has a dry run (:func:`plan_estat_stats_data`, :func:`plan_estat`): the calls it would
make first, without any network access.

Verified (search tool, stored copies): the API base ``https://api.e-stat.go.jp/rest/3.0/app/json``,
the functions getStatsList / getMetaInfo / getStatsData / getDataCatalog and their parameters
(``appId``, ``lang``, ``statsCode``, ``surveyYears``, ``searchWord`` with AND/OR, ``dataType``
CSV, ``limit``, ``startPosition``/``NEXT_KEY``), the answer paths (``GET_STATS_DATA.
STATISTICAL_DATA.DATA_INF.VALUE`` with ``@cat01``... and ``$``, ``CLASS_INF.CLASS_OBJ``,
``DATA_INF.NOTE``/``ANNOTATION``) and the STATUS codes (0-2 normal, 100 authentication failed,
>= 100 errors) from public code calling the API and a summary of the official "API仕様 ver 3.0";
the statsDataIds and dimension codes of the trade tables from research/events.md 5.2 (read
there from public code; the official table pages were not readable); the statistics code
00350300 and the e-Stat file download ``/stat-search/file-download?statInfId=...&fileKind=1``
serving CSVs headed ``Exp or Imp,Year,HS,Country`` from public scripts that fetch these files
(toukei 00350300, tstat 000001013141).

Not verified: that the ``cdCat01From``/``cdCat01To`` range filter selects a code prefix as
documented for other tables (a user can pass the 9-digit codes instead), that getDataCatalog
lists each trade-statistics CSV (the scripts seen browse the e-Stat file pages instead) and the
exact resource titles (hence the loose title match and ``title_filter``). A user who knows the
files' ids can skip the catalog: ``stat_inf_ids`` downloads them directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
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
    sidecar_path,
    utc_now,
)
from tradeimpact.fetch.http import (
    AuthError,
    BadBody,
    FetchError,
    HttpClient,
    Response,
    client_with_key,
)

API_BASE = "https://api.e-stat.go.jp/rest/3.0/app/json"
FILE_DOWNLOAD = "https://www.e-stat.go.jp/stat-search/file-download"
STATS_CODE = "00350300"
APP_ID_ENV = "ESTAT_APP_ID"
SEARCH_WORD = "品別国別表"
FLOW_WORD = {"M": "輸入", "X": "輸出"}


@dataclass(frozen=True)
class Resource:
    """One file of the catalog."""

    id: str
    title: str
    url: str
    format: str
    dataset: str


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(_text(v) for k, v in value.items() if not k.startswith("@"))
    return "" if value is None else str(value)


def _checked_status(root: dict[str, Any], what: str) -> int:
    """The STATUS of an e-Stat answer's RESULT; AuthError at 100, FetchError above it.

    Raises
    ------
    AuthError
        STATUS 100 (the appId was refused).
    FetchError
        Any other STATUS >= 100, with e-Stat's message.
    """
    result = root.get("RESULT") or {}
    status = int(str(result.get("STATUS", "0")) or 0)
    message = str(result.get("ERROR_MSG", ""))
    if status == 100:
        raise AuthError(
            f"{what}: e-Stat refused the application ID (STATUS 100: {message}). Check that "
            f"{APP_ID_ENV} is set to a valid appId."
        )
    if status >= 100:
        raise FetchError(f"{what}: e-Stat answered STATUS {status}: {message}")
    return status


def _next_key(result_inf: dict[str, Any]) -> str | None:
    """The ``NEXT_KEY`` of an answer's ``RESULT_INF`` (the next page's start), or None."""
    next_key = result_inf.get("NEXT_KEY")
    return str(next_key) if next_key not in (None, "") else None


def _flow_word(flow: str) -> str:
    """The catalog's word of ``flow`` (``M`` 輸入, ``X`` 輸出); ValueError for any other flow."""
    word = FLOW_WORD.get(flow.upper())
    if word is None:
        raise ValueError(f"flow must be 'M' or 'X', not {flow!r}")
    return word


def _catalog_params(app_id: str, year: int, word: str, search_word: str) -> dict[str, str]:
    """The getDataCatalog query of one year and flow word, in the order it is sent."""
    return {
        "appId": app_id,
        "lang": "J",
        "statsCode": STATS_CODE,
        "surveyYears": str(year),
        "dataType": "CSV",
        "searchWord": f"{search_word} AND {word}",
        "limit": "100",
    }


def _catalog_path(out: Path, flow: str, year: int) -> Path:
    """Where the catalog answer of (flow, year) is saved."""
    return out / f"estat_catalog_{flow.upper()}_{year}.meta"


def _catalog_endpoint(api_base: str) -> str:
    """The getDataCatalog URL under ``api_base``."""
    return f"{api_base.rstrip('/')}/getDataCatalog"


def _safe_id(resource_id: str) -> str:
    """A resource id as a file-name part (fetch and dry run name the same file)."""
    return re.sub(r"[^0-9A-Za-z_-]", "_", resource_id) or "file"


def _file_url(file_download: str, stat_id: str) -> str:
    """The download URL of the e-Stat file ``stat_id`` (``fileKind=1``: CSV)."""
    return f"{file_download}?statInfId={stat_id}&fileKind=1"


def _app_id_note() -> str:
    """The dry run's note on the appId (whether it is set, never its value)."""
    return f"appId from {APP_ID_ENV} ({'set' if os.environ.get(APP_ID_ENV) else 'NOT set'})"


def parse_catalog(answer: dict[str, Any], what: str) -> tuple[list[Resource], str | None]:
    """Resources and the next page's start position of a ``getDataCatalog`` answer.

    Raises
    ------
    AuthError
        STATUS 100 (the appId was refused).
    FetchError
        Any other STATUS >= 100, with e-Stat's message.
    """
    root = answer.get("GET_DATA_CATALOG")
    if not isinstance(root, dict):
        raise BadBody("not a getDataCatalog answer (no GET_DATA_CATALOG)")
    _checked_status(root, what)
    listing = root.get("DATA_CATALOG_LIST_INF") or {}
    out = []
    for inf in _as_list(listing.get("DATA_CATALOG_INF")):
        dataset = str(inf.get("@id", ""))
        for res in _as_list((inf.get("RESOURCES") or {}).get("RESOURCE")):
            out.append(
                Resource(
                    id=str(res.get("@id", "")),
                    title=_text(res.get("TITLE")),
                    url=str(res.get("URL", "")),
                    format=str(res.get("FORMAT", "")),
                    dataset=dataset,
                )
            )
    return out, _next_key(listing.get("RESULT_INF") or {})


def _catalog_json(response: Response) -> None:
    try:
        answer = json.loads(response.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadBody("body is not valid JSON") from None
    if not isinstance(answer, dict) or "GET_DATA_CATALOG" not in answer:
        raise BadBody("body is JSON but not a getDataCatalog answer")


def first_line(body: bytes) -> str:
    """The first line of a CSV body, decoded as UTF-8 (BOM or not) or Shift-JIS (cp932)."""
    head = body[:4096].split(b"\n", 1)[0].rstrip(b"\r")
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return head.decode(encoding)
        except UnicodeDecodeError:
            continue
    return head.decode("latin-1")


def _trade_csv(response: Response) -> None:
    line = first_line(response.body)
    columns = [c.strip().strip('"') for c in line.split(",")]
    if not {"Exp or Imp", "HS", "Country"} <= set(columns):
        raise BadBody(
            f"not a Trade Statistics of Japan commodity-by-country CSV (first line {line[:80]!r})"
        )


def _rows(body: bytes) -> int:
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
    return max(0, lines - 1)


def fetch_estat(
    years: Sequence[int],
    *,
    out: Path,
    flows: Sequence[str] = ("M",),
    app_id: str | None = None,
    api_base: str = API_BASE,
    search_word: str = SEARCH_WORD,
    title_filter: str | None = None,
    stat_inf_ids: Sequence[str] = (),
    file_download: str = FILE_DOWNLOAD,
    refresh_catalog: bool = False,
    client: HttpClient | None = None,
    min_interval: float = 1.0,
    clock: Clock = utc_now,
    progress: bool = True,
) -> Summary:
    """Fetch the commodity-by-country CSVs of ``years`` into ``out``, resumable.

    Parameters
    ----------
    years : sequence of int
        Calendar years (one file set per year; the current year's files grow month by month).
    out : Path
        Folder of the CSVs, sidecars and catalogs.
    flows : sequence of str
        ``"M"`` imports (輸入), ``"X"`` exports (輸出).
    app_id : str, optional
        e-Stat application ID; default the ``ESTAT_APP_ID`` environment variable. Needed for the
        catalog; not for ``stat_inf_ids``.
    api_base, file_download : str
        Endpoints (tests point them at 127.0.0.1).
    search_word : str
        Catalog search word (the flow word is ANDed to it).
    title_filter : str, optional
        Regular expression a resource title must match (e.g. a chapter range).
    stat_inf_ids : sequence of str
        e-Stat file ids to download directly (no catalog look-up).
    refresh_catalog : bool
        Ask the catalog again even when a saved one is intact.
    client, min_interval, clock, progress
        As in :func:`tradeimpact.fetch.comtrade.fetch_comtrade`.

    Returns
    -------
    Summary

    Raises
    ------
    AuthError
        The appId was refused.
    FetchError
        No appId and no ``stat_inf_ids``.
    """
    key = app_id if app_id is not None else os.environ.get(APP_ID_ENV) or None
    client = client_with_key(client, key, min_interval)
    out.mkdir(parents=True, exist_ok=True)
    summary = Summary(source="estat")

    targets: list[tuple[str, str, Resource]] = []  # (flow, year, resource)
    for stat_id in stat_inf_ids:
        url = _file_url(file_download, stat_id)
        targets.append(("file", stat_id, Resource(stat_id, "", url, "CSV", "")))
    if years and flows:
        if not key:
            raise FetchError(
                f"e-Stat needs an application ID to find the files: set {APP_ID_ENV} (free "
                "registration at e-Stat), or pass the files' ids (stat_inf_ids)"
            )
        for year in years:
            for flow in flows:
                for res in _catalog(
                    client, api_base, key, int(year), flow, search_word, out, refresh_catalog,
                    clock, summary,
                ):  # fmt: skip
                    if title_filter and not re.search(title_filter, res.title):
                        continue
                    targets.append((flow, str(year), res))

    with progress_bar("e-Stat", len(targets), enabled=progress) as bar:
        for flow, year_text, res in targets:
            safe_id = _safe_id(res.id)
            name = (
                f"estat_{safe_id}.csv"
                if flow == "file"
                else f"estat_{flow}_{year_text}_{safe_id}.csv"
            )
            path = out / name
            if is_intact(path):
                summary.add_skipped(path)
                bar.advance()
                continue
            response = request_chunk(
                client,
                summary,
                bar,
                progress,
                partial(client.get, res.url, validate=_trade_csv, what=name),
            )
            if response is None:
                continue
            rows = _rows(response.body)
            save_chunk(
                path,
                response.body,
                request={
                    "url": client.redact(res.url),
                    "resource_id": res.id,
                    "title": res.title,
                    "dataset": res.dataset,
                    "flow": flow,
                    "year": year_text,
                },
                rows=rows,
                fetcher="estat",
                clock=clock,
            )
            summary.add_fetched(path, rows)
            bar.advance()
    if progress:
        print_summary(summary)
    return summary


def _catalog(
    client: HttpClient,
    api_base: str,
    app_id: str,
    year: int,
    flow: str,
    search_word: str,
    out: Path,
    refresh: bool,
    clock: Clock,
    summary: Summary,
) -> list[Resource]:
    """CSV resources of (year, flow): from the saved catalog when intact, else from the API."""
    word = _flow_word(flow)
    path = _catalog_path(out, flow, year)
    pages: list[dict[str, Any]] = []
    if not refresh and is_intact(path):
        pages = json.loads(path.read_bytes())["pages"]
    else:
        start: str | None = None
        while True:
            params = _catalog_params(app_id, year, word, search_word)
            if start:
                params["startPosition"] = start
            summary.requests += 1
            response = client.get(
                _catalog_endpoint(api_base),
                params,
                validate=_catalog_json,
                what=f"e-Stat catalog {flow} {year}",
            )
            text = client.redact(response.body.decode("utf-8"))
            page = json.loads(text)
            pages.append(page)
            _, start = parse_catalog(page, f"e-Stat catalog {flow} {year}")
            if start is None:
                break
        body = (json.dumps({"pages": pages}, ensure_ascii=False, indent=1) + "\n").encode()
        params_shown = {k: v for k, v in params.items() if k not in ("appId", "startPosition")}
        save_chunk(
            path,
            body,
            request={"endpoint": _catalog_endpoint(api_base), "params": params_shown},
            rows=None,
            fetcher="estat",
            clock=clock,
        )
    resources: list[Resource] = []
    for page in pages:
        found, _ = parse_catalog(page, f"e-Stat catalog {flow} {year}")
        resources.extend(found)
    return [
        r
        for r in resources
        if r.format.upper() == "CSV" and r.url and (word in r.title or not r.title)
    ]


# ------------------------------------------------------------------ getStatsData (by table id)
#: records a getStatsData call returns at most (the API's cap; more come by startPosition)
STATS_DATA_LIMIT = 100_000


@dataclass(frozen=True)
class StatsDataRequest:
    """One getStatsData selection: a table, a code filter, years (``cdTime``), countries."""

    stats_data_id: str
    codes: tuple[str, ...]  # 9-digit codes (cdCat01), or one shorter prefix (a cdCat01 range)
    years: tuple[int, ...]
    areas: tuple[str, ...] = ()

    def params(self, limit: int) -> dict[str, str]:
        """The query parameters without the appId, in the order they are sent."""
        out = {"lang": "J", "statsDataId": self.stats_data_id}
        if len(self.codes) == 1 and len(self.codes[0]) < 9:
            prefix = self.codes[0]
            out["cdCat01From"] = prefix + "0" * (9 - len(prefix))
            out["cdCat01To"] = prefix + "9" * (9 - len(prefix))
        else:
            out["cdCat01"] = ",".join(self.codes)
        if self.years:
            out["cdTime"] = ",".join(f"{y}000000" for y in self.years)
        if self.areas:
            out["cdArea"] = ",".join(self.areas)
        out.update(
            {"metaGetFlg": "Y", "cntGetFlg": "N", "annotationGetFlg": "Y", "limit": str(limit)}
        )
        return out

    def stem(self) -> str:
        """File stem: table id, codes, years and a hash of the whole selection."""
        ident = json.dumps(
            [self.stats_data_id, self.codes, self.years, self.areas], sort_keys=True
        ).encode()
        digest = hashlib.sha256(ident).hexdigest()[:10]
        what = self.codes[0] if len(self.codes) == 1 else f"{len(self.codes)}codes"
        span = "" if not self.years else f"_{self.years[0]}-{self.years[-1]}"
        return f"estat_sd_{self.stats_data_id}_{what}{span}_{digest}"


def plan_stats_data(
    hs: Sequence[str],
    years: Sequence[int],
    *,
    stats_data_ids: Sequence[str] = (),
    tables: str | None = None,
    areas: Sequence[str] = (),
) -> list[StatsDataRequest]:
    """The getStatsData calls for ``hs`` codes and ``years``.

    Parameters
    ----------
    hs : sequence of str
        9-digit statistical codes (asked together, ``cdCat01``) or HS prefixes of 2-8 digits
        (each its own call, as the range ``cdCat01From``-``cdCat01To``).
    years : sequence of int
        Years (``cdTime = YYYY000000``); with ``tables`` they also choose the tables.
    stats_data_ids : sequence of str
        Tables to ask (``--stats-data-id``); all ``years`` are asked of each.
    tables : {"imports", "exports"}, optional
        Instead of ids: the commodity-by-country tables of research/events.md 5.2 holding
        ``years`` (:func:`tradeimpact.sources.estat_api.table_for_year`), each asked for its years.
    areas : sequence of str
        e-Stat area codes (``50105`` China) to ask; all countries when empty.
    """
    from tradeimpact.sources.estat_api import table_for_year

    codes = [h.strip() for h in hs if h.strip()]
    bad = [c for c in codes if not c.isdigit() or not 2 <= len(c) <= 9]
    if not codes or bad:
        raise ValueError(
            f"HS codes must be 2-9 digits (9 = Japan's statistical code), not {bad or codes}"
        )
    by_table: dict[str, list[int]] = {}
    if tables is not None:
        flow = {"imports": "M", "exports": "X"}.get(tables.lower())
        if flow is None:
            raise ValueError(f"tables must be 'imports' or 'exports', not {tables!r}")
        if not years:
            raise ValueError("--tables needs --years (the years choose the tables)")
        for year in sorted(set(years)):
            by_table.setdefault(table_for_year(int(year), flow), []).append(int(year))
    for table_id in stats_data_ids:
        if not re.fullmatch(r"\d{10}", table_id):
            raise ValueError(f"a statsDataId has 10 digits, not {table_id!r}")
        by_table.setdefault(table_id, []).extend(sorted({int(y) for y in years}))
    if not by_table:
        raise ValueError("name the tables: stats_data_ids (--stats-data-id) or tables (--tables)")
    full = tuple(c for c in codes if len(c) == 9)
    prefixes = [c for c in codes if len(c) < 9]
    out = []
    for table_id, table_years in by_table.items():
        ys = tuple(sorted(set(table_years)))
        if full:
            out.append(StatsDataRequest(table_id, full, ys, tuple(areas)))
        out += [StatsDataRequest(table_id, (p,), ys, tuple(areas)) for p in prefixes]
    return out


def _stats_answer(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadBody("body is not valid JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("GET_STATS_DATA"), dict):
        raise BadBody("body is JSON but not a getStatsData answer (no GET_STATS_DATA)")
    return answer


def _stats_status(answer: dict[str, Any], what: str) -> tuple[int, str | None, int]:
    """(STATUS, NEXT_KEY, records) of a getStatsData answer; AuthError / FetchError on errors."""
    root = answer["GET_STATS_DATA"]
    status = _checked_status(root, what)
    data = root.get("STATISTICAL_DATA") or {}
    values = (data.get("DATA_INF") or {}).get("VALUE")
    n = len(values) if isinstance(values, list) else (1 if values else 0)
    return status, _next_key(data.get("RESULT_INF") or {}), n


def _stats_json(response: Response) -> None:
    _stats_answer(response.body)


def fetch_estat_stats_data(
    requests: Sequence[StatsDataRequest],
    *,
    out: Path,
    app_id: str | None = None,
    api_base: str = API_BASE,
    limit: int = STATS_DATA_LIMIT,
    refresh: bool = False,
    client: HttpClient | None = None,
    min_interval: float = 1.0,
    clock: Clock = utc_now,
    progress: bool = True,
) -> Summary:
    """Fetch getStatsData answers (by table id) into ``out``, page by page, resumable.

    Each call is ``GET {api_base}/getStatsData?appId=...&lang=J&statsDataId=...&cdCat01=...
    &cdTime=...&metaGetFlg=Y&cntGetFlg=N&annotationGetFlg=Y&limit=100000``; while the answer's
    ``RESULT_INF.NEXT_KEY`` is set, the next page is asked with ``startPosition=NEXT_KEY``. Page
    ``n`` is saved as ``<stem>_p{n:03d}.json`` beside its sidecar (the request without the appId,
    the page's first record, its record count); the reader
    (:class:`tradeimpact.sources.estat_api.EstatApiReader`) reads the pages together. STATUS 1
    ("no data") saves nothing and is reported; STATUS 100 (appId refused) stops with
    :class:`AuthError`. An intact page on disk is not asked again (its ``NEXT_KEY`` leads on).

    The answer is saved unchanged, unless the server echoed the appId into it: then every copy
    is replaced by ``***`` (the sidecar says ``"redacted": true``), so the appId is never in a file.

    Parameters
    ----------
    requests : sequence of StatsDataRequest
        From :func:`plan_stats_data`.
    out : Path
        Folder of the answers.
    app_id : str, optional
        e-Stat application ID; default the ``ESTAT_APP_ID`` environment variable (required).
    api_base : str
        API base (tests point it at 127.0.0.1).
    limit : int
        Records a call (100,000, the API's cap).
    refresh : bool
        Ask every page again even when it is on disk and intact (a table still being revised:
        the current year's). Pages left from a longer earlier answer are removed either way, so
        the pages on disk are always one answer.
    client, min_interval, clock, progress
        As in :func:`fetch_estat`.

    Returns
    -------
    Summary
    """
    key = app_id if app_id is not None else os.environ.get(APP_ID_ENV) or None
    if not key:
        raise FetchError(
            f"e-Stat's getStatsData needs an application ID: set {APP_ID_ENV} (free "
            "registration at e-Stat)"
        )
    client = client_with_key(client, key, min_interval)
    out.mkdir(parents=True, exist_ok=True)
    endpoint = f"{api_base.rstrip('/')}/getStatsData"
    summary = Summary(source="estat")
    with progress_bar("e-Stat getStatsData", len(requests), enabled=progress) as bar:
        for req in requests:
            params = req.params(limit)
            start: str | None = None
            page = 1
            while True:
                path = out / f"{req.stem()}_p{page:03d}.json"
                what = path.name
                if not refresh and is_intact(path):
                    _, start, _ = _stats_status(_stats_answer(path.read_bytes()), what)
                    summary.add_skipped(path)
                else:
                    call = {"appId": key, **params}
                    if start is not None:
                        call["startPosition"] = start
                    response = request_chunk(
                        client, summary, bar, progress,
                        partial(client.get, endpoint, call, validate=_stats_json, what=what),
                    )  # fmt: skip
                    if response is None:
                        break
                    body = response.body
                    redacted = client.redact(body.decode("utf-8", "replace")).encode("utf-8")
                    changed = redacted != body
                    try:
                        status, next_key, rows = _stats_status(_stats_answer(body), what)
                    except FetchError as err:
                        if isinstance(err, AuthError):
                            raise
                        summary.failed += 1
                        summary.failures.append(client.redact(str(err)))
                        bar.advance()
                        break
                    if status == 1:  # nothing saved: say so (a code or year the table lacks)
                        summary.failed += 1
                        summary.failures.append(
                            f"{what}: e-Stat has no data for this selection (STATUS 1): "
                            f"{client.redact(json.dumps(params, ensure_ascii=False))}"
                        )
                        bar.advance()
                        break
                    shown = {k: v for k, v in params.items()}
                    if start is not None:
                        shown["startPosition"] = start
                    save_chunk(
                        path,
                        redacted if changed else body,
                        request={"endpoint": endpoint, "params": shown, "page": page},
                        rows=rows,
                        fetcher="estat",
                        clock=clock,
                        extra={"redacted": True} if changed else None,
                    )
                    summary.add_fetched(path, rows)
                    start = next_key
                if start is None:
                    _remove_pages_after(out, req.stem(), page)
                    bar.advance()
                    break
                page += 1
    if progress:
        print_summary(summary)
    return summary


def _remove_pages_after(out: Path, stem: str, last: int) -> None:
    """Delete ``<stem>_pNNN.json`` (and sidecars) with NNN > ``last``: left from a longer answer."""
    for path in out.glob(f"{stem}_p*.json"):
        number = path.name.removeprefix(f"{stem}_p").removesuffix(".json")
        if number.isdigit() and int(number) > last:
            path.unlink()
            sidecar_path(path).unlink(missing_ok=True)


def plan_estat_stats_data(
    requests: Sequence[StatsDataRequest],
    *,
    out: Path,
    api_base: str = API_BASE,
    limit: int = STATS_DATA_LIMIT,
    min_interval: float = 1.0,
) -> FetchPlan:
    """What :func:`fetch_estat_stats_data` would ask first (no network; URLs without appId)."""
    endpoint = f"{api_base.rstrip('/')}/getStatsData"
    targets = [
        (
            f"{endpoint}?appId=<{APP_ID_ENV}>&{urllib.parse.urlencode(req.params(limit))}",
            out / f"{req.stem()}_p001.json",
        )
        for req in requests
    ]
    return plan_calls(
        "estat",
        targets,
        min_interval,
        notes=[
            _app_id_note(),
            f"an answer of more than {limit} records comes in pages: one more call per page",
        ],
    )


def plan_estat(
    years: Sequence[int],
    *,
    out: Path,
    flows: Sequence[str] = ("M",),
    api_base: str = API_BASE,
    search_word: str = SEARCH_WORD,
    stat_inf_ids: Sequence[str] = (),
    file_download: str = FILE_DOWNLOAD,
    min_interval: float = 1.0,
) -> FetchPlan:
    """What :func:`fetch_estat` (the file route) would ask first (no network; no appId)."""
    targets: list[tuple[str, Path]] = []
    for stat_id in stat_inf_ids:
        path = out / f"estat_{_safe_id(stat_id)}.csv"
        targets.append((_file_url(file_download, stat_id), path))
    for year in years:
        for flow in flows:
            params = _catalog_params(f"<{APP_ID_ENV}>", year, _flow_word(flow), search_word)
            url = f"{_catalog_endpoint(api_base)}?{urllib.parse.urlencode(params)}"
            targets.append((url, _catalog_path(out, flow, year)))
    notes = [_app_id_note()]
    if years:
        notes.append(
            "each catalog answer lists the year's CSV files: one more call per file "
            "(estat_<flow>_<year>_<id>.csv), not known before the catalog is asked"
        )
    return plan_calls("estat", targets, min_interval, notes=notes)
