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
