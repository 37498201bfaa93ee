"""The Parquet store of validated flows, its manifest, and the mirror view.

Layout of a store ``root``::

    root/manifest.json                                   the list of live files (the commit record)
    root/flows/source=<source>/year=<yyyy>/<id>.parquet  stored rows of one input, one year
    root/quarantine/source=<source>/<id>.parquet         rejected rows of one input, with reasons
    root/versions/flows/..., root/versions/quarantine/... the same files (hard links), plus the
                                                         files of earlier versions until a vacuum
    root/.lock                                           the writer lock (not data)

``<id>`` is ``<hash>-g<generation>``: a hash of (input path, input sha256, reader name and version)
and the number of the commit that wrote the file. The hive folders ``flows/`` and ``quarantine/``
hold exactly the files the manifest lists (after any interrupted write is recovered), so DuckDB,
pyarrow or Spark reading ``flows/**/*.parquet`` with hive partitioning read exactly what
:meth:`FlowStore.scan` reads. :meth:`FlowStore.scan` reads the ``versions/`` links, so a LazyFrame
taken before a later write keeps reading the state it was taken from until :meth:`FlowStore.vacuum`
removes the files no manifest lists any more.

Guarantees (each one tested in ``tests/test_store*.py``):

* **idempotent**: an input whose bytes, reader and reader version are unchanged is skipped;
  a changed input replaces its own rows only (inputs are identified by their resolved path);
* **one writer at a time**: ingest, remove, rehome, vacuum and repair hold the store's exclusive
  writer lock (:mod:`tradeimpact.store_lock`) from before they read the manifest to after their
  last file operation; a second writer waits (``lock_timeout`` seconds, then
  :class:`~tradeimpact.store_lock.StoreLockedError`). Readers take no lock.
* **atomic and crash-safe**: the commit protocol below leaves the old or the new state whatever
  the point at which the process dies; readers of the manifest see one or the other, never half;
* **durable**: data files, the manifest and their folders are fsynced before the commit point;
  the manifest records each data file's sha256 (:meth:`FlowStore.check` verifies them);
* **deterministic**: rows in the input's order (sorted by ``source_line``), file names from
  content hashes and the commit number, no timestamps anywhere: the same inputs ingested in the
  same order give byte-identical stores, also when a write was killed and run again;
* **one row per key** per source: a row whose key is already stored from another input of the same
  source is quarantined, naming that input;
* **streaming**: each input is read lazily where its reader allows and written with
  ``sink_parquet``; stored rows are never collected into memory.

Commit protocol (generation ``g`` is the manifest's ``generation``; a write makes ``g + 1``):

1. take the writer lock; **recover** (below); read the manifest;
2. stage: every new file is written under ``root/.staging-*/`` with a name ending ``-g<g+1>``;
3. take the commit lock (exclusive; :meth:`FlowStore.hive` readers hold it shared), create the
   marker ``.commit-pending`` (fsynced); move each new file (already fsynced) to
   ``versions/<rel>``, then hard-link each to ``<rel>`` in the hive folder; fsync the folders;
4. write ``.manifest.json.tmp`` (fsync), ``os.replace`` it onto ``manifest.json``, fsync ``root``:
   **the commit point**;
5. unlink the replaced files from the hive folder (their ``versions/`` links stay for older
   scans); remove empty folders and the marker; release the commit lock; remove the staging
   folder; release the writer lock.

Recovery (at the start of every write, and by :meth:`FlowStore.check` with ``repair=True`` and
:meth:`FlowStore.vacuum`) needs no journal, because the manifest is one: it removes staging
folders and ``.manifest.json.tmp``; unlinks from ``flows/`` and ``quarantine/`` every file the
manifest does not list (a replaced file a kill left there stays under ``versions/`` until a
vacuum); removes the files of generation ``g + 1`` when the marker is there (they are the
interrupted commit's; a committed file is never removed by a recovery); restores a listed file's
hive or ``versions/`` link from the other. A kill before step 4 is thus rolled back, a kill after
it rolled forward; recovery is idempotent, so a kill during recovery is recovered by the next
one; it removes the marker last. Files of a later generation than the manifest's that no marker
explains (a ``manifest.json`` replaced by an older copy) are left alone and reported by
:meth:`FlowStore.check`; only :meth:`FlowStore.vacuum` deletes committed files, and never those. Between steps 3 and 5 of a running write
(and after a kill there, until the next recovery) the hive folder holds both the new and the
replaced files: other engines read it inside :meth:`FlowStore.hive`, which waits for a running
commit and recovers an interrupted one first (it refuses, naming the repair, only when another
process holds the writer lock or the store is read-only).

Environment variable ``TRADEIMPACT_CRASH_AT`` (test-only, see
:func:`tradeimpact.store_lock.crash_point`) kills the process at a named point of this sequence.

One read of each input: the reader's checks and the shared checks (:func:`~tradeimpact.ingest.
shared_checks`) are folded into one integer (the first failing check); valid rows go straight to
their year partitions (inputs of more than ``_BATCH_ROWS`` rows: to a staging file, then to the
partitions in batches of years, which bounds memory), rejected rows - their reason texts built for
them only - to a staging file, both from the same scan. The flow-key check then reads the stored
key columns (64-bit hashes first), and repeated keys are moved to the quarantine.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tradeimpact.errors import SourceFormatError, TradeImpactError
from tradeimpact.ingest import (
    CLASH_SCHEMA,
    FileReport,
    IngestReport,
    _check_schema,
    duplicate_keys,
    mark_duplicates,
    quarantine_rows,
    shared_checks,
)
from tradeimpact.schema import FLOW_COLUMNS, FLOW_KEY, FLOW_SCHEMA, QUARANTINE_SCHEMA
from tradeimpact.sources import detect_reader, get_reader
from tradeimpact.sources._text import Check, Staged, polars_file_error, problem_index, problem_text
from tradeimpact.sources.base import Reader
from tradeimpact.store_lock import StoreLockedError, commit_lock, crash_point, writer_lock

__all__ = [
    "MANIFEST_FORMAT",
    "FlowStore",
    "RemoveReport",
    "StoreCheck",
    "StoreLockedError",
    "VacuumReport",
    "file_sha256",
    "mirror",
]

MANIFEST_FORMAT = "tradeimpact-store/1"
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_HIVE = {"source": pl.String(), "year": pl.Int32()}

#: called as ``progress(path, stage)`` with stage "start", "done" or "unchanged"
Progress = Callable[[str, str], None]

#: the folder of the data files' version links (outside the hive folders other engines read)
VERSIONS = "versions"
_HIVE_DIRS = ("flows", "quarantine")
_MANIFEST_TMP = ".manifest.json.tmp"
#: exists from the start of a commit's changes to the hive folder until they are complete
_PENDING = ".commit-pending"
_GENERATION = re.compile(r"-g(\d+)\.parquet$")
#: an entry's fields and their types (a manifest is checked against them when read)
_ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "path": str,
    "source": str,
    "reader": str,
    "reader_version": str,
    "sha256": str,
    "rows_read": int,
    "rows_stored": int,
    "rows_quarantined": int,
    "files": list,
    "quarantine_files": list,
}
#: entry fields that are not columns of :meth:`FlowStore.inputs`
_FILE_FIELDS = ("files", "quarantine_files", "file_sha256", "moved_from")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _hash_and_sync(path: Path) -> str:
    """SHA-256 of a file just written, flushed to disk (``fsync``) in the same pass."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        os.fsync(handle.fileno())
    return digest.hexdigest()


def _sync_dir(folder: Path) -> None:
    """``fsync`` a folder, so the names created or removed in it are on disk."""
    if os.name == "nt":  # Windows cannot open a folder; NTFS journals its metadata itself
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link of ``source`` (a copy where the filesystem has no hard links)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
            raise
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(source, tmp)
        _hash_and_sync(tmp)
        os.replace(tmp, target)


def _generation(file: Path) -> int:
    """The commit number in a data file's name (0 for names of stores older than the counter)."""
    match = _GENERATION.search(file.name)
    return int(match.group(1)) if match else 0


