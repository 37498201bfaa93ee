"""The Parquet store of validated flows, its manifest, and the mirror view.

Layout of a store ``root``::

    root/manifest.json                                   one entry per input file
    root/flows/source=<source>/year=<yyyy>/<id>.parquet  stored rows of one input, one year
    root/quarantine/source=<source>/<id>.parquet         rejected rows of one input, with reasons

``<id>`` is a hash of (input path, input sha256, reader name and version): a changed input gets new
file names, so its new files are written beside the old ones before anything is removed.

Guarantees (each one tested in ``tests/test_store.py``):

* **idempotent**: an input whose bytes, reader and reader version are unchanged is skipped;
  a changed input replaces its own rows only (inputs are identified by their resolved path);
* **atomic**: new files are written under a staging folder, moved in, then ``manifest.json`` is
  replaced in one ``os.replace``; the manifest is the only list of live files, so a failure at any
  point before that rename leaves the previous store exactly as it was (the new files are removed);
* **deterministic**: rows in the input's order (sorted by ``source_line``), file names from
  content hashes, no timestamps anywhere: the same inputs give byte-identical stores;
* **one row per key** per source: a row whose key is already stored from another input of the same
  source is quarantined, naming that input;
* **streaming**: each input is read lazily where its reader allows and written with
  ``sink_parquet``; stored rows are never collected into memory.

One read of each input: the reader's checks and the shared checks (:func:`~tradeimpact.ingest.
shared_checks`) are folded into one integer (the first failing check); valid rows go straight to
their year partitions (inputs of more than ``_BATCH_ROWS`` rows: to a staging file, then to the
partitions in batches of years, which bounds memory), rejected rows - their reason texts built for
them only - to a staging file, both from the same scan. The flow-key check then reads the stored
key columns (64-bit hashes first), and repeated keys are moved to the quarantine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
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

__all__ = ["MANIFEST_FORMAT", "FlowStore", "file_sha256", "mirror"]

MANIFEST_FORMAT = "tradeimpact-store/1"
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_HIVE = {"source": pl.String(), "year": pl.Int32()}

#: called as ``progress(path, stage)`` with stage "start", "done" or "unchanged"
Progress = Callable[[str, str], None]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    good: pl.LazyFrame, rejected: pl.LazyFrame, good_target: Any, bad_path: Path
) -> None:
    """Sink both branches of one plan in one streaming run (the input is scanned once)."""
    plan = pl.collect_all(
        [
            good.sink_parquet(good_target, lazy=True, mkdir=True),
            rejected.sink_parquet(bad_path, lazy=True),
        ],
        lazy=True,
    )
    _sink(plan, None)


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
        _check_schema(staged.canonical(), str(path))
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
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(valid rows, rejected rows) of a staged reader plus the shared checks, from one plan.

    The canonical columns are computed once (as ``__c_<name>``); the first failing check of a row
    is one integer column; the reason texts are built after the filter, on rejected rows only.
    With ``by_year``, the valid rows carry ``year`` instead of ``source`` (for the partitions).
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
    return good, rejected


class FlowStore:
    """A validated, hive-partitioned Parquet store of canonical flow records.

    Parameters
    ----------
    root : str or Path
        The store's folder (created on first ingest).

    Examples
    --------
    >>> store = FlowStore("store")                                     # doctest: +SKIP
    >>> report = store.ingest(["data_raw/comtrade/HS-60a6ad.json"])    # doctest: +SKIP
    >>> store.scan().filter(pl.col("reporter_iso3") == "JPN").collect()  # doctest: +SKIP
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ manifest
    @property
    def manifest_path(self) -> Path:
        """``root/manifest.json``."""
        return self.root / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        """The manifest: ``{"format": ..., "inputs": {resolved path: entry}}``."""
        if not self.manifest_path.exists():
            return {"format": MANIFEST_FORMAT, "inputs": {}}
        with open(self.manifest_path, encoding="utf-8") as handle:
            manifest: dict[str, Any] = json.load(handle)
        if manifest.get("format") != MANIFEST_FORMAT:
            raise TradeImpactError(
                f"{self.manifest_path}: not a tradeimpact store manifest "
                f"(format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r})"
            )
        return manifest

    def inputs(self) -> pl.DataFrame:
        """One row per ingested input: path, source, reader, version, sha256 and row counts."""
        rows = [
            {k: v for k, v in entry.items() if k not in ("files", "quarantine_files")}
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
        manifest = self.manifest() if manifest is None else manifest
        rels = sorted(rel for entry in manifest["inputs"].values() for rel in entry[kind])
        return [self.root / rel for rel in rels]

    # ------------------------------------------------------------------ reading
    def scan(self) -> pl.LazyFrame:
        """All stored flows, lazily, with the canonical columns of :data:`FLOW_SCHEMA`."""
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
            others are stored.
        progress : callable, optional
            ``progress(path, stage)`` for a progress bar.

        Returns
        -------
        IngestReport
            Per file: rows read, stored, quarantined (``read = stored + quarantined``).
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        old = self.manifest()
        work: dict[str, Any] = {"format": MANIFEST_FORMAT, "inputs": dict(old["inputs"])}
        report = IngestReport()
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        moved: list[Path] = []
        try:
            for raw_path in paths:
                path = Path(raw_path)
                if progress:
                    progress(str(path), "start")
                try:
                    file_report = self._ingest_one(path, source, work, staging)
                except SourceFormatError as exc:
                    if on_error == "raise":
                        raise
                    file_report = FileReport(str(path), "", "", "", 0, 0, 0, f"error: {exc}")
                report.files.append(file_report)
                if progress:
                    progress(
                        str(path), "unchanged" if file_report.status == "unchanged" else "done"
                    )
            self._commit(old, work, staging, moved)
        except BaseException:
            for target in moved:
                target.unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return report

    def _ingest_one(
        self, path: Path, source: str | Reader | None, work: dict[str, Any], staging: Path
    ) -> FileReport:
        if not path.is_file():
            raise SourceFormatError(path, "file not found")
        reader = self._resolve_reader(path, source)
        src = _source_of(reader)
        key = str(path.resolve())
        sha = file_sha256(path)
        previous = work["inputs"].get(key)
        if (
            previous is not None
            and previous["sha256"] == sha
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

        stem = hashlib.sha256(
            "\0".join([key, sha, reader.name, reader.version, src]).encode()
        ).hexdigest()[:20]
        staged = _staged(reader, path)
        declared = getattr(reader, "declared_range", None)
        period_range = declared(path) if callable(declared) else None
        flows_rel = Path("flows") / f"source={src}"
        quarantine_rel = Path("quarantine") / f"source={src}" / f"{stem}.parquet"
        (staging / quarantine_rel).parent.mkdir(parents=True, exist_ok=True)

        year_dir = staging / flows_rel
        good_path = staging / f"{stem}.good.parquet"
        rejected_path = staging / f"{stem}.rejected.parquet"
        # a file of at most _BATCH_ROWS rows is written to its year partitions by the first pass;
        # a larger one to a staging file, then partitioned in batches of years
        direct = _estimated_rows(path) <= _BATCH_ROWS
        good_target: Path | pl.PartitionBy = _partitions(year_dir, stem) if direct else good_path
        try:
            # pass 1, one read of the input: the reader's and the shared checks as one cheap
            # index (the first failing check); valid rows and rejected rows (their reasons built
            # for them only) are sunk from the same scan
            try:
                _sink_pass(*_first_pass(staged, period_range, direct), good_target, rejected_path)
            except pl.exceptions.PolarsError:
                if staged.fallback is None:
                    raise
                # a typed scan met a value that is not a number: read the file as text, the
                # row is quarantined with its reason
                self._discard(year_dir, stem, good_path, rejected_path)
                _sink_pass(
                    *_first_pass(staged.fallback, period_range, direct),
                    good_target,
                    rejected_path,
                )
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
        except pl.exceptions.PolarsError as exc:
            raise polars_file_error(path, exc) from exc
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

    def _commit(
        self, old: dict[str, Any], work: dict[str, Any], staging: Path, moved: list[Path]
    ) -> None:
        def live(manifest: dict[str, Any]) -> set[str]:
            return {
                rel
                for entry in manifest["inputs"].values()
                for rel in [*entry["files"], *entry["quarantine_files"]]
            }

        old_live, new_live = live(old), live(work)
        if work["inputs"] == old["inputs"] and self.manifest_path.exists():
            return
        for rel in sorted(new_live - old_live):
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target)
            moved.append(target)
        text = json.dumps(work, indent=2, sort_keys=True) + "\n"
        tmp = self.root / ".manifest.json.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.manifest_path)
        moved.clear()  # committed: the new files are live now
        for rel in sorted(old_live - new_live):
            (self.root / rel).unlink(missing_ok=True)
        for folder in sorted((p for p in self.root.rglob("*") if p.is_dir()), reverse=True):
            if folder != staging and not any(folder.iterdir()):
                folder.rmdir()


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
