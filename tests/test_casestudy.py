"""The case studies end to end on the shipped SYNTHETIC data: recovery of the true effects.

Runs every design of both events (about 20 s on a laptop) once per module.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from itertools import pairwise

import polars as pl
import pytest

from tests.conftest import REPO
from tradeimpact.casestudy import MAIN_COLUMNS, load_flows, published_series, run_case_study

EVENTS = REPO / "analysis" / "events"
SPEC = REPO / "analysis" / "specs" / "main.toml"
#: designs whose headline interval is randomization inference over 21 importers (bounded at 95%)
RI_DESIGNS = ("importer", "exporter", "triple", "mirror")


@pytest.fixture(scope="module")
def cases() -> dict[str, object]:
    flows = load_flows(REPO / "data_raw")
    return {
        name: run_case_study(EVENTS / f"{name}.toml", flows, SPEC)
        for name in ("rare_earth_2010", "dual_use_2026")
    }


@pytest.mark.parametrize("name", ["rare_earth_2010", "dual_use_2026"])
def test_headline_intervals_recover_true_effects(cases: dict, name: str) -> None:
    cs = cases[name]
    assert cs.is_synthetic and cs.inputs and all(len(h) == 64 for _, h in cs.inputs)
    main = cs.main
    assert list(main.columns) == list(MAIN_COLUMNS)
    base = main.filter(
        (pl.col("variant") == "baseline")
        & pl.col("design").is_in(RI_DESIGNS)
        & pl.col("outcome").str.starts_with("log_")
    )
    assert base.height == 3 * 3 + 1  # three outcomes x importer/exporter/triple + mirror gap
    for r in base.iter_rows(named=True):
        assert r["true_effect"] is not None
        assert math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"]), r
        assert r["ci_low"] <= r["true_effect"] <= r["ci_high"], (
            f"{name} {r['design']}/{r['outcome']}: true {r['true_effect']:.3f} outside "
            f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] (estimate {r['estimate']:.3f})"
        )
    # every robustness variant of the importer design with a bounded interval covers its truth
    var = main.filter((pl.col("design") == "importer") & (pl.col("variant") != "baseline"))
    assert var.height >= 20  # the variants + one leave-one-out row per control
    for r in var.iter_rows(named=True):
        assert r["ci_low"] <= r["true_effect"] <= r["ci_high"], r
    # synthetic DiD's placebo interval covers; synthetic control close to the truth
    sdid = cs.headline("sdid")
    assert sdid["ci_low"] <= sdid["true_effect"] <= sdid["ci_high"]
    sc = cs.headline("synth")
    assert abs(sc["estimate"] - sc["true_effect"]) < 0.15, sc
    # PPML on levels (headline: PPML studentized RI): the estimate is near its estimand
    ppml = main.filter((pl.col("variant") == "baseline") & (pl.col("outcome") == "ppml_value"))
    assert ppml.height == 3
    for r in ppml.iter_rows(named=True):
        assert abs(r["estimate"] - r["true_effect"]) < 0.1, r
    # the diversion design moves the right way
    div = cs.headline("diversion")
    assert div["estimate"] > 0 and abs(div["estimate"] - div["true_effect"]) < 0.15, div


@pytest.mark.parametrize("name", ["rare_earth_2010", "dual_use_2026"])
def test_ri_p_values_are_exact_fractions(cases: dict, name: str) -> None:
    cs = cases[name]
    rows = cs.main.filter(pl.col("p_fraction").is_not_null())
    assert rows.height > 20
    for r in rows.iter_rows(named=True):
        k, n = (int(x) for x in r["p_fraction"].split("/"))
        assert n == r["n_placebos"] and 1 <= k <= n
        assert r["p_value"] == pytest.approx(k / n, abs=0)
        assert Fraction(r["p_value"]).limit_denominator(n) == Fraction(k, n)
    imp = cs.headline("importer")
    assert imp["n_placebos"] == 21 and imp["p_fraction"] == "1/21"  # Japan the most extreme
    ri = cs.ri["importer/log_quantity/baseline"]
    assert ri.exact and ri.placebo.height == 21 and int(ri.placebo["is_actual"].sum()) == 1
    dist = cs.placebo_distributions.filter(
        (pl.col("design") == "importer") & (pl.col("variant") == "baseline")
        & (pl.col("outcome") == "log_quantity")
    )  # fmt: skip
    assert dist.height == 21


def _baseline_frame(cs, design: str, outcome: str):
    """The design frame a baseline row was estimated on, rebuilt from the same inputs."""
    from tradeimpact import casestudy as c
    from tradeimpact.panel import build_panel

    v = next(x for x in c.variants(cs.event, cs.spec) if x.name == "baseline")
    basket = cs.event.basket(v.basket)
    panel = build_panel(
        load_flows(REPO / "data_raw").flows, cs.event, design, outcome, products=basket,
        controls=v.controls, event_month=v.event_month, window=(cs.event.window_start, v.sample_end),
        exclude_periods=v.exclude, sum3=v.sum3,
    )  # fmt: skip
    data = c.design_frame(panel)
    fe = list(cs.spec.fixed_effects[design])
    return data, c.inference_columns(design, data, cs.event, basket), fe


def test_headline_is_studentized_ri_and_size_check_equals_library(cases: dict) -> None:
    """The headline of every log row is studentized RI (pre-period s.d.) called directly on the
    same frame (same exact fraction and interval); the PPML headline is
    ppml_randomization_inference(statistic='t_log'); the size-check columns are
    size_check_panel of the same test; CR1 stays beside it and the regression result's headline
    is the same object."""
    from tradeimpact.inference.headline import size_check_panel
    from tradeimpact.inference.ppml_placebo import ppml_randomization_inference
    from tradeimpact.inference.randomization import randomization_inference
    from tradeimpact.inference.studentized import studentized_randomization_inference

    cs = cases["rare_earth_2010"]
    assert cs.spec.inference.headline == "ri_t"
    opts = {"max_exact": 10_000, "n_permutations": 999, "seed": cs.spec.inference.seed}
    data, ric, fe = _baseline_frame(cs, "importer", "log_quantity")
    args = (data, "y", ric["unit"], "period", ric["treated"], ric["post"], fe)
    ref = studentized_randomization_inference(*args, scale="pre_sd", **opts)
    row = cs.headline("importer")
    assert row["headline"] == "ri_t" and row["p_method"].startswith("studentized RI")
    assert row["p_fraction"] == f"{ref.p_numerator}/{ref.p_denominator}" == "1/21"
    assert Fraction(row["p_value"]).limit_denominator(21) == ref.p_fraction
    assert (row["ci_low"], row["ci_high"]) == ref.conf_int(0.95)
    assert row["estimate"] == pytest.approx(ref.estimate, abs=1e-10)
    # the coefficient RI is kept beside it, as randomization_inference gives it
    coef = randomization_inference(*args, **opts)
    assert row["ri_p_fraction"] == f"{coef.p_numerator}/{coef.p_denominator}"
    assert (row["ri_low"], row["ri_high"]) == coef.conf_int(0.95)
    # the size check is size_check_panel of the same test
    sc = size_check_panel(*args, method="ri_t", options={**opts, "scale": "pre_sd"},
                          level=0.05, max_runs=10, seed=opts["seed"])  # fmt: skip
    assert (row["size_k"], row["size_n"]) == (sc.k, sc.n) and sc.n == 20
    assert row["size_check"] == sc.sentence()
    assert row["size_check"].startswith(f"in this panel the test rejected at 5% in {sc.k} of 20")
    # the regression result carries the same headline; CR1 stays in params/std_errors
    res = cs.results["importer/log_quantity/baseline"]
    assert res.headline_of("treat").pvalue == row["p_value"]
    assert res.headline_of("treat").cr1_pvalue == pytest.approx(row["cr1_p_value"], abs=0)
    assert float(res.std_errors["treat"]) == row["cr1_se"]
    # PPML: every assignment refitted, statistic t_log
    pdata, pric, pfe = _baseline_frame(cs, "importer", "ppml_value")
    pargs = (pdata, "y", pric["unit"], "period", pric["treated"], pric["post"], pfe)
    pref = ppml_randomization_inference(*pargs, statistic="t_log", **opts)
    prow = cs.main.filter((pl.col("design") == "importer") & (pl.col("outcome") == "ppml_value")
                          & (pl.col("variant") == "baseline")).row(0, named=True)  # fmt: skip
    assert prow["headline"] == "ppml_ri"
    assert prow["p_fraction"] == f"{pref.p_numerator}/{pref.p_denominator}"
    assert prow["estimate"] == pytest.approx(pref.estimate, rel=1e-9)
    assert (prow["ci_low"], prow["ci_high"]) == pytest.approx(pref.conf_int(0.95), abs=1e-12)
    psc = cs.size_checks["importer/ppml_value/baseline"]
    assert (prow["size_k"], prow["size_n"]) == (psc.k, psc.n) and psc.n > 0
    # variants carry no size check (main-specification rows only)
    var = cs.main.filter(pl.col("variant") != "baseline")
    assert var["size_n"].is_null().all() and var["headline"].drop_nulls().unique().to_list() == [
        "ri_t"
    ]


def test_headline_ri_keeps_the_coefficient_test(cases: dict) -> None:
    """headline = "ri" gives the coefficient RI unchanged; an unknown method is a clear error."""
    from tradeimpact.casestudy import headline_inference
    from tradeimpact.errors import ModelSpecError
    from tradeimpact.inference.randomization import randomization_inference

    cs = cases["rare_earth_2010"]
    data, ric, fe = _baseline_frame(cs, "triple", "log_quantity")
    spec = replace(cs.spec, inference=replace(cs.spec.inference, headline="ri"))
    res, fields = headline_inference(data, ric, fe, spec)
    ref = randomization_inference(data, "y", ric["unit"], "period", ric["treated"], ric["post"],
                                  fe, seed=cs.spec.inference.seed)  # fmt: skip
    assert fields["headline"] == "ri" and res.p_value == ref.p_value
    assert (fields["ci_low"], fields["ci_high"]) == ref.conf_int(0.95)
    bad = replace(cs.spec, inference=replace(cs.spec.inference, headline="cr2"))
    with pytest.raises(ModelSpecError, match=r"\[inference\] headline.*'cr2'.*'ri_t'"):
        headline_inference(data, ric, fe, bad)


def test_estimates_equal_pyfixest(cases: dict) -> None:
    """The headline coefficient and its CR1 SE equal pyfixest feols on the same panel (1e-8)."""
    pf = pytest.importorskip("pyfixest")
    cs = cases["rare_earth_2010"]
    panel = cs.panels["importer"].data.to_pandas()
    fit = pf.feols("y ~ treat | cell + product_period", data=panel, vcov={"CRV1": "unit"})
    row = cs.headline("importer")
    assert row["estimate"] == pytest.approx(float(fit.coef()["treat"]), abs=1e-8)
    assert row["cr1_se"] == pytest.approx(float(fit.se()["treat"]), rel=1e-6)
    assert row["nobs"] == fit._N


def test_event_study_honestdid_and_series(cases: dict) -> None:
    cs = cases["rare_earth_2010"]
    es = cs.event_study_frames["importer"]
    assert -1 not in es["rel_time"].to_list()
    near = es.filter(pl.col("rel_time").is_in([1, 2]))  # Oct-Nov 2010
    for r in near.iter_rows(named=True):
        assert r["ci_low"] - 0.1 <= r["true_effect"] <= r["ci_high"] + 0.1, r
        assert r["estimate"] < r["ri_low"]  # beyond every placebo country
    hd = cases["dual_use_2026"].honestdid
    assert hd is not None and hd.table.height == 5
    lb, ub = hd.table["lb"].to_list(), hd.table["ub"].to_list()
    assert all(b2 <= b1 + 1e-9 for b1, b2 in pairwise(lb))  # widen with Mbar
    assert all(b2 >= b1 - 1e-9 for b1, b2 in pairwise(ub))
    assert ub[0] < 0  # at Mbar = 0 the ban's effect is negative
    assert cs.mirror.columns == ["period", "exporter_reported", "importer_reported"]
    assert set(cs.diversion["supplier"].unique()) >= {"CHN", "VNM", "FRA"}
    assert cs.synth_placebos is not None and cs.synth_placebos["unit"].n_unique() == 20


def test_event_study_equals_pyfixest_and_synth_fraction(cases: dict) -> None:
    """The event study (tradeimpact.models.event_study) equals pyfixest feols with the treated
    importer's event-time dummies on the same panel (coefficients 1e-8, CR1 bounds 1e-6); the
    synthetic control's gap, placebo gaps and RMSPE-ratio p-value are those of models.synth."""
    pf = pytest.importorskip("pyfixest")
    for name in ("rare_earth_2010", "dual_use_2026"):
        cs = cases[name]
        res = cs.event_studies["importer"]
        frame = cs.event_study_frames["importer"]
        data = res.extra["frame"]
        ks = frame["rel_time"].to_list()
        assert res.ref not in ks and res.ref == cs.event.reference_period
        names = [f"et{k}".replace("-", "m") for k in ks]
        ev = cs.event.event_month
        rel = (pl.col("period").dt.year() - ev.year) * 12 + pl.col("period").dt.month() - ev.month
        d = data.with_columns(
            [((pl.col("unit") == cs.event.treated) & (rel == k)).cast(pl.Int8).alias(n)
             for k, n in zip(ks, names, strict=True)]
        ).to_pandas()  # fmt: skip
        fit = pf.feols(f"y ~ {' + '.join(names)} | cell + product_period", data=d,
                       vcov={"CRV1": "unit"})  # fmt: skip
        ci = fit.confint()
        for k, n, est, lo, hi in zip(
            ks, names, frame["estimate"], frame["ci_low"], frame["ci_high"], strict=True
        ):
            assert est == pytest.approx(float(fit.coef()[n]), abs=1e-8), (name, k)
            assert lo == pytest.approx(float(ci.loc[n].iloc[0]), abs=1e-6), (name, k)
            assert hi == pytest.approx(float(ci.loc[n].iloc[1]), abs=1e-6), (name, k)
        assert (frame["ri_low"] <= frame["ri_high"]).all()
        sc = cs.synth["sc"]
        row = cs.headline("synth")
        assert row["estimate"] == pytest.approx(sc.att, abs=0)
        assert Fraction(row["p_fraction"]) == sc.pvalue_fraction
        assert row["n_placebos"] == sc.placebos.height == 21
        assert cs.synth_gap["gap"].to_list() == sc.path["gap"].to_list()
        # the gap is the treated series minus the donor-weighted one (weights on the simplex)
        w = sc.weights["weight"].to_numpy()
        assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-10)


