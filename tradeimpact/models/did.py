"""Difference-in-differences: 2x2, two-way fixed effects, extra fixed effects, triple differences.

Model (two-way fixed effects DiD)::

    g(y_it) = beta * T_i x Post_t + X_it' gamma + alpha_i + lambda_t (+ further fixed effects) + e_it

with ``g = log`` (``outcome="log"``, OLS), the identity (``"level"``, OLS) or PPML
(``"ppml"``: ``E[y | .] = exp(...)``). Without unit and time columns it is the 2x2 regression
``y = a + b1 T + b2 Post + beta T x Post + e`` whose ``beta`` is the difference of the four cell
means (Card & Krueger 1994; Angrist & Pischke 2009, ch. 5). Triple difference (``ddd=``): with a
third indicator ``R`` (e.g. restricted product) the regression contains every lower-order term
``T, Post, R, T x Post, T x R, Post x R`` (those absorbed by the fixed effects drop out) and the
effect is the coefficient of ``T x Post x R`` (Gruber 1994; Olden & Moen 2022, "The triple
difference estimator", Econometrics Journal 25(3)).

Inference: the analytic covariance (``vcov``, CR1 by unit by default) gives ``std_errors``,
``pvalues`` and ``conf_int()``. ``result.headline`` is the test a referee should read
(:class:`~tradeimpact.models.results.Headline`: ``pvalue``, ``p_fraction``, ``conf_int(level)``,
``method``, ``size_check()``):

* ``inference=None`` (default): with at most :data:`FEW_TREATED` (5) treated units, the
  studentized randomization test (``"ri_t"`` below; scale ``"pre_sd"`` with one treated unit,
  ``"pre_var_model"`` with 2-5), because with one or few treated units CR1
  rejects a true null 60-90% of the time and the coefficient tests (RI, Conley-Taber) are wrong
  when the treated unit's noise differs from the controls' (``reports/size.md``); CR1 stays in
  ``pvalues``/``conf_int()`` and is printed beside it. ``outcome="ppml"`` with 1-5 treated
  units: the PPML studentized randomization test (every assignment refitted,
  :func:`~tradeimpact.inference.ppml_placebo.ppml_randomization_inference`, statistic
  :data:`PPML_STATISTIC`; see :func:`default_headline`). More treated units (or a design
  without placebo assignments: no unit/time, staggered post): the CR1 headline, with the reason.
* ``"cr1"``: the analytic test as headline (nothing else is computed);
* ``"wild"``: restricted wild cluster bootstrap (:mod:`tradeimpact.inference.wild_bootstrap`);
* ``"ri"``: coefficient randomization inference, placebo-in-space, exactly as before
  (:mod:`tradeimpact.inference.randomization`; PPML: every assignment refitted, statistic
  ``"coef"``);
* ``"ri_t"``: studentized randomization inference, ``ri={"scale": "pre_sd" | "cr1" | "pre_var_model"}``
  (:mod:`tradeimpact.inference.studentized`; MacKinnon & Webb 2020; PPML: statistic
  ``ri={"statistic": "t_log" | "t"}``, default :data:`PPML_STATISTIC`);
* ``"conley_taber"`` and ``"conley_taber_fp"`` (Ferman & Pinto 2019 correction;
  ``conley_taber={"group_sizes": column}``) (:mod:`tradeimpact.inference.conley_taber`).

``"wild"`` and the Conley-Taber methods are for OLS outcomes; with ``outcome="ppml"`` they are
refused (use ``"ri_t"``, ``"ri"`` or ``"cr1"``).

An explicitly requested method (not ``None``/``"cr1"``) also replaces the analytic p-value and
interval of the effect in ``pvalues``/``conf_int()``/``tidy()``, as before; ``result.inference``
states which.

Sample: rows with missing values are dropped and counted; with ``outcome="log"`` zeros are dropped
(counted as ``zeros_in_log``; use ``outcome="ppml"`` to keep them) and negative values are an
error. Unbalanced panels are allowed (fixed effects absorb whatever rows are present).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.linear import (
    CollinearityWarning,
    VcovArg,
    build_fe,
    check_columns,
    fit_feols,
    resolve_vcov,
    to_polars,
)
from tradeimpact.models.results import DiDResult, RegressionResult

Outcome = Literal["log", "level", "ppml"]
Inference = Literal["cr1", "wild", "ri", "ri_t", "conley_taber", "conley_taber_fp"] | None
FeSpec = Sequence[str | Sequence[str]]


def prepare_outcome(
    frame: pl.DataFrame, y: str, outcome: Outcome
) -> tuple[pl.DataFrame, str, dict[str, int]]:
    """Add the transformed outcome column ``_y`` and count what the transformation drops.

    ``"log"``: ``log(y)``; zeros become missing (``dropped["zeros_in_log"]``); a negative value
    raises :class:`ModelSpecError` naming the first row. ``"level"``/``"ppml"``: ``y`` as is
    (PPML needs ``y >= 0``).
    """
    col = frame[y].cast(pl.Float64)
    drops: dict[str, int] = {}
    if outcome not in ("log", "level", "ppml"):
        raise ModelSpecError(f"outcome must be 'log', 'level' or 'ppml', not {outcome!r}")
    if outcome in ("log", "ppml"):
        neg = (col < 0).fill_null(False)
        if neg.any():
            row = int(neg.arg_max() or 0)
            raise ModelSpecError(
                f"column '{y}' has {int(neg.sum())} negative value(s), first at row {row} "
                f"(value {col[row]}): trade values cannot be negative"
            )
    if outcome == "log":
        vals = col.to_numpy().astype(np.float64)
        zeros = vals == 0
        drops["zeros_in_log"] = int(zeros.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            logged = np.where(vals > 0, np.log(np.where(vals > 0, vals, 1.0)), np.nan)
        return frame.with_columns(pl.Series("_y", logged)), f"log({y})", drops
    return frame.with_columns(col.alias("_y")), y, drops


def _indicator(frame: pl.DataFrame, col: str) -> npt.NDArray[np.float64]:
    s = frame[col]
    vals = s.cast(pl.Float64).to_numpy()
    ok = np.isnan(vals) | np.isin(vals, [0.0, 1.0])
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise ModelSpecError(f"column '{col}' must be 0/1 (or boolean); row {row} is {s[row]!r}")
    return vals


def _check_design(
    frame: pl.DataFrame, treat: str, post: str, unit: str | None, sample: npt.NDArray[np.bool_]
) -> None:
    """Clear errors for: no treated / no control units, treated units without pre- or post-period."""
    sub = frame.filter(pl.Series(sample))
    tr = sub[treat].cast(pl.Float64)
    if unit is None:
        if (tr == 1).all():
            raise ModelSpecError(f"no control observations: '{treat}' is 1 in every row")
        if (tr == 0).all():
            raise ModelSpecError(f"no treated observations: '{treat}' is 0 in every row")
        return
    by_unit = sub.group_by(unit).agg(
        pl.col(treat).cast(pl.Float64).max().alias("_t"),
        pl.col(treat).cast(pl.Float64).min().alias("_tmin"),
        pl.col(post).cast(pl.Float64).min().alias("_pmin"),
        pl.col(post).cast(pl.Float64).max().alias("_pmax"),
    )
    varying = by_unit.filter(pl.col("_t") != pl.col("_tmin"))
    if varying.height:
        raise ModelSpecError(
            f"'{treat}' varies within unit(s) {varying[unit].head(5).to_list()}: it must mark "
            "treated units (constant within a unit); for staggered adoption pass a unit-specific "
            "'post' column or use event_study(...)"
        )
    treated = by_unit.filter(pl.col("_t") == 1)
    if treated.height == 0:
        raise ModelSpecError(f"no treated units: '{treat}' is 0 for every unit")
    if treated.height == by_unit.height:
        raise ModelSpecError(
            f"no control units: every unit in '{unit}' has '{treat}' = 1; a DiD needs untreated "
            "units to estimate the counterfactual trend"
        )
    no_pre = treated.filter(pl.col("_pmin") == 1)[unit].to_list()
    if no_pre:
        raise ModelSpecError(
            f"treated unit(s) {sorted(no_pre, key=str)[:10]} have no pre-period (every row has "
            f"'{post}' = 1): their effect is not identified from their own change; drop them or "
            "extend the sample backwards"
        )
    no_post = treated.filter(pl.col("_pmax") == 0)[unit].to_list()
    if no_post:
        raise ModelSpecError(
            f"treated unit(s) {sorted(no_post, key=str)[:10]} have no post-period (every row has "
            f"'{post}' = 0)"
        )


def did(
    data: Any,
    y: str,
    treat: str,
    post: str | None = None,
    unit: str | None = None,
    *,
    time: str | None = None,
    event_date: Any = None,
    fe: FeSpec | None = None,
    controls: Sequence[str] = (),
    weights: str | None = None,
    ddd: str | None = None,
    outcome: Outcome = "log",
    vcov: VcovArg | None = None,
    inference: Inference = None,
    small_sample: Literal["fixest", "linearmodels", "none"] = "fixest",
    wild: Mapping[str, Any] | None = None,
    ri: Mapping[str, Any] | None = None,
    conley_taber: Mapping[str, Any] | None = None,
) -> DiDResult:
    """Difference-in-differences (and triple differences) with fixed effects.

    Formula: ``g(y_it) = beta T_i Post_t + X_it' gamma + FE + e_it`` (see the module docstring;
    references Card & Krueger 1994, Angrist & Pischke 2009 ch. 5, Olden & Moen 2022 for DDD).

    Parameters
    ----------
    data : polars or pandas frame
    y : str
        Outcome column (trade value; logged unless ``outcome`` says otherwise).
    treat : str
        0/1 column marking the treated group (constant within a unit).
    post : str, optional
        0/1 column marking the post-event period; or give ``time`` and ``event_date`` and
        ``Post = time >= event_date``. A ``post`` that is 1 on treated rows only (0 for every
        control) is the same model; the placebo tests read it as ``1[time >= date]`` of its one
        event date (:func:`common_post`); with several dates (staggered) they are not defined.
    unit : str, optional
        Unit (panel) column: unit fixed effects and default clustering.
    time : str, optional
        Time column: time fixed effects (with ``unit``), Driscoll-Kraay, two-way clustering.
    fe : list, optional
        Fixed effects to absorb; an entry may be a list of columns for their interaction
        (``["importer", "product"]``). Default: ``[unit, time]`` where given (2x2 with
        intercept when neither is given). Replaces the default when given.
    controls : list of str
        Further regressors.
    weights : str, optional
        Regression weights column.
    ddd : str, optional
        0/1 column of the third difference (e.g. restricted product): the effect becomes
        ``treat x post x ddd`` with all lower-order interactions included.
    outcome : {"log", "level", "ppml"}
    vcov : str or dict
        ``"CR1"`` (clustered by ``unit``; default when ``unit`` is given), ``{"CR1": col}``,
        ``"twoway"``, ``"DK"``, ``"hetero"`` (default without ``unit``), ``"iid"``.
    inference : {None, "cr1", "wild", "ri", "ri_t", "conley_taber", "conley_taber_fp"}
        Method of the headline p-value and interval of the effect (see module docstring);
        ``wild``, ``ri`` (for ``"ri"`` and ``"ri_t"``, and the default headline),
        ``conley_taber`` (both CT methods) pass options to each (e.g. ``{"B": 9999, "seed": 1}``).

    Returns
    -------
    DiDResult
        ``att`` and the full result (``params``, ``std_errors``, ``conf_int()``, ``tidy()`` ...).
    """
    frame = to_polars(data)
    if post is None:
        if time is None or event_date is None:
            raise ModelSpecError("give a 'post' column, or 'time' and 'event_date'")
        check_columns(frame, [time])
        frame = frame.with_columns((pl.col(time) >= pl.lit(event_date)).cast(pl.Int8).alias("post"))
        post = "post"
    fe_list: list[str | Sequence[str]]
    if fe is None:
        fe_list = [c for c in (unit, time) if c is not None]
    else:
        fe_list = list(fe)
    fe_cols = [c for spec in fe_list for c in ([spec] if isinstance(spec, str) else spec)]
    check_columns(frame, [y, treat, post, unit, time, weights, ddd, *controls, *fe_cols])

    frame, depvar, drops = prepare_outcome(frame, y, outcome)
    t_ind = _indicator(frame, treat)
    p_ind = _indicator(frame, post)
    terms: dict[str, npt.NDArray[np.float64]] = {treat: t_ind, post: p_ind}
    if ddd is None:
        effect = f"{treat}:{post}"
        terms[effect] = t_ind * p_ind
    else:
        r_ind = _indicator(frame, ddd)
        terms[ddd] = r_ind
        terms[f"{treat}:{post}"] = t_ind * p_ind
        terms[f"{treat}:{ddd}"] = t_ind * r_ind
        terms[f"{post}:{ddd}"] = p_ind * r_ind
        effect = f"{treat}:{post}:{ddd}"
        terms[effect] = t_ind * p_ind * r_ind
    # A unit-specific (staggered) ``post`` that is 0 for every control row makes ``post`` itself
    # the treatment indicator: ``post == treat x post`` (and ``post x ddd == treat x post x ddd``).
    # The collinearity check keeps the first of two equal columns, which would drop the effect;
    # such lower-order terms carry nothing beyond the effect, so they are left out instead
    # (listed in ``dropped_regressors``), as fixest gives ``y ~ post | unit + time``.
    redundant = _redundant_post_terms(terms, treat, post, ddd, effect, unit)
    for term in redundant:
        del terms[term]
    auto_terms = [t for t in terms if t != effect]
    names = [*terms, *controls]
    for c in controls:
        terms[c] = frame[c].cast(pl.Float64).to_numpy()
    x = np.column_stack([terms[nm] for nm in names])

    # rows usable: outcome, regressors, labels present
    sample = np.isfinite(frame["_y"].to_numpy().astype(float)) & np.isfinite(x).all(axis=1)
    for c in [c for c in (unit, time, weights, *fe_cols) if c is not None]:
        sample &= ~frame[c].is_null().to_numpy()
    n_missing = int((~sample).sum()) - drops.get("zeros_in_log", 0)
    drops["missing"] = max(n_missing, 0)
    _check_design(frame, treat, post, unit, sample)
    if ddd is not None and unit is not None:
        sub = frame.filter(pl.Series(sample))
        if sub[ddd].cast(pl.Float64).n_unique() < 2:
            raise ModelSpecError(f"'{ddd}' takes a single value in the sample: no third difference")

    if vcov is None:
        vcov = "CR1" if unit is not None else "hetero"
    est = frame.filter(pl.Series(sample))
    x = x[sample]
    spec = resolve_vcov(vcov, est, unit=unit, time=time, small_sample=small_sample)
    fe_obj = build_fe(est, fe_list)
    yv = est["_y"].to_numpy().astype(np.float64)
    wv = None if weights is None else est[weights].cast(pl.Float64).to_numpy()

    if outcome == "ppml":
        res = _fit_ppml(est, names, x, fe_list, weights, _ppml_vcov(vcov, unit, time), effect)
        res.depvar = y
        res.dropped = {**drops, **{k: v for k, v in res.dropped.items() if v or k not in drops}}
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CollinearityWarning)
            res = fit_feols(
                yv,
                x,
                names,
                fe=fe_obj,
                weights=wv,
                vcov=spec,
                depvar=depvar,
                dropped=drops,
                require=[effect],
            )
        user_dropped = [d for d in res.dropped_regressors if d not in auto_terms]
        if user_dropped:
            warnings.warn(
                "dropped regressor(s) collinear with the fixed effects or other regressors: "
                + ", ".join(user_dropped),
                CollinearityWarning,
                stacklevel=2,
            )
        for w in caught:
            if not issubclass(w.category, CollinearityWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if redundant:
        res.dropped_regressors = [*redundant, *res.dropped_regressors]
    out = DiDResult(**{f: getattr(res, f) for f in _RESULT_FIELDS}, effect=effect)
    out.extra["sample"] = sample
    # the size check reruns the call with its post: a post coded on the treated rows only goes
    # there as the common post of its event date (else a placebo unit would have no post rows)
    post_rerun = post
    if unit is not None and time is not None and ddd is None:
        try:
            common = common_post(est, unit, time, treat, post)
        except ModelSpecError:
            common = None  # staggered: no common post; the headline says why (CR1)
        if common is not None:
            post_rerun = "_post_common"
            est = est.with_columns(common.alias(post_rerun))
    out.extra["frame"] = est
    # the call, for the size check (tradeimpact.inference.headline.size_check reruns it)
    out.extra["did_args"] = {
        "y": y, "unit": unit, "time": time, "post": post_rerun, "treat": treat, "ddd": ddd,
        "fe": fe_list, "controls": list(controls), "weights": weights, "outcome": outcome,
        "vcov": vcov, "small_sample": small_sample,
    }  # fmt: skip
    if inference is None:
        default_headline(out, est, unit, time, post, treat, ddd, fe_list, controls, weights,
                         outcome, dict(ri or {}))  # fmt: skip
    elif inference in ("cr1", "analytic"):
        from tradeimpact.models.results import Headline

        out.headlines[effect] = Headline.analytic(out, effect, note="requested (inference='cr1')")
    else:
        _attach(
            out,
            inference,
            est,
            unit,
            time,
            post,
            treat,
            ddd,
            fe_list,
            controls,
            weights,
            effect,
            dict(wild or {}),
            dict(ri or {}),
            dict(conley_taber or {}),
            outcome,
        )
        from tradeimpact.models.results import Headline

        opts = (
            dict(wild or {})
            if inference == "wild"
            else dict((ri if inference in ("ri", "ri_t") else conley_taber) or {})
        )
        if outcome == "ppml":
            # the options as run (statistic resolved), so that the size check reruns this test
            opts = dict(out.extra["ppml_ri_options"])
        out.headlines[effect] = Headline.of(
            out, effect, out.attached[effect].result, method_key=inference, options=opts
        )
    return out


_RESULT_FIELDS = (
    "names",
    "beta",
    "cov_matrix",
    "nobs",
    "vcov_type",
    "df_inference",
    "depvar",
    "fixed_effects",
    "dropped",
    "dropped_regressors",
    "n_clusters",
    "model",
    "extra",
    "attached",
)


def _fit_ppml(
    est: pl.DataFrame,
    names: list[str],
    x: npt.NDArray[np.float64],
    fe_list: list[str | Sequence[str]],
    weights: str | None,
    vcov: VcovArg,
    effect: str,
) -> RegressionResult:
    """PPML through :func:`tradeimpact.models.ppml.ppml` (high-dimensional fixed effects)."""
    from tradeimpact.models.ppml import ppml

    cols = {f"_x{i}": x[:, i] for i in range(len(names))}
    frame = est.with_columns([pl.Series(k, v) for k, v in cols.items()])
    exprs = [pl.col(f"_x{i}").alias(nm) for i, nm in enumerate(names)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollinearityWarning)
        res = ppml(frame, "_y", exprs, fe=list(fe_list), weights=weights, vcov=vcov)
    if effect not in res.names:
        raise ModelSpecError(
            f"{effect} is collinear with the fixed effects or the other regressors in the PPML "
            "model (no variation left to identify it)"
        )
    return res


def _ppml_vcov(vcov: VcovArg, unit: str | None, time: str | None) -> VcovArg:
    """Translate did's covariance names into those of :func:`tradeimpact.models.ppml.ppml`."""
    if isinstance(vcov, str) and vcov.upper() in ("CR1", "CLUSTER", "CRV1"):
        if unit is None:
            raise ModelSpecError("vcov='CR1' needs a unit column: use {'CR1': column}")
        return {"CR1": unit}
    if isinstance(vcov, str) and vcov.lower() == "twoway":
        if unit is None or time is None:
            raise ModelSpecError("vcov='twoway' needs unit and time columns")
        return {"CR1": [unit, time]}
    if (isinstance(vcov, str) and vcov.upper() == "DK") or (
        isinstance(vcov, Mapping) and "DK" in vcov
    ):
        raise ModelSpecError("Driscoll-Kraay is available for OLS outcomes, not PPML")
    return vcov


