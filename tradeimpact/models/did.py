"""Difference-in-differences: 2x2, two-way fixed effects, extra fixed effects, triple differences.

Model (two-way fixed effects DiD)::

    g(y_it) = beta * T_i x Post_t + X_it' gamma + alpha_i + lambda_t (+ further fixed effects) + e_it

with the identity (``outcome="level"``, the default, OLS), ``g = log`` (``"log"``, OLS) or PPML
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

* ``inference=None`` (default): with at most :data:`~tradeimpact.inference.of_result.FEW_TREATED` (5) treated units, the
  studentized randomization test (``"ri_t"`` below; scale ``"pre_sd"`` with one treated unit,
  ``"pre_var_model"`` with 2-5), because with one or few treated units CR1
  rejects a true null 60-90% of the time and the coefficient tests (RI, Conley-Taber) are wrong
  when the treated unit's noise differs from the controls' (``reports/size.md``); CR1 stays in
  ``pvalues``/``conf_int()`` and is printed beside it. ``outcome="ppml"`` with 1-5 treated
  units: the PPML studentized randomization test (every assignment refitted,
  :func:`~tradeimpact.inference.ppml_placebo.ppml_randomization_inference`, statistic
  ``"t_log"``; see :func:`tradeimpact.inference.of_result.did_default_headline`). More treated units (or a design
  without placebo assignments: no unit/time, staggered post): the CR1 headline, with the reason.
* ``"cr1"``: the analytic test as headline (nothing else is computed);
* ``"wild"``: restricted wild cluster bootstrap (:mod:`tradeimpact.inference.wild_bootstrap`);
* ``"ri"``: coefficient randomization inference, placebo-in-space, exactly as before
  (:mod:`tradeimpact.inference.randomization`; PPML: every assignment refitted, statistic
  ``"coef"``);
* ``"ri_t"``: studentized randomization inference, ``ri={"scale": "pre_sd" | "cr1" | "pre_var_model"}``
  (:mod:`tradeimpact.inference.studentized`; MacKinnon & Webb 2020; PPML: statistic
  ``ri={"statistic": "t_log" | "t"}``, default ``"t_log"``);
* ``"conley_taber"`` and ``"conley_taber_fp"`` (Ferman & Pinto 2019 correction;
  ``conley_taber={"group_sizes": column}``) (:mod:`tradeimpact.inference.conley_taber`).

``"wild"`` and the Conley-Taber methods are for OLS outcomes; with ``outcome="ppml"`` they are
refused (use ``"ri_t"``, ``"ri"`` or ``"cr1"``).

An explicitly requested method (not ``None``/``"cr1"``) also replaces the analytic p-value and
interval of the effect in ``pvalues``/``conf_int()``/``tidy()``, as before; ``result.inference``
states which. This module runs none of these tests itself: it fits, keeps the design record
(:class:`~tradeimpact.models.results.DiDDesign`) and names the method; the inference layer runs
it (:mod:`tradeimpact.inference.of_result`, found through
:func:`tradeimpact.core.registry.inference_method`). ``inference=m`` is a shortcut for
``did(..., inference="cr1").with_inference(m, **options)`` (the same numbers), and the methods
are functions of the fitted result too (``randomization_inference(result)``,
``wild_cluster_bootstrap(result)``, ``conley_taber(result)``).

Sample: rows with missing values are dropped and counted; with ``outcome="log"`` zeros are dropped
(counted as ``zeros_in_log``; use ``outcome="ppml"`` to keep them) and negative values are an
error. Unbalanced panels are allowed (fixed effects absorb whatever rows are present).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.core.collinearity import CollinearityWarning
from tradeimpact.core.frame import check_columns, numeric_column, to_polars
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.linear import VcovArg, build_fe, fit_feols, resolve_vcov
from tradeimpact.models.results import DiDDesign, DiDResult, RegressionResult

Outcome = Literal["log", "level", "ppml"]
Inference = (
    Literal["cr1", "wild", "ri", "ri_t", "conley_taber", "conley_taber_fp", "ppml_ri"] | None
)
FeSpec = Sequence[str | Sequence[str]]


def cluster_vcov(vcov: VcovArg | None, cluster: str | Sequence[str] | None) -> VcovArg | None:
    """``vcov`` with fixest's ``cluster=`` shorthand applied (``{"CR1": cluster}``)."""
    if cluster is None:
        return vcov
    if vcov is not None:
        raise ModelSpecError(
            f"give vcov= or cluster=, not both (vcov={vcov!r}, cluster={cluster!r}); "
            "cluster=c is vcov={'CR1': c}"
        )
    return {"CR1": cluster if isinstance(cluster, str) else list(cluster)}


