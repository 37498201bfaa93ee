"""The ``tradeimpact`` command line.

Commands::

    tradeimpact ingest PATH... --store DIR [--source NAME] [--mapping FILE.json] [--all-or-nothing]
                       [--lock-timeout SECONDS]
    tradeimpact sources
    tradeimpact store check --store DIR [--repair] [--quick]
    tradeimpact store vacuum --store DIR
    tradeimpact store remove PATH... --store DIR
    tradeimpact store rehome OLD NEW --store DIR

Every command that writes a store holds its writer lock; a second writer waits up to
``--lock-timeout`` seconds (default 600), saying so, then fails with exit code 1.

Each command lives in a module with a ``register(subparsers)`` function that adds its parser and
sets ``func(args) -> int`` (the exit code); :data:`SUBCOMMAND_MODULES` lists them, so adding a
command is one line here plus its module.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from tradeimpact import __version__
from tradeimpact.errors import TradeImpactError

__all__ = ["SUBCOMMAND_MODULES", "build_parser", "main"]

#: modules with ``register(subparsers)``; each adds one command
SUBCOMMAND_MODULES: list[str] = [
    "tradeimpact.cli",  # ingest, sources (below)
    "tradeimpact.fetch.cli",  # fetch
]


def _generic_reader(mapping_file: str) -> Any:
    """A GenericReader from a JSON file of its keyword arguments (``mapping``, ``source``...).

    Read by :meth:`GenericReader.from_json`; a bad file (invalid JSON with its line and column,
    an unknown key with the nearest known one) prints the error and exits with status 2.
    """
    from tradeimpact.sources.generic import GenericReader, MappingError

    try:
        return GenericReader.from_json(mapping_file)
    except MappingError as exc:
        Console(file=sys.stderr).print(f"error: {exc}", markup=False, highlight=False)
        raise SystemExit(2) from None


def _ingest(args: argparse.Namespace) -> int:
    from tradeimpact.store import FlowStore

    out = Console(file=sys.stdout, width=args.width)
    err = Console(file=sys.stderr, width=args.width)
    source: Any = args.source
    if args.mapping:
        source = _generic_reader(args.mapping)
    elif source == "generic":
        err.print("[red]--source generic needs --mapping FILE.json (GenericReader arguments)[/]")
        return 2
    store = FlowStore(args.store, lock_timeout=args.lock_timeout, on_wait=_waiting(err))
    paths = [Path(p) for p in args.paths]
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=args.no_progress,
    ) as bar:
        task = bar.add_task("ingesting", total=len(paths))

        def progress(path: str, stage: str) -> None:
            if stage == "start":
                bar.update(task, description=f"ingesting {Path(path).name}")
            else:
                bar.advance(task)

        try:
            report = store.ingest(
                paths,
                source,
                on_error="raise" if args.all_or_nothing else "skip",
                progress=progress,
            )
        except TradeImpactError as exc:
            err.print(f"[red]error:[/] {exc}", highlight=False, markup=True)
            err.print("nothing was stored (the store is unchanged)")
            return 1
        except (OSError, KeyboardInterrupt) as exc:  # the store's disk (full, read-only), ^C
            what = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{args.store}: {exc}"
            err.print(f"[red]error:[/] {what}", highlight=False, markup=True)
            err.print(
                "the store holds its state before or after this ingest, never half "
                f"(tradeimpact store check --store {args.store})",
                highlight=False,
            )
            return 130 if isinstance(exc, KeyboardInterrupt) else 1

    table = Table(title=f"ingest into {args.store}")
    table.add_column("file", overflow="fold")
    table.add_column("reader")
    table.add_column("status")
    for name in ("rows read", "stored", "quarantined"):
        table.add_column(name, justify="right")
    failed = 0
    for f in report.files:
        if f.status.startswith("error"):
            failed += 1
            table.add_row(f.path, "-", "[red]error[/]", "-", "-", "-")
        else:
            table.add_row(
                f.path,
                f"{f.reader} {f.reader_version}",
                f.status,
                f"{f.rows_read:,}",
                f"{f.rows_stored:,}",
                f"{f.rows_quarantined:,}",
            )
    table.add_row(
        "total",
        "",
        "",
        f"{report.rows_read:,}",
        f"{report.rows_stored:,}",
        f"{report.rows_quarantined:,}",
        end_section=True,
    )
    out.print(table)
    for f in report.files:
        if f.status.startswith("error"):
            err.print(f"[red]{f.status}[/]", highlight=False)
    if report.rows_quarantined:
        err.print(
            f"{report.rows_quarantined:,} rows quarantined with their reasons: "
            f"FlowStore({str(args.store)!r}).quarantine()",
            highlight=False,
        )
    return 1 if failed else 0


def _waiting(err: Console) -> Any:
    """The ``on_wait`` of a FlowStore: the message on stderr."""

    def say(message: str) -> None:
        err.print(message, highlight=False, markup=False)

    return say


def _store_command(args: argparse.Namespace) -> int:
    """``tradeimpact store check|vacuum|remove|rehome``."""
    from tradeimpact.store import FlowStore

    out = Console(file=sys.stdout, width=args.width)
    err = Console(file=sys.stderr, width=args.width)
    store = FlowStore(args.store, lock_timeout=args.lock_timeout, on_wait=_waiting(err))
    try:
        if args.store_command == "check":
            result = store.check(verify=not args.quick, repair=args.repair)
            out.print(result.summary(), highlight=False, markup=False)
            return 0 if result.ok else 1
        if args.store_command == "vacuum":
            vacuumed = store.vacuum()
            for rel in vacuumed.removed:
                out.print(f"removed {rel}", highlight=False, markup=False)
            out.print(
                f"{len(vacuumed.removed)} files removed, {vacuumed.bytes_freed:,} bytes freed",
                highlight=False,
            )
            return 0
        if args.store_command == "remove":
            removed = store.remove(args.paths)
            for path in removed.removed:
                out.print(f"removed {path}", highlight=False, markup=False)
            out.print(f"{removed.rows_removed:,} stored rows removed", highlight=False)
            for path, n in removed.affected.items():
                err.print(
                    f"{path}: {n:,} rows quarantined as duplicates of a removed input are now "
                    "stored nowhere; to store them: tradeimpact store remove "
                    f"{path} --store {args.store}, then ingest it again",
                    highlight=False,
                    markup=False,
                )
            return 0
        key = store.rehome(args.old, args.new)
        out.print(f"{args.old} -> {key} (rows unchanged)", highlight=False, markup=False)
        return 0
    except TradeImpactError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, markup=True)
        if args.store_command in ("remove", "rehome"):
            err.print("nothing was changed")
        return 1


def _sources(args: argparse.Namespace) -> int:
    from tradeimpact.sources import READERS, available_readers

    table = Table(title="formats tradeimpact reads")
    table.add_column("name")
    table.add_column("format")
    table.add_column("reader")
    for name, description in available_readers().items():
        table.add_row(name, description, READERS[name])
    Console(file=sys.stdout, width=args.width).print(table)
    return 0


def _lock_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="wait at most this long for another process writing the store (default 600)",
    )


def register(subparsers: Any) -> None:
    """Add ``ingest``, ``store`` and ``sources``."""
    p = subparsers.add_parser(
        "ingest",
        help="validate raw files and store them in a Parquet store",
        description="Read raw customs files, validate them, store the good rows (Parquet, "
        "partitioned by source and year) and quarantine the rest with a reason.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="raw files")
    p.add_argument("--store", required=True, metavar="DIR", help="the store's folder")
    p.add_argument(
        "--source",
        default=None,
        metavar="NAME",
        help="format of every PATH (see `tradeimpact sources`); detected if omitted",
    )
    p.add_argument(
        "--mapping",
        default=None,
        metavar="FILE.json",
        help="generic reader: JSON of GenericReader arguments (mapping, source, ...)",
    )
    p.add_argument(
        "--all-or-nothing",
        action="store_true",
        help="abort and leave the store unchanged if any file cannot be read",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _lock_timeout_option(p)
    p.set_defaults(func=_ingest)

    p = subparsers.add_parser(
        "store",
        help="check, vacuum, remove inputs from, or re-home inputs of a store",
        description="Maintain a store: check its files against its manifest (and repair an "
        "interrupted write), vacuum the files of earlier versions, remove inputs, or record that "
        "an input file moved.",
    )
    verbs = p.add_subparsers(dest="store_command", metavar="VERB")
    verbs.required = True
    v = verbs.add_parser("check", help="check the files against the manifest (exit 1: problems)")
    v.add_argument("--repair", action="store_true", help="recover an interrupted write first")
    v.add_argument("--quick", action="store_true", help="names only: do not read the files' bytes")
    v = verbs.add_parser("vacuum", help="recover, then remove the files of earlier versions")
    v = verbs.add_parser("remove", help="remove inputs (their stored and quarantined rows)")
    v.add_argument("paths", nargs="+", metavar="PATH", help="inputs as ingested")
    v = verbs.add_parser("rehome", help="record that an input moved (same bytes), rows unchanged")
    v.add_argument("old", metavar="OLD", help="the input's path as ingested")
    v.add_argument("new", metavar="NEW", help="where the same file is now")
    for v in verbs.choices.values():
        v.add_argument("--store", required=True, metavar="DIR", help="the store's folder")
        _lock_timeout_option(v)
        v.set_defaults(func=_store_command)

    p = subparsers.add_parser("sources", help="list the raw formats tradeimpact reads")
    p.set_defaults(func=_sources)


def build_parser() -> argparse.ArgumentParser:
    """The ``tradeimpact`` parser with every command of :data:`SUBCOMMAND_MODULES`."""
    parser = argparse.ArgumentParser(
        prog="tradeimpact",
        description="Measure what an export restriction did to trade, from customs data.",
    )
    parser.add_argument("--version", action="version", version=f"tradeimpact {__version__}")
    parser.add_argument("--width", type=int, default=None, help=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = (
                sys.modules[__name__]
                if module_name == __name__
                else (importlib.import_module(module_name))
            )
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # a command module not in this installation
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tradeimpact``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