def _redundant_post_terms(
    terms: Mapping[str, npt.NDArray[np.float64]],
    treat: str,
    post: str,
    ddd: str | None,
    effect: str,
    unit: str | None,
) -> list[str]:
    """Lower-order terms equal to the effect (or to ``treat x post``) when ``post`` is 0 for controls.

    Only with unit fixed effects in view (``unit`` given): then ``post`` being 0 outside the
    treated units means it is a unit-specific (e.g. staggered) treatment indicator.
    """
    if unit is None:
        return []
    t_ind, p_ind = terms[treat], terms[post]
    ok = np.isfinite(t_ind) & np.isfinite(p_ind)
    if not np.array_equal(p_ind[ok], (t_ind * p_ind)[ok]):
        return []
    return [post] if ddd is None else [post, f"{post}:{ddd}"]


def _treated_units(est: pl.DataFrame, unit: str, treat: str) -> list[Hashable]:
    return est.filter(pl.col(treat).cast(pl.Float64) == 1)[unit].unique().sort().to_list()


def _attach(
    res: DiDResult,
    inference: str,
    est: pl.DataFrame,
    unit: str | None,
    time: str | None,
    post: str,
    treat: str,
    ddd: str | None,
    fe_list: list[str | Sequence[str]],
    controls: Sequence[str],
    weights: str | None,
    effect: str,
    wild: dict[str, Any],
    ri: dict[str, Any],
    ct: dict[str, Any],
    outcome: str,
) -> None:
    """Run the requested inference for the effect and make it the headline."""
    if outcome == "ppml":
        if inference not in ("ri", "ri_t"):
            raise ModelSpecError(
                f"inference={inference!r} is available for OLS outcomes (log or level) only; "
                "with outcome='ppml' use inference='ri_t' (PPML studentized randomization "
                "inference, the default with 1-5 treated units), 'ri' (its coefficient "
                "version) or 'cr1'"
            )
        r = ppml_placebo(res, est, unit, time, post, treat, ddd, fe_list, controls, weights,
                         inference, ri)  # fmt: skip
        res.attach_inference(effect, r.method, r)
        return
    if inference == "wild":
        from tradeimpact.inference.wild_bootstrap import wild_cluster_bootstrap

        d = res.extra["design"]
        clusters = d.clusters[0] if d.clusters else None
        if clusters is None:
            if unit is None:
                raise ModelSpecError("the wild cluster bootstrap needs clusters: give unit or vcov")
            clusters = est[unit].to_numpy()[d.keep]
        wb = wild_cluster_bootstrap(
            d.x_t, d.y_t, clusters, effect, names=d.names, fe=d.fe, weights=d.weights, **wild
        )
        res.attach_inference(effect, wb.method, wb)
        return
    ctx = placebo_context(res, est, unit, time, post, treat, ddd, fe_list, controls, weights)
    res.extra["placebo_context"] = ctx
    options = {"ri": ri, "ri_t": ri, "conley_taber": ct, "conley_taber_fp": ct}.get(inference)
    if options is None:
        raise ModelSpecError(
            f"unknown inference {inference!r}: use None, 'cr1', 'wild', 'ri', 'ri_t', "
            "'conley_taber' or 'conley_taber_fp'"
        )
    r = run_placebo_method(ctx, inference, options)
    if not np.isclose(r.estimate, res.att, rtol=1e-8, atol=1e-12 * max(1.0, abs(res.att))):
        raise ModelSpecError(
            f"{r.method} re-estimated {r.estimate} but the model gives {res.att}:"
            " the placebo design does not reproduce this specification"
        )
    res.attach_inference(effect, r.method, r)


