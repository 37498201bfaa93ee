"""The series the figures draw: each importer's raw imports, the mirror and the diversion."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tradeimpact.panel import Event, not_data, period_start

__all__ = ["figure_series"]


def figure_series(
    flows: pl.DataFrame, event: Event, basket: Sequence[str], measure: str = "net_weight_kg"
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, str]:
    """Raw series, mirror series and diversion series for the figures (``measure``'s unit).

    The raw series are each importer's own reports of its imports from the source (importer
    side) or, when the data hold none (an exporter-side extract), the source's reports of its
    exports to each of them; the last item says which (``"importer"`` or ``"exporter"``).
    Provisional or modelled rows (:func:`tradeimpact.panel.not_data`) are left out.
    """
    c = pl.col
    start = period_start(event.window_start, event.freq)
    end = event.window_end
    if event.data_source is not None and "source" in flows.columns:
        flows = flows.filter(c("source") == event.data_source)
    base = flows.filter(c("hs6").is_in(list(basket)) & c("period").is_between(start, end)
                        & (c("freq") == event.freq))  # fmt: skip
    if "flags" in base.columns:
        base = base.filter(~not_data())
    importers = [event.treated, *event.controls]
    raw = (
        base.filter((c("flow") == "M") & (c("partner_iso3") == event.source_country)
                    & c("reporter_iso3").is_in(importers))
        .group_by("period", "reporter_iso3").agg(c(measure).sum().alias("value"))
        .rename({"reporter_iso3": "unit"}).sort("unit", "period")
    )  # fmt: skip
    side = "importer"
    if raw.height == 0:
        side = "exporter"
        raw = (
            base.filter((c("flow") == "X") & (c("reporter_iso3") == event.source_country)
                        & c("partner_iso3").is_in(importers))
            .group_by("period", "partner_iso3").agg(c(measure).sum().alias("value"))
            .rename({"partner_iso3": "unit"}).sort("unit", "period")
        )  # fmt: skip
    imp = base.filter((c("flow") == "M") & (c("reporter_iso3") == event.treated)
                      & (c("partner_iso3") == event.source_country))  # fmt: skip
    exp = base.filter((c("flow") == "X") & (c("reporter_iso3") == event.source_country)
                      & (c("partner_iso3") == event.treated))  # fmt: skip
    mirror = (
        imp.group_by("period").agg(c(measure).sum().alias("importer_reported"))
        .join(exp.group_by("period").agg(c(measure).sum().alias("exporter_reported")),
              on="period", how="full", coalesce=True)
        .select("period", "exporter_reported", "importer_reported").sort("period")
    )  # fmt: skip
    if imp.height == 0 or exp.height == 0:  # one side only: there is no mirror to show
        mirror = mirror.clear()
    div = (
        base.filter((c("flow") == "M") & (c("reporter_iso3") == event.treated)
                    & c("partner_iso3").is_in([event.source_country, *event.suppliers]))
        .group_by("period", "partner_iso3").agg(c(measure).sum().alias("value"))
        .rename({"partner_iso3": "supplier"}).sort("supplier", "period")
    )  # fmt: skip
    return raw, mirror, div, side
