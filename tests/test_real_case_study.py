"""The REAL annual case study (analysis/events/magnets_2010_real.toml) on the shipped BACI extract.

China's annual exports of HS 850511 to Japan vs 57 other importers, 2002-2012 (data_raw/real/):
an event file with ``freq = "A"`` runs through :func:`run_case_study` with every design that makes
sense on years. The numbers the report prints are checked against pyfixest on the same panels
(coefficients 1e-8, CR1 standard errors and bounds 1e-6), the headline studentized randomization
p-value and the coefficient randomization p-value beside it against 58 pyfixest refits (each
importer given the treatment in turn) and pyfixest's pre-period residuals.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pyfixest as pf
import pytest

from tests.conftest import REPO
from tradeimpact.casestudy import load_flows, run_case_study
from tradeimpact.panel import Event, build_panel

EVENT = REPO / "analysis" / "events" / "magnets_2010_real.toml"
SPEC = REPO / "analysis" / "specs" / "main.toml"
REAL = REPO / "data_raw" / "real"


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding only the shipped real extract and its mapping (fast to ingest)."""
    d = tmp_path_factory.mktemp("real_data")
    (d / "real").mkdir()
    for f in REAL.glob("BACI_*"):
        shutil.copy(f, d / "real" / f.name)
    return d


@pytest.fixture(scope="module")
def cs(real_dir: Path):  # type: ignore[no-untyped-def]
    return run_case_study(EVENT, real_dir, SPEC, variants=False)


def test_annual_event_runs_every_design(cs) -> None:  # type: ignore[no-untyped-def]
    assert cs.freq == "A" and not cs.is_synthetic and cs.raw_side == "exporter"
    assert [n for n, _h in cs.inputs] == [
        "real/BACI_magnets_850511_CHN_exports_2002-2024.csv",
        "real/BACI_magnets_850511_CHN_exports_2002-2024.mapping.json",
    ]
    assert set(cs.main["design"]) == {"exporter", "synth", "sdid"}
    panel = cs.panels["exporter"].data
    # years: first of January, 2002 to the hold's year 2010; post = 2010; rel_time in years
    assert panel["period"].dt.month().unique().to_list() == [1]
    assert panel["period"].min() == date(2002, 1, 1) and panel["period"].max() == date(2010, 1, 1)
    assert sorted(panel["rel_time"].unique().to_list()) == list(range(-8, 1))
    assert panel.filter(pl.col("post") == 1)["period"].unique().to_list() == [date(2010, 1, 1)]
    assert panel["unit"].n_unique() == 58 and panel.height == 58 * 9
    es = cs.event_study_frames["exporter"]
    assert es["rel_time"].to_list() == [-8, -7, -6, -5, -4, -3, -2, 0, 1, 2]
    # synthetic control on the annual series: pre-period 2002-2009, one post year
    gap = cs.synth_gap
    assert gap["period"].to_list() == [date(y, 1, 1) for y in range(2002, 2011)]
    assert cs.raw["period"].max() == date(2012, 1, 1) and cs.raw_base == (
        date(2007, 1, 1), date(2009, 1, 1))  # fmt: skip
    assert cs.mirror.height == 0  # BACI: one reconciled value per pair, no mirror


def test_did_and_cr1_equal_pyfixest(cs) -> None:  # type: ignore[no-untyped-def]
    row = cs.headline("exporter", "log_value")
    d = cs.panels["exporter"].data.to_pandas()
    fit = pf.feols("y ~ treat | cell + product_period", data=d, vcov={"CRV1": "unit"})
    assert row["estimate"] == pytest.approx(float(fit.coef()["treat"]), abs=1e-8)
    assert row["cr1_se"] == pytest.approx(float(fit.se()["treat"]), rel=1e-6)
    assert row["nobs"] == fit._N == 522
    print(f"\nREAL exporter DiD log value {row['estimate']:.6f} (CR1 SE {row['cr1_se']:.6f}), "
          f"RI-t p {row['p_fraction']}")  # fmt: skip


def test_headline_ri_t_and_coefficient_ri_equal_pyfixest_refits(cs) -> None:  # type: ignore[no-untyped-def]
    """Headline (studentized RI): p = share of the 58 assignments (each importer treated in turn)
    whose |estimate / s_u| is at least Japan's, with s_u the importer's residual s.d. in the
    pre-period-only fit ``y ~ 1 | cell + product_period``; every estimate and residual from
    pyfixest. The coefficient RI beside it: the share whose |estimate| is at least Japan's. Both
    equal the library functions called directly on the same panel (exact fractions)."""
    from tradeimpact.inference.studentized import studentized_randomization_inference

    row = cs.headline("exporter", "log_value")
    data = cs.panels["exporter"].data
    pre = data.filter(pl.col("post") == 0).to_pandas()
    fit0 = pf.feols("y ~ 1 | cell + product_period", data=pre)
    pre["e2"] = np.asarray(fit0.resid()) ** 2
    scale = np.sqrt(pre.groupby("unit")["e2"].mean())
    est = {}
    for u in sorted(data["unit"].unique().to_list()):
        d = data.with_columns(((pl.col("unit") == u) & (pl.col("post") == 1)).cast(pl.Int8)
                              .alias("t_u")).to_pandas()  # fmt: skip
        est[u] = float(pf.feols("y ~ t_u | cell + product_period", data=d).coef()["t_u"])
    b = np.abs(np.array(list(est.values())))
    k = int(np.sum(b >= abs(est["JPN"]) - 1e-12))
    assert row["ri_p_fraction"] == f"{k}/58"
    assert row["ri_p_value"] == pytest.approx(k / 58, abs=1e-12)
    t = {u: abs(v) / scale[u] for u, v in est.items()}
    kt = sum(v >= t["JPN"] * (1 - 1e-9) for v in t.values())
    assert row["headline"] == "ri_t" and row["p_fraction"] == f"{kt}/58"
    ref = studentized_randomization_inference(data, "y", "unit", "period", "JPN", "post",
                                              ["cell", "product_period"])  # fmt: skip
    assert row["p_fraction"] == f"{ref.p_numerator}/{ref.p_denominator}"
    assert (row["ci_low"], row["ci_high"]) == ref.conf_int(0.95)
    sc = cs.size_checks["exporter/log_value/baseline"]
    assert (row["size_k"], row["size_n"]) == (sc.k, sc.n) and row["size_check"] == sc.sentence()
    print(f"\nREAL headline RI-t p {row['p_fraction']} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
          f"; coefficient RI p {row['ri_p_fraction']}; {row['size_check']}")  # fmt: skip