def common_post(frame: pl.DataFrame, unit: str, time: str, treat: str, post: str) -> pl.Expr | None:
    """The common post indicator ``1[time >= date]`` when ``post`` marks treated rows only.

    Users often code ``post`` as "treated and after the event", 0 for every control row. For the
    fit that is the same model (``post`` equals the effect and is left out as redundant), but a
    placebo assignment ``1[unit in S] x post`` of control units would then be a column of zeros.
    When every treated unit's ``post`` is ``1[time >= date]`` with one ``date``, this returns
    that expression (for all rows); with a common ``post`` (some control row has ``post = 1``)
    it returns None. Several event dates (staggered adoption) or a ``post`` that is not of that
    form raise :class:`ModelSpecError` saying so: placebo assignments need one event date.
    """
    p = frame[post].cast(pl.Float64)
    tr = frame[treat].cast(pl.Float64) == 1
    if (p.filter(~tr) != 0).any() or not (~tr).any():
        return None
    sub = frame.filter(tr)
    starts = (
        sub.filter(pl.col(post).cast(pl.Float64) == 1)
        .group_by(unit)
        .agg(pl.col(time).min().alias("_date"))
    )
    dates = starts["_date"].unique().sort()
    if dates.len() != 1:
        raise ModelSpecError(
            f"'{post}' is 0 for every control unit and starts at {dates.len()} different dates "
            f"among the treated units ({dates.head(5).to_list()}): a staggered adoption has no "
            "placebo assignment of one event date; use event_study(..., treat_date=...) for "
            "staggered designs"
        )
    date = dates[0]
    expected = (sub[time] >= date).cast(pl.Float64)
    bad = sub[post].cast(pl.Float64) != expected
    if bad.any():
        row = int(bad.arg_max() or 0)
        raise ModelSpecError(
            f"'{post}' is 0 for every control unit but is not 1[{time} >= {date}] for treated "
            f"unit {sub[unit][row]!r} at {time} = {sub[time][row]!r}: placebo assignments need "
            "one event date"
        )
    return (pl.col(time) >= pl.lit(date)).cast(pl.Float64)


