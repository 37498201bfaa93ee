"""Fixed-effects (weighted) least squares: the core under ``did``, ``event_study`` and ``sunab``.

Model::

    y_it = x_it' beta + sum_g alpha_{g, c_g(it)} + e_it,          weights w_it (optional)

estimated by Frisch-Waugh-Lovell: ``y~ = M_D y`` and ``X~ = M_D X`` with the weighted
within-transformation :func:`tradeimpact.core.fixed_effects.demean` (alternating projections), then
``beta = (X~' W X~)^{-1} X~' W y~`` (Lovell 2008; Gaure 2013; Correia 2016 for singletons).
Covariances come from :mod:`tradeimpact.core.covariance` with scores ``s_i = w_i x~_i e_i``.

Sample handling, like fixest/pyfixest:

* rows with a missing value in any used column are dropped (counted as ``dropped["missing"]``);
* rows with a non-positive weight are dropped (``dropped["nonpositive_weights"]``);
* singletons (a row alone in some fixed-effect group) are dropped iteratively
  (``dropped["singletons"]``, :meth:`FixedEffects.singleton_mask`);
* regressors collinear with the fixed effects or with earlier regressors are dropped, in order,
  with a :class:`CollinearityWarning` naming them (``result.dropped_regressors``).

Written on numpy instead of calling linearmodels' ``AbsorbingLS`` because the demeaned design is
re-used by the wild bootstrap and randomization inference; coefficients and covariances are
tested against pyfixest ``feols`` and linearmodels ``PanelOLS`` in ``tests/test_did.py`` and
``tests/test_cluster.py``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.core.collinearity import COLLIN_TOL, collinear_columns
from tradeimpact.core.collinearity import CollinearityWarning as CollinearityWarning
from tradeimpact.core.covariance import (
    SmallSample,
    VcovSpec,
    check_cluster_count,
    n_clusters,
    vcov_cluster,
    vcov_driscoll_kraay,
    vcov_hetero,
    vcov_iid,
    warn_negative_variances,
)
from tradeimpact.core.covariance import parse_vcov as parse_vcov
from tradeimpact.core.fixed_effects import FixedEffects, demean, fe_dof
from tradeimpact.core.frame import check_columns as check_columns
from tradeimpact.core.frame import numeric_column as numeric_column
from tradeimpact.core.frame import to_polars as to_polars
from tradeimpact.core.kernels import blas_threads
from tradeimpact.core.sample import EstimationSample, estimation_sample
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class LinearDesign:
    """The demeaned design of a fit, kept for re-use (wild bootstrap, randomization inference).

    ``y_t``/``x_t`` are ``M_D y`` and ``M_D X`` (kept regressors), ``weights`` the weights (None
    when unweighted), ``fe`` the fixed effects of the estimation rows (None without), ``keep`` the
    mask of estimation rows among the rows handed to :func:`fit_feols`, ``clusters`` the cluster
    labels of the estimation rows, ``bread`` ``(X~'WX~)^{-1}``, ``resid`` the residuals.
    """

    y_t: FloatArray
    x_t: FloatArray
    names: list[str]
    weights: FloatArray | None
    fe: FixedEffects | None
    keep: BoolArray
    clusters: list[npt.NDArray[Any]]
    bread: FloatArray
    coef: FloatArray
    resid: FloatArray


#: fits of at most this many cells (rows x regressors) run their BLAS calls on one thread
SERIAL_BLAS_MAX_CELLS = 4_000_000
_F = TypeVar("_F", bound=Callable[..., Any])


def _serial_blas_when_small(fn: _F) -> _F:
    """Run ``fn(y, x, names, ...)`` with one OpenBLAS thread when ``len(y) * len(names)`` is at
    most :data:`SERIAL_BLAS_MAX_CELLS` (:func:`tradeimpact.core.kernels.blas_threads`): the
    products of a small fit take milliseconds, and the worker threads' hand-off and spinning
    cost more than that, most of all when other processes hold the cores (issue 16: the 1e5-row
    event study 0.46-0.74 s under load with two BLAS threads, 0.07-0.12 s with one)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        y: Any = args[0] if args else kwargs.get("y", ())
        names = args[2] if len(args) > 2 else kwargs.get("names", ())
        cells = int(np.size(y)) * max(1, len(names))
        if cells > SERIAL_BLAS_MAX_CELLS:
            return fn(*args, **kwargs)
        with blas_threads(1):
            return fn(*args, **kwargs)

    return cast(_F, wrapper)


@_serial_blas_when_small
def fit_feols(
    y: npt.ArrayLike,
    x: npt.ArrayLike,
    names: Sequence[str],
    *,
    fe: FixedEffects | None = None,
    weights: npt.ArrayLike | None = None,
    vcov: VcovSpec | None = None,
    depvar: str = "y",
    drop_singletons: bool = True,
    dropped: Mapping[str, int] | None = None,
    require: Sequence[str] = (),
    model: str | None = None,
    intercept: bool = True,
    fixef_tol: float = 1e-10,
    collin_tol: float = COLLIN_TOL,
    sample: EstimationSample | None = None,
    overwrite_x: bool = False,
) -> RegressionResult:
    """Fit ``y ~ x | fe`` by (weighted) least squares on arrays; see the module docstring.

    Parameters
    ----------
    y : array (n,)
    x : array (n, k)
        Regressors (no intercept column needed when there are fixed effects; without fixed
        effects an ``Intercept`` is added).
    names : list of str
        Names of the columns of ``x``.
    fe : FixedEffects, optional
    weights : array (n,), optional
        Analytic (precision) weights: WLS minimises ``sum w e^2``.
    vcov : VcovSpec, optional
        Covariance request (default heteroskedasticity-robust HC1).
    depvar : str
        Name shown in summaries.
    drop_singletons : bool
        Drop singleton rows iteratively (fixest default).
    dropped : mapping, optional
        Rows already dropped upstream (by reason), carried into the result.
    require : list of str
        Regressors that must survive the collinearity check (else :class:`ModelSpecError`).
    model : str, optional
        Model label shown in summaries (default ``"OLS"`` or ``"WLS"``).
    intercept : bool
        Without fixed effects, add an ``Intercept`` column (default); ignored with fixed effects.
    fixef_tol : float
        Convergence tolerance of the alternating projections (:func:`demean`).
    collin_tol : float
        Relative tolerance of the collinearity rule (:mod:`tradeimpact.core.collinearity`).
    sample : EstimationSample, optional
        The estimation sample already computed by the caller (:func:`feols` computes it with
        the label columns); by default it is computed here from ``y``, ``x``, ``weights`` and
        ``fe`` (:func:`tradeimpact.core.sample.estimation_sample`, which also takes
        ``dropped`` and ``drop_singletons``).
    overwrite_x : bool
        The caller hands ``x`` over: when it is a Fortran-ordered float64 array and every row is
        in the estimation sample, it is demeaned in place (no copy of the design; ``x`` holds
        ``M_D X`` afterwards). Otherwise, as by default, ``x`` is left untouched.

    Memory: besides ``x``, one dense ``n x k`` array (the demeaned design, kept in
    ``extra["design"]``); the scores ``w x~ e`` are never formed as a matrix
    (:func:`tradeimpact.core.covariance.vcov_cluster`'s ``score_weights``).

    Returns
    -------
    RegressionResult
        ``extra["design"]`` holds the :class:`LinearDesign`.
    """
    yv = np.asarray(y, dtype=np.float64).ravel()
    n0 = yv.size
    xv = np.asarray(x, dtype=np.float64).reshape(n0, -1)
    names = list(names)
    if xv.shape[1] != len(names):
        raise ModelSpecError(f"{xv.shape[1]} regressor columns but {len(names)} names")
    vcov = vcov if vcov is not None else VcovSpec("hetero")
    wv = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if fe is None and intercept:
        xv = np.column_stack([np.ones(n0), xv])
        names = ["Intercept", *names]
    if sample is None:
        sample = estimation_sample(
            n0,
            numeric=[yv, xv, wv],
            weights=wv,
            fe=fe,
            drop_singletons=drop_singletons,
            dropped=dropped,
        )
    elif sample.keep.size != n0:
        raise ModelSpecError(f"the sample has {sample.keep.size} rows but y has {n0}")
    keep = sample.keep
    drops = dict(sample.dropped)
    all_rows = bool(keep.all())

    ys = yv if all_rows else yv[keep]
    ws = None if wv is None else (wv if all_rows else wv[keep])
    # all rows kept: the fixed effects as they are (subset() would copy the codes)
    fes = None if fe is None else (fe if all_rows else fe.subset(keep))
    n_est, k_in = ys.size, xv.shape[1]
    # the raw weighted sums of squares (the collinearity rule's scale), taken before demeaning
    raw_scale = np.empty(k_in)
    if overwrite_x and all_rows and xv.flags.f_contiguous and xv.dtype == np.float64:
        x_t = xv  # handed over by the caller: demeaned in place below
    else:
        x_t = np.empty((n_est, k_in), order="F")  # the one dense copy of the design
        for j in range(k_in):
            x_t[:, j] = xv[:, j] if all_rows else xv[keep, j]
    for j in range(k_in):
        col = x_t[:, j]
        raw_scale[j] = float(col @ col) if ws is None else float((col * ws) @ col)
    if fes is not None:
        y_t = demean(ys, fes, ws, tol=fixef_tol)
        if k_in:
            demean(x_t, fes, ws, tol=fixef_tol, in_place=True)
    else:
        y_t = ys.copy()

    # unweighted, X~'X~ is the collinearity rule's Gram matrix and, when nothing is dropped, the
    # fit's: computed once (the same product, so the same bytes as computing it twice)
    gram = x_t.T @ x_t if ws is None else None
    gone = collinear_columns(x_t, None, ws, collin_tol, raw_scale=raw_scale, gram=gram)
    idx = [j for j in range(x_t.shape[1]) if j not in set(gone)]
    collinear = [names[j] for j in gone]
    if collinear:
        warnings.warn(
            "dropped regressor(s) collinear with the fixed effects or earlier regressors: "
            + ", ".join(collinear),
            CollinearityWarning,
            stacklevel=2,
        )
    lost = [r for r in require if r in collinear]
    if lost:
        raise ModelSpecError(
            f"{', '.join(lost)} is collinear with the fixed effects or the other regressors "
            "(no variation left to identify it): check the treatment timing, the control units "
            "and the fixed effects"
        )
    if gone:
        x_t = np.asfortranarray(x_t[:, idx])
    kept_names = [names[j] for j in idx]
    n = int(keep.sum())
    # unweighted: no vector of ones (1 * a == a exactly, so every number is as with ones)
    if gram is not None and not gone:
        xtwx = gram
    else:
        xtwx = x_t.T @ x_t if ws is None else x_t.T @ (x_t * ws[:, None])
    bread: FloatArray = np.asarray(np.linalg.inv(xtwx), dtype=np.float64)
    coef = bread @ (x_t.T @ (y_t if ws is None else ws * y_t))
    resid = y_t - x_t @ coef
    # scores s_i = x~_i (w_i e_i): passed as x~ and the row factors, never formed as n x k
    score_w = resid if ws is None else ws * resid
    k = len(kept_names)

    vs = vcov if all_rows else vcov.subset(keep)  # all rows: no copy of the cluster labels
    n_cl: dict[str, int] = {}
    if vs.kind == "CR1":
        for nm, c in zip(vs.cluster_names, vs.clusters, strict=True):
            n_cl[nm] = n_clusters(c)
        # before the dof count: one cluster would otherwise divide by zero in G/(G-1)
        check_cluster_count(list(n_cl.values()), list(n_cl))
        k_tot = k + fe_dof(fes, vs.clusters)
        cov = vcov_cluster(
            bread,
            x_t,
            vs.clusters,
            score_weights=score_w,
            n=n,
            k=k_tot,
            small_sample=vs.small_sample,
            G_df=vs.G_df,
            names=vs.cluster_names,
        )
        g_min = min(n_cl.values())
        df_inf: int | None = g_min - 1
        label = (
            f"CR1 clustered by {' and '.join(vs.cluster_names)} "
            f"({', '.join(f'G={g}' for g in n_cl.values())}; "
            f"{'(n-1)/(n-k)' if vs.small_sample == 'fixest' else 'n/(n-k)' if vs.small_sample == 'linearmodels' else 'no k'} "
            f"x G/(G-1){' with min G' if len(vs.clusters) == 2 and vs.G_df == 'min' else ''})"
        )
    elif vs.kind == "DK":
        if vs.time is None:
            raise ModelSpecError("Driscoll-Kraay needs the time variable")
        k_tot = k + fe_dof(fes)
        cov = vcov_driscoll_kraay(
            bread,
            x_t,
            vs.time,
            score_weights=score_w,
            n=n,
            k=k_tot,
            bandwidth=vs.bandwidth,
            small_sample=vs.small_sample,
        )
        t_count = n_clusters(vs.time)
        n_cl["time"] = t_count
        df_inf = t_count - 1
        from tradeimpact.core.covariance import default_bandwidth

        bw = default_bandwidth(t_count) if vs.bandwidth is None else vs.bandwidth
        label = f"Driscoll-Kraay (Bartlett, bandwidth {bw:g}, T={t_count})"
    elif vs.kind == "hetero":
        k_tot = k + fe_dof(fes)
        cov = vcov_hetero(
            bread, x_t, n=n, k=k_tot, small_sample=vs.small_sample, score_weights=score_w
        )
        df_inf = n - k_tot
        label = "heteroskedasticity-robust (HC1)"
    elif vs.kind == "iid":
        k_tot = k + fe_dof(fes)
        cov = vcov_iid(bread, resid, n=n, k=k_tot, weights=ws)
        df_inf = n - k_tot
        label = "iid"
    else:
        raise ModelSpecError(f"unknown covariance {vs.kind!r}")

    warn_negative_variances(cov, kept_names, label)
    tss_within = float(
        _wsum(ws, y_t if fes is not None else y_t - np.average(y_t, weights=ws), square=True)
    )
    ybar = np.average(ys, weights=ws)
    tss = _wsum(ws, ys - ybar, square=True)
    rss = _wsum(ws, resid, square=True)
    design = LinearDesign(y_t, x_t, kept_names, ws, fes, keep, vs.clusters, bread, coef, resid)
    return RegressionResult(
        names=kept_names,
        beta=coef,
        cov_matrix=cov,
        nobs=n,
        vcov_type=label,
        df_inference=df_inf,
        depvar=depvar,
        fixed_effects=[] if fes is None else [*fes.names, *(s.name for s in fes.slopes)],
        dropped=drops,
        dropped_regressors=collinear,
        n_clusters=n_cl,
        model=model or ("WLS" if ws is not None else "OLS"),
        extra={
            "r2": 1 - rss / tss if tss > 0 else float("nan"),
            "r2_within": 1 - rss / tss_within if tss_within > 0 else float("nan"),
            "rmse": float(np.sqrt(rss / (n if ws is None else ws.sum()))),
            "df_k": k_tot,
            "design": design,
        },
    )


def _wsum(w: FloatArray | None, a: FloatArray, *, square: bool = False) -> float:
    """``sum_i w_i a_i`` (``sum_i a_i`` unweighted: the same number as with weights of one);
    ``square=True``: ``sum_i w_i a_i^2``, with one temporary (``a * a`` is ``a ** 2`` exactly)."""
    b = a * a if square else a
    if w is not None:
        b = w * b
    return float(np.sum(b))


# ---------------------------------------------------------------------------------------------
# frame layer
# ---------------------------------------------------------------------------------------------
VcovArg = str | Mapping[str, Any]


def resolve_vcov(
    vcov: VcovArg | VcovSpec | None,
    frame: pl.DataFrame,
    *,
    unit: str | None,
    time: str | None,
    small_sample: SmallSample = "fixest",
    G_df: Literal["min", "conventional"] = "min",
    cluster: str | Sequence[str] | None = None,
    fe: Sequence[str] = (),
) -> VcovSpec:
    """A user covariance request read from ``frame``: :func:`tradeimpact.core.covariance.parse_vcov`
    (the one parser; its docstring lists the forms) then :meth:`VcovSpec.bind`.

    ``"CR1"`` alone clusters by ``unit``; ``"twoway"`` by ``unit`` and ``time`` (or the first two
    fixed effects ``fe``); ``"DK"`` is Driscoll-Kraay over ``time``.
    """
    return parse_vcov(
        vcov, cluster=cluster, unit=unit, time=time, fe=fe, small_sample=small_sample, G_df=G_df
    ).bind(frame)


def build_fe(frame: pl.DataFrame, fe: Sequence[str | Sequence[str]]) -> FixedEffects | None:
    """Fixed effects from columns; an entry that is a list (``["importer", "product"]``) is the
    interaction of those columns (e.g. importer x product).

    A row with a null label gets a code of its own here; :func:`feols` drops it as ``missing``
    (the estimation sample, :mod:`tradeimpact.core.sample`) before any use of the codes."""
    if not fe:
        return None
    cols: list[npt.NDArray[Any]] = []
    names: list[str] = []
    for spec in fe:
        parts = [spec] if isinstance(spec, str) else list(spec)
        check_columns(frame, parts)
        if len(parts) == 1 and frame[parts[0]].null_count() == 0:
            cols.append(frame[parts[0]].to_numpy())
        elif len(parts) == 1:
            cols.append(frame[parts[0]].rank("dense").fill_null(0).to_numpy())
        else:
            cols.append(frame.select(pl.struct(parts).rank("dense").alias("_g"))["_g"].to_numpy())
        names.append("^".join(parts))
    return FixedEffects.from_columns(cols, names)


def _split_slopes(fe: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """:func:`tradeimpact.core.slopes.split_fe_specs`, its error as a :class:`ModelSpecError`."""
    from tradeimpact.core.slopes import split_fe_specs

    try:
        return split_fe_specs(fe)
    except ValueError as err:
        raise ModelSpecError(str(err)) from err


def feols(
    data: Any,
    y: str,
    x: Sequence[str],
    *,
    fe: Sequence[str | Sequence[str]] = (),
    weights: str | None = None,
    vcov: VcovArg | VcovSpec | None = None,
    cluster: str | Sequence[str] | None = None,
    time: str | None = None,
    small_sample: SmallSample = "fixest",
    G_df: Literal["min", "conventional"] = "min",
    drop_singletons: bool = True,
    intercept: bool = True,
    fixef_tol: float = 1e-10,
    collin_tol: float = COLLIN_TOL,
    dropped: Mapping[str, int] | None = None,
    engine: Literal["native", "linearmodels"] = "native",
) -> RegressionResult:
    """Fixed-effects least squares on a frame: ``y ~ x | fe`` (fixest ``feols`` semantics).

    Formula: ``beta = (X~'WX~)^{-1} X~'W y~`` with ``~`` the within-transformation on all fixed
    effects (Frisch-Waugh-Lovell; Gaure 2013). ``vcov`` in any form of
    :func:`tradeimpact.core.covariance.parse_vcov` (default ``"hetero"``: HC1; ``{"CRV1": "a"}``,
    ``{"CRV1": "a + b"}``, ``"iid"``, ``"twoway"``, ``"DK"``); ``cluster="a"`` (or ``"a + b"``,
    ``["a", "b"]``) is ``vcov={"CRV1": "a"}``; ``time`` names the period column for ``"DK"``. Rows with
    missing values are dropped and counted in ``result.dropped``. ``y``, ``x`` and ``weights``
    must be numeric (or Boolean) columns (:func:`numeric_column`). ``intercept=False`` omits
    the intercept of a model without fixed effects; ``fixef_tol`` is the demeaning tolerance;
    ``dropped`` counts rows dropped before this call (by reason), carried into the result.
    The formula interface (``feols("y ~ x | fe", data)``) is :mod:`tradeimpact.models.formula`.
    A fixed effect may be a varying slope (:mod:`tradeimpact.core.slopes`): ``"id[z]"`` absorbs
    the ``id`` fixed effect and an ``id``-specific slope on ``z`` (fixest ``id[z]``, ppmlhdfe
    ``a(id##c.z)``), ``"id[[z]]"`` the slope only (``a(id#c.z)``), ``"id[z1,z2]"`` several; their
    parameters count in ``K`` net of redundancies.

    ``data`` may be an Ibis table (DuckDB, PySpark, ...: ``FlowStore.ibis()``): the fit is then
    computed by its engine, only ``k x k`` matrices and per-cluster sums reaching Python
    (:mod:`tradeimpact.models.engines`, :mod:`tradeimpact.core.ibis_engine`).
    ``engine="linearmodels"`` fits the same model with linearmodels' ``PanelOLS`` /
    ``AbsorbingLS`` (:func:`tradeimpact.models.engines.feols_linearmodels`).
    """
    from tradeimpact.core.ibis_engine import is_ibis_table

    if engine != "native" or is_ibis_table(data):  # other engines: tradeimpact.models.engines
        from tradeimpact.models import engines

        args: dict[str, Any] = {"fe": fe, "weights": weights, "vcov": vcov, "cluster": cluster,
                "time": time,
                "small_sample": small_sample, "G_df": G_df, "drop_singletons": drop_singletons,
                "intercept": intercept, "fixef_tol": fixef_tol, "collin_tol": collin_tol,
                "dropped": dropped}  # fmt: skip
        if is_ibis_table(data):
            return engines.feols_engine(data, y, x, engine=engine, **args)
        engines.check_engine(engine)  # linearmodels: on the native fit's sample and regressors
        native = feols(data, y, x, **args)
        spec_in = vcov if isinstance(vcov, VcovSpec) else None
        return engines.feols_linearmodels(
            to_polars(data), native, y, fe=fe, weights=weights,
            small_sample=spec_in.small_sample if spec_in else small_sample,
            G_df=spec_in.G_df if spec_in else G_df,
        )  # fmt: skip
    frame = to_polars(data)
    # varying slopes ("id[z]", "id[[z]]"; tradeimpact.core.slopes): the plain fixed effects
    # (with the group of every id[z]) and the slope terms
    fe, slope_terms = _split_slopes(fe)
    fe_cols = [c for spec in fe for c in ([spec] if isinstance(spec, str) else spec)]
    slope_cols = [c for t in slope_terms for c in (*t.group, *t.variables)]
    check_columns(frame, [y, *x, *fe_cols, *slope_cols, weights, time])
    fe_names = ["^".join([f] if isinstance(f, str) else list(f)) for f in fe]
    spec = resolve_vcov(
        vcov,
        frame,
        unit=None,
        time=time,
        small_sample=small_sample,
        G_df=G_df,
        cluster=cluster,
        fe=fe_names,
    )
    yv = numeric_column(frame, y, "outcome")
    xv = (
        np.column_stack([numeric_column(frame, c) for c in x]) if x else np.empty((frame.height, 0))
    )
    wv = None if weights is None else numeric_column(frame, weights, "weights")
    fe_obj = build_fe(frame, fe)
    zmat = None
    if slope_terms:
        from tradeimpact.core.fixed_effects import attach_slopes

        def codes_of(t: Any) -> tuple[npt.NDArray[np.int64], int]:
            built = build_fe(frame, [list(t.group)])
            assert built is not None
            return built.codes[:, 0], built.sizes[0]

        def z_of(t: Any) -> FloatArray:
            return np.column_stack(
                [numeric_column(frame, v, "slope variable") for v in t.variables]
            )

        fe_obj = attach_slopes(fe_obj, frame.height, slope_terms, z_of, codes_of)
        zmat = np.column_stack([s.z for s in fe_obj.slopes]) if fe_obj is not None else None
        fe_cols = [*fe_cols, *(c for t in slope_terms for c in t.group)]
    # rows with a missing fixed-effect, cluster or time label are dropped (counted as missing)
    label_cols = dict.fromkeys(
        [*fe_cols, *spec.label_columns(frame.columns), *([time] if time else [])]
    )
    sample = estimation_sample(
        frame.height,
        numeric=[yv, xv, wv, zmat],
        labels=[frame[c] for c in label_cols if c in frame.columns],
        weights=wv,
        fe=fe_obj,
        drop_singletons=drop_singletons,
        dropped=dropped,
    )
    return fit_feols(
        yv,
        xv,
        list(x),
        fe=fe_obj,
        weights=wv,
        vcov=spec,
        depvar=y,
        drop_singletons=drop_singletons,
        intercept=intercept,
        fixef_tol=fixef_tol,
        collin_tol=collin_tol,
        sample=sample,
    )
