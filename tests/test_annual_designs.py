"""Every design on an ANNUAL event: the synthetic monthly panel summed to years.

The shipped real extract holds one product and one reporting side, so the triple difference,
the importer side, diversion and the mirror cannot run on it. Here the SYNTHETIC demonstration
flows are summed to calendar years (``freq = "A"``) and the 2010 event is rewritten as an annual
event file: every design, the event study in years and synthetic control / SDID must run, on
yearly periods, and the triple difference equals pyfixest on the same panel.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pyfixest as pf
import pytest

from tests.conftest import REPO
from tradeimpact.casestudy import run_case_study
from tradeimpact.schema import FLOW_SCHEMA
from tradeimpact.store import FlowStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def annual(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    files = sorted((REPO / "data_raw" / "comtrade").glob("SYNTHETIC_*.json.gz"))
    if not files:
        pytest.skip("data_raw/comtrade holds no SYNTHETIC demo files (python -m tradeimpact.demo)")
    tmp = tmp_path_factory.mktemp("annual")
    st = FlowStore(tmp / "store")
    st.ingest(files)
    c = pl.col
    m = st.scan().filter(c("period").is_between(date(2005, 1, 1), date(2012, 12, 1))).collect()
    keys = [k for k in FLOW_SCHEMA if k not in
            ("period", "freq", "value_usd", "value_native", "net_weight_kg", "quantity",
             "flags", "source_line")]  # fmt: skip
    flows = (
        m.with_columns(pl.date(c("period").dt.year(), 1, 1).alias("period"))
        .group_by([*keys, "period"])
        .agg(c("value_usd").sum(), c("value_native").sum(), c("net_weight_kg").sum(),
             c("quantity").sum(), c("source_line").min())
        .with_columns(pl.lit("A").alias("freq"), pl.lit(None, pl.String).alias("flags"))
        .select(list(FLOW_SCHEMA))
        .sort([*keys, "period"])
    )  # fmt: skip
    text = (REPO / "analysis" / "events" / "rare_earth_2010.toml").read_text(encoding="utf-8")
    text = (
        text.replace('name = "rare_earth_2010"', 'name = "rare_earth_2010_annual"')
        .replace('freq = "M"', 'freq = "A"')
        .replace("start = 2008-01-01", "start = 2005-01-01")
        .replace("end = 2011-05-31", "end = 2012-12-31")
        .replace("event_time = [-24, 8]", "event_time = [-5, 2]")
        .replace("event_month = 2010-09-01", "event_month = 2010-01-01")
        .replace("alt_event_month = 2010-10-01\n", "")
    )
    path = tmp / "rare_earth_2010_annual.toml"
    path.write_text(text, encoding="utf-8")
    return path, flows


def test_every_design_runs_on_years(annual: tuple[Path, pl.DataFrame]) -> None:
    path, flows = annual
    cs = run_case_study(path, flows, REPO / "analysis" / "specs" / "main.toml", variants=False)
    assert cs.freq == "A" and cs.is_synthetic
    designs = set(cs.main["design"])
    assert designs == {"importer", "exporter", "triple", "diversion", "mirror", "synth", "sdid"}
    for name, panel in cs.panels.items():
        d = panel.data
        assert d["period"].dt.month().unique().to_list() == [1], name
        assert d["period"].min() == date(2005, 1, 1), name
        assert d["period"].max() == date(2010, 1, 1), name  # the hold's year ends the sample
        assert sorted(d["rel_time"].unique().to_list()) == list(range(-5, 1)), name
    for design in ("importer", "exporter"):
        es = cs.event_study_frames[design]
        assert es["rel_time"].to_list() == [-5, -4, -3, -2, 0, 1, 2]
    assert cs.synth_gap is not None
    assert cs.synth_gap["period"].to_list() == [date(y, 1, 1) for y in range(2005, 2011)]
    assert cs.raw_base == (date(2007, 1, 1), date(2009, 1, 1))
    # the triple difference on years equals pyfixest (coefficient 1e-8, CR1 SE 1e-6)
    row = cs.headline("triple", "log_quantity")
    d = cs.panels["triple"].data.to_pandas()
    fit = pf.feols("y ~ treat | cell + product_period + unit_period", data=d,
                   vcov={"CRV1": "unit"})  # fmt: skip
    assert row["estimate"] == pytest.approx(float(fit.coef()["treat"]), abs=1e-8)
    assert row["cr1_se"] == pytest.approx(float(fit.se()["treat"]), rel=1e-6)
    assert row["n_placebos"] == 21 and row["p_fraction"].endswith("/21")