@dataclass
class PlaceboContext:
    """The placebo design of a fitted DiD: what the randomization tests and the size check rerun.

    ``frame`` holds the estimation rows with the outcome as fitted (``_y``), the effect's post
    indicator (``_post_eff`` = post, or post x ddd) and interacted fixed effects materialised
    as columns (``fe_names``); ``treated`` lists the actually treated units.
    """

    frame: pl.DataFrame
    unit: str
    time: str
    treat: str
    fe_names: list[str]
    controls: list[str]
    weights: str | None
    treated: list[Hashable]
    cells: list[str]
    no_common_post: str = ""


def placebo_context(
    res: DiDResult,
    est: pl.DataFrame,
    unit: str | None,
    time: str | None,
    post: str,
    treat: str,
    ddd: str | None,
    fe_list: list[str | Sequence[str]],
    controls: Sequence[str],
    weights: str | None,
) -> PlaceboContext:
    """Build the :class:`PlaceboContext` of a fitted DiD (errors say why a design has none)."""
    if unit is None or time is None:
        raise ModelSpecError("placebo (randomization) inference needs unit and time columns")
    # estimation rows of the fitted model (after singletons)
    keep = res.extra["design"].keep if "design" in res.extra else None
    frame = est if keep is None else est.filter(pl.Series(keep))
    # materialise interacted fixed effects as columns for the placebo routines
    fe_names: list[str] = []
    for spec in fe_list:
        if isinstance(spec, str):
            fe_names.append(spec)
        else:
            nm = "^".join(spec)
            frame = frame.with_columns(pl.struct(list(spec)).rank("dense").alias(nm))
            fe_names.append(nm)
    # the placebo treatment is 1[unit in S] x post (x ddd): lower-order terms must be absorbed
    lower = list(res.dropped_regressors)
    if ddd is not None:
        needed = [f"{treat}:{ddd}", f"{treat}:{post}"]
        if any(t not in lower for t in needed):
            raise ModelSpecError(
                f"placebo inference for a triple difference needs the unit-level terms "
                f"{needed} absorbed by the fixed effects (e.g. unit x {ddd} and unit x {time})"
            )
    # a post coded on the treated rows only (0 for every control) is a common post once its
    # single event date is read off; the placebo assignment 1[unit in S] x post needs that
    # (Conley-Taber takes each treated unit's own post, staggered or not; RI needs one date)
    try:
        common = common_post(frame, unit, time, treat, post)
        no_common = ""
    except ModelSpecError as exc:
        common, no_common = None, str(exc)
    post_expr = pl.col(post).cast(pl.Float64) if common is None else common
    if ddd is not None:
        frame = frame.with_columns((post_expr * pl.col(ddd).cast(pl.Float64)).alias("_post_eff"))
    else:
        frame = frame.with_columns(post_expr.alias("_post_eff"))
    extra_controls = [c for c in res.names if c in (post, ddd, f"{post}:{ddd}")]
    ctrl = [c for c in [*extra_controls, *controls] if c in frame.columns]
    frame = frame.with_columns(pl.col(c).cast(pl.Float64) for c in ctrl)
    raw_fe = [c for spec in fe_list for c in ([spec] if isinstance(spec, str) else spec)]
    cells = list(dict.fromkeys(c for c in (time, ddd, *raw_fe) if c and c != unit))
    return PlaceboContext(
        frame=frame,
        unit=unit,
        time=time,
        treat=treat,
        fe_names=fe_names,
        controls=ctrl,
        weights=weights,
        treated=_treated_units(frame, unit, treat),
        cells=cells,
        no_common_post=no_common,
    )