def test_published_series() -> None:
    pub = published_series()
    sep = pub.filter((pl.col("series") == "japan_re_imports_from_china")
                     & (pl.col("period").dt.year() == 2010) & (pl.col("period").dt.month() == 9))  # fmt: skip
    assert sep["value"].item() == 2246.0
    # events.md 4.4 (Jul, Oct, Nov, Dec 2025) and 4.5 (Sep 2025: 228 t)
    jp = pub.filter(pl.col("series") == "china_magnet_exports_to_japan").sort("period")
    assert jp["value"].to_list() == [232.0, 228.0, 226.1, 305.0, 280.0]
    # events.md 4.5: other destinations in Sep-Oct 2025, the US in Dec 2025 and Mar 2026
    de = pub.filter(pl.col("series") == "china_magnet_exports_to_germany")
    assert de["value"].to_list() == [1288.0, 1118.0]
    us = pub.filter((pl.col("series") == "china_magnet_exports_to_usa") & (pl.col("unit") == "t"))
    assert us["value"].to_list() == [420.0, 656.0, 564.0, 406.0]
    q1 = pub.filter(
        (pl.col("series") == "china_magnet_exports_total") & (pl.col("unit") == "t (Q1)")
    )
    assert q1["value"].item() == 16001.0
    assert pub["source"].str.starts_with("http").all()


