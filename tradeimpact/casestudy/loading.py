"""Loading a case study's inputs: the flows (a data directory, a store or a frame), the input
files they come from, the SYNTHETIC demo's true effects and the published (press-quoted) figures.

A data directory's raw files are those of :func:`raw_flow_files`; a file with a column mapping
beside it (``<stem>.mapping.json``: :class:`~tradeimpact.sources.generic.GenericReader` arguments)
is read through it, the others by the detected reader. A case study is SYNTHETIC when the files
its own flows come from say so (:func:`event_inputs`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from tradeimpact.errors import TradeImpactError
from tradeimpact.panel import Event, period_start

__all__ = [
    "MAPPING_SUFFIX",
    "NOT_FLOW_DIRS",
    "NOT_FLOW_SUFFIXES",
    "PUBLISHED_COLUMNS",
    "TRUE_EFFECTS_FILE",
    "LoadedFlows",
    "event_inputs",
    "load_flows",
    "load_true_effects",
    "mapping_file",
    "mapping_reader",
    "published_series",
    "raw_flow_files",
]

#: The checkout above the package (the default folder of the published figures).
REPO = Path(__file__).resolve().parents[2]


TRUE_EFFECTS_FILE = "SYNTHETIC_TRUE_EFFECTS.json"


@dataclass
class LoadedFlows:
    """Canonical flows held in memory, with where they came from."""

    flows: pl.DataFrame
    inputs: list[tuple[str, str]]  # (file name, sha256)
    is_synthetic: bool
    data_dir: Path | None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Folders of a data directory that hold no flow files (published press figures are read apart).
NOT_FLOW_DIRS = ("published",)


#: The ending of a column-mapping file: ``<name>.mapping.json`` beside ``<name>.csv`` (or any
#: ``<name>.<ext>``) says how to read that file (the keyword arguments of
#: :class:`~tradeimpact.sources.generic.GenericReader`, as ``tradeimpact ingest --mapping`` reads).
MAPPING_SUFFIX = ".mapping.json"


#: Endings of files that are not flow files: notes, the fetchers' sidecars (``.meta``,
#: ``.split.meta``), checksums, downloaded archives still to unpack, Parquet stores.
NOT_FLOW_SUFFIXES = (".md", ".txt", ".toml", ".meta", ".sha256", ".zip", ".parquet", ".part")


def raw_flow_files(data_dir: Path) -> list[Path]:
    """Raw flow files under ``data_dir`` (sorted): what ``nox -s report`` ingests.


    Left out: hidden files, files directly in ``data_dir`` (READMEs, the true effects of the
    synthetic demo), the ``published/`` folder, notes, the fetchers' sidecars and checksums,
    archives and Parquet (a store's files, e.g. ``manifest.json`` beside them), and column-mapping
    files (``<name>.mapping.json``: read with the file they describe, see :func:`mapping_file`).
    """
    data_dir = Path(data_dir)
    out = []
    for p in sorted(data_dir.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(data_dir)
        if len(rel.parts) < 2 or rel.parts[0] in NOT_FLOW_DIRS:
            continue
        if any(part.startswith(".") for part in rel.parts) or ".store" in rel.parts[0]:
            continue
        if p.name.lower().endswith(NOT_FLOW_SUFFIXES) or p.name == "manifest.json":
            continue
        if p.name.lower().endswith(MAPPING_SUFFIX):
            continue
        out.append(p)
    return out


def mapping_file(path: Path) -> Path | None:
    """The column-mapping file of a raw file: ``<stem>.mapping.json`` beside it, or None.


    ``data_raw/real/BACI_x.csv`` is read through ``data_raw/real/BACI_x.mapping.json`` when that
    exists: a JSON object of :class:`~tradeimpact.sources.generic.GenericReader` keyword
    arguments (``mapping``, ``source``, ``code_system``, ``freq``, ``reported_by``, ``units``,
    ``constants``, ``valuation``, ``period_range`` as two ISO dates...). Without one, the reader is
    detected from the file.
    """
    p = Path(path)
    cand = p.with_name(p.name.split(".")[0] + MAPPING_SUFFIX)
    return cand if cand.is_file() else None


def mapping_reader(path: Path) -> Any:
    """A :class:`~tradeimpact.sources.generic.GenericReader` from a mapping file
    (:meth:`GenericReader.from_json <tradeimpact.sources.generic.GenericReader.from_json>`:
    its errors name the file, the line or the argument)."""
    from tradeimpact.sources.generic import GenericReader

    return GenericReader.from_json(path)


_LOADED: dict[tuple[Any, ...], LoadedFlows] = {}


def load_flows(source: Any) -> LoadedFlows:
    """Canonical flows from a data directory, a FlowStore (or its root) or a frame.


    A data directory is ingested into a temporary :class:`~tradeimpact.store.FlowStore` (the
    readers are detected from the files; bad rows are quarantined by the store and reported
    there). ``is_synthetic`` is True when any input file name contains ``SYNTHETIC``.
    """
    from tradeimpact.store import FlowStore

    if isinstance(source, LoadedFlows):
        return source
    if isinstance(source, pl.LazyFrame | pl.DataFrame):
        df = source.collect() if isinstance(source, pl.LazyFrame) else source
        names = (
            df["source_file"].unique().drop_nulls().to_list() if "source_file" in df.columns else []
        )
        syn = any("SYNTHETIC" in Path(str(n)).name for n in names)
        return LoadedFlows(df, [(Path(str(n)).name, "") for n in sorted(names)], syn, None)
    if isinstance(source, FlowStore):
        store = source
    else:
        path = Path(source)
        if not path.exists():
            raise TradeImpactError(f"{path}: no such data directory or store")
        if (path / "manifest.json").exists():
            store = FlowStore(path)
        else:
            files = raw_flow_files(path)
            if not files:
                raise TradeImpactError(
                    f"{path}: no raw flow files found (they go in sub-folders: "
                    f"{path}/<source>/<file>)"
                )
            maps = {f: mapping_file(f) for f in files}
            every = sorted([*files, *(m for m in maps.values() if m is not None)])
            # one ingest per unchanged data directory and process (each event reads the same)
            key = (str(path.resolve()), tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns)
                                              for f in every))  # fmt: skip
            if key in _LOADED:
                return _LOADED[key]
            with tempfile.TemporaryDirectory(prefix="tradeimpact-store-") as tmp:
                st = FlowStore(tmp)
                plain = [f for f in files if maps[f] is None]
                if plain:
                    st.ingest(plain)
                for f in files:
                    m = maps[f]
                    if m is not None:
                        st.ingest([f], mapping_reader(m))
                flows = st.scan().collect()
            inputs = [(f.relative_to(path).as_posix(), _sha256(f)) for f in every]
            syn = any("SYNTHETIC" in f.name for f in files)
            _LOADED.clear()
            _LOADED[key] = LoadedFlows(flows, inputs, syn, path)
            return _LOADED[key]
    inp = store.inputs()
    inputs = [(Path(p).name, s) for p, s in zip(inp["path"], inp["sha256"], strict=True)]
    syn = any("SYNTHETIC" in Path(p).name for p in inp["path"])
    return LoadedFlows(store.scan().collect(), sorted(inputs), syn, None)


def load_true_effects(data_dir: Path | None) -> dict[str, Any] | None:
    """``SYNTHETIC_TRUE_EFFECTS.json`` of a data directory (None when absent)."""
    if data_dir is None:
        return None
    p = Path(data_dir) / TRUE_EFFECTS_FILE
    if not p.exists():
        return None
    out: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return out


def event_inputs(loaded: LoadedFlows, event: Event) -> tuple[bool, list[tuple[str, str]]]:
    """Whether the flows one event can use are SYNTHETIC, and the input files they come from.

    The flows of the event's frequency, window and products (every basket) that have the source
    country as exporter or the treated country as importer. A case study is synthetic when any of
    them comes from a file whose name says SYNTHETIC: a real extract beside the synthetic demo
    gives a real case study (and the demo's events stay synthetic). Raises
    :class:`~tradeimpact.errors.TradeImpactError` when there are none (naming what is missing).
    """
    c = pl.col
    flows = loaded.flows
    if event.data_source is not None and "source" in flows.columns:
        flows = flows.filter(c("source") == event.data_source)
    prods = sorted({*event.core, *event.extended, *event.comparison})
    start = period_start(event.window_start, event.freq)
    sel = flows.filter(
        (c("freq") == event.freq) & c("period").is_between(start, event.window_end)
        & c("hs6").is_in(prods)
        & ((c("exporter_iso3") == event.source_country) | (c("importer_iso3") == event.treated))
    )  # fmt: skip
    if sel.height == 0:
        where = f" in {loaded.data_dir}" if loaded.data_dir is not None else ""
        freq_word = "annual" if event.freq == "A" else "monthly"
        raise TradeImpactError(
            f"event {event.name} ({event.path}): no {freq_word} flows{where}"
            f"{f' from source {event.data_source!r}' if event.data_source else ''} of products "
            f"{', '.join(prods)} between {start} and {event.window_end} with exporter "
            f"{event.source_country} or importer {event.treated}: is the data for this event "
            "loaded?"
        )
    if "source_file" not in sel.columns:
        return loaded.is_synthetic, loaded.inputs
    used = {Path(str(n)).name for n in sel["source_file"].unique().drop_nulls().to_list()}
    syn = any("SYNTHETIC" in n for n in used)
    stems = {n.split(".")[0] for n in used}
    inputs = [
        (n, h) for n, h in loaded.inputs
        if Path(n).name in used or (n.endswith(MAPPING_SUFFIX)
                                    and Path(n).name[: -len(MAPPING_SUFFIX)] in stems)
    ]  # fmt: skip
    return syn, inputs or loaded.inputs


PUBLISHED_COLUMNS = ("series", "period", "value", "unit", "reported_by", "source")


def published_series(folder: str | Path | None = None) -> pl.DataFrame:
    """Published (press-quoted) monthly figures typed from research/events.md section 4.

    Reads every ``*.csv`` of ``folder`` (default ``data_raw/published`` of the repository):
    columns ``series, period (YYYY-MM), value, unit, reported_by, source`` (URL). Returns
    ``series, period (Date), value, unit, reported_by, source``, sorted by series and period.
    A malformed row raises :class:`~tradeimpact.errors.TradeImpactError` naming file, line, field.
    """
    d = Path(folder) if folder is not None else REPO / "data_raw" / "published"
    rows: list[dict[str, Any]] = []
    for f in sorted(d.glob("*.csv")) if d.exists() else []:
        with f.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in PUBLISHED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise TradeImpactError(f"{f}: missing column(s) {missing}")
            for i, r in enumerate(reader, start=2):
                try:
                    y, m = r["period"].split("-")
                    per = date(int(y), int(m), 1)
                except ValueError as exc:
                    raise TradeImpactError(
                        f"{f}, line {i}, field 'period': {r['period']!r} is not YYYY-MM"
                    ) from exc
                try:
                    val = float(r["value"])
                except ValueError as exc:
                    raise TradeImpactError(
                        f"{f}, line {i}, field 'value': {r['value']!r} is not a number"
                    ) from exc
                if not math.isfinite(val) or not r["source"].startswith("http"):
                    raise TradeImpactError(f"{f}, line {i}, field 'source': a URL is required")
                rows.append({"series": r["series"], "period": per, "value": val, "unit": r["unit"],
                             "reported_by": r["reported_by"], "source": r["source"]})  # fmt: skip
    schema = {"series": pl.String, "period": pl.Date, "value": pl.Float64, "unit": pl.String,
              "reported_by": pl.String, "source": pl.String}  # fmt: skip
    # unit and value break ties (a month with a monthly and a quarterly figure): a stable order
    return pl.DataFrame(rows, schema=schema).sort("series", "period", "unit", "value")