def run_placebo_method(
    ctx: PlaceboContext,
    method: str,
    options: Mapping[str, Any],
    *,
    frame: pl.DataFrame | None = None,
    treated: Sequence[Hashable] | None = None,
) -> Any:
    """Run one placebo-based test on the context (or on ``frame`` / ``treated`` in its place).

    ``method``: ``"ri"`` (coefficient RI), ``"ri_t"`` (studentized RI; ``options["scale"]``),
    ``"conley_taber"``, ``"conley_taber_fp"`` (Ferman-Pinto; ``options["group_sizes"]`` may name
    a column). Used by :func:`did` and by the size check, which reruns the headline test on
    placebo dates and units.
    """
    data = ctx.frame if frame is None else frame
    tr = list(ctx.treated if treated is None else treated)
    opts = dict(options)
    if method in ("ri", "ri_t"):
        if ctx.no_common_post and frame is None:
            raise ModelSpecError(ctx.no_common_post)
        from tradeimpact.inference.randomization import randomization_inference
        from tradeimpact.inference.studentized import studentized_randomization_inference

        fn = randomization_inference if method == "ri" else studentized_randomization_inference
        return fn(
            data,
            "_y",
            ctx.unit,
            ctx.time,
            tr,
            "_post_eff",
            ctx.fe_names,
            controls=ctx.controls or None,
            weights=ctx.weights,
            **opts,
        )
    if method in ("conley_taber", "conley_taber_fp"):
        from tradeimpact.inference.conley_taber import conley_taber as ct_fn
        from tradeimpact.models.absorb import FixedEffects

        fx = FixedEffects.from_columns([data[c].to_numpy() for c in ctx.fe_names], ctx.fe_names)
        d_col = data[ctx.unit].is_in(tr).cast(pl.Float64).to_numpy() * data["_post_eff"].to_numpy()
        # a cell = the row of a unit: time and every other dimension named in the model
        cells = data.select(pl.struct(ctx.cells).rank("dense"))[:, 0].to_numpy()
        xc = np.column_stack([data[c].to_numpy() for c in ctx.controls]) if ctx.controls else None
        if method == "conley_taber_fp":
            opts.setdefault("correction", "ferman_pinto")
            sizes = opts.get("group_sizes")
            if isinstance(sizes, str):
                if sizes not in data.columns:
                    raise ModelSpecError(f"group_sizes column {sizes!r} not found")
                opts["group_sizes"] = data[sizes].cast(pl.Float64).to_numpy()
        return ct_fn(
            data["_y"].to_numpy().astype(float),
            d_col,
            data[ctx.unit].to_numpy(),
            cells,
            fx,
            xc,
            None if ctx.weights is None else data[ctx.weights].cast(pl.Float64).to_numpy(),
            **opts,
        )
    raise ModelSpecError(f"no placebo method {method!r}")