def test_raw_flow_files_leave_out_sidecars_notes_and_archives(tmp_path):
    from tradeimpact.casestudy import raw_flow_files

    keep = ["comtrade/a.json", "comtrade/b.json.gz", "baci/BACI_HS17_Y2022_V202601.csv"]
    skip = [
        "README.md",
        "SYNTHETIC_TRUE_EFFECTS.json",  # top level: not a source folder
        "comtrade/a.json.meta",  # fetch sidecar
        "comtrade/c.split.meta",
        "comtrade/.d.json.part",  # a download in progress
        "baci/BACI_HS17_V202601.zip",  # archive still to unpack
        "comtrade/NOTES.txt",
        "published/japan_imports.csv",
        ".hidden/x.csv",
    ]
    for rel in keep + skip:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    got = [p.relative_to(tmp_path).as_posix() for p in raw_flow_files(tmp_path)]
    assert got == sorted(keep)


# -- the specification: typed, validated on reading, errors naming the file and the key ----------
def test_shipped_spec_reads_and_event_tables_merge() -> None:
    from tradeimpact.casestudy import load_spec

    spec = load_spec(SPEC)
    assert spec.path == str(SPEC) and spec.inference.seed == 20260106
    assert spec.inference.size_check_runs == 10 and spec.inference.size_check_runs_ppml == 5
    assert spec.fe("triple") == ("cell", "product_period", "unit_period")
    assert spec.outcomes_of("diversion") == ("log_quantity",)
    assert spec.outcomes_of("importer") == ("log_quantity", "log_value", "log_unit_value",
                                            "ppml_value")  # fmt: skip
    assert [v.name for v in spec.variants][:2] == ["baseline", "event_month_oct"]
    real = spec.for_event("magnets_2010_real")
    assert real.designs == ("exporter", "synth", "sdid") and real.raw_measure == "value_usd"
    assert real.event_study.designs == ("exporter",) and real.event_study.outcome == "log_value"
    assert real.inference == spec.inference  # tables the event does not update are unchanged
    assert spec.for_event("rare_earth_2010").designs == spec.designs
    with pytest.raises(AttributeError):
        spec.level = 0.9  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "ri_draws = 999",
            'ri_draws = "many"',
            r"main\.toml: \[inference\] ri_draws: expected an integer, got 'many'",
        ),
        (
            "ri_draws = 999",
            "ri_drawz = 999",
            r"\[inference\] ri_drawz: unknown key \(did you mean 'ri_draws'\?\)",
        ),
        ("[honestdid]", "[honestdib]", r"\[honestdib\]: unknown table \(did you mean 'honestdid'"),
        (
            'designs = ["exporter", "synth", "sdid"]',
            'designs = ["exportr"]',
            r"\[events\.magnets_2010_real\.spec\] designs: unknown value 'exportr' \(did you mean "
            r"'exporter'\?\)",
        ),
        ("level = 0.95", "level = 95", r"\[spec\] level: expected a number strictly between"),
        ('headline = "ri_t"', 'headline = "cr2"', r"\[inference\] headline: unknown value 'cr2'"),
        (
            'mirror = ["cell", "product_period"]',
            'mirror = ["cel", "product_period"]',
            r"\[fixed_effects\] mirror: unknown value 'cel' \(did you mean 'cell'\?\)",
        ),
        (
            "long_post = true",
            'long_post = "yes"',
            r"\[\[variants\]\] #3 'long_post' long_post: expected true or false, got 'yes'",
        ),
        ('name = "baseline"', 'name = "base"', r"\[\[variants\]\]: no variant named 'baseline'"),
        (
            'designs = ["importer", "exporter",',
            'desings = ["importer", "exporter",',
            r"\[spec\] designs: missing",
        ),
        (
            "[events.magnets_2010_real.event_study]",
            "[events.magnets_2010_real.eventstudy]",
            r"\[events\.magnets_2010_real\.eventstudy\]: unknown table \(did you mean "
            r"'event_study'\?\)",
        ),
    ],
)
def test_spec_errors_name_the_file_table_and_key(
    tmp_path, old: str, new: str, message: str
) -> None:
    from tradeimpact.casestudy import load_spec
    from tradeimpact.errors import ModelSpecError

    text = SPEC.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "main.toml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ModelSpecError, match=message) as err:
        load_spec(bad)
    assert str(err.value).startswith(f"{bad}: ")


