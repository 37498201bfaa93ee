"""The 2010 importer-side design on real data: China's annual exports of HS 850511 (magnets).

``../shared/data/real/critmat-atlas-comtrade-baci/magnets_850511_flows_2002_2026.csv`` (CEPII BACI,
reconciled UN Comtrade flows; value in USD) read through the generic column-mapping reader, as a
user would read an extract of their own. 2025 (provisional, raw Comtrade) and 2026 (a modelled
nowcast, not observed) are outside the declared range 2002-2024 and quarantined with that reason:
they are not comparable with the BACI years. Run with ``pytest -s`` to see the estimate.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import polars as pl
import pytest

from tests.conftest import REPO, shared_path
from tradeimpact.inference.randomization import randomization_inference
from tradeimpact.models.linear import feols
from tradeimpact.panel import Event, build_panel
from tradeimpact.sources.generic import GenericReader
from tradeimpact.store import FlowStore


def test_magnets_2010_importer_side(tmp_path: object) -> None:
    path = shared_path(
        "data", "real", "critmat-atlas-comtrade-baci", "magnets_850511_flows_2002_2026.csv"
    )
    reader = GenericReader(
        mapping={"year": "year", "exporter": "exporter_iso2", "importer": "importer_iso2",
                 "value_usd": "value_usd", "net_weight_kg": "qty_tonnes", "flags": "source_note"},
        code_system="iso2", freq="A", reported_by="importer", units={"net_weight_kg": 1000},
        constants={"hs_code": "850511"}, source="critmat_magnets",
        period_range=(date(2002, 1, 1), date(2024, 1, 1)),
    )  # fmt: skip
    store = FlowStore(tmp_path)  # type: ignore[arg-type]
    report = store.ingest([path], reader)
    assert report.rows_read == 32_992
    assert report.rows_read == report.rows_stored + report.rows_quarantined
    q = store.quarantine().collect()
    years = q.filter(pl.col("field") == "period")
    assert years.height > 0 and years["reason"].str.contains("outside the file's declared").all()
    flows = store.scan().collect()
    assert flows["period"].max() <= date(2024, 1, 1)
    # the file's own China -> Japan value for 2010 (SOURCES.md: 46,151,312 USD)
    cj = flows.filter((pl.col("exporter_iso3") == "CHN") & (pl.col("importer_iso3") == "JPN")
                      & (pl.col("period") == date(2010, 1, 1)))  # fmt: skip
    assert cj["value_usd"].item() == 46_151_312.0

    # controls: importers of Chinese magnets seen in every year of the window (the file keeps
    # only each country's top partners, so others have holes)
    start, end = date(2004, 1, 1), date(2012, 1, 1)
    chn = flows.filter((pl.col("exporter_iso3") == "CHN") & pl.col("period").is_between(start, end))
    n_years = end.year - start.year + 1
    full = chn.group_by("importer_iso3").agg(pl.col("period").n_unique().alias("n"))
    controls = sorted(full.filter((pl.col("n") == n_years) & (pl.col("importer_iso3") != "JPN"))
                      ["importer_iso3"].to_list())  # fmt: skip
    assert len(controls) >= 19, controls
    base = Event.from_toml(REPO / "analysis" / "events" / "rare_earth_2010.toml")
    event = dataclasses.replace(
        base, core=("850511",), controls=tuple(controls), window_start=start, window_end=end,
        event_month=date(2010, 1, 1),
    )  # fmt: skip
    panel = build_panel(flows, event, "importer", "log_value", freq="A")
    assert panel.data["unit"].n_unique() == len(controls) + 1
    assert panel.dropped["zeros_in_log"] == 0
    fit = feols(panel.data, "y", ["treat"], fe=["cell", "product_period"], vcov={"CR1": "unit"})
    ri = randomization_inference(panel.data, "y", unit="unit", time="period", treated="JPN",
                                 post="post", fe=["cell", "product_period"])  # fmt: skip
    est = float(fit.params["treat"])
    assert ri.estimate == pytest.approx(est, abs=1e-10)
    assert ri.exact and ri.p_denominator == len(controls) + 1
    msg = (
        f"Japan's imports of Chinese magnets (HS 850511, BACI value, log), 2010-2012 vs 2004-2009, "
        f"vs {len(controls)} other importers: DiD {est:.4f} (CR1 SE "
        f"{float(fit.std_errors['treat']):.4f}); RI p = {ri.p_numerator}/{ri.p_denominator} = "
        f"{ri.pvalue:.3f}; 95% RI interval {ri.conf_int()}"
    )
    print("\n" + msg)
    # independent reference: pyfixest on the same panel
    pf = pytest.importorskip("pyfixest")
    ref = pf.feols("y ~ treat | cell + product_period", data=panel.data.to_pandas(),
                   vcov={"CRV1": "unit"})  # fmt: skip
    assert est == pytest.approx(float(ref.coef()["treat"]), abs=1e-8), msg
    assert float(fit.std_errors["treat"]) == pytest.approx(float(ref.se()["treat"]), rel=1e-6)
    # the placebo distribution holds every importer once; the p-value is its exact fraction
    assert ri.placebo["assignment"].n_unique() == ri.p_denominator
    assert ri.p_numerator == int((ri.placebo["estimate"].abs() >= abs(est) - 1e-9).sum()), msg