#: Largest number of treated units for which did() and event_study() headline the studentized
#: randomization test by default (issue 10: with few treated units cluster-robust tests over-
#: reject, and the coefficient tests are wrong when the treated units' noise differs).
FEW_TREATED = 5

#: Largest rows x placebo columns the default headline projects when the unit is not absorbed.
DEFAULT_PROJECTION_LIMIT = 50_000_000


#: Statistic of the default PPML headline (see :func:`default_headline` for why).
PPML_STATISTIC = "t_log"

#: Largest rows x placebo assignments the default PPML headline refits unasked (each
#: assignment is one IRLS fit on every estimation row: about 0.3-1.4 microseconds per row and
#: fit, so at most some 10-30 s); larger panels headline CR1 and say to pass inference='ri_t'.
DEFAULT_PPML_FIT_LIMIT = 20_000_000

#: Largest rows x refits the default PPML headline's test-inversion interval may take (it is
#: computed when asked; beyond this ``conf_int`` is ``(nan, nan)`` with the reason).
DEFAULT_PPML_CI_LIMIT = 100_000_000

_PPML_RI_OPTIONS = frozenset(
    {"statistic", "max_exact", "n_permutations", "seed", "tol", "fixef_tol", "maxiter",
     "ci_max_fits"}
)  # fmt: skip


