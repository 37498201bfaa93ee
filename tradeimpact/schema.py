"""The canonical flow record (DESIGN.md, "Canonical flow record").

One row = one reported flow. Every reader in :mod:`tradeimpact.sources` maps its format to these
columns; units are converted once, at ingest, and never again:

* ``value_usd``: US dollars (thousand USD in BACI -> USD);
* ``value_native`` + ``currency``: the value in the currency the source reports (e.g. thousand JPY in
  Japan Customs files are stored as JPY in ``value_native`` with ``currency = "JPY"``);
* ``net_weight_kg``: kilograms (tonnes -> kg);
* ``quantity`` + ``quantity_unit``: the source's supplementary quantity, unit as published.

Lineage columns ``source_file`` (file name as given) and ``source_line`` (1-based line or record
number in that file) let every stored or quarantined row be traced back to its input.

The case studies' results table (one row per design, outcome and variant: what
:mod:`tradeimpact.casestudy` produces and :mod:`tradeimpact.report.tables` reads) is described here
too (:data:`RESULT_COLUMNS`, :data:`MAIN_COLUMNS`, :data:`MAIN_SCHEMA`), so that the tables need not
load the case-study machinery to know its columns.
"""

from __future__ import annotations

import polars as pl

#: Column name -> polars dtype of the canonical record, in canonical order.
FLOW_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "reporter_iso3": pl.String(),
    "partner_iso3": pl.String(),
    "flow": pl.String(),  # "M" import, "X" export (re-exports/re-imports keep their own codes)
    "exporter_iso3": pl.String(),
    "importer_iso3": pl.String(),
    "hs_code": pl.String(),  # as published: 6-10 digits, leading zeros kept ("TOTAL" for aggregates)
    "hs6": pl.String(),
    "hs_revision": pl.String(),  # e.g. "H3" (HS2007), "HS17"
    "period": pl.Date(),  # first day of the month (freq M) or of the year (freq A)
    "freq": pl.String(),  # "M" or "A"
    "value_usd": pl.Float64(),
    "value_native": pl.Float64(),
    "currency": pl.String(),
    "valuation": pl.String(),  # "CIF" or "FOB"
    "net_weight_kg": pl.Float64(),
    "quantity": pl.Float64(),
    "quantity_unit": pl.String(),
    "flags": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
}

FLOW_COLUMNS: list[str] = list(FLOW_SCHEMA)

#: The columns that identify one flow: a store holds at most one row per key.
FLOW_KEY: list[str] = [
    "source",
    "reporter_iso3",
    "partner_iso3",
    "flow",
    "hs_code",
    "period",
    "freq",
]

#: Columns of the quarantine table: the rejected row's lineage, the field at fault and the reason.
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "field": pl.String(),
    "reason": pl.String(),
    "raw": pl.String(),  # the rejected record as text (JSON of its raw fields)
}


def empty_flows() -> pl.DataFrame:
    """An empty frame with the canonical schema."""
    return pl.DataFrame(schema=FLOW_SCHEMA)


#: The columns of ``CaseStudy.main`` that the report's tables read (issue 5's table).
RESULT_COLUMNS: tuple[str, ...] = (
    "design",
    "outcome",
    "variant",
    "estimate",
    "ci_low",
    "ci_high",
    "ci_method",
    "p_value",
    "p_method",
    "cr1_se",
    "nobs",
    "true_effect",
)

#: Column name -> polars dtype of ``CaseStudy.main``, in order: :data:`RESULT_COLUMNS`, then the
#: details (the exact randomization fraction, the size check, the secondary tests, notes).
MAIN_SCHEMA: dict[str, pl.DataType] = {
    "design": pl.String(),
    "outcome": pl.String(),
    "variant": pl.String(),
    "estimate": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "ci_method": pl.String(),
    "p_value": pl.Float64(),
    "p_method": pl.String(),
    "cr1_se": pl.Float64(),
    "nobs": pl.Int64(),
    "true_effect": pl.Float64(),
    "p_fraction": pl.String(),
    "n_placebos": pl.Int64(),
    "cr1_p_value": pl.Float64(),
    "ct_low": pl.Float64(),
    "ct_high": pl.Float64(),
    "zeros_dropped": pl.Int64(),
    "note": pl.String(),
    "headline": pl.String(),
    "size_k": pl.Int64(),
    "size_n": pl.Int64(),
    "size_kinds": pl.String(),
    "size_check": pl.String(),
    "ri_p_value": pl.Float64(),
    "ri_p_fraction": pl.String(),
    "ri_low": pl.Float64(),
    "ri_high": pl.Float64(),
    "same_test": pl.String(),
}

#: Columns of ``CaseStudy.main``, in order (the keys of :data:`MAIN_SCHEMA`).
MAIN_COLUMNS: tuple[str, ...] = tuple(MAIN_SCHEMA)
