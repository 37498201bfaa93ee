"""Validate a reader's rows and split them into rows to store and rows to quarantine.

:func:`validate` adds the checks every source shares to the reader's own row checks (the first
problem of a row wins, the reader's first):

* schema and types: every canonical column present with its dtype (a reader that breaks the
  contract raises :class:`~tradeimpact.errors.SourceFormatError`);
* known codes: reporter, partner, exporter and importer ISO3 present (readers map source codes
  through :mod:`tradeimpact.codes` and mark unknown codes with the code in the reason);
* flow, HS code, period (first day of a month; of January for ``freq`` A) and ``freq`` present;
* a value (``value_usd`` or ``value_native``); no value, weight or quantity that is not finite
  (``NaN``, ``inf``: a Float64 parser accepts them, and ``NaN < 0`` is false, so without this check
  they would be stored) or negative;
* period inside the declared range of the input, where one is given;
* one row per :data:`~tradeimpact.schema.FLOW_KEY`: when several otherwise valid rows of the input
  share a key, *all* of them are quarantined with the lines they share the key with. Nothing is
  summed, nothing is kept by an arbitrary rule.

:func:`split` turns the checked frame into the stored rows (canonical columns)
and the quarantine rows (:data:`~tradeimpact.schema.QUARANTINE_SCHEMA`), both lazy and in the
input's order, so ``rows in = rows stored + rows quarantined`` by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from tradeimpact.errors import SourceFormatError
from tradeimpact.schema import FLOW_COLUMNS, FLOW_KEY, FLOW_SCHEMA, QUARANTINE_SCHEMA
from tradeimpact.sources._text import Check, first_problem

__all__ = [
    "CLASH_SCHEMA",
    "FileReport",
    "IngestReport",
    "check_rows",
    "duplicate_keys",
    "mark_duplicates",
    "quarantine_rows",
    "shared_checks",
    "split",
    "validate",
]

_REJECT = ["reject_field", "reject_reason"]


def _check_schema(frame: pl.LazyFrame, name: str) -> None:
    schema = frame.collect_schema()
    for column, dtype in [*FLOW_SCHEMA.items(), *((c, pl.String()) for c in _REJECT)]:
        if column not in schema:
            raise SourceFormatError(name, f"reader output lacks column '{column}'", field=column)
        if schema[column] != dtype:
            raise SourceFormatError(
                name,
                f"reader output column '{column}' is {schema[column]}, expected {dtype}",
                field=column,
            )


def shared_checks(
    c: Callable[[str], pl.Expr], period_range: tuple[dt.date, dt.date] | None = None
) -> list[Check]:
    """The checks every source shares, over the canonical columns ``c(name)``, in order.

    ``c`` gives a canonical column (``pl.col`` for a reader's output; the store passes its own
    columns so the checks run in the same pass as the reader).
    """
    checks: list[Check] = [
        (c("source").is_null(), "source", "missing source"),
    ]
    for column in ("reporter_iso3", "partner_iso3", "exporter_iso3", "importer_iso3"):
        checks.append((c(column).is_null(), column, f"missing or unknown {column}"))
    checks += [
        (c("flow").is_null(), "flow", "missing flow"),
        (c("hs_code").is_null() | (c("hs_code") == ""), "hs_code", "missing HS code"),
        (
            c("freq").is_null() | ~c("freq").is_in(["M", "A"]),
            "freq",
            ("freq must be M or A, got '", c("freq"), "'"),
        ),
        (c("period").is_null(), "period", "missing period"),
        (
            (c("period").dt.day() != 1) | ((c("freq") == "A") & (c("period").dt.month() != 1)),
            "period",
            "period is not the first day of its month (or of January for freq A)",
        ),
        (c("value_usd").is_null() & c("value_native").is_null(), "value_usd", "no value"),
    ]
    for column in ("value_usd", "value_native", "net_weight_kg", "quantity"):
        checks.append(
            (
                c(column).is_nan() | c(column).is_infinite(),
                column,
                (f"non-finite {column} ", c(column), " (NaN or infinity is not a trade value)"),
            )
        )
    for column in ("value_usd", "value_native", "net_weight_kg", "quantity"):
        checks.append(
            (
                c(column) < 0,
                column,
                (f"negative {column} ", c(column)),
            )
        )
    if period_range is not None:
        start, end = period_range
        checks.append(
            (
                ~c("period").is_between(pl.lit(start), pl.lit(end)),
                "period",
                ("period ", c("period"), f" is outside the file's declared range {start} to {end}"),
            )
        )
    return checks


def check_rows(
    frame: pl.LazyFrame,
    *,
    name: str = "<input>",
    period_range: tuple[dt.date, dt.date] | None = None,
) -> pl.LazyFrame:
    """The reader's frame with the shared checks folded into ``reject_field``/``reject_reason``.

    Parameters
    ----------
    frame : polars.LazyFrame
        A reader's output: canonical columns plus ``reject_field`` and ``reject_reason``.
    name : str
        The input's name, for errors.
    period_range : (date, date), optional
        Inclusive range the file declares; rows outside are quarantined.

    Returns
    -------
    polars.LazyFrame
        Same columns; a row is fine when ``reject_reason`` is null.
    """
    _check_schema(frame, name)
    c = pl.col
    checks = shared_checks(c, period_range)
    # the reader's own verdict comes first; then the shared checks, first failing one wins
    field_expr, reason_expr = first_problem(checks)
    marked = c("reject_reason").is_not_null()
    checked = frame.with_columns(
        pl.when(marked).then(c("reject_field")).otherwise(field_expr).alias("reject_field"),
        pl.when(marked).then(c("reject_reason")).otherwise(reason_expr).alias("reject_reason"),
    )

    return checked


def validate(
    frame: pl.LazyFrame,
    *,
    name: str = "<input>",
    period_range: tuple[dt.date, dt.date] | None = None,
) -> pl.LazyFrame:
    """:func:`check_rows` then the one-row-per-key check (:func:`duplicate_keys`).

    Same parameters and result as :func:`check_rows`; rows sharing a flow key are all marked.
    The key check reads ``frame`` (twice, streaming); for an expensive reader, write
    :func:`check_rows` to Parquet first, as :class:`tradeimpact.store.FlowStore` does.
    """
    checked = check_rows(frame, name=name, period_range=period_range)
    return mark_duplicates(checked, duplicate_keys(checked))


#: columns of a key-clash table: the flow key plus the reason its rows are quarantined
CLASH_SCHEMA: dict[str, pl.DataType] = {
    **{k: FLOW_SCHEMA[k] for k in FLOW_KEY},
    "_clash_reason": pl.String(),
}


def _valid(checked: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of ``checked`` without a reject reason (all rows when it has no such column)."""
    if "reject_reason" not in checked.collect_schema().names():
        return checked
    return checked.filter(pl.col("reject_reason").is_null())


