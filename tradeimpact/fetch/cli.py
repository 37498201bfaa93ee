"""``tradeimpact fetch ...``: the command line of the fetchers.

``register(subparsers)`` adds the ``fetch`` command (with ``comtrade``, ``estat``, ``baci`` and
``case-studies``) to the package's argparse CLI; each sets ``func(args) -> int`` (exit code:
0 all fetched, 1 some chunk failed, 2 bad arguments, 3 key refused). ``python -m
tradeimpact.fetch`` runs the same commands on their own.

Examples::

    tradeimpact fetch comtrade --reporters JPN,USA --partners CHN --hs 280530,284610,284690 \\
        --freq M --start 2007-01 --end 2013-12 --flow M --out data_raw/comtrade/
    COMTRADE_API_KEY=... tradeimpact fetch comtrade ...      # subscription endpoint
    ESTAT_APP_ID=... tradeimpact fetch estat --years 2009-2011 --out data_raw/estat/
    ESTAT_APP_ID=... tradeimpact fetch estat --tables imports --hs 850511,280530 --years 2009-2011
    ESTAT_APP_ID=... tradeimpact fetch estat --stats-data-id 0004049326 --hs 850511 --years 2026
    tradeimpact fetch baci --release 202601 --hs-revision HS07 --years 2008-2011 --out data_raw/baci/
    tradeimpact fetch case-studies --dry-run

Every command takes ``--dry-run``: it prints the plan (each request's URL without any key, the
file it would write, whether that file is already on disk, the number of calls and the throttle
time) and exits 0 without any network access. ``--out`` defaults to ``<project>/data_raw/<source>``
(:func:`tradeimpact.paths.default_data_dir`), whatever the current folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tradeimpact.errors import TradeImpactError
from tradeimpact.fetch.chunks import print_summary
from tradeimpact.fetch.http import AuthError


def _years(text: str) -> list[int]:
    """``2009-2011`` or ``2009,2011`` -> years."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out


def _list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _out(args: argparse.Namespace, source: str) -> Path:
    """``--out``, else ``<project>/data_raw/<source>``."""
    if args.out:
        return Path(args.out)
    from tradeimpact.paths import default_data_dir

    return default_data_dir(must_exist=False) / source


