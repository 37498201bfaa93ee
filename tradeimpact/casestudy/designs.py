"""The designs: each (design, outcome, variant) -> a panel -> the package's estimators.

:func:`fit_row` builds a regression row (fixed-effects OLS or PPML with CR1, the headline test and
its size check, coefficient randomization inference and Conley-Taber beside it),
:func:`event_study_design` the event study and its placebo band, :func:`synth_designs` synthetic
control and synthetic DiD, :func:`honestdid_sensitivity` the HonestDiD bounds. The estimators and
tests are the package's (:mod:`tradeimpact.models`, :mod:`tradeimpact.inference`,
:mod:`tradeimpact.sensitivity`); this module only says which one runs on which panel.

Frequency. An event with ``freq = "A"`` runs on years: periods, event time, the sample end, the
event-study window and reference, the synthetic-control pre-period and the figures' axes are in
years; variants that only mean something on months (``sum3``, ``month_of_year``) are skipped.

Samples. The DiD sample runs from the window's start to the restriction's last month (``[event]
end``) when one is known, else to the window's end (``long_post`` variants: to the window's end);
months of anticipation (``[window] anticipation_months``) are left out unless
``keep_anticipation``. ``post`` = months from the event month on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.casestudy.headline import headline_inference, headline_size_check
from tradeimpact.casestudy.spec import Spec
from tradeimpact.casestudy.truth import true_effect, truth_for
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.conley_taber import conley_taber_panel
from tradeimpact.inference.headline import same_test
from tradeimpact.inference.randomization import placebo_in_space, randomization_inference
from tradeimpact.models.event_study import event_study
from tradeimpact.models.linear import feols
from tradeimpact.models.ppml import ppml
from tradeimpact.models.synth import synth
from tradeimpact.models.synthdid import synthdid
from tradeimpact.panel import Event, Panel, add_periods, build_panel, period_start
from tradeimpact.sensitivity.honestdid import sensitivity_relative_magnitudes

__all__ = [
    "MONTHLY_FE",
    "Variant",
    "design_frame",
    "event_study_design",
    "fit_row",
    "honestdid_sensitivity",
    "inference_columns",
    "synth_designs",
    "variants",
]


@dataclass(frozen=True)
class Variant:
    """One robustness variant as it applies to an event: its sample and changes.

    Built from a :class:`~tradeimpact.casestudy.spec.VariantSpec` by :func:`variants` (one per
    dropped control for ``leave_one_out``).
    """

    name: str
    event_month: date
    sample_end: date
    exclude: tuple[date, ...]
    sum3: bool = False
    extra_fe: tuple[str, ...] = ()
    basket: str = "core"
    controls: tuple[str, ...] = ()


#: Variants that only mean something on months (skipped on annual events).
MONTHLY_FE: tuple[str, ...] = ("month_of_year", "month_of_year_fe")


def variants(event: Event, spec: Spec) -> list[Variant]:
    """The variants of ``spec`` that apply to ``event``, in the specification's order.

    Skipped: variants naming other events, months-only changes on an annual event (``sum3``,
    calendar-month effects), a basket change that changes nothing (the event has no extended
    products) and an alternative event month the event does not have.
    """
    f = event.freq
    default_end = period_start(event.end or event.window_end, f)
    antic = tuple(event.anticipation_months)
    out: list[Variant] = []
    for v in spec.variants:
        if v.events is not None and event.name not in v.events:
            continue
        # months-only changes have no meaning on years: 3-month sums, calendar-month effects
        if f != "M" and (v.sum3 or any(x in MONTHLY_FE for x in v.extra_fe)):
            continue
        # a basket change that is no change (the event has no extended products)
        if v.basket and event.basket(v.basket) == event.basket(spec.basket):
            continue
        ev_month = event.event_month
        if v.event_month == "alt":
            if event.alt_event_month is None:
                continue
            ev_month = period_start(event.alt_event_month, f)
        end = period_start(event.window_end, f) if v.long_post else default_end
        excl = () if v.keep_anticipation else antic
        if v.drop_confounder is not None:
            excl = excl + event.confounder_months(v.drop_confounder)
        controls = event.control_set(v.control_set)
        basket = v.basket or spec.basket
        if v.leave_one_out:
            out.extend(
                Variant(f"loo_{c}", ev_month, end, excl, v.sum3, v.extra_fe, basket,
                        tuple(x for x in controls if x != c))
                for c in controls
            )  # fmt: skip
        else:
            out.append(Variant(v.name, ev_month, end, excl, v.sum3, v.extra_fe, basket, controls))
    return out


def design_frame(panel: Panel) -> pl.DataFrame:
    """The panel's rows as the regression designs and their inference read them.

    :attr:`Panel.data` with ``restricted_post`` (restricted product x post: the triple
    difference's treatment) and ``cell_period`` (product x period: the cells Conley-Taber
    compares). Every headline test, secondary test and size check of a row runs on this frame.
    """
    return panel.data.with_columns(
        (pl.col("restricted") * pl.col("post")).alias("restricted_post"),
        pl.concat_str([pl.col("product"), pl.col("period").cast(pl.String)], separator="|").alias(
            "cell_period"
        ),
    )


def inference_columns(
    design: str, data: pl.DataFrame, event: Event, basket: Sequence[str]
) -> dict[str, Any]:
    """Arguments of the headline test, randomization inference and Conley-Taber for a design:
    ``unit`` (the level of assignment), ``treated``, ``post`` and ``cells`` (see
    :func:`design_frame`)."""
    if design == "diversion":
        # placebo-in-product-space: which products are "restricted" is re-assigned
        return {"unit": "product", "treated": list(basket), "post": "post", "cells": "unit_period"}
    if design == "triple":
        return {"unit": "unit", "treated": event.treated, "post": "restricted_post",
                "cells": "cell_period"}  # fmt: skip
    return {"unit": "unit", "treated": event.treated, "post": "post", "cells": "product_period"}


def fit_row(
    panel: Panel,
    design: str,
    outcome: str,
    variant: Variant,
    fe: list[str],
    event: Event,
    basket: Sequence[str],
    spec: Spec,
    store: dict[str, Any],
) -> dict[str, Any]:
    """Estimate one (design, outcome, variant): estimator + RI + Conley-Taber + CR1."""
    level = spec.level
    data = design_frame(panel)
    key = f"{design}/{outcome}/{variant.name}"
    ric = inference_columns(design, data, event, basket)
    cluster = ric["unit"]
    row: dict[str, Any] = {"design": design, "outcome": outcome, "variant": variant.name}
    notes: list[str] = []
    res: Any
    if outcome.startswith("ppml"):
        res = ppml(data, "y", ["treat"], fe, vcov={"CR1": cluster})
    else:
        res = feols(data, "y", ["treat"], fe=fe, vcov={"CR1": cluster})
    est = float(res.params["treat"])
    se = float(res.std_errors["treat"])
    row.update(estimate=est, cr1_se=se, cr1_p_value=float(res.analytic_pvalues["treat"]),
               nobs=int(res.nobs))  # fmt: skip
    row["zeros_dropped"] = int(panel.dropped.get("zeros_in_log", 0))
    # headline: studentized randomization inference (PPML: every assignment refitted by PPML);
    # CR1 beside it (cr1_se, cr1_p_value), labelled; coefficient RI and Conley-Taber secondary
    is_ppml = outcome.startswith("ppml")
    head_res, head = headline_inference(data, ric, fe, spec, ppml=is_ppml)
    store["ri"][key] = head_res
    row.update(head)
    # the result as kept: a new one whose headline is this test (the fit itself is not changed)
    res = res.with_headline("treat", head_res, method_key=head["headline"])
    store["results"][key] = res
    if abs(head_res.estimate - est) > 1e-6 * max(1.0, abs(est)):
        notes.append(f"headline estimate {head_res.estimate:.6g} differs from the fit {est:.6g}")
    if variant.name == "baseline":
        sc = headline_size_check(data, ric, fe, spec, ppml=is_ppml)
        store["size_checks"][key] = sc
        kinds = [w for w in ("date", "unit") if sc.counts(w)[1]]
        row.update(size_k=sc.k, size_n=sc.n, size_check=sc.sentence(),
                   size_kinds="+".join(kinds) or None)  # fmt: skip
    pl_frame = head_res.placebo.with_columns(
        pl.lit(design).alias("design"), pl.lit(outcome).alias("outcome"),
        pl.lit(variant.name).alias("variant"),
    ).select("design", "outcome", "variant", "assignment", "estimate", "is_actual")  # fmt: skip
    store["placebos"].append(pl_frame)
    if not is_ppml:
        same: list[str] = []
        if head_res.same_test_as:
            same.append(f"the headline is the same test as {head_res.same_test_as}")
        coef = head_res
        if head["headline"] != "ri":
            coef = randomization_inference(
                data, "y", unit=ric["unit"], time="period", treated=ric["treated"],
                post=ric["post"], fe=list(fe), **spec.inference.options(),
            )  # fmt: skip
        c_lo, c_hi = coef.conf_int(level)
        row.update(ri_p_value=float(coef.pvalue), ri_low=c_lo, ri_high=c_hi,
                   ri_p_fraction=f"{coef.p_numerator}/{coef.p_denominator}")  # fmt: skip
        if design != "diversion":
            # Conley-Taber compares the treated group with each control group cell by cell:
            # it runs on the cells (product x month) every unit reports (zeros leave holes)
            n_units = data[ric["unit"]].n_unique()
            full = (
                data.group_by(ric["cells"]).agg(pl.col(ric["unit"]).n_unique().alias("_n"))
                .filter(pl.col("_n") == n_units)[ric["cells"]]
            )  # fmt: skip
            ct_data = data.filter(pl.col(ric["cells"]).is_in(full.implode()))
            try:
                ct = conley_taber_panel(
                    ct_data, "y", unit=ric["unit"], time=ric["cells"], treated=ric["treated"],
                    post=ric["post"], fe=fe, level=level,
                )  # fmt: skip
                row.update(ct_low=float(ct.low), ct_high=float(ct.high))
                if ct_data.height < data.height:
                    notes.append(
                        f"Conley-Taber on the {ct_data.height} rows whose cell every unit reports"
                    )
                why = same_test(coef, ct, level=level)
                if why:
                    same.append(f"coefficient RI and Conley-Taber are the same test here ({why})")
            except (ModelSpecError, ValueError) as exc:
                notes.append(f"Conley-Taber not computed: {exc}")
        row["same_test"] = "; ".join(same) if same else None
    row["note"] = "; ".join(notes) if notes else None
    return row


def event_study_design(
    flows: pl.DataFrame,
    event: Event,
    design: str,
    spec: Spec,
    truth: dict[str, Any] | None,
) -> tuple[Any, pl.DataFrame]:
    """Monthly event study of the treated unit (:func:`tradeimpact.models.event_study`).

    TWFE with the treated unit's event-time dummies over the event file's ``event_time`` window
    (reference ``reference_period``, or the spec's ``[event_study] reference``), the design's
    fixed effects, CR1 by importer. The placebo band re-runs the same event study with each
    control importer given the event in turn (placebo-in-space).
    """
    es = spec.event_study
    ref = int(event.reference_period if event.reference_period != -1 else es.reference)
    lo, hi = event.event_time
    f = event.freq
    ev = period_start(event.event_month, f)
    start = add_periods(ev, lo, f)
    end = add_periods(ev, hi, f)
    panel = build_panel(
        flows, event, design, es.outcome,
        window=(start, min(end, period_start(event.window_end, f))),
    )  # fmt: skip
    fe = list(spec.fe(design))
    data = panel.data

    # y is already the log outcome of the panel: outcome="level" uses it as it is
    res = event_study(
        data.with_columns((pl.col("unit") == event.treated).cast(pl.Int8).alias("_es_treated")),
        "y", "unit", "period", treated="_es_treated", event_date=ev, window=(lo, hi), ref=ref,
        endpoints="bin", fe=fe, vcov={"CR1": "unit"}, outcome="level",
        freq=f,  # type: ignore[arg-type]  # "M" or "A": Event.from_toml checks it
    )  # fmt: skip
    ks = res.event_times
    names = [res.event_terms[k] for k in ks]
    ci = res.analytic_conf_int(0.95)
    # the sup-t joint band of the event-time coefficients (analytic CR1; a figure band only).
    # NaN when some event-time coefficient has no positive variance (no band covers it)
    try:
        band = res.conf_int(0.95, joint=True)
        joint_lo = [float(band.loc[n, "lower"]) for n in names]
        joint_hi = [float(band.loc[n, "upper"]) for n in names]
    except ModelSpecError:
        joint_lo = joint_hi = [float("nan")] * len(names)
    # placebo band: the range of each coefficient over the control importers, each given the
    # event in turn (placebo-in-space; the actual unit left out)
    units, pmat = event_study_placebo_estimates(res)
    pmat = pmat[units != event.treated]
    true_vals: list[float | None] = [None] * len(ks)
    if truth is not None:
        months = [add_periods(ev, k, f) for k in ks]
        ref_month = add_periods(ev, ref, f)
        true_vals = [
            true_effect(truth, design, "log_quantity", [ref_month, m], [False, True])
            for m in months
        ]
    frame = pl.DataFrame(
        {
            "rel_time": ks,
            "estimate": [float(res.params[n]) for n in names],
            "ci_low": [float(ci.loc[n, "lower"]) for n in names],
            "ci_high": [float(ci.loc[n, "upper"]) for n in names],
            "joint_low": joint_lo,
            "joint_high": joint_hi,
            "ri_low": np.nanmin(pmat, axis=0) if pmat.size else [None] * len(ks),
            "ri_high": np.nanmax(pmat, axis=0) if pmat.size else [None] * len(ks),
            "true_effect": true_vals,
        },
        schema_overrides={"true_effect": pl.Float64},
    )
    return res, frame


def event_study_placebo_estimates(res: Any) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Each unit's event-time coefficients when it alone is given the fit's event date.

    The regression of the fitted event study (its estimation rows, fixed effects, controls,
    weights and binned event times) with unit ``u``'s event-time dummies in place of the treated
    unit's, for every unit ``u`` in turn (placebo-in-space), by the inference layer's
    Frisch-Waugh-Lovell projection :func:`tradeimpact.inference.placebo_in_space`. An event time
    at which ``u`` has no row (a zero month, left out of a log outcome) has no coefficient: NaN,
    the dummy a refit of the event study would drop. This is why not
    ``randomization_inference(res)``, whose placebo blocks must all be complete.

    Parameters
    ----------
    res : EventStudyResult
        A TWFE :func:`~tradeimpact.models.event_study.event_study` fit with one event date.

    Returns
    -------
    (units, estimates)
        The units (sorted, the treated one included) and an array ``(units, K)`` whose column
        ``k`` is event time ``res.event_times[k]``.
    """
    rec = res.design_record
    keep = np.asarray(res.extra["design"].keep)
    units = rec.frame[rec.unit].to_numpy()[keep]
    coh = np.asarray(rec.cohort, dtype=np.float64)[keep]
    dates = np.unique(coh[np.isfinite(coh)])
    if dates.size != 1:
        raise ModelSpecError("the event-study placebo band needs one event date")
    rel = np.asarray(rec.period, dtype=np.float64)[keep] - dates[0]
    if rec.window is not None:
        rel = np.clip(rel, rec.window[0], rec.window[1])
    y = rec.frame["_y"].to_numpy().astype(np.float64)[keep]
    fe = rec.fixed_effects.subset(keep)
    x = None if rec.controls_x is None else np.asarray(rec.controls_x)[keep]
    w = None if rec.weights_x is None else np.asarray(rec.weights_x)[keep]
    times = list(res.event_times)
    all_units = np.unique(units)
    out = np.full((all_units.size, len(times)), np.nan)
    for i, u in enumerate(all_units):
        cols = [(units == u) & (rel == e) for e in times]
        have = [k for k, c in enumerate(cols) if c.any()]
        if have:
            block = np.column_stack([cols[k] for k in have]).astype(np.float64)
            b = placebo_in_space(y, block, x, fe, w, n_terms=len(have))
            out[i, have] = np.asarray(b, dtype=np.float64).reshape(-1)
    return all_units, out


def synth_designs(
    flows: pl.DataFrame,
    event: Event,
    variant: Variant,
    truth: dict[str, Any] | None,
    spec: Spec,
) -> tuple[dict[str, Any], list[dict[str, Any]], pl.DataFrame | None, pl.DataFrame | None, Panel]:
    """Synthetic control, synthetic DiD and DiD on the importer-side aggregated panel."""
    panel = build_panel(
        flows, event, spec.synth_design, spec.synth_outcome,
        products=variant.basket, controls=variant.controls, event_month=variant.event_month,
        window=(event.window_start, variant.sample_end), exclude_periods=variant.exclude,
    )  # fmt: skip
    data = panel.data
    n_per = data["period"].n_unique()
    complete = data.group_by("unit").len().filter(pl.col("len") == n_per)["unit"].to_list()
    dropped_units = sorted(set(data["unit"].to_list()) - set(complete))
    data = data.filter(pl.col("unit").is_in(complete)).sort("unit", "period")
    # synthetic control on the outcome net of each unit's pre-period mean (Ferman & Pinto 2021,
    # "demeaned SC"): the treated importer is the largest, outside the donors' convex hull in
    # levels; synthetic DiD has its own intercept and uses the outcome as it is
    pre_mean = pl.col("y").filter(pl.col("post") == 0).mean().over("unit")
    data = data.with_columns((pl.col("y") - pre_mean).alias("y_demeaned"))
    seed = spec.inference.seed
    out: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    s_outcome = spec.synth_outcome
    truth_v = truth_for(truth, "synth", s_outcome, panel, sum3=variant.sum3, basket=variant.basket)
    # synthetic control (Abadie, Diamond & Hainmueller 2010) on the demeaned outcome, with the
    # in-space placebos (every control treated in turn, the other controls its donors) and the
    # post/pre RMSPE ratio permutation p-value (an exact fraction of the units)
    first_post = data.filter(pl.col("post") == 1)["period"].min()
    note = (
        f"units without a complete series dropped: {', '.join(dropped_units)}"
        if dropped_units
        else None
    )
    sc_row: dict[str, Any] = {
        "design": "synth", "outcome": s_outcome, "variant": variant.name,
        "ci_low": None, "ci_high": None,
        "ci_method": "none (synthetic control: see the in-space placebo p-value)",
        "cr1_se": None, "nobs": int(data.height), "true_effect": truth_v,
        "zeros_dropped": int(panel.dropped.get("zeros_in_log", 0)), "note": note,
    }  # fmt: skip
    gap = placebos = None
    try:
        sc = synth(data, "y_demeaned", "unit", "period", event.treated, first_post, seed=seed)
    except ModelSpecError as exc:
        sc_row.update(estimate=None, p_method="", note=f"synthetic control not estimated: {exc}")
    else:
        out["sc"] = sc
        n_units = sc.placebos.height
        sc_row.update(
            # the fraction unreduced (k of the N units), as the regression rows show theirs
            estimate=float(sc.att), p_value=sc.pvalue,
            p_fraction=f"{round(sc.pvalue * n_units)}/{n_units}",
            n_placebos=n_units,
            p_method=f"post/pre RMSPE ratio rank among {n_units} units (in-space placebos)" + (
                f"; the {sc.n_exact_fit} exact pre-period fits ranked by post-period RMSPE"
                if sc.n_exact_fit else ""),
        )  # fmt: skip
        n_pre = int(data.filter(pl.col("post") == 0)["period"].n_unique())
        if sc.pre_rmspe < 1e-6:
            # more donors than pre-periods: the weights reproduce the treated unit's pre-period
            # exactly; synth ranks exact fits by post-period RMSPE (not by rounding errors)
            sc_row["note"] = "; ".join(x for x in (note, (
                f"pre-period fit exact (pre-RMSPE {sc.pre_rmspe:.1e}; {n_units - 1} donors, "
                f"{n_pre} pre-periods): the rank compares post-period RMSPE among the "
                f"{sc.n_exact_fit} units that fit exactly, a weak test")) if x)  # fmt: skip
        gap = sc.path.select(pl.col("time").alias("period"), "gap")
        if sc.placebo_gaps.height:
            placebos = sc.placebo_gaps.select(pl.col("time").alias("period"), "unit", "gap")
    rows.append(sc_row)
    for method, design in (("sdid", "sdid"), ("did", "synth_did")):
        res = synthdid(data, "y", "unit", "period", "treat", method=method,  # type: ignore[arg-type]
                       vcov="placebo" if method == "sdid" else None, seed=seed)  # fmt: skip
        out[method] = res
        if design == "synth_did":
            continue
        ci = res.analytic_conf_int(0.95).iloc[0]
        rows.append(
            {
                "design": design, "outcome": s_outcome, "variant": variant.name,
                "estimate": float(res.att), "ci_low": float(ci["lower"]),
                "ci_high": float(ci["upper"]),
                "ci_method": "placebo variance (Arkhangelsky et al. 2021, Algorithm 4), normal",
                "p_value": float(res.analytic_pvalues.iloc[0]),
                "p_method": "placebo variance, normal",
                "cr1_se": None, "nobs": int(data.height), "true_effect": truth_v,
                "zeros_dropped": int(panel.dropped.get("zeros_in_log", 0)), "note": note,
            }
        )  # fmt: skip
    return out, rows, gap, placebos, panel


def honestdid_sensitivity(es_res: Any, spec: Spec) -> Any:
    """Relative-magnitudes sensitivity of the average post-event effect (``[honestdid]``)."""
    hd = spec.honestdid
    times, b, s = es_res.event_study_inputs()
    ks = [int(k) for k in times]
    ref = int(es_res.ref)
    # post coefficients: the anticipation months and the first post months (bounded for speed)
    max_post = hd.max_post
    ks_keep = [k for k in ks if k < ref or ref < k <= max_post]
    idx = [ks.index(k) for k in ks_keep]
    ks = ks_keep
    b, s = b[idx], s[np.ix_(idx, idx)]
    # HonestDiD: pre-periods are the event times before the reference (the reference is the
    # last pre-period); the months after the reference (anticipation included) are "post",
    # and the target averages the post-event months (event time >= 0) only.
    n_pre = sum(k < ref for k in ks)
    post_ks = [k for k in ks if k > ref]
    lvec = np.array([1.0 if k >= 0 else 0.0 for k in post_ks])
    lvec = lvec / lvec.sum()
    # keep the pre-periods closest to the event (the dual-vertex enumeration grows fast)
    keep_pre = min(n_pre, hd.max_pre)
    sel = list(range(n_pre - keep_pre, n_pre)) + list(range(n_pre, len(ks)))
    return sensitivity_relative_magnitudes(
        b[sel], s[np.ix_(sel, sel)], keep_pre, len(post_ks),
        mbarvec=list(hd.mbar), l_vec=lvec,
        method="Conditional" if hd.method == "Conditional" else "C-LF",
        grid_points=hd.grid_points, breakdown=hd.breakdown,
    )  # fmt: skip