def duplicate_keys(checked: pl.LazyFrame) -> pl.DataFrame:
    """Flow keys shared by more than one otherwise valid row, with the quarantine reason.

    Memory is bounded by 8 bytes a row: a 64-bit hash of each valid row's key is collected and
    sorted, equal neighbours are the candidate keys, and only the candidates' rows are grouped on
    the exact key, so a hash collision can never flag two different keys.

    Returns
    -------
    polars.DataFrame
        :data:`CLASH_SCHEMA`: one row per duplicated key, sorted by the key.
    """
    ok = _valid(checked)
    key_hash = pl.struct(FLOW_KEY).hash(seed=0).alias("_key_hash")
    hashes = ok.select(key_hash).collect(engine="streaming").to_series().sort()
    repeated = (hashes == hashes.shift(1)) | (hashes == hashes.shift(-1))
    candidates = hashes.filter(repeated.fill_null(False)).unique()
    del hashes, repeated
    if candidates.is_empty():
        return pl.DataFrame(schema=CLASH_SCHEMA)
    c = pl.col
    return (
        ok.filter(key_hash.is_in(candidates.implode()))
        .group_by(FLOW_KEY)
        .agg(
            pl.len().alias("n"),
            c("source_line").min().alias("first"),
            c("source_line").max().alias("last"),
        )
        .filter(c("n") > 1)
        .collect(engine="streaming")
        .select(
            *FLOW_KEY,
            pl.concat_str(
                pl.lit("duplicate flow key: "),
                c("n").cast(pl.String),
                pl.lit(
                    " rows of this file share (source, reporter, partner, flow, hs_code, period, "
                    "freq) = ("
                ),
                pl.concat_str(
                    [c(k).cast(pl.String) for k in FLOW_KEY], separator=", ", ignore_nulls=True
                ),
                pl.lit("), lines "),
                c("first").cast(pl.String),
                pl.lit(" to "),
                c("last").cast(pl.String),
                pl.lit("; none is stored, none is summed"),
            ).alias("_clash_reason"),
        )
        .select([c(n).cast(t) for n, t in CLASH_SCHEMA.items()])
        .sort(FLOW_KEY)
    )


def _clash_flag(clashes: pl.DataFrame) -> pl.Expr:
    """True for a valid row whose key is in ``clashes`` (an exact membership test)."""
    keys = clashes.select(pl.struct(FLOW_KEY).alias("k"))["k"]
    return pl.col("reject_reason").is_null() & pl.struct(FLOW_KEY).is_in(keys.implode())