def _live(manifest: dict[str, Any]) -> set[str]:
    """Relative paths of every file a manifest lists (stored rows and quarantine)."""
    return {
        rel
        for entry in manifest["inputs"].values()
        for rel in [*entry["files"], *entry["quarantine_files"]]
    }


def _remove_empty_dirs(top: Path) -> None:
    """Remove the empty folders under ``top`` (and ``top`` itself when it ends up empty)."""
    if not top.is_dir():
        return
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not any(top.iterdir()):
        top.rmdir()


def _files_under(top: Path) -> list[Path]:
    """Every file under ``top`` (none when it does not exist), sorted."""
    return sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []


_LINE = re.compile(r"\bline:? (\d+)", re.IGNORECASE)
#: errors of the store's own disk, never of one input: they abort the call
_STORE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _file_error(path: Path, exc: Exception) -> SourceFormatError | None:
    """The per-file error for an exception raised while reading ``path`` (None: not per-file).

    A reader may fail in many ways on a bad file (polars, csv, zlib, decoding, I/O errors); each
    becomes a :class:`SourceFormatError` naming the file (and the line where the message gives
    one), so the other files of the call are still stored. A full or read-only disk, memory
    exhaustion and the store's own errors are not about one file and are re-raised.
    """
    if isinstance(exc, SourceFormatError):
        return exc
    if isinstance(exc, MemoryError | RecursionError) or (
        isinstance(exc, TradeImpactError) and not isinstance(exc, SourceFormatError)
    ):
        return None
    if isinstance(exc, OSError) and exc.errno in _STORE_ERRNOS:
        return None
    if isinstance(exc, pl.exceptions.PolarsError):
        return polars_file_error(path, exc)
    if isinstance(exc, UnicodeDecodeError) and exc.encoding.replace("-", "").lower() == "utf8":
        return polars_file_error(path, exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = {
        csv.Error: "malformed CSV",
        zlib.error: "broken compressed data",
        UnicodeError: "broken encoding",
        EOFError: "the file ends early (truncated?)",
        OSError: "cannot read the file",
    }
    what = next((label for cls, label in kind.items() if isinstance(exc, cls)), None)
    what = what or f"cannot read the file ({type(exc).__name__})"
    match = _LINE.search(text)
    return SourceFormatError(
        path,
        f"{what}: {text}" if text else what,
        line=int(match.group(1)) if match else None,
    )


def _reading(path: Path, call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, a reader's call on ``path``: what it raises becomes the per-file error."""
    try:
        return call(*args)
    except Exception as exc:
        error = _file_error(path, exc)
        if error is None:
            raise
        if error is exc:
            raise
        raise error from exc


def _source_of(reader: Reader) -> str:
    source = str(getattr(reader, "source", None) or reader.name)
    if not _SOURCE_NAME.match(source):
        raise TradeImpactError(
            f"source name '{source}' must be letters, digits, '_', '-' or '.' (it names a folder)"
        )
    return source


def _sink(frame: pl.LazyFrame, target: Any, **kwargs: Any) -> None:
    """``frame.sink_parquet(target, **kwargs)`` on the streaming engine (one seam for tests).

    With ``target`` None, ``frame`` is a plan of sinks (``collect_all(..., lazy=True)``), run.
    """
    if target is None:
        frame.collect(engine="streaming")
    else:
        frame.sink_parquet(target, engine="streaming", **kwargs)


def _sink_pass(
    good: pl.LazyFrame,
    rejected: pl.LazyFrame,
    good_target: Any,
    bad_path: Path,
    suspect: pl.LazyFrame | None = None,
    suspect_path: Path | None = None,
) -> None:
    """Sink the branches of one plan in one streaming run (the input is scanned once)."""
    sinks = [
        good.sink_parquet(good_target, lazy=True, mkdir=True),
        rejected.sink_parquet(bad_path, lazy=True),
    ]
    if suspect is not None and suspect_path is not None:
        sinks.append(suspect.sink_parquet(suspect_path, lazy=True))
    _sink(pl.collect_all(sinks, lazy=True), None)


def _partitions(year_dir: Path, stem: str) -> pl.PartitionBy:
    """Year partitions ``year_dir/year=<yyyy>/<stem>.parquet`` of a frame with a ``year`` column."""
    return pl.PartitionBy(
        year_dir,
        key="year",
        include_key=False,
        file_path_provider=_year_file(stem),
        approximate_bytes_per_file=None,
    )


def _estimated_rows(path: Path) -> int:
    """Rows of a plain text file estimated from the length of its first lines (gzip: unbounded)."""
    from tradeimpact.sources._text import head_bytes, is_gzip

    if is_gzip(path):
        return 1 << 62
    head = head_bytes(path)
    lines = max(head.count(b"\n"), 1)
    return int(path.stat().st_size * lines / len(head)) + 1


def _scan_years(files: list[Path], source: str) -> pl.LazyFrame:
    """Stored rows of year files (written without ``source``), as canonical columns."""
    if not files:
        return pl.LazyFrame(schema=FLOW_SCHEMA)
    frame = pl.scan_parquet(files).with_columns(pl.lit(source, dtype=pl.String).alias("source"))
    return frame.select(FLOW_COLUMNS)


def _drop_rows(files: list[Path], source: str, keep: pl.Expr) -> None:
    """Rewrite each year file keeping the rows where ``keep``; a file left empty is removed."""
    for file in files:
        kept = _scan_years([file], source).filter(keep).drop("source")
        tmp = file.with_suffix(".tmp")
        _sink(kept, tmp)
        if pl.scan_parquet(tmp).select(pl.len()).collect().item():
            os.replace(tmp, file)
        else:
            tmp.unlink()
            file.unlink()


#: rows of year partitions written in one pass (bounds the memory of a PartitionBy sink); a file
#: of at most this many rows is partitioned by the first pass (10M Comtrade rows: 1.0 GiB peak)
_BATCH_ROWS = 12_000_000


def _year_batches(counts: list[tuple[int, int]], limit: int) -> list[list[int]]:
    """Consecutive years grouped so that each group holds at most ``limit`` rows (or one year)."""
    batches: list[list[int]] = []
    rows = 0
    for year, n in counts:
        if batches and rows + n <= limit:
            batches[-1].append(year)
            rows += n
        else:
            batches.append([year])
            rows = n
    return batches


def _year_file(stem: str) -> Callable[[Any], str]:
    """File path provider of the year partitions: ``year=<yyyy>/<stem>.parquet``."""

    def provide(args: Any) -> str:
        return f"year={args.partition_keys['year'][0]}/{stem}.parquet"

    return provide


def _staged(reader: Reader, path: Path) -> Staged:
    """The reader's output for ``path`` as a :class:`Staged` (its own, or its ``read`` wrapped)."""
    read_staged = getattr(reader, "read_staged", None)
    if callable(read_staged):
        staged: Staged = read_staged(path)
        # the contract's schema (without the deferred field count that canonical() runs)
        _check_schema(Staged(staged.frame, staged.columns, staged.checks).canonical(), str(path))
        return staged
    frame = reader.read(path)
    _check_schema(frame, str(path))
    columns = {name: pl.col(name) for name in FLOW_COLUMNS}
    verdict: Check = (
        pl.col("reject_reason").is_not_null(),
        pl.col("reject_field"),
        pl.col("reject_reason"),
    )
    return Staged(frame, columns, [verdict])


def _first_pass(
    staged: Staged, period_range: tuple[Any, Any] | None, by_year: bool = False
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame | None]:
    """(valid rows, rejected rows, suspect lines) of a staged reader plus the shared checks.

    One plan: the canonical columns are computed once (as ``__c_<name>``); the first failing
    check of a row is one integer column; the reason texts are built after the filter, on
    rejected rows only. With ``by_year``, the valid rows carry ``year`` instead of ``source``
    (for the partitions). The third frame holds the ``_line`` of the rows ``staged.suspect``
    marks (None without a deferred field count).
    """
    inner = {name: f"__c_{name}" for name in FLOW_COLUMNS}
    frame = staged.frame.with_columns(
        expr.alias(inner[name]) for name, expr in staged.columns.items()
    )
    checks = [*staged.checks, *shared_checks(lambda name: pl.col(inner[name]), period_range)]
    flagged = frame.with_columns(problem_index(checks).alias("__problem"))
    canonical = [pl.col(inner[name]).alias(name) for name in FLOW_COLUMNS]
    problem = pl.col("__problem")
    field, reason = problem_text(checks, problem)
    good = flagged.filter(problem.is_null()).select(canonical)
    if by_year:  # for the year partitions: ``year`` (the partition key) instead of ``source``
        good = good.with_columns(pl.col("period").dt.year().alias("year")).drop("source")
    rejected = flagged.filter(problem.is_not_null()).select(
        *canonical, field.alias("reject_field"), reason.alias("reject_reason")
    )
    suspect = None
    if staged.suspect is not None:
        # from ``flagged``, as the other two branches: one scan feeds the three sinks (a branch
        # from ``frame`` had polars scan part of the input twice)
        suspect = flagged.filter(staged.suspect.fill_null(False)).select("_line")
    return good, rejected, suspect


@dataclass
class StoreCheck:
    """What :meth:`FlowStore.check` found; :attr:`ok` when nothing needs repair.

    Every list holds paths relative to the store (or messages naming them).
    """

    root: str
    #: why the manifest cannot be read (nothing else is checked then), or None
    manifest_error: str | None = None
    #: files the manifest lists that are not on disk (in the hive folder or ``versions/``)
    missing: list[str] = field(default_factory=list)
    #: files in ``flows/`` or ``quarantine/`` the manifest does not list (other engines read them)
    unlisted: list[str] = field(default_factory=list)
    #: staging folders and temporary files an interrupted write left
    leftovers: list[str] = field(default_factory=list)
    #: ``versions/`` files of an interrupted (uncommitted) write
    uncommitted: list[str] = field(default_factory=list)
    #: files whose bytes or row counts differ from the manifest's record
    mismatched: list[str] = field(default_factory=list)
    #: files of generations after the manifest's that no interrupted write explains: was
    #: ``manifest.json`` replaced by an older copy? Never removed by a repair or a vacuum
    later: list[str] = field(default_factory=list)
    #: facts that are no problem of the store (e.g. an input moved since it was ingested)
    notes: list[str] = field(default_factory=list)
    #: files of earlier versions kept for older scans, and their bytes (a vacuum frees them)
    old_versions: int = 0
    old_bytes: int = 0

    @property
    def ok(self) -> bool:
        """True when the manifest reads and every file is where it says, with its bytes."""
        return self.manifest_error is None and not (
            self.missing
            or self.unlisted
            or self.leftovers
            or self.uncommitted
            or self.mismatched
            or self.later
        )

    def summary(self) -> str:
        """Plain text: one line per problem, then the notes."""
        lines = [f"store {self.root}: " + ("ok" if self.ok else "PROBLEMS")]
        if self.manifest_error:
            lines.append(f"  manifest: {self.manifest_error}")
        for label, items in (
            ("listed but missing", self.missing),
            ("not listed (orphan)", self.unlisted),
            ("left by an interrupted write", self.leftovers),
            ("uncommitted", self.uncommitted),
            ("damaged", self.mismatched),
            ("newer than the manifest (was manifest.json replaced by an older copy?)", self.later),
        ):
            lines += [f"  {label}: {item}" for item in items]
        if self.old_versions:
            lines.append(
                f"  {self.old_versions} files of earlier versions ({self.old_bytes:,} bytes) kept "
                "for older scans; `tradeimpact store vacuum` removes them"
            )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


@dataclass
class VacuumReport:
    """What :meth:`FlowStore.vacuum` removed: paths (relative to the store) and bytes freed."""

    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0


@dataclass
class RemoveReport:
    """What :meth:`FlowStore.remove` did.

    ``affected`` maps each remaining input to the number of its rows quarantined as duplicates of
    a removed input's rows: those rows are in no input's stored rows now (remove that input and
    ingest it again to store them).
    """

    removed: list[str] = field(default_factory=list)
    rows_removed: int = 0
    affected: dict[str, int] = field(default_factory=dict)


class FlowStore:
    """A validated, hive-partitioned Parquet store of canonical flow records.

    Parameters
    ----------
    root : str or Path
        The store's folder (created on first ingest).
    lock_timeout : float
        Seconds a write waits for another process's write to finish before it fails with
        :class:`~tradeimpact.store_lock.StoreLockedError` (default 600).
    on_wait : callable, optional
        Called with a message when a write has to wait for another writer (the CLI prints it).

    Examples
    --------
    >>> store = FlowStore("store")                                     # doctest: +SKIP
    >>> report = store.ingest(["data_raw/comtrade/HS-60a6ad.json"])    # doctest: +SKIP
    >>> store.scan().filter(pl.col("reporter_iso3") == "JPN").collect()  # doctest: +SKIP
    """

    def __init__(
        self,
        root: str | Path,
        *,
        lock_timeout: float = 600.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait

    # ------------------------------------------------------------------ manifest
    @property
    def manifest_path(self) -> Path:
        """``root/manifest.json``."""
        return self.root / "manifest.json"

    def _check_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise TradeImpactError(
                f"{self.root}: the store must be a folder, but this path is a file "
                "(give --store a folder, new or holding a tradeimpact store)"
            )
        if not self.root.exists():  # a new store: it cannot be made under a file
            above = next((p for p in self.root.absolute().parents if p.exists()), None)
            if above is not None and not above.is_dir():
                raise TradeImpactError(
                    f"{self.root}: the store cannot be created there, {above} is a file, not a "
                    "folder (give --store a folder, new or holding a tradeimpact store)"
                )

    def manifest(self) -> dict[str, Any]:
        """The manifest: ``{"format": ..., "generation": n, "inputs": {resolved path: entry}}``.

        Raises
        ------
        TradeImpactError
            The store's path is a file, or ``manifest.json`` is not valid JSON or not a store
            manifest (the message names the file and what is wrong; the file is never
            overwritten: repair or remove it by hand).
        """
        self._check_root()
        if not self.manifest_path.exists():
            return {"format": MANIFEST_FORMAT, "generation": 0, "inputs": {}}
        where = self.manifest_path
        try:
            with open(where, encoding="utf-8") as handle:
                manifest = json.load(handle)
        except json.JSONDecodeError as exc:
            raise TradeImpactError(
                f"{where}, line {exc.lineno}, column {exc.colno}: the store manifest is not valid "
                f"JSON ({exc.msg}); it was not changed (restore it from a backup, or see "
                "`tradeimpact store check`)"
            ) from exc
        except UnicodeDecodeError as exc:
            raise TradeImpactError(f"{where}: the store manifest is not UTF-8 text") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else type(manifest)
            raise TradeImpactError(
                f"{where}: not a tradeimpact store manifest "
                f"(format {found!r}, expected {MANIFEST_FORMAT!r})"
            )
        inputs = manifest.get("inputs")
        generation = manifest.setdefault("generation", 0)
        if not isinstance(inputs, dict) or not isinstance(generation, int):
            raise TradeImpactError(
                f"{where}: 'inputs' must be an object and 'generation' an integer"
            )
        for key, entry in inputs.items():
            self._check_entry(key, entry)
        return manifest

    def _check_entry(self, key: str, entry: Any) -> None:
        where = f"{self.manifest_path}, input {key!r}"
        if not isinstance(entry, dict):
            raise TradeImpactError(f"{where}: an entry must be an object")
        for name, kind in _ENTRY_FIELDS.items():
            if not isinstance(entry.get(name), kind) or isinstance(entry.get(name), bool):
                raise TradeImpactError(
                    f"{where}: field '{name}' is missing or not a {getattr(kind, '__name__', kind)}"
                )
        for rel in [*entry["files"], *entry["quarantine_files"]]:
            parts = Path(rel).parts if isinstance(rel, str) else ()
            if not parts or parts[0] not in _HIVE_DIRS or ".." in parts or Path(rel).is_absolute():
                raise TradeImpactError(
                    f"{where}: {rel!r} is not a file of flows/ or quarantine/ in the store"
                )

    def inputs(self) -> pl.DataFrame:
        """One row per ingested input: path, source, reader, version, sha256 and row counts."""
        rows = [
            {k: v for k, v in entry.items() if k not in _FILE_FIELDS}
            for entry in self.manifest()["inputs"].values()
        ]
        schema = {
            "path": pl.String,
            "source": pl.String,
            "reader": pl.String,
            "reader_version": pl.String,
            "sha256": pl.String,
            "rows_read": pl.Int64,
            "rows_stored": pl.Int64,
            "rows_quarantined": pl.Int64,
        }
        return pl.DataFrame(rows, schema=schema).sort("path")

    def _files(self, kind: str, manifest: dict[str, Any] | None = None) -> list[Path]:
        """The files of ``kind`` ("files", "quarantine_files") a scan reads: their versions/ links.

        A store written before the ``versions/`` links (or not yet recovered) is read through its
        hive folder.
        """
        manifest = self.manifest() if manifest is None else manifest
        rels = sorted(rel for entry in manifest["inputs"].values() for rel in entry[kind])
        versions = [self.root / VERSIONS / rel for rel in rels]
        if all(path.exists() for path in versions):
            return versions
        return [self.root / rel for rel in rels]

    # ------------------------------------------------------------------ reading
    def scan(self) -> pl.LazyFrame:
        """All stored flows, lazily, with the canonical columns of :data:`FLOW_SCHEMA`.

        The frame reads the state of the store when it was called: a later write does not change
        what it reads (the files it reads are kept until :meth:`vacuum`).
        """
        files = self._files("files")
        if not files:
            return pl.LazyFrame(schema=FLOW_SCHEMA)
        frame = pl.scan_parquet(files, hive_partitioning=True, hive_schema=_HIVE)
        return frame.select([pl.col(n).cast(t) for n, t in FLOW_SCHEMA.items()])

    def quarantine(self) -> pl.LazyFrame:
        """All quarantined rows: ``source`` + :data:`QUARANTINE_SCHEMA` (file, line, field, reason)."""
        files = self._files("quarantine_files")
        schema = {"source": pl.String(), **QUARANTINE_SCHEMA}
        if not files:
            return pl.LazyFrame(schema=schema)
        frame = pl.scan_parquet(files, hive_partitioning=True, hive_schema={"source": pl.String()})
        return frame.select([pl.col(n).cast(t) for n, t in schema.items()])

    def ibis(self, con: Any = None) -> Any:
        """All stored flows as an Ibis table: the rows of :meth:`scan`, read by a query engine.

        The estimators take the table as they take a frame (``feols``, ``did``,
        ``event_study``: :mod:`tradeimpact.models.engines`), computing inside the engine.

        Parameters
        ----------
        con : Ibis backend connection, optional
            Where the table lives: ``ibis.duckdb.connect()`` by default (DuckDB reads the
            Parquet files out of core), or any Ibis connection that reads Parquet, e.g.
            ``ibis.pyspark.connect(spark)`` for a Spark cluster (the store's folder must then be
            readable by the executors, e.g. on shared storage).

        Returns
        -------
        ibis.expr.types.Table
            The columns of :data:`~tradeimpact.schema.FLOW_SCHEMA`, cast to their types (``source``
            from the hive folder names). Like :meth:`scan` it reads the files of the store's state
            when called (their ``versions/`` links, which a later write leaves in place until
            :meth:`vacuum`). DuckDB reads them in one ``read_parquet`` with hive partitioning;
            another backend reads each file and the ``source`` of its folder name (a union).
            An empty store gives an empty in-memory table with those columns.

        Examples
        --------
        >>> flows = FlowStore("store").ibis()                               # doctest: +SKIP
        >>> by = flows.group_by("reporter_iso3").aggregate(v=flows.value_usd.sum())  # doctest: +SKIP
        >>> by.to_polars()                                                  # doctest: +SKIP
        """
        import ibis

        types = {
            n: {pl.String: "string", pl.Date: "date", pl.Float64: "float64", pl.Int64: "int64"}[
                t.base_type()
            ]
            for n, t in FLOW_SCHEMA.items()
        }
        files = self._files("files")
        if not files:
            return ibis.memtable(pl.DataFrame(schema=FLOW_SCHEMA))
        if con is None:
            con = ibis.duckdb.connect()
        if getattr(con, "name", None) == "duckdb":
            table = con.read_parquet([str(f) for f in files], hive_partitioning=True)
        else:
            parts = []
            for f in files:
                source = next(p.split("=", 1)[1] for p in f.parts if p.startswith("source="))
                part = con.read_parquet(str(f))
                parts.append(part.mutate(source=ibis.literal(source, type="string")))
            table = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
        return table.select(**{n: table[n].cast(t) for n, t in types.items()})

    @contextlib.contextmanager
    def hive(self, timeout: float | None = None) -> Iterator[Path]:
        """The hive folder ``root/flows``, held steady while another engine reads it.

        Inside the ``with`` block no write changes ``flows/`` (a write's commit waits for it;
        the block holds the shared commit lock), and ``flows/`` holds exactly the files of
        :meth:`scan`: DuckDB's ``read_parquet('<flows>/**/*.parquet', hive_partitioning=true)``
        or ``pyarrow.dataset.dataset(flows, partitioning="hive")`` read what :meth:`scan` reads.

        An interrupted write (a kill inside a commit leaves ``flows/`` holding files the
        manifest does not list) is recovered first, as the next write would, when no writer
        holds the store and the store can be written.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait for a running commit (default: the store's ``lock_timeout``).

        Raises
        ------
        TradeImpactError
            An interrupted write could not be recovered here (another process holds the writer
            lock, or the store is read-only: ``check(repair=True)`` or the next write recovers),
            or there is no store.

        Examples
        --------
        >>> with FlowStore("store").hive() as flows:                          # doctest: +SKIP
        ...     duckdb.sql(f"select count(*) from read_parquet('{flows}/**/*.parquet', "
        ...                "hive_partitioning=true)")
        """
        self._check_root()
        if not self.manifest_path.exists():
            raise TradeImpactError(f"{self.root}: no store here (nothing ingested)")
        wait = self.lock_timeout if timeout is None else timeout
        if (self.root / _PENDING).exists():  # recover on open (before the shared commit lock,
            # which the recovery's exclusive one would wait for); a writer holding the lock
            # recovers itself, a read-only store cannot be: both fall through to the refusal
            with contextlib.suppress(StoreLockedError, PermissionError):
                with FlowStore(self.root, lock_timeout=0.0)._writing():
                    pass
        with commit_lock(self.root, False, wait, self.on_wait):
            if (self.root / _PENDING).exists():
                raise TradeImpactError(
                    f"{self.root}: an interrupted write left {self.root / 'flows'} with files "
                    "the manifest does not list; recover it first (`tradeimpact store check "
                    f"--repair --store {self.root}`, or any write)"
                )
            yield self.root / "flows"

    # ------------------------------------------------------------------ lifecycle
    def check(self, *, verify: bool = True, repair: bool = False) -> StoreCheck:
        """Check that the files are what the manifest says; optionally repair first.

        Parameters
        ----------
        verify : bool
            Also read every listed file: its sha256 against the one recorded at ingest, its row
            count against the input's counts (reads all the data; ``False``: names only).
        repair : bool
            First recover from any interrupted write under the writer lock (remove staging
            folders, files no manifest lists, uncommitted files; restore links), then check.

        Returns
        -------
        StoreCheck
            ``ok`` when nothing is wrong; ``summary()`` for a report. A running writer is waited
            for (up to ``lock_timeout``) so that its work in progress is not reported.
        """
        try:
            self._check_root()
        except TradeImpactError as exc:
            return StoreCheck(str(self.root), manifest_error=str(exc))
        if not self.root.is_dir():
            return StoreCheck(str(self.root), notes=["no store here yet (nothing ingested)"])
        try:
            if repair:
                with self._writing():
                    return self._inspect(verify)
            with writer_lock(self.root, self.lock_timeout, self.on_wait):
                return self._inspect(verify)
        except PermissionError:  # a read-only store: checked as it is, without the lock
            result = self._inspect(verify)
            result.notes.append("the store is read-only: checked without the writer lock")
            return result
        except StoreLockedError:
            raise
        except TradeImpactError:  # the manifest does not read: reported, nothing is touched
            return self._inspect(verify)

    def _inspect(self, verify: bool) -> StoreCheck:
        result = StoreCheck(str(self.root))
        result.leftovers = sorted(p.name for p in self.root.glob(".staging-*"))
        for name in (_MANIFEST_TMP, _PENDING):
            if (self.root / name).exists():
                result.leftovers.append(name)
        try:
            manifest = self.manifest()
        except TradeImpactError as exc:
            result.manifest_error = str(exc)
            return result
        live = _live(manifest)
        # the generation an interrupted commit wrote (its marker is there), and the first later
        later = manifest["generation"] + 1
        if (self.root / _PENDING).exists():
            later += 1
        for top in _HIVE_DIRS:
            for file in _files_under(self.root / top):
                if str(file.relative_to(self.root)) not in live:
                    result.unlisted.append(str(file.relative_to(self.root)))
                    if _generation(file) >= later:
                        result.later.append(str(file.relative_to(self.root)))
        for rel in sorted(live):
            for path in (self.root / rel, self.root / VERSIONS / rel):
                if not path.exists():
                    result.missing.append(str(path.relative_to(self.root)))
        for file in _files_under(self.root / VERSIONS):
            rel = str(file.relative_to(self.root / VERSIONS))
            if _generation(file) >= later:
                result.later.append(f"{VERSIONS}/{rel}")
            elif _generation(file) > manifest["generation"]:
                result.uncommitted.append(f"{VERSIONS}/{rel}")
            elif rel not in live:
                info = file.stat()
                result.old_versions += 1
                result.old_bytes += info.st_size * (info.st_nlink == 1)
        for entry in sorted(manifest["inputs"].values(), key=lambda e: e["path"]):
            if not Path(entry["path"]).exists():
                result.notes.append(
                    f"input {entry['path']} is no longer there (moved? `tradeimpact store "
                    "rehome OLD NEW`; gone? `tradeimpact store remove OLD`)"
                )
            if verify:
                result.mismatched += self._verify(entry)
        return result

    def _verify(self, entry: dict[str, Any]) -> list[str]:
        """Problems of one input's files: sha256 against the recorded one, row counts."""
        problems = []
        recorded = entry.get("file_sha256", {})
        for kind, field_name in (
            ("files", "rows_stored"),
            ("quarantine_files", "rows_quarantined"),
        ):
            rows: int | None = 0  # None: a file is missing or damaged (reported on its own)
            for rel in entry[kind]:
                path = self.root / rel
                if not path.exists():
                    rows = None  # reported as missing
                    continue
                if rel in recorded and file_sha256(path) != recorded[rel]:
                    problems.append(f"{rel}: its sha256 is not the one recorded at ingest")
                    rows = None
                    continue
                try:
                    n = int(pl.scan_parquet(path).select(pl.len()).collect().item())
                except pl.exceptions.PolarsError as exc:
                    problems.append(f"{rel}: not a readable Parquet file ({exc})")
                    rows = None
                    continue
                rows = None if rows is None else rows + n
            if rows is not None and rows != entry[field_name]:
                problems.append(
                    f"input {entry['path']}: its files hold {rows} rows, the manifest "
                    f"records {field_name} = {entry[field_name]}"
                )
        return problems

    def vacuum(self) -> VacuumReport:
        """Recover, then remove the files of earlier versions (kept for older scans).

        A :meth:`scan` taken before the latest write fails once its files are vacuumed; scans
        taken after it are unaffected. Holds the writer lock.

        Returns
        -------
        VacuumReport
            The files and folders removed (relative paths) and the bytes freed.
        """
        with self._writing() as recovered:
            report = VacuumReport([rel for rel, _ in recovered], sum(n for _, n in recovered))
            live = _live(self.manifest())
            generation = self.manifest()["generation"]
            for file in _files_under(self.root / VERSIONS):
                rel = str(file.relative_to(self.root / VERSIONS))
                if rel not in live and _generation(file) <= generation:
                    info = file.lstat()
                    file.unlink()
                    crash_point("vacuumed")
                    report.removed.append(f"{VERSIONS}/{rel}")
                    report.bytes_freed += info.st_size * (info.st_nlink == 1)
            _remove_empty_dirs(self.root / VERSIONS)
        return report

    def _find(self, manifest: dict[str, Any], path: str | Path) -> str:
        """The manifest key of an input given by the path it was ingested from."""
        inputs = manifest["inputs"]
        key = str(Path(path).resolve())
        if key in inputs:
            return key
        for other, entry in inputs.items():
            if entry["path"] == str(path):
                return str(other)
        raise TradeImpactError(
            f"{path}: not an input of the store {self.root} (see FlowStore.inputs() or "
            "`tradeimpact store check`)"
        )

    def remove(self, paths: Iterable[str | Path] | str | Path) -> RemoveReport:
        """Remove inputs: their stored rows and their quarantined rows, in one commit.

        Parameters
        ----------
        paths : iterable of str or Path
            Inputs as ingested (the file need not exist any more).

        Returns
        -------
        RemoveReport
            The inputs removed, their rows, and the other inputs that have rows quarantined as
            duplicates of a removed input's rows.

        Raises
        ------
        TradeImpactError
            A path is not an input of the store (nothing is removed then).
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        with self._writing():
            old = self.manifest()
            work = self._next(old)
            keys = sorted({self._find(old, path) for path in paths})
            report = RemoveReport()
            gone = [work["inputs"].pop(key) for key in keys]
            report.removed = [entry["path"] for entry in gone]
            report.rows_removed = sum(entry["rows_stored"] for entry in gone)
            for _, entry in sorted(work["inputs"].items()):
                reasons = [
                    f"duplicate flow key: already stored from {g['path']}; none is summed"
                    for g in gone
                    if g["source"] == entry["source"]
                ]
                if reasons and entry["quarantine_files"]:
                    n = (
                        pl.scan_parquet([self.root / rel for rel in entry["quarantine_files"]])
                        .filter(pl.col("reason").is_in(reasons))
                        .select(pl.len())
                        .collect()
                        .item()
                    )
                    if n:
                        report.affected[entry["path"]] = int(n)
            try:
                self._commit(old, work, None)
            except BaseException:
                self._recover_after_failure()
                raise
        return report

    def rehome(self, old_path: str | Path, new_path: str | Path) -> str:
        """Record that an input moved: its entry follows the file, no row is rewritten.

        The file at ``new_path`` must have the stored input's bytes (same sha256); the stored
        rows keep the ``source_file`` they were read from. Afterwards ``new_path`` is an unchanged
        input (an ingest skips it) and ``old_path`` is no input.

        Returns
        -------
        str
            The input's new key (``new_path`` resolved).

        Raises
        ------
        TradeImpactError
            ``old_path`` is not an input, ``new_path`` is not a file or not the same bytes, or
            ``new_path`` is already an input.
        """
        new = Path(new_path)
        if not new.is_file():
            raise SourceFormatError(new, "is a directory" if new.is_dir() else "file not found")
        with self._writing():
            old = self.manifest()
            key = self._find(old, old_path)
            entry = old["inputs"][key]
            sha = file_sha256(new)
            if sha != entry["sha256"]:
                raise TradeImpactError(
                    f"{new}: not the file stored from {entry['path']} (sha256 {sha[:12]}... "
                    f"differs from the stored {entry['sha256'][:12]}...); ingest it instead"
                )
            new_key = str(new.resolve())
            if new_key == key:
                return key
            if new_key in old["inputs"]:
                raise TradeImpactError(f"{new}: already an input of the store {self.root}")
            work = self._next(old)
            moved = dict(work["inputs"].pop(key))
            moved["moved_from"] = [*entry.get("moved_from", []), entry["path"]]
            moved["path"] = str(new)
            work["inputs"][new_key] = moved
            try:
                self._commit(old, work, None)
            except BaseException:
                self._recover_after_failure()
                raise
        return new_key

    # ------------------------------------------------------------------ ingest
    def _resolve_reader(self, path: Path, source: str | Reader | None) -> Reader:
        if source is None:
            return detect_reader(path)
        if isinstance(source, str):
            return get_reader(source)
        return source

    def ingest(
        self,
        paths: Iterable[str | Path] | str | Path,
        source: str | Reader | None = None,
        *,
        on_error: str = "raise",
        progress: Progress | None = None,
    ) -> IngestReport:
        """Validate ``paths`` and store their rows; rejected rows go to the quarantine.

        Parameters
        ----------
        paths : iterable of str or Path
            Raw files.
        source : str or Reader, optional
            A reader name (``tradeimpact sources``) or a reader instance (e.g. a configured
            :class:`~tradeimpact.sources.generic.GenericReader`); detected from each file when
            omitted.
        on_error : {"raise", "skip"}
            ``"raise"``: a file-level error aborts the whole call and leaves the store unchanged.
            ``"skip"``: the failing file is reported with status ``"error: <message>"`` and the
            others are stored. A file-level error is whatever a reader raises on one file
            (:class:`SourceFormatError`, and polars, CSV, zlib, decoding or I/O errors, turned into
            one naming the file and, where the message gives it, the line); a full or read-only
            disk, memory exhaustion and the store's own errors abort the call.
        progress : callable, optional
            ``progress(path, stage)`` for a progress bar.

        Returns
        -------
        IngestReport
            Per file: rows read, stored, quarantined (``read = stored + quarantined``).

        Raises
        ------
        StoreLockedError
            Another process kept writing the store for longer than ``lock_timeout``.
        TradeImpactError
            The store's path is a file, its manifest does not read, or (``on_error="raise"``) a
            file-level error; the store is unchanged.

        Notes
        -----
        The whole call holds the store's writer lock: from before it reads the manifest (so it
        never works from a stale copy) to after its commit (module docstring).
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        files = [Path(p) for p in paths]
        report = IngestReport()
        with self._writing(create=True):
            old = self.manifest()
            work = self._next(old)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
            try:
                for path in files:
                    if progress:
                        progress(str(path), "start")
                    try:
                        file_report = self._ingest_one(path, source, work, staging)
                    except SourceFormatError as exc:
                        if on_error == "raise":
                            raise
                        file_report = FileReport(str(path), "", "", "", 0, 0, 0, f"error: {exc}")
                    report.files.append(file_report)
                    crash_point("staged")
                    if progress:
                        stage = "unchanged" if file_report.status == "unchanged" else "done"
                        progress(str(path), stage)
                self._commit(old, work, staging)
            except BaseException:
                self._recover_after_failure()
                raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return report

    # ------------------------------------------------------------------ writing
    @staticmethod
    def _next(old: dict[str, Any]) -> dict[str, Any]:
        """The manifest a write builds from ``old``: a copy of its inputs, the next generation."""
        return {
            "format": MANIFEST_FORMAT,
            "generation": int(old.get("generation", 0)) + 1,
            "inputs": dict(old["inputs"]),
        }

    @contextlib.contextmanager
    def _writing(self, create: bool = False) -> Iterator[list[tuple[str, int]]]:
        """Hold the store's writer lock (the folder created with ``create``), recovered from any
        interrupted write; yields what the recovery removed (relative path, bytes freed)."""
        self._check_root()
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise TradeImpactError(f"{self.root}: no store here (nothing ingested)")
        with writer_lock(self.root, self.lock_timeout, self.on_wait):
            crash_point("locked")
            yield self._recover()

    def _recover_after_failure(self) -> None:
        """After an exception inside a write (still under its lock): recover now, as a kill would
        be at the next write; a second error here is dropped so that the first one is seen."""
        try:
            self._recover()
        except Exception:  # the next write recovers again; the caller sees the first error
            pass

    def _recover(self) -> list[tuple[str, int]]:
        """Bring the files in line with the manifest (see the module docstring); needs the lock.

        Returns the files removed (relative paths) with the bytes each freed.
        """
        manifest = self.manifest()  # a manifest that does not read stops here: nothing is touched
        generation = int(manifest["generation"])
        live = _live(manifest)
        removed: list[tuple[str, int]] = []

        def remove(file: Path) -> None:
            info = file.lstat()
            file.unlink()
            removed.append((str(file.relative_to(self.root)), info.st_size * (info.st_nlink == 1)))
            crash_point("recover-removed")

        for leftover in sorted(self.root.glob(".staging-*")):
            size = sum(f.stat().st_size for f in _files_under(leftover))
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append((leftover.name, size))
        (self.root / _MANIFEST_TMP).unlink(missing_ok=True)
        pending = self.root / _PENDING
        # files of generation g+1 outside staging exist only inside a commit, which the marker
        # brackets: without the marker they were committed (under a manifest since replaced)
        uncommitted = generation + 1 if pending.exists() else None
        unlisted = [
            file
            for top in _HIVE_DIRS
            for file in _files_under(self.root / top)
            if str(file.relative_to(self.root)) not in live
            and (_generation(file) <= generation or _generation(file) == uncommitted)
        ]
        unlinked = [rel for rel in sorted(live) if not (self.root / rel).exists()]
        hive_lock = (
            commit_lock(self.root, True, self.lock_timeout, self.on_wait)
            if unlisted or unlinked or pending.exists()
            else contextlib.nullcontext()
        )
        with hive_lock:  # only when the hive folder changes: readers of it wait meanwhile
            for file in unlisted:
                if _generation(file) == uncommitted:  # written by the interrupted commit
                    remove(file)
                elif _generation(file) <= generation:  # replaced: kept under versions/
                    version = self.root / VERSIONS / file.relative_to(self.root)
                    if not version.exists():
                        _link(file, version)  # (left by a version without versions/ links)
                    file.unlink()
                    crash_point("recover-removed")
                # a file of a later generation is left alone: `check` reports it (a manifest
                # replaced by an older copy must not cost the newer data)
            for file in _files_under(self.root / VERSIONS):
                if _generation(file) == uncommitted:
                    remove(file)
            for rel in sorted(live):
                hive, version = self.root / rel, self.root / VERSIONS / rel
                if not hive.exists() and version.exists():
                    _link(version, hive)
                elif hive.exists() and not version.exists():
                    _link(hive, version)  # a store written before the versions/ links
            for top in (*_HIVE_DIRS, VERSIONS):
                _remove_empty_dirs(self.root / top)
            pending.unlink(missing_ok=True)
        return removed

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace ``manifest.json`` atomically and durably: **the commit point** of a write."""
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        tmp = self.root / _MANIFEST_TMP
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        crash_point("manifest-written")
        os.replace(tmp, self.manifest_path)
        crash_point("manifest-replaced")
        _sync_dir(self.root)

    def _ingest_one(
        self, path: Path, source: str | Reader | None, work: dict[str, Any], staging: Path
    ) -> FileReport:
        if path.is_dir():
            raise SourceFormatError(
                path, "is a directory, not a file (give the files in it, e.g. DIR/*.csv)"
            )
        if not path.is_file():
            raise SourceFormatError(
                path, "file not found" if not path.exists() else "not a regular file"
            )
        reader = _reading(path, self._resolve_reader, path, source)
        src = _source_of(reader)
        key = str(path.resolve())
        previous = work["inputs"].get(key)
        hashing: Future[str] | None = None
        if previous is None:
            # a new input: its hash (hashlib, without the GIL) is computed while the reader
            # stages the file and the first pass reads it
            pool = ThreadPoolExecutor(1)
            hashing = pool.submit(_reading, path, file_sha256, path)
            pool.shutdown(wait=False)
            try:
                return self._ingest_new(path, reader, src, key, hashing, work, staging)
            finally:
                with contextlib.suppress(BaseException):
                    hashing.result()  # never leave the thread reading after an error
        sha = _reading(path, file_sha256, path)
        if (
            previous["sha256"] == sha
            and previous["reader"] == reader.name
            and previous["reader_version"] == reader.version
            and previous["source"] == src
        ):
            return FileReport(
                str(path),
                reader.name,
                reader.version,
                sha,
                previous["rows_read"],
                previous["rows_stored"],
                previous["rows_quarantined"],
                "unchanged",
            )
        done: Future[str] = Future()
        done.set_result(sha)
        return self._ingest_new(path, reader, src, key, done, work, staging)

    def _ingest_new(
        self,
        path: Path,
        reader: Reader,
        src: str,
        key: str,
        hashing: Future[str],
        work: dict[str, Any],
        staging: Path,
    ) -> FileReport:
        """Read, check and stage a new or changed input (its sha256 from ``hashing``)."""
        previous = work["inputs"].get(key)
        staged: Staged = _reading(path, _staged, reader, path)
        declared = getattr(reader, "declared_range", None)
        period_range = _reading(path, declared, path) if callable(declared) else None
        flows_rel = Path("flows") / f"source={src}"
        # the first pass writes under a name of its own: the files' name holds the input's
        # sha256, computed meanwhile
        pending = hashlib.sha256(key.encode()).hexdigest()[:20] + f"-pending-g{work['generation']}"
        year_dir = staging / flows_rel
        good_path = staging / f"{pending}.good.parquet"
        rejected_path = staging / f"{pending}.rejected.parquet"
        suspect_path = staging / f"{pending}.suspect.parquet"
        # a file of at most _BATCH_ROWS rows is written to its year partitions by the first pass;
        # a larger one to a staging file, then partitioned in batches of years
        direct = _reading(path, _estimated_rows, path) <= _BATCH_ROWS
        good_target: Path | pl.PartitionBy = _partitions(year_dir, pending) if direct else good_path

        def first_pass(chosen: Staged) -> int:
            """Pass 1 of ``chosen``; the number of ``suspect`` rows it saw."""
            self._discard(year_dir, pending, good_path, rejected_path, suspect_path)
            good, rejected, suspect = _first_pass(chosen, period_range, direct)
            _sink_pass(good, rejected, good_target, rejected_path, suspect, suspect_path)
            if suspect is None:
                return 0
            return int(pl.scan_parquet(suspect_path).select(pl.len()).collect().item())

        try:
            # pass 1, one read of the input: the reader's and the shared checks as one cheap
            # index (the first failing check); valid rows and rejected rows (their reasons built
            # for them only) are sunk from the same scan
            try:
                suspects = first_pass(staged)
            except pl.exceptions.PolarsError:
                if staged.fallback is None:
                    raise
                # a typed scan met a value that is not a number (or a record longer than the
                # header): read the file as text, the row is quarantined with its reason
                staged = staged.fallback
                suspects = first_pass(staged)
            if suspects and staged.recount is not None:
                # a row may have fewer fields than the header, or be blank: count the fields;
                # when the count finds such a row, pass 1 again with its checks
                counted: Staged = _reading(path, staged.recount)
                if len(counted.checks) > len(staged.checks):
                    first_pass(counted)
            suspect_path.unlink(missing_ok=True)
        except BaseException as exc:
            self._discard(year_dir, pending, good_path, rejected_path, suspect_path)
            if not isinstance(
                exc, pl.exceptions.PolarsError | UnicodeError | zlib.error | csv.Error
            ):
                raise
            error = _file_error(path, exc)  # the reader's lazy plan failed on this file
            if error is None:
                raise
            raise error from exc

        sha = hashing.result()
        if previous is None:
            self._refuse_moved_copy(path, sha, src, work)
        stem = (
            hashlib.sha256(
                "\0".join([key, sha, reader.name, reader.version, src]).encode()
            ).hexdigest()[:20]
            + f"-g{work['generation']}"
        )
        for file in year_dir.glob(f"year=*/{pending}.parquet"):
            file.rename(file.with_name(f"{stem}.parquet"))
        quarantine_rel = Path("quarantine") / f"source={src}" / f"{stem}.parquet"
        (staging / quarantine_rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            year_files = sorted(year_dir.glob(f"year=*/{stem}.parquet"))
            if direct:
                good = _scan_years(year_files, src)
            else:
                good = pl.scan_parquet(good_path)
            rows_read = int(pl.scan_parquet(rejected_path).select(pl.len()).collect().item())
            rows_read += int(
                (pl.scan_parquet(year_files) if direct else good).select(pl.len()).collect().item()
                if (year_files or not direct)
                else 0
            )
            # one row per key: within this file, then against the other inputs of the source
            clashes = pl.concat(
                [duplicate_keys(good), self._stored_elsewhere(good, key, src, work, staging)]
            ).unique(FLOW_KEY, keep="first", maintain_order=True)
            rejected = pl.scan_parquet(rejected_path)
            if not clashes.is_empty():
                flag = pl.struct(FLOW_KEY).is_in(
                    clashes.select(pl.struct(FLOW_KEY).alias("k"))["k"].implode()
                )
                clashed = mark_duplicates(
                    good.filter(flag)
                    .sort("source_line")
                    .with_columns(
                        pl.lit(None, dtype=pl.String).alias("reject_field"),
                        pl.lit(None, dtype=pl.String).alias("reject_reason"),
                    ),
                    clashes,
                ).collect(engine="streaming")
                # both sides are in input order: merged, the quarantine stays in input order
                rejected = rejected.merge_sorted(clashed.lazy(), key="source_line")
                if direct:
                    _drop_rows(year_files, src, ~flag)
                good = good.filter(~flag)
            if not direct:
                self._write_years(good, year_dir, flows_rel, staging, stem)
            stored: list[tuple[str, int]] = []
            for file in sorted(year_dir.glob(f"year=*/{stem}.parquet")):
                count = pl.scan_parquet(file).select(pl.len()).collect().item()
                stored.append((str(file.relative_to(staging)), int(count)))
            _sink(quarantine_rows(rejected), staging / quarantine_rel)
        except (pl.exceptions.PolarsError, UnicodeError, zlib.error, csv.Error) as exc:
            error = _file_error(path, exc)  # the reader's lazy plan failed on this file
            if error is None:
                raise
            raise error from exc
        good_path.unlink(missing_ok=True)
        rejected_path.unlink()
        rows_stored = sum(count for _, count in stored)
        rows_quarantined = int(
            pl.scan_parquet(staging / quarantine_rel).select(pl.len()).collect().item()
        )
        if rows_read != rows_stored + rows_quarantined:
            raise TradeImpactError(
                f"{path}: accounting error, {rows_read} rows read but {rows_stored} stored + "
                f"{rows_quarantined} quarantined"
            )
        files = sorted(rel for rel, _ in stored)
        quarantine_files = [str(quarantine_rel)] if rows_quarantined else []
        if not rows_quarantined:
            (staging / quarantine_rel).unlink()
        # each file's sha256 for `check`, read back in the same pass that flushes it to disk
        # (the data must be durable before the manifest that lists it)
        digests = {rel: _hash_and_sync(staging / rel) for rel in [*files, *quarantine_files]}
        work["inputs"][key] = {
            "path": str(path),
            "source": src,
            "reader": reader.name,
            "reader_version": reader.version,
            "sha256": sha,
            "rows_read": rows_read,
            "rows_stored": rows_stored,
            "rows_quarantined": rows_quarantined,
            "files": files,
            "quarantine_files": quarantine_files,
            "file_sha256": digests,
        }
        status = "replaced" if previous is not None else "ingested"
        return FileReport(
            str(path),
            reader.name,
            reader.version,
            sha,
            rows_read,
            rows_stored,
            rows_quarantined,
            status,
        )

    def _refuse_moved_copy(self, path: Path, sha: str, src: str, work: dict[str, Any]) -> None:
        """A new input with the bytes of a stored input whose file is gone was moved: say so.

        Ingested as a new input, each of its rows would be quarantined as "already stored from"
        the old path; the user means to re-home it (or to remove the old input first).
        """
        for key, entry in sorted(work["inputs"].items()):
            if entry["sha256"] == sha and entry["source"] == src and not Path(key).exists():
                raise SourceFormatError(
                    path,
                    f"has the bytes of {entry['path']}, an input of the store {self.root} whose "
                    "file is no longer there: if it moved, re-home it (`tradeimpact store rehome "
                    f"{entry['path']} {path} --store {self.root}`, no row is rewritten); to store "
                    "it as a new input, remove the old one first (`tradeimpact store remove`)",
                )

    @staticmethod
    def _discard(year_dir: Path, stem: str, *paths: Path) -> None:
        """Remove the files a failed first pass may have left (year files of ``stem``, ``paths``)."""
        for file in year_dir.glob(f"year=*/{stem}.parquet"):
            file.unlink()
        for file in paths:
            file.unlink(missing_ok=True)

    @staticmethod
    def _write_years(
        good: pl.LazyFrame, year_dir: Path, flows_rel: Path, staging: Path, stem: str
    ) -> None:
        """Stored rows, one file a year, the years written in batches of at most _BATCH_ROWS rows.

        Each batch is one pass (a PartitionBy sink holds its partitions in memory); a year alone
        streams through a plain sink.
        """
        dated = good.with_columns(pl.col("period").dt.year().alias("year")).drop("source")
        counts = (
            dated.group_by("year")
            .agg(pl.len().alias("n"))
            .sort("year")
            .collect(engine="streaming")
            .rows()
        )
        for batch in _year_batches(counts, _BATCH_ROWS):
            if len(batch) == 1:
                rel = flows_rel / f"year={batch[0]}" / f"{stem}.parquet"
                _sink(
                    dated.filter(pl.col("year") == batch[0]).drop("year"),
                    staging / rel,
                    mkdir=True,
                )
            else:
                _sink(
                    dated.filter(pl.col("year").is_in(batch)),
                    _partitions(year_dir, stem),
                    mkdir=True,
                )

    def _stored_elsewhere(
        self, checked: pl.LazyFrame, key: str, src: str, work: dict[str, Any], staging: Path
    ) -> pl.DataFrame:
        """Keys of ``checked``'s valid rows already stored from another input of the same source.

        64-bit key hashes of both sides find the candidates (8 bytes a row); the candidates are
        then joined on the exact key, so the result is exact. Returns :data:`CLASH_SCHEMA`.
        """
        others = [
            self._locate(rel, staging)
            for other_key, entry in sorted(work["inputs"].items())
            if other_key != key and entry["source"] == src
            for rel in entry["files"]
        ]
        if not others:
            return pl.DataFrame(schema=CLASH_SCHEMA)
        key_hash = pl.struct(FLOW_KEY).hash(seed=0).alias("_key_hash")
        mine = checked
        stored = pl.scan_parquet(others, hive_partitioning=True, hive_schema=_HIVE)
        mine_hashes = mine.select(key_hash).collect(engine="streaming").to_series()
        stored_hashes = stored.select(key_hash).collect(engine="streaming").to_series()
        candidates = mine_hashes.filter(mine_hashes.is_in(stored_hashes.implode())).unique()
        del mine_hashes, stored_hashes
        if candidates.is_empty():
            return pl.DataFrame(schema=CLASH_SCHEMA)
        wanted = key_hash.is_in(candidates.implode())
        theirs = (
            stored.filter(wanted)
            .select([*FLOW_KEY, pl.col("source_file").alias("_stored_in")])
            .unique(FLOW_KEY, keep="first", maintain_order=True)
        )
        return (
            mine.filter(wanted)
            .select(FLOW_KEY)
            .unique(maintain_order=True)
            .join(theirs, on=FLOW_KEY, how="inner", maintain_order="left")
            .select(
                *FLOW_KEY,
                pl.concat_str(
                    pl.lit("duplicate flow key: already stored from "),
                    pl.col("_stored_in"),
                    pl.lit("; none is summed"),
                ).alias("_clash_reason"),
            )
            .collect(engine="streaming")
            .select([pl.col(n).cast(t) for n, t in CLASH_SCHEMA.items()])
        )

    def _locate(self, rel: str, staging: Path) -> Path:
        """A live file's path: in staging when written by this call, else in the store."""
        staged = staging / rel
        return staged if staged.exists() else self.root / rel

    def _commit(self, old: dict[str, Any], work: dict[str, Any], staging: Path | None) -> None:
        """Steps 3-5 of the commit protocol (module docstring): ``old`` becomes ``work``."""
        if work["inputs"] == old["inputs"] and self.manifest_path.exists():
            return
        old_live, new_live = _live(old), _live(work)
        added, dropped = sorted(new_live - old_live), sorted(old_live - new_live)
        if added and staging is None:
            raise TradeImpactError(f"{self.root}: internal error, {added[0]} has no staged file")
        with commit_lock(self.root, True, self.lock_timeout, self.on_wait):
            self._mark_pending()
            folders: set[Path] = set()
            for rel in added:  # into versions/ first: other engines do not see these yet
                version = self.root / VERSIONS / rel
                version.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / rel, version)  # type: ignore[operator]
                folders.add(version.parent)
                crash_point("moved")
            for rel in added:  # then the hive links, just before the manifest
                _link(self.root / VERSIONS / rel, self.root / rel)
                folders.add((self.root / rel).parent)
                crash_point("linked")
            for folder in sorted(folders):
                _sync_dir(folder)
            crash_point("synced")
            self._write_manifest(work)
            for rel in dropped:
                (self.root / rel).unlink(missing_ok=True)
                crash_point("dropped")
            for top in (*_HIVE_DIRS, VERSIONS):
                _remove_empty_dirs(self.root / top)
            crash_point("swept")
            (self.root / _PENDING).unlink()

    def _mark_pending(self) -> None:
        """Create the marker of a commit in progress (removed when the hive folder is in line)."""
        with open(self.root / _PENDING, "w", encoding="utf-8"):
            pass
        _sync_dir(self.root)


def mirror(flows: pl.LazyFrame | pl.DataFrame, *, by_source: bool = True) -> pl.DataFrame:
    """Pair each importer's report with the exporter's report of the same flow.

    An import row (``flow`` M, reported by the importer) and an export row (``flow`` X, reported by
    the exporter) describe the same flow when ``exporter_iso3, importer_iso3, hs_code, period,
    freq`` (and ``source`` with ``by_source``) agree. Imports are valued CIF (cost, insurance and
    freight to the importer's border), exports FOB (at the exporter's border), so even perfect
    reports differ by transport and insurance costs, typically 5-10% of the value: a positive
    ``value_gap`` of that size is expected, a larger or negative gap points at misreporting,
    re-exports through third countries or timing.

    Parameters
    ----------
    flows : polars.LazyFrame or DataFrame
        Canonical records, e.g. ``FlowStore(root).scan()``.
    by_source : bool
        Pair only reports from the same source (default).

    Returns
    -------
    polars.DataFrame
        One row per flow seen from either side (full join): the key columns,
        ``value_import_cif`` (importer's report), ``value_export_fob`` (exporter's report),
        ``value_gap = value_import_cif - value_export_fob``, ``value_ratio = value_import_cif /
        value_export_fob``, ``weight_import_kg``, ``weight_export_kg``,
        ``weight_gap_kg = weight_import_kg - weight_export_kg``; null where a side is missing.
        Sorted by the key.
    """
    lazy = flows.lazy() if isinstance(flows, pl.DataFrame) else flows
    key = ["exporter_iso3", "importer_iso3", "hs_code", "period", "freq"]
    if by_source:
        key = ["source", *key]
    imports = lazy.filter(pl.col("flow") == "M").select(
        *key,
        pl.col("value_usd").alias("value_import_cif"),
        pl.col("net_weight_kg").alias("weight_import_kg"),
    )
    exports = lazy.filter(pl.col("flow") == "X").select(
        *key,
        pl.col("value_usd").alias("value_export_fob"),
        pl.col("net_weight_kg").alias("weight_export_kg"),
    )
    paired = imports.join(exports, on=key, how="full", coalesce=True, nulls_equal=True)
    return (
        paired.with_columns(
            (pl.col("value_import_cif") - pl.col("value_export_fob")).alias("value_gap"),
            (pl.col("value_import_cif") / pl.col("value_export_fob")).alias("value_ratio"),
            (pl.col("weight_import_kg") - pl.col("weight_export_kg")).alias("weight_gap_kg"),
        )
        .select(
            *key,
            "value_import_cif",
            "value_export_fob",
            "value_gap",
            "value_ratio",
            "weight_import_kg",
            "weight_export_kg",
            "weight_gap_kg",
        )
        .sort(key, nulls_last=True)
        .collect()
    )
