"""Validate a reader's rows and split them into rows to store and rows to quarantine.

:func:`validate` adds the checks every source shares to the reader's own row checks (the first
problem of a row wins, the reader's first):

* schema and types: every canonical column present with its dtype (a reader that breaks the
  contract raises :class:`~tradeimpact.errors.SourceFormatError`);
* known codes: reporter, partner, exporter and importer ISO3 present (readers map source codes
  through :mod:`tradeimpact.codes` and mark unknown codes with the code in the reason);
* flow, HS code, period (first day of a month; of January for ``freq`` A) and ``freq`` present;
* a value (``value_usd`` or ``value_native``), no negative value, weight or quantity;
* period inside the declared range of the input, where one is given;
* one row per :data:`~tradeimpact.schema.FLOW_KEY`: when several otherwise valid rows of the input
  share a key, *all* of them are quarantined with the lines they share the key with. Nothing is
  summed, nothing is kept by an arbitrary rule.

:func:`split` turns the checked frame into the stored rows (canonical columns, sorted by the key)
and the quarantine rows (:data:`~tradeimpact.schema.QUARANTINE_SCHEMA`), both lazy, so
``rows in = rows stored + rows quarantined`` by construction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from tradeimpact.errors import SourceFormatError
from tradeimpact.schema import FLOW_COLUMNS, FLOW_KEY, FLOW_SCHEMA, QUARANTINE_SCHEMA

__all__ = ["FileReport", "IngestReport", "split", "validate"]

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


def validate(
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
    checks: list[tuple[pl.Expr, str, pl.Expr | str]] = [
        (c("reject_reason").is_not_null(), "", c("reject_reason")),
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
            pl.concat_str(
                pl.lit("freq must be M or A, got '"), c("freq").fill_null(""), pl.lit("'")
            ),
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
                c(column) < 0,
                column,
                pl.concat_str(pl.lit(f"negative {column} "), c(column).cast(pl.String)),
            )
        )
    if period_range is not None:
        start, end = period_range
        checks.append(
            (
                ~c("period").is_between(pl.lit(start), pl.lit(end)),
                "period",
                pl.concat_str(
                    pl.lit("period "),
                    c("period").cast(pl.String),
                    pl.lit(f" is outside the file's declared range {start} to {end}"),
                ),
            )
        )
    field_expr: pl.Expr = pl.lit(None, dtype=pl.String)
    reason_expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for cond, fld, why in reversed(checks):
        hit = cond.fill_null(False)
        why_expr = pl.lit(why) if isinstance(why, str) else why
        fld_expr = c("reject_field") if fld == "" else pl.lit(fld)
        field_expr = pl.when(hit).then(fld_expr).otherwise(field_expr)
        reason_expr = pl.when(hit).then(why_expr).otherwise(reason_expr)
    checked = frame.with_columns(
        field_expr.alias("reject_field"), reason_expr.alias("reject_reason")
    )

    ok = c("reject_reason").is_null()
    n_ok = ok.cast(pl.Int64).sum().over(FLOW_KEY)
    first_line = pl.when(ok).then(c("source_line")).min().over(FLOW_KEY)
    last_line = pl.when(ok).then(c("source_line")).max().over(FLOW_KEY)
    duplicate = ok & (n_ok > 1)
    return checked.with_columns(
        pl.when(duplicate)
        .then(pl.lit("flow_key"))
        .otherwise(c("reject_field"))
        .alias("reject_field"),
        pl.when(duplicate)
        .then(
            pl.concat_str(
                pl.lit("duplicate flow key: "),
                n_ok.cast(pl.String),
                pl.lit(
                    " rows of this file share (source, reporter, partner, flow, hs_code, period, "
                    "freq) = ("
                ),
                pl.concat_str(
                    [c(k).cast(pl.String) for k in FLOW_KEY], separator=", ", ignore_nulls=True
                ),
                pl.lit("), lines "),
                first_line.cast(pl.String),
                pl.lit(" to "),
                last_line.cast(pl.String),
                pl.lit("; none is stored, none is summed"),
            )
        )
        .otherwise(c("reject_reason"))
        .alias("reject_reason"),
    )


def split(checked: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(rows to store, rows to quarantine) of a :func:`validate` frame, both lazy and sorted.

    Stored rows keep the canonical columns, sorted by :data:`FLOW_KEY` then ``source_line``.
    Quarantined rows get ``source_file, source_line, field, reason, raw`` (``raw`` is the row's
    canonical fields as JSON), sorted by ``source_line``.
    """
    ok = pl.col("reject_reason").is_null()
    good = checked.filter(ok).select(FLOW_COLUMNS).sort([*FLOW_KEY, "source_line"], nulls_last=True)
    raw = pl.struct(
        [pl.col(name) for name in FLOW_COLUMNS if name not in ("source_file", "source_line")]
    ).struct.json_encode()
    bad = (
        checked.filter(~ok)
        .select(
            pl.col("source_file"),
            pl.col("source_line"),
            pl.col("reject_field").fill_null("").alias("field"),
            pl.col("reject_reason").alias("reason"),
            raw.alias("raw"),
        )
        .sort("source_line", "field", "reason", nulls_last=True)
    )
    bad = bad.select([pl.col(n).cast(t) for n, t in QUARANTINE_SCHEMA.items()])
    return good, bad


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