def mark_duplicates(checked: pl.LazyFrame, clashes: pl.DataFrame) -> pl.LazyFrame:
    """Mark every valid row whose key is in ``clashes`` (:data:`CLASH_SCHEMA`) as rejected."""
    if clashes.is_empty():
        return checked
    c = pl.col
    joined = checked.join(clashes.lazy(), on=FLOW_KEY, how="left", maintain_order="left")
    clash = c("reject_reason").is_null() & c("_clash_reason").is_not_null()
    return joined.with_columns(
        pl.when(clash).then(pl.lit("flow_key")).otherwise(c("reject_field")).alias("reject_field"),
        pl.when(clash)
        .then(c("_clash_reason"))
        .otherwise(c("reject_reason"))
        .alias("reject_reason"),
    ).drop("_clash_reason")


def split(
    checked: pl.LazyFrame, clashes: pl.DataFrame | None = None
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(rows to store, rows to quarantine) of a checked frame, both lazy.

    Both keep the input's order, i.e. are sorted by ``source_line``: deterministic, and unlike a
    sort by the flow key it streams (a 50-million-row file is never held in memory). Stored rows
    keep the canonical columns; quarantined rows get ``source_file, source_line, field, reason,
    raw`` (``raw`` is the row's canonical fields as JSON).

    Parameters
    ----------
    checked : polars.LazyFrame
        From :func:`check_rows` (or :func:`validate`).
    clashes : polars.DataFrame, optional
        Keys whose valid rows must be quarantined (:data:`CLASH_SCHEMA`, e.g. from
        :func:`duplicate_keys`). The stored rows are filtered by an exact membership test; only
        the (few) quarantined rows are joined for the reason, so the stored path streams.
    """
    if clashes is not None and not clashes.is_empty():
        flag = _clash_flag(clashes)
        good = checked.filter(pl.col("reject_reason").is_null() & ~flag)
        rejected = mark_duplicates(
            checked.filter(pl.col("reject_reason").is_not_null() | flag), clashes
        )
    else:
        good = checked.filter(pl.col("reject_reason").is_null())
        rejected = checked.filter(pl.col("reject_reason").is_not_null())
    return good.select(FLOW_COLUMNS), quarantine_rows(rejected)


def quarantine_rows(rejected: pl.LazyFrame) -> pl.LazyFrame:
    """Rejected rows (canonical columns + ``reject_field``/``reject_reason``) as quarantine rows.

    :data:`~tradeimpact.schema.QUARANTINE_SCHEMA`: ``source_file, source_line, field, reason,
    raw`` (``raw`` is the row's canonical fields as JSON); row order kept.
    """
    raw = pl.struct(
        [pl.col(name) for name in FLOW_COLUMNS if name not in ("source_file", "source_line")]
    ).struct.json_encode()
    bad = rejected.select(
        pl.col("source_file"),
        pl.col("source_line"),
        pl.col("reject_field").fill_null("").alias("field"),
        pl.col("reject_reason").alias("reason"),
        raw.alias("raw"),
    )
    return bad.select([pl.col(n).cast(t) for n, t in QUARANTINE_SCHEMA.items()])


@dataclass(frozen=True)
class FileReport:
    """What ingest did with one input file."""

    path: str
    reader: str
    reader_version: str
    sha256: str
    rows_read: int
    rows_stored: int
    rows_quarantined: int
    #: "ingested" (new input), "replaced" (changed input), "unchanged" (same bytes, same reader)
    status: str


@dataclass
class IngestReport:
    """Per-file counts of one :meth:`tradeimpact.store.FlowStore.ingest` call."""

    files: list[FileReport] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Rows read over all files."""
        return sum(f.rows_read for f in self.files)

    @property
    def rows_stored(self) -> int:
        """Rows stored over all files."""
        return sum(f.rows_stored for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        """Rows quarantined over all files."""
        return sum(f.rows_quarantined for f in self.files)

    def tidy(self) -> pl.DataFrame:
        """One row per file: path, reader, status, rows read / stored / quarantined, sha256."""
        return pl.DataFrame(
            [f.__dict__ for f in self.files],
            schema={
                "path": pl.String,
                "reader": pl.String,
                "reader_version": pl.String,
                "sha256": pl.String,
                "rows_read": pl.Int64,
                "rows_stored": pl.Int64,
                "rows_quarantined": pl.Int64,
                "status": pl.String,
            },
        )

    def summary(self) -> str:
        """Plain-text table of :meth:`tidy` plus the totals."""
        lines = [
            f"{'file':<50} {'reader':<14} {'status':<10} {'read':>10} {'stored':>10} "
            f"{'quarantined':>12}"
        ]
        for f in self.files:
            lines.append(
                f"{f.path[-50:]:<50} {f.reader:<14} {f.status:<10} {f.rows_read:>10} "
                f"{f.rows_stored:>10} {f.rows_quarantined:>12}"
            )
        lines.append(
            f"{'total':<50} {'':<14} {'':<10} {self.rows_read:>10} "
            f"{self.rows_stored:>10} {self.rows_quarantined:>12}"
        )
        return "\n".join(lines)