def test_spec_is_required_and_unreadable_files_are_named(tmp_path) -> None:
    from tradeimpact.casestudy import load_spec
    from tradeimpact.errors import ModelSpecError

    with pytest.raises(TypeError, match="specification is required"):
        run_case_study(EVENTS / "rare_earth_2010.toml", REPO / "data_raw")
    with pytest.raises(TypeError, match="pass the specification once"):
        run_case_study(EVENTS / "rare_earth_2010.toml", REPO / "data_raw", SPEC, spec_path=SPEC)
    with pytest.raises(ModelSpecError, match=r"nope\.toml: cannot read the specification"):
        load_spec(tmp_path / "nope.toml")
    (tmp_path / "x.toml").write_text("[spec\n", encoding="utf-8")
    with pytest.raises(ModelSpecError, match=r"x\.toml: not a TOML file"):
        load_spec(tmp_path / "x.toml")


def test_event_study_placebo_band_equals_refits(cases: dict) -> None:
    """The placebo band's estimates (placebo_in_space on the fit's design) equal the event study
    refitted with each control importer treated in turn (1e-10), NaN where the refit drops an
    event time the control has no row for (a zero month of the log outcome)."""
    import warnings

    import numpy as np

    from tradeimpact.casestudy.designs import event_study_placebo_estimates
    from tradeimpact.core.collinearity import CollinearityWarning
    from tradeimpact.models.event_study import event_study

    cs = cases["rare_earth_2010"]
    res = cs.event_studies["importer"]
    units, est = event_study_placebo_estimates(res)
    assert units.tolist() == sorted((*cs.event.controls, cs.event.treated))
    holes = [u for u, row in zip(units, est, strict=True) if np.isnan(row).any()]
    assert len(holes) == 1  # the shipped demo has one control with a zero month in the window
    rec = res.design_record
    data = rec.frame
    for u in [*holes, *[v for v in units if v not in holes][:2], cs.event.treated]:
        d = data.with_columns((pl.col("unit") == u).cast(pl.Int8).alias("_t"))
        with warnings.catch_warnings():
            # the refit drops the control's empty event-time dummy (the reference's behaviour)
            warnings.simplefilter("ignore", CollinearityWarning)
            ref = event_study(d, "y", "unit", "period", treated="_t",
                              event_date=cs.event.event_month, window=rec.window, ref=rec.ref,
                              endpoints="bin", fe=rec.fe, vcov={"CR1": "unit"}, outcome="level",
                              freq="M")  # fmt: skip
        row = est[units.tolist().index(u)]
        for k, e in enumerate(res.event_times):
            if e in ref.event_terms:
                assert row[k] == pytest.approx(float(ref.params[ref.event_terms[e]]), abs=1e-10)
            else:
                assert np.isnan(row[k])
    frame = cs.event_study_frames["importer"]
    others = est[units != cs.event.treated]
    assert frame["ri_low"].to_numpy() == pytest.approx(np.nanmin(others, axis=0), abs=0)
    assert frame["ri_high"].to_numpy() == pytest.approx(np.nanmax(others, axis=0), abs=0)
