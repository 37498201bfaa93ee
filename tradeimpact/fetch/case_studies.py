"""Fetch exactly the data the events in ``analysis/events/`` need, then ingest it (``nox -s fetch``).

``python -m tradeimpact.fetch.case_studies [--events DIR] [--out DIR] [--dry-run]`` (also
``tradeimpact fetch case-studies ...``). The defaults come from the package location, not the
current folder (:mod:`tradeimpact.paths`): ``<project>/analysis/events``, ``<project>/data_raw``
and ``<project>/store``; outside a project checkout, pass them (a clear error says so).
``--dry-run`` prints every first request (no key), its file, the calls and the throttle time,
and fetches nothing.

Keys read from each event file (``analysis/events/<name>.toml``, the schema of
:mod:`tradeimpact.panel`; these files say "Keep the keys plain: tradeimpact.fetch also reads
this file"):

========================  ==========================================================
``event.name``            folder-safe name of the event (for messages)
``event.treated``         ISO3 of the treated importer (``JPN``)
``event.source_country``  ISO3 of the restricting exporter (``CHN``)
``event.freq``            ``M`` (default) or ``A``
``products.core``         HS6 codes; ``products.extended`` and ``products.comparison``
                          (optional) are fetched too
``controls.importers``    ISO3 of the control importers
``diversion.suppliers``   ISO3 of the other suppliers of the treated importer (optional)
``window.start/end``      dates (TOML dates or ``YYYY-MM-DD`` strings): the sample
``window.event_month``    date of the event month, with ``window.event_time = [lo, hi]``
                          (months relative to it): the window is widened to cover it
========================  ==========================================================

What is fetched per event (months from the widened window, the last one clipped to the month
before today):

* UN Comtrade, importer side: reporters = treated + controls, partner = source, flow M;
* UN Comtrade, diversion: reporter = treated, partners = suppliers, flow M;
* UN Comtrade, exporter side (mirror): reporter = source, partners = treated + controls, flow X;
* e-Stat (only when ``ESTAT_APP_ID`` is set; Japan only: the fetcher is Japan's): the event's HS
  codes in the commodity-by-country import tables holding the window's years, by table id
  (getStatsData, research/events.md 5.2); ``--estat-route files`` fetches the CSV files instead;
* CEPII BACI (only with ``--baci-release``): the years of the window the release covers, in the
  newest HS revision in force at the window's start.

Everything goes to ``<out>/comtrade/``, ``<out>/estat/``, ``<out>/baci/``; identical requests of
two events are one file (names hash the request). Then the fetched files are ingested into the
store (``--store``) with :class:`tradeimpact.store.FlowStore`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeimpact.fetch.chunks import Summary
from tradeimpact.fetch.comtrade import (
    KEY_ENV,
    KEYED_REPORTERS_PER_CALL,
    MAX_PERIODS_PER_CALL,
    REPORTERS_PER_CALL,
    fetch_comtrade,
)
from tradeimpact.fetch.http import AuthError, FetchError

#: first data year of each HS revision in BACI
BACI_FIRST_YEAR = {
    "HS92": 1995,
    "HS96": 1996,
    "HS02": 2002,
    "HS07": 2007,
    "HS12": 2012,
    "HS17": 2017,
    "HS22": 2022,
}


@dataclass(frozen=True)
class ComtradeJob:
    """One :func:`fetch_comtrade` call."""

    label: str
    reporters: tuple[str, ...]
    partners: tuple[str, ...]
    flows: tuple[str, ...]

    def calls(self, n_periods: int, reporters_per_call: int = 1) -> int:
        """Calls before any capped-answer split (12 periods a call)."""
        groups = -(-len(self.reporters) // reporters_per_call)
        return groups * -(-n_periods // MAX_PERIODS_PER_CALL)


@dataclass
class EventPlan:
    """What one event needs."""

    name: str
    freq: str
    start: str
    end: str
    hs: tuple[str, ...]
    comtrade: list[ComtradeJob] = field(default_factory=list)
    estat_years: tuple[int, ...] = ()
    treated: str = ""
    #: Why nothing is fetched for this event (it reads one store source this command does not
    #: fetch, e.g. the shipped BACI extract); empty when the jobs above are the plan.
    skip_reason: str = ""

    def n_periods(self) -> int:
        """Months (or years) of the window."""
        y0, m0 = int(self.start[:4]), int(self.start[5:7] or 1)
        y1, m1 = int(self.end[:4]), int(self.end[5:7] or 1)
        return (y1 - y0 + 1) if self.freq == "A" else (y1 - y0) * 12 + m1 - m0 + 1

    def comtrade_calls(self, reporters_per_call: int = 1) -> int:
        """Comtrade calls before splits."""
        return sum(job.calls(self.n_periods(), reporters_per_call) for job in self.comtrade)


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value if len(value) > 7 else value + "-01")
        except ValueError:
            pass
    raise ValueError(f"{where}: expected a date (YYYY-MM-DD), got {value!r}")


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _codes(table: dict[str, Any], key: str, path: Path, *, required: bool = True) -> list[str]:
    value = table.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise ValueError(f"{path}: '{key}' must be a non-empty list of strings")
    return [v.strip().upper() for v in value]


#: The store sources this command fetches (the Comtrade readers' and the e-Stat reader's).
FETCHED_SOURCES: frozenset[str] = frozenset({"comtrade", "japan_customs"})


def plan_event(path: Path, *, today: dt.date | None = None) -> EventPlan:
    """Read one event file and return what to fetch for it (keys in the module docstring).

    Raises
    ------
    ValueError
        A key is missing or malformed (the message names the file and the key).
    """
    with path.open("rb") as handle:
        doc = tomllib.load(handle)
    event = doc.get("event") or {}
    for key in ("name", "treated", "source_country"):
        if not isinstance(event.get(key), str):
            raise ValueError(f"{path}: [event] needs '{key}' (a string)")
    products = doc.get("products") or {}
    hs: list[str] = []
    for key, required in (("core", True), ("extended", False), ("comparison", False)):
        for code in _codes(products, key, path, required=required):
            if code not in hs:
                hs.append(code)
    importers = _codes(doc.get("controls") or {}, "importers", path)
    suppliers = _codes(doc.get("diversion") or {}, "suppliers", path, required=False)
    window = doc.get("window") or {}
    if "start" not in window or "end" not in window:
        raise ValueError(f"{path}: [window] needs 'start' and 'end'")
    start = _date(window["start"], f"{path}: window.start").replace(day=1)
    end = _date(window["end"], f"{path}: window.end").replace(day=1)
    if "event_month" in window and "event_time" in window:
        month = _date(window["event_month"], f"{path}: window.event_month").replace(day=1)
        lo, hi = window["event_time"]
        start = min(start, _add_months(month, int(lo)))
        end = max(end, _add_months(month, int(hi)))
    today = today or dt.date.today()
    end = min(end, _add_months(today.replace(day=1), -1))
    if end < start:
        raise ValueError(f"{path}: the window ends ({end}) before it starts ({start})")
    freq = str(event.get("freq", "M")).upper()
    treated, source = event["treated"].upper(), event["source_country"].upper()
    fmt = "%Y-%m" if freq == "M" else "%Y"
    plan = EventPlan(
        name=event["name"],
        freq=freq,
        start=start.strftime(fmt),
        end=end.strftime(fmt),
        hs=tuple(hs),
        treated=treated,
    )
    data_source = event.get("data_source")
    if data_source is not None and str(data_source) not in FETCHED_SOURCES:
        # The event reads only this store source (panel.Event.data_source): Comtrade or e-Stat
        # answers would never enter its panel, so fetching them would only cost calls.
        plan.skip_reason = (
            f"reads only the store source {data_source!r} (its files are shipped or brought by "
            f"the user, e.g. data_raw/real/); nothing to fetch"
        )
        return plan
    plan.comtrade.append(ComtradeJob("importer side", (treated, *importers), (source,), ("M",)))
    if suppliers:
        plan.comtrade.append(ComtradeJob("diversion", (treated,), tuple(suppliers), ("M",)))
    plan.comtrade.append(ComtradeJob("exporter side", (source,), (treated, *importers), ("X",)))
    if treated == "JPN":
        plan.estat_years = tuple(range(start.year, end.year + 1))
    return plan


def baci_revision(start_year: int) -> str:
    """The newest HS revision in force in ``start_year`` (BACI's first year of each)."""
    eligible = [rev for rev, first in BACI_FIRST_YEAR.items() if first <= start_year]
    if not eligible:
        raise ValueError(f"BACI starts in 1995; no revision covers {start_year}")
    return eligible[-1]


DESCRIPTION = "Fetch the real data the events in analysis/events/ need, then ingest it."


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``tradeimpact fetch case-studies`` (and of this module's ``main``)."""
    ap.add_argument(
        "--events",
        default=None,
        help="folder of event *.toml files (default <project>/analysis/events)",
    )
    ap.add_argument("--out", default=None, help="raw data folder (default <project>/data_raw)")
    ap.add_argument("--store", default=None, help="store to ingest into (default <project>/store)")
    ap.add_argument("--no-ingest", action="store_true", help="fetch only")
    ap.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (requests without keys, calls, time, files) and fetch nothing",
    )
    ap.add_argument("--baci-release", default=None, help="also fetch BACI, e.g. 202601")
    ap.add_argument(
        "--estat-route",
        default="stats-data",
        choices=["stats-data", "files"],
        help="e-Stat by table id (getStatsData, default) or the catalog's CSV files",
    )
    ap.add_argument("--comtrade-base", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--estat-base", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--baci-base", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--min-interval", type=float, default=6.0, help="seconds between calls")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: fetch what the events need, then ingest. Returns the exit code."""
    ap = argparse.ArgumentParser(
        prog="python -m tradeimpact.fetch.case_studies", description=DESCRIPTION
    )
    add_arguments(ap)
    return run(ap.parse_args(list(argv) if argv is not None else None))


def _estat_requests(plan: EventPlan) -> list[Any]:
    from tradeimpact.fetch.estat import plan_stats_data

    return plan_stats_data(plan.hs, plan.estat_years, tables="imports")


def _comtrade_args(
    args: argparse.Namespace, plan: EventPlan, job: ComtradeJob, out: Path
) -> dict[str, Any]:
    """The arguments of one job's :func:`fetch_comtrade` call, shared with its dry run."""
    return {
        "reporters": job.reporters,
        "partners": job.partners,
        "hs": plan.hs,
        "start": plan.start,
        "end": plan.end,
        "freq": plan.freq,
        "flows": job.flows,
        "out": out / "comtrade",
        "base_url": args.comtrade_base,
        "min_interval": args.min_interval,
    }


def _baci_args(args: argparse.Namespace, plan: EventPlan, out: Path) -> dict[str, Any]:
    """The arguments of the event's :func:`fetch_baci` call, shared with its dry run."""
    from tradeimpact.fetch.baci import BASE_URL

    y0, y1 = int(plan.start[:4]), int(plan.end[:4])
    return {
        "release": args.baci_release,
        "revision": baci_revision(y0),
        "years": list(range(y0, y1 + 1)),
        "out": out / "baci",
        "base_url": args.baci_base or BASE_URL,
    }


def run(args: argparse.Namespace) -> int:
    """Run ``tradeimpact fetch case-studies`` with parsed ``args`` (see :func:`add_arguments`)."""
    from tradeimpact.paths import ProjectPathError, default_data_dir, default_events_dir

    try:
        events_dir = Path(args.events) if args.events else default_events_dir()
        out = Path(args.out) if args.out else default_data_dir(must_exist=False)
    except ProjectPathError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = Path(args.store) if args.store else out.parent / "store"
    events = sorted(events_dir.glob("*.toml"))
    if not events:
        print(
            f"error: no event files (*.toml) in {events_dir}; pass --events FOLDER",
            file=sys.stderr,
        )
        return 2
    try:
        plans = [plan_event(path) for path in events]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    keyed = bool(os.environ.get(KEY_ENV))
    estat_on = bool(os.environ.get("ESTAT_APP_ID"))
    for plan in plans:
        if plan.skip_reason:
            print(f"{plan.name}: {plan.skip_reason}")
            continue
        calls = plan.comtrade_calls(KEYED_REPORTERS_PER_CALL if keyed else REPORTERS_PER_CALL)
        print(
            f"{plan.name}: {plan.start}..{plan.end}, HS {', '.join(plan.hs)}; UN Comtrade "
            f"{calls} call(s) before splits (~{calls * args.min_interval / 60:.0f} min at one "
            f"call per {args.min_interval:g} s, {'subscription key' if keyed else 'public preview, 500 rows a call'})"
            + (
                f"; e-Stat years {plan.estat_years[0]}-{plan.estat_years[-1]}"
                if plan.estat_years
                else ""
            )
        )
        for job in plan.comtrade:
            print(
                f"  {job.label}: reporters {','.join(job.reporters)}; partners "
                f"{','.join(job.partners)}; flow {','.join(job.flows)}"
            )
    if args.dry_run:
        _print_plans(args, plans, out, store, keyed, estat_on)
        return 0
    progress = not args.no_progress
    summaries: list[Summary] = []
    try:
        for plan in plans:
            for job in plan.comtrade:
                summaries.append(
                    fetch_comtrade(**_comtrade_args(args, plan, job, out), progress=progress)
                )
            if plan.estat_years:
                if estat_on:
                    from tradeimpact.fetch.estat import fetch_estat, fetch_estat_stats_data

                    kwargs: dict[str, Any] = {}
                    if args.estat_base:
                        kwargs["api_base"] = args.estat_base
                    if args.estat_route == "stats-data":
                        summaries.append(
                            fetch_estat_stats_data(
                                _estat_requests(plan),
                                out=out / "estat",
                                progress=progress,
                                **kwargs,
                            )
                        )
                    else:
                        summaries.append(
                            fetch_estat(
                                plan.estat_years, out=out / "estat", progress=progress, **kwargs
                            )
                        )
                else:
                    print(
                        f"{plan.name}: ESTAT_APP_ID is not set: Japan's own customs files "
                        "(e-Stat) skipped; Japan's reports come from UN Comtrade"
                    )
            if args.baci_release:
                from tradeimpact.fetch.baci import fetch_baci

                summaries.append(
                    fetch_baci(**_baci_args(args, plan, out), keep_archive=False, progress=progress)
                )
    except AuthError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    files = sorted({p for s in summaries for p in s.files})
    failed = sum(s.failed for s in summaries)
    print(
        f"fetched {sum(s.fetched for s in summaries)}, skipped {sum(s.skipped for s in summaries)}, "
        f"failed {failed} chunk(s); {len(files)} file(s) on disk"
    )
    if not args.no_ingest and files:
        from tradeimpact.store import FlowStore

        ingest_files = [p for p in files if p.suffix.lower() in (".json", ".csv")]
        report = FlowStore(store).ingest(ingest_files, on_error="skip")
        print(report.summary())
    return 1 if failed else 0


def _print_plans(
    args: argparse.Namespace,
    plans: list[EventPlan],
    out: Path,
    store: Path,
    keyed: bool,
    estat_on: bool,
) -> None:
    """The dry run: every request the fetch would make first, its file, the calls and the time."""
    from tradeimpact.fetch.baci import plan_baci
    from tradeimpact.fetch.comtrade import plan_comtrade
    from tradeimpact.fetch.estat import API_BASE, plan_estat, plan_estat_stats_data

    fetch_plans = []
    for plan in plans:
        for job in plan.comtrade:
            fetch_plans.append(plan_comtrade(**_comtrade_args(args, plan, job, out), keyed=keyed))
        if plan.estat_years and estat_on:
            base = args.estat_base or API_BASE
            if args.estat_route == "stats-data":
                fetch_plans.append(
                    plan_estat_stats_data(_estat_requests(plan), out=out / "estat", api_base=base)
                )
            else:
                fetch_plans.append(plan_estat(plan.estat_years, out=out / "estat", api_base=base))
        if args.baci_release:
            fetch_plans.append(plan_baci(**_baci_args(args, plan, out)))
    for fetch_plan in fetch_plans:
        print(fetch_plan.render())
    calls = sum(p.to_fetch for p in fetch_plans)
    seconds = sum(p.estimated_seconds for p in fetch_plans)
    print(
        f"dry run: {calls} call(s) to make before splits and pages, about {seconds / 60:.1f} min "
        f"of throttle; files under {out}"
        + ("" if args.no_ingest else f"; ingest into {store}")
        + "; nothing was fetched"
    )


if __name__ == "__main__":
    raise SystemExit(main())