def test_event_study_in_years_equals_pyfixest(cs) -> None:  # type: ignore[no-untyped-def]
    res = cs.event_studies["exporter"]
    frame = cs.event_study_frames["exporter"]
    data = res.extra["frame"]
    ks = frame["rel_time"].to_list()
    names = [f"et{k}".replace("-", "m") for k in ks]
    rel = pl.col("period").dt.year() - 2010
    d = data.with_columns(
        [((pl.col("unit") == "JPN") & (rel == k)).cast(pl.Int8).alias(n)
         for k, n in zip(ks, names, strict=True)]
    ).to_pandas()  # fmt: skip
    assert sorted(d["period"].dt.year.unique()) == list(range(2002, 2013))
    fit = pf.feols(f"y ~ {' + '.join(names)} | cell + product_period", data=d,
                   vcov={"CRV1": "unit"})  # fmt: skip
    ci = fit.confint()
    for n, est, lo, hi in zip(names, frame["estimate"], frame["ci_low"], frame["ci_high"],
                              strict=True):  # fmt: skip
        assert est == pytest.approx(float(fit.coef()[n]), abs=1e-8), n
        assert lo == pytest.approx(float(ci.loc[n].iloc[0]), abs=1e-6), n
        assert hi == pytest.approx(float(ci.loc[n].iloc[1]), abs=1e-6), n


def test_synth_and_sdid_rows(cs) -> None:  # type: ignore[no-untyped-def]
    sc = cs.synth["sc"]
    row = cs.headline("synth", "log_value")
    assert row["estimate"] == pytest.approx(sc.att, abs=0)
    assert row["n_placebos"] == 58 and row["p_fraction"].endswith("/58")
    # 57 donors, 8 pre-years: the pre-period is reproduced exactly, and the row says so
    pre = cs.synth_gap.filter(pl.col("period") < date(2010, 1, 1))["gap"].to_numpy()
    assert float(np.max(np.abs(pre))) < 1e-9
    assert "units that fit exactly" in row["note"]
    # exact fits are ranked by post-period RMSPE, not by rounding errors (models.synth)
    assert (
        sc.n_exact_fit >= 2
        and "exact pre-period fits ranked by post-period RMSPE" in (row["p_method"])
    )
    sd = cs.headline("sdid", "log_value")
    assert sd["ci_low"] < sd["estimate"] < sd["ci_high"]


def test_provisional_and_modelled_rows_left_out_of_panels(real_dir: Path, tmp_path: Path) -> None:
    """A row flagged provisional or modelled (a nowcast) is not data: build_panel leaves it out
    and counts it unless include_provisional=True."""
    flows = load_flows(real_dir).flows
    ev = Event.from_toml(EVENT)
    extra = flows.filter((pl.col("partner_iso3") == "JPN") & (pl.col("period") == date(2010, 1, 1)))
    fake = pl.concat([
        extra.with_columns(pl.lit(date(2011, 1, 1)).alias("period"),
                           pl.lit("status=provisional").alias("flags")),
        extra.with_columns(pl.lit(date(2012, 1, 1)).alias("period"),
                           pl.lit("DIRECTIONAL 2026 NOWCAST").alias("flags")),
    ])  # fmt: skip
    both = pl.concat([flows.filter(pl.col("period") <= date(2010, 1, 1)), fake])
    window = (date(2002, 1, 1), date(2012, 1, 1))
    p = build_panel(both, ev, "exporter", "log_value", window=window)
    assert p.dropped["not_data"] == 2
    jp = p.data.filter(pl.col("unit") == "JPN")
    assert jp["period"].max() == date(2010, 1, 1)  # 2011, 2012 only from flagged rows: zeros
    q = build_panel(both, ev, "exporter", "log_value", window=window, include_provisional=True)
    assert "not_data" not in q.dropped
    assert q.data.filter(pl.col("unit") == "JPN")["period"].max() == date(2012, 1, 1)


def test_event_reads_its_data_source_only(real_dir: Path) -> None:
    """The same flow from another source (e.g. a Comtrade download beside the BACI extract) is
    not added to the event's data_source rows."""
    flows = load_flows(real_dir).flows
    ev = Event.from_toml(EVENT)
    assert ev.data_source == "cepii_baci_v202601"
    other = flows.filter(pl.col("partner_iso3") == "JPN").with_columns(
        pl.lit("comtrade").alias("source"), pl.col("value_usd") * 1.1
    )
    a = build_panel(flows, ev, "exporter", "log_value")
    b = build_panel(pl.concat([flows, other]), ev, "exporter", "log_value")
    assert a.data.equals(b.data)
