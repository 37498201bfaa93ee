"""Other engines for ``feols`` and ``did``: a query engine through Ibis, and linearmodels.

Two routes to the same estimate as the native in-memory fit
(:func:`tradeimpact.models.linear.fit_feols`), each returning the same
:class:`~tradeimpact.models.results.RegressionResult` (or
:class:`~tradeimpact.models.results.DiDResult`):

* **An Ibis table** (``FlowStore.ibis()``, ``ibis.duckdb.connect().read_parquet(...)``, a
  PySpark connection's table): ``feols``, ``did`` and ``event_study`` compute inside the engine
  (:mod:`tradeimpact.core.ibis_engine`; only ``k x k`` matrices and per-cluster aggregates reach
  Python). The result has no row-level design (``extra["design"]`` is absent: the rows stay in
  the engine), so the methods that re-use the rows (wild bootstrap, randomization inference,
  ``predict``) are not offered on it; ``extra["engine"]`` names the backend and
  ``extra["demean"]`` the convergence criterion, tolerance and sweeps per variable.
* **linearmodels** (``engine="linearmodels"``): the fit by ``PanelOLS`` (one or two plain fixed
  effects, ``entity_effects`` / ``time_effects``) or ``AbsorbingLS`` (any other set of fixed
  effects, combinations ``a^b`` included), with the covariance of the native engine's
  convention requested from linearmodels (see :func:`feols_linearmodels`).

References: linearmodels (Sheppard), ``PanelOLS`` and ``AbsorbingLS`` documentation; fixest
(Berge 2018) for the small-sample conventions.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from tradeimpact.core.collinearity import COLLIN_TOL, CollinearityWarning
from tradeimpact.core.covariance import SmallSample, VcovSpec, parse_vcov, warn_negative_variances
from tradeimpact.core.ibis_engine import EngineFit, check_ibis_columns, fit_ibis
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import RegressionResult

__all__ = ["ENGINES", "feols_ibis", "feols_linearmodels", "result_of_engine"]

#: The values of ``engine=``.
ENGINES = ("native", "linearmodels")

#: What the Ibis route reports as its convergence criterion (that of the in-memory demeaning).
CRITERION = "largest step of a plain sweep <= tol * max(max|x|, 1), per column"


def check_engine(engine: str) -> None:
    """Refuse an unknown ``engine=`` value, naming the accepted ones."""
    if engine not in ENGINES:
        raise ModelSpecError(
            f"engine must be one of {', '.join(map(repr, ENGINES))}, not {engine!r}"
        )


def _backend(table: Any) -> str:
    try:
        return str(table.get_backend().name)
    except Exception:  # a table without a bound backend (an in-memory memtable)
        return "ibis"


def vcov_label(
    kind: str,
    cluster_names: Sequence[str],
    n_cl: Mapping[str, int],
    small_sample: SmallSample,
    G_df: str,
    bandwidth: float | None = None,
) -> str:
    """The covariance label of :func:`~tradeimpact.models.linear.fit_feols` (same text)."""
    if kind == "CR1":
        ss = (
            "(n-1)/(n-k)"
            if small_sample == "fixest"
            else "n/(n-k)"
            if small_sample == "linearmodels"
            else "no k"
        )
        two_min = " with min G" if len(cluster_names) == 2 and G_df == "min" else ""
        gs = ", ".join(f"G={n_cl[c]}" for c in cluster_names)
        return f"CR1 clustered by {' and '.join(cluster_names)} ({gs}; {ss} x G/(G-1){two_min})"
    if kind == "DK":
        return f"Driscoll-Kraay (Bartlett, bandwidth {bandwidth:g}, T={n_cl['time']})"
    if kind == "hetero":
        return "heteroskedasticity-robust (HC1)"
    return "iid"


def result_of_engine(
    fit: EngineFit, *, depvar: str, model: str | None, backend: str
) -> RegressionResult:
    """The :class:`RegressionResult` of an engine fit, as ``fit_feols`` builds it in memory."""
    label = vcov_label(
        fit.kind, fit.cluster_names, fit.n_clusters, fit.small_sample, fit.G_df, fit.bandwidth
    )
    if fit.kind == "CR1":
        df_inf: int | None = min(fit.n_clusters[c] for c in fit.cluster_names) - 1
    elif fit.kind == "DK":
        df_inf = fit.n_clusters["time"] - 1
    else:
        df_inf = fit.nobs - fit.df_k
    warn_negative_variances(fit.cov, fit.names, label)
    return RegressionResult(
        names=fit.names,
        beta=fit.coef,
        cov_matrix=fit.cov,
        nobs=fit.nobs,
        vcov_type=label,
        df_inference=df_inf,
        depvar=depvar,
        fixed_effects=list(fit.fixed_effects),
        dropped=dict(fit.dropped),
        dropped_regressors=list(fit.collinear),
        n_clusters=dict(fit.n_clusters),
        model=model or ("WLS" if fit.weighted else "OLS"),
        extra={
            "r2": fit.r2,
            "r2_within": fit.r2_within,
            "rmse": fit.rmse,
            "df_k": fit.df_k,
            "engine": backend,
            "demean": {
                "criterion": CRITERION,
                "tol": fit.tol,
                "sweeps": dict(fit.sweeps),
                "converged": dict(fit.converged),
            },
        },
    )


def feols_ibis(
    table: Any,
    y: str,
    x: Sequence[str],
    *,
    fe: Sequence[str | Sequence[str]] = (),
    weights: str | None = None,
    vcov: Any = None,
    cluster: str | Sequence[str] | None = None,
    time: str | None = None,
    small_sample: SmallSample = "fixest",
    G_df: Literal["min", "conventional"] = "min",
    drop_singletons: bool = True,
    intercept: bool = True,
    fixef_tol: float = 1e-10,
    collin_tol: float = COLLIN_TOL,
    dropped: Mapping[str, int] | None = None,
    require: Sequence[str] = (),
    depvar: str | None = None,
    model: str | None = None,
    stacklevel: int = 3,
) -> RegressionResult:
    """:func:`tradeimpact.models.linear.feols` on an Ibis table, computed by its engine.

    Same arguments and result as ``feols`` (formula ``beta = (X~'WX~)^{-1} X~'Wy~``, the
    covariance forms of :func:`~tradeimpact.core.covariance.parse_vcov`); see
    :func:`tradeimpact.core.ibis_engine.fit_ibis` for what each step costs.

    Raises
    ------
    ModelSpecError
        As ``feols``: a column absent (with the closest names), not numeric, no rows left, ...
    """
    fe_names = ["^".join([f] if isinstance(f, str) else list(f)) for f in fe]
    if isinstance(vcov, VcovSpec):
        if cluster is not None:
            raise ModelSpecError("give the clusters either in vcov or in cluster=, not both")
        spec = vcov
    else:
        spec = parse_vcov(
            vcov, cluster=cluster, unit=None, time=time, fe=fe_names, small_sample=small_sample,
            G_df=G_df,
        )  # fmt: skip
    if spec.kind == "DK" and spec.time_name is None:
        spec = VcovSpec("DK", [], [], None, spec.bandwidth, spec.small_sample, G_df, time_name=time)
    fit = fit_ibis(
        table, y, x, fe=fe, weights=weights, vcov=spec, drop_singletons=drop_singletons,
        intercept=intercept, fixef_tol=fixef_tol, collin_tol=collin_tol, dropped=dropped,
        require=require,
    )  # fmt: skip
    if fit.collinear:
        warnings.warn(
            "dropped regressor(s) collinear with the fixed effects or earlier regressors: "
            + ", ".join(fit.collinear),
            CollinearityWarning,
            stacklevel=stacklevel,
        )
    return result_of_engine(fit, depvar=depvar or y, model=model, backend=_backend(table))


# ---------------------------------------------------------------------------------------------
# the dispatch of feols and the formula front end
# ---------------------------------------------------------------------------------------------
def feols_engine(
    data: Any, y: str, x: Sequence[str], *, engine: str, **kwargs: Any
) -> RegressionResult:
    """``feols`` on an Ibis table: computed by its engine (:func:`feols_ibis`)."""
    check_engine(engine)
    fe = kwargs.get("fe", ())
    if any(isinstance(f, str) and "[" in f for f in fe):
        raise ModelSpecError(
            f"varying slopes ({', '.join(f for f in fe if isinstance(f, str) and '[' in f)}) are "
            "offered by the native in-memory engine only"
        )
    if engine != "native":
        raise ModelSpecError(
            f"engine={engine!r} fits in memory: collect the Ibis table first "
            "(table.to_polars()), or leave engine='native' to compute in its backend"
        )
    return feols_ibis(data, y, x, stacklevel=4, **kwargs)


def _term(table: Any, term: str, parsed_formula: str) -> tuple[str, Any]:
    """A formula term on an Ibis table: a column or a product ``a:b`` of columns."""
    parts = [p.strip() for p in term.split(":")]
    cols = list(table.columns)
    if not all(p in cols for p in parts):
        bad = [p for p in parts if p not in cols]
        if all(p.isidentifier() for p in parts):
            check_ibis_columns(table, bad)
        raise ModelSpecError(
            f"term {term!r} in {parsed_formula!r}: with an Ibis table the formula takes columns "
            "and products a:b of columns; build other terms (log, i(), C(), powers) as columns "
            "first (table.mutate(...))"
        )
    if len(parts) == 1:
        return parts[0], None
    expr = table[parts[0]].cast("float64")
    for p in parts[1:]:
        expr = expr * table[p].cast("float64")
    return term, expr


def feols_formula_ibis(
    parsed: Any,
    table: Any,
    spec: VcovSpec,
    *,
    weights: str | None,
    drop_singletons: bool,
    fixef_tol: float,
    drop_intercept: bool,
    rhs_terms: Sequence[str],
) -> RegressionResult:
    """The formula ``feols`` on an Ibis table: columns and ``a:b`` products, fixed effects
    ``a`` and ``a^b`` (the grammar of :mod:`tradeimpact.models.formula` otherwise needs the rows
    in memory); computed by :func:`feols_ibis`."""
    if getattr(parsed, "slopes", ()):
        raise ModelSpecError(
            f"varying slopes ({', '.join(parsed.slopes)}) are offered by the native in-memory "
            "engine only"
        )
    y_name, y_expr = _term(table, parsed.lhs, parsed.formula)
    intercept = True
    terms: list[str] = []
    new: dict[str, Any] = {}
    if y_expr is not None:
        new[y_name] = y_expr
    for raw in rhs_terms:
        t = raw.strip()
        if t in ("1", ""):
            continue
        if t in ("0", "-1"):
            intercept = False
            continue
        if t.startswith("-"):
            raise ModelSpecError(f"term {t!r} in {parsed.formula!r}: only -1 may be subtracted")
        name, expr = _term(table, t, parsed.formula)
        if expr is not None:
            new[name] = expr
        terms.append(name)
    if new:
        table = table.mutate(**new)
    fe = [list(f) if len(f) > 1 else f[0] for f in parsed.fixed_effects]
    return feols_ibis(
        table, y_name, terms, fe=fe, weights=weights, vcov=spec, drop_singletons=drop_singletons,
        intercept=intercept and not drop_intercept, fixef_tol=fixef_tol, stacklevel=5,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# linearmodels
# ---------------------------------------------------------------------------------------------
def feols_linearmodels(
    frame: Any,
    native: RegressionResult,
    y: str,
    *,
    fe: Sequence[str | Sequence[str]] = (),
    weights: str | None = None,
    small_sample: SmallSample = "fixest",
    G_df: Literal["min", "conventional"] = "min",
) -> RegressionResult:
    """``feols(..., engine="linearmodels")``: the estimate and covariance by linearmodels.

    The estimation sample (missing values, weights, singletons), the collinearity check and the
    covariance request are the native ``feols``'s (so both engines use the same rows and
    regressors); the coefficients and the covariance are then linearmodels': ``PanelOLS`` when
    the fixed effects are one or two plain columns whose (first, second) pairs identify the rows
    (``entity_effects`` on the first, ``time_effects`` on the second; a single fixed effect as
    ``entity_effects``), else ``AbsorbingLS`` (``absorb=`` one categorical per fixed effect, a
    combination ``a^b`` as its own category), and ``PanelOLS`` with a constant without fixed
    effects.

    Small-sample correspondence (``k`` = the regressors plus the absorbed parameters fixest
    counts, ``df_k`` of the native result; ``G`` the clusters):

    * CR1, fixest's ``(n-1)/(n-k) * G/(G-1)``: linearmodels' ``cov_type="clustered"`` with
      ``group_debias=True`` (its ``G/(G-1)``) and ``debiased=False``, times ``(n-1)/(n-k)``.
      linearmodels' own ``debiased=True`` factor is ``(n-1)/(n-k_lm)`` with ``k_lm`` the
      regressors only (``count_effects=False``) or every absorbed effect (``count_effects=True``,
      fixest's ``fixef.K="full"``), which is fixest's only when no fixed effect is nested in the
      cluster (``count_effects=True``) or there are none. Two-way: linearmodels gives each term
      of ``V_1 + V_2 - V_12`` its own ``G_j/(G_j-1)``; with fixest's ``G_df="min"`` the three
      one-way linearmodels matrices are re-weighted to the common ``min(G)/(min(G)-1)``.
    * HC1: ``cov_type="robust", debiased=False`` times ``n/(n-k)``; iid:
      ``cov_type="unadjusted", debiased=False`` (``e'We/n (X~'WX~)^{-1}``) times ``n/(n-k)``.
    * Driscoll-Kraay is not routed (use the native engine).

    Parameters
    ----------
    frame : polars.DataFrame
        The rows handed to ``feols``.
    native : RegressionResult
        The native fit of the same call (its sample, kept regressors, clusters and ``df_k``).
    y : str
        The outcome column.
    fe, weights, small_sample, G_df
        As ``feols``.

    Returns
    -------
    RegressionResult
        ``extra["engine"] = "linearmodels"``, ``extra["linearmodels"]`` the linearmodels
        results object (with its own summary).

    References
    ----------
    Sheppard, linearmodels: ``PanelOLS``, ``AbsorbingLS`` and their covariance estimators.
    """
    import pandas as pd
    import polars as pl

    from tradeimpact.core.covariance import _k_factor, intersect_clusters, n_clusters

    design = native.extra["design"]
    kind = native.vcov_type.split(" ")[0]
    if kind.startswith("Driscoll"):
        raise ModelSpecError(
            "engine='linearmodels' offers iid, hetero and CR1 covariances; for Driscoll-Kraay use "
            "the native engine (or linearmodels' PanelOLS cov_type='kernel' directly)"
        )
    est = frame.filter(pl.Series(design.keep))
    n = est.height
    names = list(native.names)
    fe_parts = [[f] if isinstance(f, str) else list(f) for f in fe]
    fe_names = ["^".join(p) for p in fe_parts]
    codes = [est.select(pl.struct(p).rank("dense").alias("_g"))["_g"].to_numpy() for p in fe_parts]
    yv = est[y].cast(pl.Float64).to_numpy()
    cols = {nm: (np.ones(n) if nm == "Intercept" else est[nm].cast(pl.Float64).to_numpy())
            for nm in names}  # fmt: skip
    wv = None if weights is None else est[weights].cast(pl.Float64).to_numpy()
    plain = all(len(p) == 1 for p in fe_parts) and 1 <= len(fe_parts) <= 2
    if plain and len(fe_parts) == 2:
        plain = int(np.unique(np.column_stack(codes), axis=0).shape[0]) == n
    use_panel = plain or not fe_parts
    if use_panel:
        from linearmodels.panel import PanelOLS

        ent = codes[0] if fe_parts else np.arange(n)
        tim = codes[1] if len(fe_parts) == 2 else np.arange(n)
        idx = pd.MultiIndex.from_arrays([ent, tim], names=["entity", "time"])
        mod: Any = PanelOLS(
            pd.Series(yv, index=idx, name=y),
            pd.DataFrame(cols, index=idx),
            entity_effects=bool(fe_parts),
            time_effects=len(fe_parts) == 2,
            weights=None if wv is None else pd.Series(wv, index=idx),
            check_rank=False,
        )
        model = "PanelOLS"
    else:
        from linearmodels.iv.absorbing import AbsorbingLS

        idx = pd.RangeIndex(n)
        absorb = pd.DataFrame({f"fe{i}": pd.Categorical(c) for i, c in enumerate(codes)}, index=idx)
        mod = AbsorbingLS(
            pd.Series(yv, index=idx, name=y),
            pd.DataFrame(cols, index=idx),
            absorb=absorb,
            weights=None if wv is None else pd.Series(wv, index=idx),
        )
        model = "AbsorbingLS"

    def fit(clusters: np.ndarray | None) -> Any:
        if clusters is None:
            kind_lm = "robust" if kind == "heteroskedasticity-robust" else "unadjusted"
            if use_panel:  # no effects counted: PanelOLS' factor is then 1 (n / (n - 0))
                return mod.fit(cov_type=kind_lm, debiased=False, auto_df=False,
                               count_effects=False)  # fmt: skip
            return mod.fit(cov_type=kind_lm, debiased=False)
        cl = pd.DataFrame({"c": clusters}, index=idx)
        if use_panel:
            return mod.fit(
                cov_type="clustered", clusters=cl, debiased=False, group_debias=True,
                auto_df=False, count_effects=False,
            )  # fmt: skip
        return mod.fit(cov_type="clustered", clusters=cl, debiased=False)

    def sandwich(res: Any, g: int) -> np.ndarray:
        """``B M B`` without any factor, from linearmodels' matrix (its factors undone)."""
        c = np.asarray(res.cov.loc[names, names].to_numpy(), dtype=np.float64)
        # PanelOLS' group_debias is G/(G-1) * (n-1)/n; AbsorbingLS with debiased=False: none
        return c * (g - 1) / g * n / (n - 1) if use_panel else c

    k_tot = int(native.extra["df_k"])
    clusters = [np.asarray(c) for c in design.clusters]
    ss = small_sample
    min_g = G_df == "min"
    if kind == "CR1":
        g_cl = [n_clusters(c) for c in clusters]
        dims = [(clusters[0], g_cl[0], 1.0)]
        if len(clusters) == 2:
            inter = intersect_clusters(clusters[0], clusters[1])
            dims += [(clusters[1], g_cl[1], 1.0), (inter, n_clusters(inter), -1.0)]
        g_min = min(g_cl)
        cov = np.zeros((len(names), len(names)))
        for cl, g, sign in dims:
            res = fit(cl)
            gg = g_min if min_g and len(clusters) == 2 else g
            cov += sign * gg / (gg - 1) * sandwich(res, g)
        cov *= _k_factor(n, k_tot, ss)
    else:
        res = fit(None)
        c = np.asarray(res.cov.loc[names, names].to_numpy(), dtype=np.float64)
        # HC0 and e'We/n (X~'WX~)^-1 (debiased=False) times n/(n-k): HC1 and s^2 (X~'WX~)^-1
        cov = c if (kind != "iid" and ss == "none") else n / (n - k_tot) * c
    beta = res.params.loc[names].to_numpy()
    return RegressionResult(
        names=names,
        beta=beta,
        cov_matrix=(cov + cov.T) / 2,
        nobs=n,
        vcov_type=native.vcov_type,
        df_inference=native.df_inference,
        depvar=native.depvar,
        fixed_effects=fe_names,
        dropped=dict(native.dropped),
        dropped_regressors=list(native.dropped_regressors),
        n_clusters=dict(native.n_clusters),
        model=native.model,
        extra={
            "r2": native.extra["r2"],
            "r2_within": native.extra["r2_within"],
            "df_k": k_tot,
            "engine": "linearmodels",
            "linearmodels_model": model,
            "linearmodels": res,
        },
    )


