"""event_study(estimator="cs") with did's varying base period: no reference period (issue 14).

With ``base_period="varying"`` (R did's default) every pre-treatment ATT(g, t) is a short
difference against the period before it, so event time -1 has an estimate like every other and
there is no normalised reference row. Reference: did's published ``aggte(type = "dynamic")`` on
mpdta (bcallaway11/did README, in /work/shared/validation/mpdta/README.md): event times -3..3 =
0.0305, -0.0006, -0.0245, -0.0199, -0.0510, -0.1373, -0.1008 (4 decimals; standard errors there
are bootstrap draws, so the analytic ones are checked against att_gt's aggregate instead).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import polars as pl
import pytest
from conftest import shared_path

from tradeimpact.models.callaway_santanna import att_gt
from tradeimpact.models.event_study import event_study

DID_DYNAMIC = {-3: 0.0305, -2: -0.0006, -1: -0.0245, 0: -0.0199, 1: -0.0510, 2: -0.1373,
               3: -0.1008}  # fmt: skip


@pytest.fixture(scope="module")
def mpdta() -> pl.DataFrame:
    return pl.read_csv(shared_path("validation", "mpdta", "mpdta.csv"))


def test_varying_base_shows_e_minus_1_as_did(mpdta: pl.DataFrame) -> None:
    es = event_study(mpdta, "lemp", "countyreal", "year", cohort="first.treat", window=None,
                     estimator="cs", outcome="level", cs={"base_period": "varying"})  # fmt: skip
    assert es.ref is None
    assert es.event_times == sorted(DID_DYNAMIC)
    est = dict(zip(es.event_times, es.params.to_numpy(), strict=True))
    for e, v in DID_DYNAMIC.items():
        assert est[e] == pytest.approx(v, abs=5e-5), e
    agg = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat").aggregate("dynamic")
    np.testing.assert_allclose(es.std_errors.to_numpy(), agg.components["se"].to_numpy(),
                               rtol=1e-12)  # fmt: skip
    tab = es.event_table()
    assert tab.height == 7 and not tab["term"].str.starts_with("ref(").any()
    assert tab.filter(pl.col("event_time") == -1)["estimate"][0] == pytest.approx(-0.0245,
                                                                                   abs=5e-5)  # fmt: skip
    assert "no reference period" in es.model
    ax = es.plot()
    labels = ax.get_legend_handles_labels()[1]
    assert not any(lab.startswith("reference period") for lab in labels)
    assert len(ax.collections) + len(ax.lines) > 0


def test_universal_base_keeps_the_reference_row(mpdta: pl.DataFrame) -> None:
    es = event_study(mpdta, "lemp", "countyreal", "year", cohort="first.treat", window=None,
                     estimator="cs", outcome="level")  # fmt: skip
    assert es.ref == -1 and -1 not in es.event_times
    tab = es.event_table()
    row = tab.filter(pl.col("event_time") == -1)
    assert row["term"][0] == "ref(-1)" and row["estimate"][0] == 0.0
    labels = es.plot().get_legend_handles_labels()[1]
    assert "reference period (-1)" in labels