def ppml_placebo(
    res: DiDResult,
    est: pl.DataFrame,
    unit: str | None,
    time: str | None,
    post: str,
    treat: str,
    ddd: str | None,
    fe_list: list[str | Sequence[str]],
    controls: Sequence[str],
    weights: str | None,
    method: str,
    options: Mapping[str, Any],
    *,
    bounded: bool = False,
) -> Any:
    """PPML randomization inference of a did(outcome="ppml") fit (every assignment refitted).

    Runs :func:`tradeimpact.inference.ppml_placebo.ppml_randomization_inference` on the
    estimation rows of ``res`` with its fixed effects, controls and weights, the treated units
    of ``treat`` and the effect's post indicator (``post``, or ``post x ddd``; a post coded on
    treated rows only read as the common post of its one event date). ``method="ri_t"``: the
    studentized statistic (``options["statistic"]``, ``"t_log"`` or ``"t"``; default
    :data:`PPML_STATISTIC`); ``"ri"``: the coefficient (``statistic="coef"``). ``options`` go to
    that function (``max_exact``, ``n_permutations``, ``seed``, ``tol``, ``fixef_tol``,
    ``maxiter``, ``ci_max_fits``); the options as run are kept in
    ``res.extra["ppml_ri_options"]``. ``bounded`` (the default headline): refuse (ModelSpecError
    with the reason) beyond :data:`DEFAULT_PPML_FIT_LIMIT` row-fits and cap the interval's refits
    at :data:`DEFAULT_PPML_CI_LIMIT` row-fits. The refitted estimate must equal the fit's to
    ``1e-6`` relative (both are IRLS at tolerance ``1e-8``), else the design does not reproduce
    the specification and ModelSpecError says so.
    """
    import math

    from tradeimpact.inference.ppml_placebo import ppml_randomization_inference

    opts = dict(options)
    unknown = sorted(set(opts) - _PPML_RI_OPTIONS)
    if unknown:
        raise ModelSpecError(
            f"ri= option(s) {unknown} do not apply to PPML randomization inference (offered: "
            f"{sorted(_PPML_RI_OPTIONS)})"
        )
    stat = opts.get("statistic")
    if method == "ri":
        if stat not in (None, "coef"):
            raise ModelSpecError(
                f"inference='ri' is the coefficient test (statistic 'coef'), not {stat!r}: use "
                "inference='ri_t' for a studentized statistic"
            )
        opts["statistic"] = "coef"
    else:
        if stat == "coef":
            raise ModelSpecError(
                "inference='ri_t' is studentized: ri={'statistic': 't_log' | 't'}; the "
                "coefficient test is inference='ri'"
            )
        opts["statistic"] = stat or PPML_STATISTIC
    if unit is None or time is None:
        raise ModelSpecError("placebo (randomization) inference needs unit and time columns")
    ctx = placebo_context(res, est, unit, time, post, treat, ddd, fe_list, controls, weights)
    if ctx.no_common_post:
        raise ModelSpecError(ctx.no_common_post)
    n_units = int(ctx.frame[unit].n_unique())
    n_sets = math.comb(n_units, len(ctx.treated))
    n_assign = n_sets if n_sets <= int(opts.get("max_exact", 10_000)) else (
        int(opts.get("n_permutations", 999)) + 1
    )  # fmt: skip
    rows = ctx.frame.height
    if bounded:
        if rows * n_assign > DEFAULT_PPML_FIT_LIMIT:
            raise ModelSpecError(
                f"{n_assign} placebo assignments x {rows} rows = {rows * n_assign} row-fits "
                f"(> {DEFAULT_PPML_FIT_LIMIT}) is too slow to run unasked; pass "
                "inference='ri_t' to run it"
            )
        opts.setdefault("ci_max_fits", int(min(20_000, DEFAULT_PPML_CI_LIMIT // max(rows, 1))))
    r = ppml_randomization_inference(
        ctx.frame,
        "_y",
        unit,
        time,
        list(ctx.treated),
        "_post_eff",
        ctx.fe_names,
        controls=list(ctx.controls),
        weights=weights,
        **opts,
    )
    if not np.isclose(r.estimate, res.att, rtol=1e-6, atol=1e-10):
        raise ModelSpecError(
            f"{r.method} re-estimated {r.estimate} but the model gives {res.att}:"
            " the placebo design does not reproduce this specification"
        )
    res.extra["placebo_context"] = ctx
    res.extra["ppml_ri_options"] = opts
    return r


def ppml_caveat(n_treated: int, statistic: str) -> str:
    """What the size table says of the default PPML headline (its note)."""
    measured = {"t_log": "4.8-5.6%", "t": "5.0-6.1%"}.get(statistic)
    base = (
        f"PPML studentized randomization inference (statistic {statistic!r}, every assignment "
        "refitted)"
    )
    if measured:
        base += (
            f"; reports/size_ppml.md, one treated unit of 20: {measured} rejections at 5% with "
            "the treated unit 1x-3x as noisy as the controls"
        )
    if n_treated > 1:
        base += (
            f"; with {n_treated} treated units its size was not measured: read it with the size "
            "check (result.size_check())"
        )
    return base


def several_treated_caveat(n_treated: int) -> str:
    """What the default studentized headline with 2-5 treated units does not control (else "").

    With several treated units the default scale is ``"pre_var_model"`` (t over the s.e.
    modelled from each unit's pre-period residual variance, the treated units outside a placebo
    assignment left out of its sample; :mod:`tradeimpact.inference.studentized`). Closed-form
    Monte Carlo of issue 10 (``benchmarks/size.py``, 20 units x 60 periods, AR(1) 0.5, 5,000
    replications per cell, checked against the public function in
    ``tests/test_studentized_several_treated.py``), rejections of a true null at 5% with the
    treated units 3x / 2x / 1x / 1/3 as noisy as the controls: 2 treated 3.9 / 4.3 / 5.0 / 3.9
    (exact level 4.74), 3 treated 4.4 / 4.2 / 4.6 / 4.1, 4 treated 2.8 / 3.3 / 4.2 / 5.0,
    5 treated 2.0 / 2.6 / 4.1 / 5.2; the former ``pre_sd`` headline gave 0.0-2.0 (3x) and
    9.1-21.8 (1/3).
    """
    if n_treated <= 1:
        return ""
    return (
        f"{n_treated} treated units: t over the s.e. modelled from each unit's pre-period "
        "variance, placebos estimated without the other treated units; Monte Carlo (20 units, "
        "noise 1/3x to 3x the controls'): 3.9-5.0% rejections at 5% with 2-3 treated, 2.0-5.2% "
        "with 4-5 (conservative when the treated units are noisier); read it with the size "
        "check (result.size_check())"
    )


def default_headline(
    res: DiDResult,
    est: pl.DataFrame,
    unit: str | None,
    time: str | None,
    post: str,
    treat: str,
    ddd: str | None,
    fe_list: list[str | Sequence[str]],
    controls: Sequence[str],
    weights: str | None,
    outcome: str,
    options: Mapping[str, Any],
) -> None:
    """Headline of a did() called without ``inference=``: studentized RI with few treated units.

    CR1 stays in ``params`` / ``std_errors`` / ``pvalues`` / ``conf_int()``; the headline is
    ``res.headline``. With more than :data:`FEW_TREATED` treated units, or a design the placebo
    test cannot rerun (no unit/time, a staggered post, a PPML panel too large to refit every
    assignment unasked: :data:`DEFAULT_PPML_FIT_LIMIT`), the headline is CR1 and
    ``res.headline.note`` says why.

    ``outcome="ppml"``: :func:`ppml_placebo` with the statistic :data:`PPML_STATISTIC`
    (``"t_log"``, the coefficient over the assigned units' own log-residual s.e.). Why that
    one: in the PPML size table (``reports/size_ppml.md``; 20 units x 10 periods, one treated
    unit, 5,000 replications, Monte Carlo s.e. 0.3 points) it rejects a true null at 5% in
    4.9% / 4.8% / 5.6% of replications with the treated unit 1x / 2x / 3x as noisy as the
    controls: within 5 +- 1.5 points in every row, and at 3x the nearer of the two
    studentized statistics to 5% (own sandwich ``"t"``: 5.0 / 5.1 / 6.1%; coefficient:
    4.9 / 21.5 / 39.4%; CR1 65.8-85.4%); the case studies use
    the same (``analysis/specs/main.toml``, ``ppml_statistic``). With many zeros the ``+ 1/2``
    of its log residuals dominates and ``ri={"statistic": "t"}`` is the safer choice.
    """
    from tradeimpact.models.results import Headline

    effect = res.effect
    n_treated = int(est.filter(pl.col(treat).cast(pl.Float64) == 1)[unit].n_unique()) if unit else 0
    why = ""
    if unit is None or time is None:
        why = "no unit and time columns: no placebo assignments"
    elif n_treated > FEW_TREATED:
        why = (
            f"{n_treated} treated units (more than {FEW_TREATED}): cluster-robust inference is "
            "the headline"
        )
    if not why and outcome == "ppml" and unit is not None:
        try:
            r = ppml_placebo(res, est, unit, time, post, treat, ddd, fe_list, controls, weights,
                             "ri_t", options, bounded=True)  # fmt: skip
        except (ModelSpecError, np.linalg.LinAlgError) as exc:
            why = f"PPML randomization inference not available here ({exc})"
        else:
            res.headlines[effect] = Headline.of(res, effect, r, method_key="ri_t",
                                                options=dict(res.extra["ppml_ri_options"]),
                                                note=ppml_caveat(n_treated, r.statistic))  # fmt: skip
            return
    if not why and unit not in fe_list:
        # without the unit among the absorbed effects every placebo column is projected (n x P):
        # too slow to run unasked on a large panel
        n_units = int(est[unit].n_unique()) if unit else 0
        if est.height * min(n_units, 1_000) > DEFAULT_PROJECTION_LIMIT:
            why = (
                f"the unit ({unit}) is not an absorbed fixed effect, so the placebo columns would "
                f"be projected one by one ({est.height} rows x {n_units} units); pass "
                "inference='ri_t' to run it"
            )
    if not why:
        try:
            ctx = placebo_context(res, est, unit, time, post, treat, ddd, fe_list, controls,
                                  weights)  # fmt: skip
            if 2 <= n_treated < est[ctx.unit].n_unique() / 2 and "scale" not in options:
                # several treated units: t over the s.e. modelled from the pre-period variances,
                # the treated units outside each placebo left out of its sample (issue 10; it
                # needs more than 2 x n_treated units)
                options = {**options, "scale": "pre_var_model"}
            r = run_placebo_method(ctx, "ri_t", options)
        except (ModelSpecError, np.linalg.LinAlgError) as exc:
            why = f"studentized randomization inference not available here ({exc})"
        else:
            res.extra["placebo_context"] = ctx
            res.headlines[effect] = Headline.of(res, effect, r, method_key="ri_t",
                                                options=dict(options),
                                                note=several_treated_caveat(n_treated))  # fmt: skip
            return
    res.headlines[effect] = Headline.analytic(res, effect, note=why)