# ---------------------------------------------------------------------------------------------
# did
# ---------------------------------------------------------------------------------------------
#: Why the headline of a did() on an Ibis table is the analytic test.
ENGINE_HEADLINE_NOTE = (
    "computed by the table's engine: the placebo tests (randomization inference, the wild "
    "bootstrap) refit on the rows in memory; collect the table to run them"
)


def _indicator_ibis(table: Any, col: str) -> Any:
    """A 0/1 column as float64, or the error of the in-memory ``did`` (naming a bad value)."""
    from tradeimpact.core.ibis_engine import _numeric

    vals = _numeric(table, col, "0/1 indicator")
    bad = table.filter(vals.notnull() & ~vals.isin([0.0, 1.0])).select(v=table[col]).limit(1)
    got = bad.to_pyarrow().column("v").to_pylist()
    if got:
        raise ModelSpecError(f"column '{col}' must be 0/1 (or boolean); a row is {got[0]!r}")
    return vals


def did_ibis(
    table: Any,
    y: str,
    treat: str,
    post: str | None,
    unit: str | None,
    *,
    time: str | None,
    event_date: Any,
    fe: Sequence[str | Sequence[str]] | None,
    controls: Sequence[str],
    weights: str | None,
    ddd: str | None,
    outcome: str,
    vcov: Any,
    cluster: str | Sequence[str] | None,
    inference: str | None,
    small_sample: SmallSample,
) -> Any:
    """:func:`tradeimpact.models.did.did` on an Ibis table, computed by its engine.

    The model, terms, sample and design checks of the in-memory ``did`` (``beta`` of
    ``T x Post`` in ``y = beta T Post + X'g + FE + e``; Card & Krueger 1994, Angrist & Pischke
    2009 ch. 5), fitted by :func:`feols_ibis`; ``outcome="level"`` or ``"log"`` (zeros dropped
    and counted as ``zeros_in_log``). The headline is the analytic (CR1 by default) test:
    ``inference=None`` or ``"cr1"`` (the placebo tests need the rows in memory; refused).

    Raises
    ------
    ModelSpecError
        As ``did``: columns absent, indicators not 0/1, no treated or no control units,
        treat varying within a unit, treated units without pre- or post-period; and the options
        the engine does not offer (``ddd``, ``outcome="ppml"``, placebo inference).
    """
    import ibis

    from tradeimpact.models.results import DiDResult, Headline

    if inference not in (None, "cr1"):
        raise ModelSpecError(
            f"inference={inference!r} refits on the rows in memory; on an Ibis table did() "
            "offers the analytic test (inference=None or 'cr1'): collect the table to run it"
        )
    if ddd is not None or outcome == "ppml":
        raise ModelSpecError(
            "on an Ibis table did() fits OLS two-way designs (outcome 'level' or 'log', no ddd); "
            "collect the table for triple differences or PPML"
        )
    if outcome not in ("level", "log"):
        raise ModelSpecError(f"outcome must be 'level', 'log' or 'ppml', not {outcome!r}")
    if cluster is not None:
        if vcov is not None:
            raise ModelSpecError(
                f"give vcov= or cluster=, not both (vcov={vcov!r}, cluster={cluster!r}); "
                "cluster=c is vcov={'CR1': c}"
            )
        vcov = {"CR1": cluster if isinstance(cluster, str) else list(cluster)}
    if post is None:
        if time is None or event_date is None:
            raise ModelSpecError("give a 'post' column, or 'time' and 'event_date'")
        check_ibis_columns(table, [time])
        table = table.mutate(post=(table[time] >= ibis.literal(event_date)).cast("int8"))
        post = "post"
    fe_list = [c for c in (unit, time) if c is not None] if fe is None else list(fe)
    fe_cols = [c for spec in fe_list for c in ([spec] if isinstance(spec, str) else spec)]
    check_ibis_columns(table, [y, treat, post, unit, time, weights, *controls, *fe_cols])
    from tradeimpact.core.ibis_engine import _numeric

    yv = _numeric(table, y, "outcome")
    drops: dict[str, int] = {}
    depvar = y
    if outcome == "log":
        counts = table.aggregate(
            neg=(yv < 0).cast("int64").sum(), zero=(yv == 0).cast("int64").sum()
        )
        got = counts.to_pyarrow().to_pylist()[0]
        if got["neg"]:
            raise ModelSpecError(
                f"column '{y}' has {got['neg']} negative value(s): trade values cannot be "
                "negative; for an outcome in levels pass outcome='level'"
            )
        drops["zeros_in_log"] = int(got["zero"] or 0)
        table = table.filter(yv.isnull() | (yv != 0))
        yv = _numeric(table, y, "outcome")
        table = table.mutate(_y=(yv > 0).ifelse(yv.ln(), ibis.null("float64")))
        depvar = f"log({y})"
    else:
        table = table.mutate(_y=yv)
    t_ind, p_ind = _indicator_ibis(table, treat), _indicator_ibis(table, post)
    effect = f"{treat}:{post}"
    table = table.mutate(**{"_t": t_ind, "_p": p_ind})
    table = table.mutate(**{"_tp": table["_t"] * table["_p"]})
    # the usable rows, as in memory: outcome, regressors and labels present
    good = table["_y"].notnull() & ~table["_y"].isnan() & ~table["_y"].isinf()
    good = good & table["_t"].notnull() & table["_p"].notnull()
    for c in controls:
        v = _numeric(table, c, "control")
        good = good & v.notnull() & ~v.isnan() & ~v.isinf()
    for c in [c for c in (unit, time, weights, *fe_cols) if c is not None]:
        good = good & table[c].notnull()
    n_all = int(table.count().to_pyarrow().as_py())
    est = table.filter(good)
    n_good = int(est.count().to_pyarrow().as_py())
    drops["missing"] = n_all - n_good
    _check_design_ibis(est, treat, post, unit)
    redundant: list[str] = []
    if unit is not None:
        same = est.aggregate(d=(est["_p"] != est["_tp"]).cast("int64").sum())
        if not int(same.to_pyarrow().to_pylist()[0]["d"] or 0):
            redundant = [post]
    terms = {treat: "_t", post: "_p", effect: "_tp"}
    for r in redundant:
        del terms[r]
    auto = [t for t in terms if t != effect]
    est = est.mutate(**{nm: est[col] for nm, col in terms.items() if nm != col})
    if vcov is None:
        vcov = "CR1" if unit is not None else "hetero"
    spec = parse_vcov(vcov, unit=unit, time=time, fe=[], small_sample=small_sample)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollinearityWarning)
        res = feols_ibis(
            est, "_y", [*terms, *controls], fe=fe_list, weights=weights, vcov=spec,
            dropped=drops, require=[effect], depvar=depvar,
        )  # fmt: skip
    user = [d for d in res.dropped_regressors if d not in auto]
    if user:
        warnings.warn(
            "dropped regressor(s) collinear with the fixed effects or other regressors: "
            + ", ".join(user),
            CollinearityWarning,
            stacklevel=3,
        )
    for w in caught:
        if not issubclass(w.category, CollinearityWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if redundant:
        res.dropped_regressors = [*redundant, *res.dropped_regressors]
    fields = ("names", "beta", "cov_matrix", "nobs", "vcov_type", "df_inference", "depvar",
              "fixed_effects", "dropped", "dropped_regressors", "n_clusters", "model", "extra")  # fmt: skip
    out = DiDResult(**{f: getattr(res, f) for f in fields}, effect=effect)
    note = ENGINE_HEADLINE_NOTE if inference is None else "requested (inference='cr1')"
    out.headlines[effect] = Headline.analytic(out, effect, note=note)
    return out


def _check_design_ibis(est: Any, treat: str, post: str, unit: str | None) -> None:
    """The design checks of the in-memory ``did`` (``_check_design``) as engine aggregates."""
    if unit is None:
        got = est.aggregate(lo=est["_t"].min(), hi=est["_t"].max()).to_pyarrow().to_pylist()[0]
        if got["lo"] == 1:
            raise ModelSpecError(f"no control observations: '{treat}' is 1 in every row")
        if got["hi"] == 0:
            raise ModelSpecError(f"no treated observations: '{treat}' is 0 in every row")
        return
    by = est.group_by(unit).aggregate(
        t=est["_t"].max(), tmin=est["_t"].min(), pmin=est["_p"].min(), pmax=est["_p"].max()
    )
    varying = (
        by.filter(by.t != by.tmin).select(unit).order_by(unit).limit(5).to_pyarrow().column(0)
    ).to_pylist()
    if varying:
        raise ModelSpecError(
            f"'{treat}' varies within unit(s) {varying}: it must mark treated units (constant "
            "within a unit); for staggered adoption pass a unit-specific 'post' column or use "
            "event_study(...)"
        )
    got = by.aggregate(
        n=by.count(),
        nt=(by.t == 1).cast("int64").sum(),
    ).to_pyarrow().to_pylist()[0]  # fmt: skip
    if not got["nt"]:
        raise ModelSpecError(f"no treated units: '{treat}' is 0 for every unit")
    if got["nt"] == got["n"]:
        raise ModelSpecError(
            f"no control units: every unit in '{unit}' has '{treat}' = 1; a DiD needs untreated "
            "units to estimate the counterfactual trend"
        )
    treated = by.filter(by.t == 1)
    no_pre = treated.filter(treated.pmin == 1).select(unit).to_pyarrow().column(0).to_pylist()
    if no_pre:
        raise ModelSpecError(
            f"treated unit(s) {sorted(no_pre, key=str)[:10]} have no pre-period (every row has "
            f"'{post}' = 1): their effect is not identified from their own change; drop them or "
            "extend the sample backwards"
        )
    no_post = treated.filter(treated.pmax == 0).select(unit).to_pyarrow().column(0).to_pylist()
    if no_post:
        raise ModelSpecError(
            f"treated unit(s) {sorted(no_post, key=str)[:10]} have no post-period (every row has "
            f"'{post}' = 0)"
        )


def did_linearmodels(native: Any, *, inference: str | None, options: dict[str, Any]) -> Any:
    """``did(..., engine="linearmodels")``: the native did's design refitted by linearmodels.

    The terms, sample and covariance request are the native ``did``'s (``native``, fitted with
    ``inference="cr1"``); the coefficients and covariance come from :func:`feols_linearmodels`
    on the same rows; the headline is then set as the native ``did`` sets it (``inference``).
    """
    import dataclasses

    import polars as pl

    if native.model == "PPML":
        raise ModelSpecError("engine='linearmodels' fits OLS designs (outcome 'level' or 'log')")
    rec = native.design_record
    est = native.extra["frame"]
    cols = {}
    for nm in native.names:
        parts = nm.split(":")
        expr = pl.lit(1.0)
        for p in parts:
            expr = expr * pl.col(p).cast(pl.Float64)
        cols[nm] = expr
    frame = est.with_columns(**{nm: e for nm, e in cols.items() if ":" in nm})
    spec = native.extra["design"]
    lm = feols_linearmodels(
        frame, native, "_y", fe=rec.fe, weights=rec.weights, small_sample=rec.small_sample,
        G_df="min",
    )  # fmt: skip
    assert spec.keep.size == frame.height
    out = dataclasses.replace(
        native,
        beta=lm.beta,
        cov_matrix=lm.cov_matrix,
        extra={**native.extra, **{k: lm.extra[k] for k in ("engine", "linearmodels_model",
                                                            "linearmodels")}},
        attached={},
        headlines={},
    )  # fmt: skip
    out._set_inference(inference, options)
    return out