def prepare_outcome(
    frame: pl.DataFrame, y: str, outcome: Outcome
) -> tuple[pl.DataFrame, str, dict[str, int]]:
    """Add the transformed outcome column ``_y`` and count what the transformation drops.

    ``"log"``: ``log(y)``; zeros become missing (``dropped["zeros_in_log"]``); a negative value
    raises :class:`ModelSpecError` naming the first row. ``"level"``/``"ppml"``: ``y`` as is
    (PPML needs ``y >= 0``). A column that is not numeric (text such as ``"n/a"``) raises
    :class:`ModelSpecError` naming it (:func:`~tradeimpact.core.frame.numeric_column`).
    """
    drops: dict[str, int] = {}
    if outcome not in ("log", "level", "ppml"):
        raise ModelSpecError(f"outcome must be 'level', 'log' or 'ppml', not {outcome!r}")
    vals = numeric_column(frame, y, "outcome")
    if outcome in ("log", "ppml"):
        neg = vals < 0  # NaN (missing) compares False
        if neg.any():
            row = int(np.argmax(neg))
            raise ModelSpecError(
                f"column '{y}' has {int(neg.sum())} negative value(s), first at row {row} "
                f"(value {vals[row]}): trade values cannot be negative"
                + ("" if outcome == "ppml" else "; for an outcome in levels pass outcome='level'")
            )
    if outcome == "log":
        zeros = vals == 0
        drops["zeros_in_log"] = int(zeros.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            logged = np.where(vals > 0, np.log(np.where(vals > 0, vals, 1.0)), np.nan)
        return frame.with_columns(pl.Series("_y", logged)), f"log({y})", drops
    return frame.with_columns(pl.Series("_y", vals)), y, drops


def _indicator(frame: pl.DataFrame, col: str) -> npt.NDArray[np.float64]:
    s = frame[col]
    vals = numeric_column(frame, col, "0/1 indicator")
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
    outcome: Outcome = "level",
    vcov: VcovArg | None = None,
    cluster: str | Sequence[str] | None = None,
    inference: Inference = None,
    small_sample: Literal["fixest", "linearmodels", "none"] = "fixest",
    wild: Mapping[str, Any] | None = None,
    ri: Mapping[str, Any] | None = None,
    conley_taber: Mapping[str, Any] | None = None,
    engine: Literal["native", "linearmodels"] = "native",
) -> DiDResult:
    """Difference-in-differences (and triple differences) with fixed effects.

    Formula: ``g(y_it) = beta T_i Post_t + X_it' gamma + FE + e_it`` (see the module docstring;
    references Card & Krueger 1994, Angrist & Pischke 2009 ch. 5, Olden & Moen 2022 for DDD).

    Parameters
    ----------
    data : polars or pandas frame
    y : str
        Outcome column (numeric; used in levels unless ``outcome="log"`` or ``"ppml"``).
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
    outcome : {"level", "log", "ppml"}
        ``"level"`` (default, as fixest and pyfixest: the outcome as it is), ``"log"`` (OLS on
        ``log(y)``; zeros dropped and counted, negatives an error) or ``"ppml"`` (Poisson
        pseudo-maximum likelihood on the levels). Before issue 13 the default was ``"log"``.
    vcov : str or dict
        ``"CR1"`` (clustered by ``unit``; default when ``unit`` is given), ``{"CR1": col}``,
        ``"twoway"``, ``"DK"``, ``"hetero"`` (default without ``unit``), ``"iid"``.
    cluster : str or list of str, optional
        Shorthand for ``vcov={"CR1": cluster}`` (fixest's ``cluster=``); not with ``vcov``.
    inference : {None, "cr1", "wild", "ri", "ri_t", "conley_taber", "conley_taber_fp"}
        Method of the headline p-value and interval of the effect (see module docstring);
        ``wild``, ``ri`` (for ``"ri"`` and ``"ri_t"``, and the default headline),
        ``conley_taber`` (both CT methods) pass options to each (e.g. ``{"B": 9999, "seed": 1}``).

    engine : {"native", "linearmodels"}
        ``"linearmodels"``: the same design fitted by linearmodels' ``PanelOLS`` /
        ``AbsorbingLS`` (:func:`tradeimpact.models.engines.did_linearmodels`). ``data`` may
        also be an Ibis table: the OLS fit is then computed by its engine, with the analytic
        headline (:func:`tradeimpact.models.engines.did_ibis`).

    Returns
    -------
    DiDResult
        ``att`` and the full result (``params``, ``std_errors``, ``conf_int()``, ``tidy()`` ...).
    """
    from tradeimpact.core.ibis_engine import is_ibis_table

    if engine != "native" or is_ibis_table(data):  # other engines: tradeimpact.models.engines
        from tradeimpact.models import engines

        engines.check_engine(engine)
        if is_ibis_table(data):
            if engine != "native":
                raise ModelSpecError(f"engine={engine!r} fits in memory: collect the Ibis table")
            return engines.did_ibis(  # type: ignore[no-any-return]
                data, y, treat, post, unit, time=time, event_date=event_date, fe=fe,
                controls=controls, weights=weights, ddd=ddd, outcome=outcome, vcov=vcov,
                cluster=cluster, inference=inference, small_sample=small_sample,
            )  # fmt: skip
        native = did(
            data, y, treat, post, unit, time=time, event_date=event_date, fe=fe,
            controls=controls, weights=weights, ddd=ddd, outcome=outcome, vcov=vcov,
            cluster=cluster, inference="cr1", small_sample=small_sample,
        )  # fmt: skip
        opts = {"wild": wild, "ri": ri, "ri_t": ri, "ppml_ri": ri, "conley_taber": conley_taber,
                "conley_taber_fp": conley_taber}.get(str(inference), ri)  # fmt: skip
        return engines.did_linearmodels(  # type: ignore[no-any-return]
            native, inference=inference, options=dict(opts or {})
        )
    frame = to_polars(data)
    vcov = cluster_vcov(vcov, cluster)
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
        terms[c] = numeric_column(frame, c, "control")
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
    wv = None if weights is None else numeric_column(est, weights, "weights")

    # The fit's CollinearityWarnings are collected and one is raised for the user's own dropped
    # regressors only: the auto terms (treat, post, ...) that the fixed effects absorb are
    # dropped by design and listed in dropped_regressors. Other warnings are passed on.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollinearityWarning)
        if outcome == "ppml":
            res = _fit_ppml(est, names, x, fe_list, weights, _ppml_vcov(vcov, unit, time), effect)
            res.depvar = y
            res.dropped = {**drops, **{k: v for k, v in res.dropped.items() if v or k not in drops}}
        else:
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
    # the design record: what the inference layer reruns (placebo assignments, size check)
    out.design_record = DiDDesign(
        frame=est, y=y, treat=treat, post=post, post_rerun=post_rerun, unit=unit, time=time,
        ddd=ddd, fe=fe_list, controls=list(controls), weights=weights, outcome=outcome,
        vcov=vcov, small_sample=small_sample,
    )  # fmt: skip
    out.extra["frame"] = est
    out.extra["did_args"] = out.design_record.args()
    if inference in ("size_check", "event_study_size_check", "default"):
        raise ModelSpecError(f"inference={inference!r} is not a test of the effect")
    option_of = {"wild": wild, "ri": ri, "ri_t": ri, "ppml_ri": ri, "conley_taber": conley_taber,
                 "conley_taber_fp": conley_taber}  # fmt: skip
    # the inference layer runs the method, found by name (models import nothing from it)
    out._set_inference(inference, dict(option_of.get(str(inference), ri) or {}))
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
            "placebo assignment of one event date; for staggered designs use "
            "event_study(..., cohort=..., inference='ri_staggered') or tradeimpact.inference."
            "staggered_randomization_inference(data, y, unit, time, cohort) (the cohorts' dates "
            "re-assigned across units)"
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