def _run(func: Any, args: argparse.Namespace) -> int:
    try:
        if args.dry_run:
            plan = func(args, dry_run=True)
            print(plan.render())
            return 0
        summary = func(args)
    except AuthError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (TradeImpactError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.no_progress:  # the fetchers print their summary with the progress bar
        print_summary(summary)
    return 0 if summary.ok else 1


def _comtrade(args: argparse.Namespace, dry_run: bool = False) -> Any:
    from tradeimpact.fetch.comtrade import fetch_comtrade, plan_comtrade

    kwargs: dict[str, Any] = {
        "start": args.start,
        "end": args.end,
        "freq": args.freq,
        "flows": _list(args.flow),
        "out": _out(args, "comtrade"),
        "base_url": args.base_url,
        "row_cap": args.row_cap,
        "min_interval": args.min_interval,
    }
    partners = None if args.partners.lower() == "all" else _list(args.partners)
    if dry_run:
        return plan_comtrade(_list(args.reporters), partners, _list(args.hs), **kwargs)
    return fetch_comtrade(
        _list(args.reporters), partners, _list(args.hs), progress=not args.no_progress, **kwargs
    )


def _estat(args: argparse.Namespace, dry_run: bool = False) -> Any:
    from tradeimpact.fetch import estat

    out = _out(args, "estat")
    base = args.base_url or estat.API_BASE
    years = _years(args.years) if args.years else []
    if args.stats_data_id or args.tables:
        if not args.hs:
            raise ValueError("the getStatsData route (--stats-data-id / --tables) needs --hs")
        requests = estat.plan_stats_data(
            _list(args.hs),
            years,
            stats_data_ids=_list(args.stats_data_id) if args.stats_data_id else (),
            tables=args.tables,
            areas=_list(args.area) if args.area else (),
        )
        if dry_run:
            return estat.plan_estat_stats_data(
                requests, out=out, api_base=base, min_interval=args.min_interval
            )
        return estat.fetch_estat_stats_data(
            requests,
            out=out,
            api_base=base,
            refresh=args.refresh,
            min_interval=args.min_interval,
            progress=not args.no_progress,
        )
    ids = _list(args.stat_inf_ids) if args.stat_inf_ids else ()
    if dry_run:
        return estat.plan_estat(
            years, out=out, flows=_list(args.flow), api_base=base, stat_inf_ids=ids,
            min_interval=args.min_interval,
        )  # fmt: skip
    return estat.fetch_estat(
        years,
        out=out,
        flows=_list(args.flow),
        api_base=base,
        title_filter=args.title_filter,
        stat_inf_ids=ids,
        refresh_catalog=args.refresh_catalog,
        min_interval=args.min_interval,
        progress=not args.no_progress,
    )


def _baci(args: argparse.Namespace, dry_run: bool = False) -> Any:
    from tradeimpact.fetch.baci import BASE_URL, fetch_baci, plan_baci

    out = _out(args, "baci")
    if dry_run:
        return plan_baci(
            args.release, args.hs_revision, _years(args.years), out=out,
            base_url=args.base_url or BASE_URL,
        )  # fmt: skip
    return fetch_baci(
        args.release,
        args.hs_revision,
        _years(args.years),
        out=out,
        base_url=args.base_url or BASE_URL,
        expected_sha256=args.sha256,
        keep_archive=not args.remove_archive,
        progress=not args.no_progress,
    )


_DRY_RUN = "print the plan (requests without keys, calls, time, files) and fetch nothing"


def _add_run_options(p: argparse.ArgumentParser, func: Any) -> None:
    """The options every source command ends with, and its ``func``: ``_run(func, args)``."""
    p.add_argument("--base-url", default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dry-run", action="store_true", help=_DRY_RUN)
    p.set_defaults(func=lambda a: _run(func, a))


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``fetch`` and its sub-commands to ``subparsers`` (from ``add_subparsers()``)."""
    fetch = subparsers.add_parser(
        "fetch",
        help="download the real data (UN Comtrade, e-Stat, BACI), resumable",
        description="Download raw data into data_raw/, resumable; see README 'Fetching the real data'.",
    )
    sub = fetch.add_subparsers(dest="fetch_source", metavar="SOURCE")
    sub.required = True

    p = sub.add_parser("comtrade", help="UN Comtrade API v1 (COMTRADE_API_KEY optional)")
    p.add_argument("--reporters", required=True, help="ISO3 or Comtrade codes, comma-separated")
    p.add_argument("--partners", default="all", help="ISO3 codes, comma-separated, or 'all'")
    p.add_argument("--hs", required=True, help="HS codes, comma-separated")
    p.add_argument("--freq", default="M", choices=["M", "A"])
    p.add_argument("--start", required=True, help="YYYY-MM (monthly) or YYYY (annual)")
    p.add_argument("--end", required=True, help="YYYY-MM (monthly) or YYYY (annual)")
    p.add_argument("--flow", default="M", help="M, X or M,X")
    p.add_argument("--out", default=None, help="default <project>/data_raw/comtrade")
    p.add_argument("--row-cap", type=int, default=None, help="rows a call (500 / 100,000)")
    p.add_argument("--min-interval", type=float, default=6.0, help="seconds between calls")
    _add_run_options(p, _comtrade)

    p = sub.add_parser("estat", help="Japan's trade statistics from e-Stat (ESTAT_APP_ID)")
    p.add_argument("--years", default="", help="e.g. 2009-2011 or 2010,2012")
    p.add_argument("--flow", default="M", help="file route: M (imports), X (exports) or M,X")
    p.add_argument("--out", default=None, help="default <project>/data_raw/estat")
    p.add_argument(
        "--stats-data-id",
        default=None,
        help="getStatsData route: table id(s), e.g. 0004049326 (research/events.md 5.2)",
    )
    p.add_argument(
        "--tables",
        default=None,
        choices=["imports", "exports"],
        help="getStatsData route: the commodity-by-country tables holding --years",
    )
    p.add_argument("--hs", default=None, help="getStatsData route: 9-digit codes or HS prefixes")
    p.add_argument("--area", default=None, help="getStatsData route: area codes (50105 China)")
    p.add_argument("--title-filter", default=None, help="regular expression on file titles")
    p.add_argument("--stat-inf-ids", default=None, help="e-Stat file ids to download directly")
    p.add_argument("--refresh-catalog", action="store_true", help="ask the catalog again")
    p.add_argument(
        "--refresh", action="store_true", help="getStatsData route: ask every page again"
    )
    p.add_argument("--min-interval", type=float, default=1.0, help="seconds between calls")
    _add_run_options(p, _estat)

    p = sub.add_parser("baci", help="CEPII BACI release archive, only the years asked unpacked")
    p.add_argument("--release", required=True, help="e.g. 202601")
    p.add_argument("--hs-revision", required=True, help="HS92 HS96 HS02 HS07 HS12 HS17 HS22")
    p.add_argument("--years", required=True, help="e.g. 2008-2011")
    p.add_argument("--out", default=None, help="default <project>/data_raw/baci")
    p.add_argument("--sha256", default=None, help="expected sha256 of the archive")
    p.add_argument("--remove-archive", action="store_true", help="delete the zip once unpacked")
    _add_run_options(p, _baci)

    from tradeimpact.fetch import case_studies

    p = sub.add_parser(
        "case-studies",
        help="what analysis/events/ needs, then ingest (as nox -s fetch)",
        description=case_studies.DESCRIPTION,
    )
    case_studies.add_arguments(p)
    p.set_defaults(func=case_studies.run)
    return fetch


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tradeimpact.fetch SOURCE ...``."""
    parser = argparse.ArgumentParser(prog="python -m tradeimpact.fetch")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["fetch", *(list(argv) if argv is not None else sys.argv[1:])])
    return int(args.func(args))
