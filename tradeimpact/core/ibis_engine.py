"""Fixed-effects least squares computed inside a query engine through Ibis (DuckDB, PySpark, ...).

The same estimator as :func:`tradeimpact.models.linear.fit_feols` (Frisch-Waugh-Lovell with the
alternating-projection demeaning of :func:`tradeimpact.core.fixed_effects.demean`), written as
queries so that the rows never leave the engine. Only these come back to Python:

* row counts (the estimation sample's accounting), the scale of each column;
* per sweep of the demeaning, for every grouping, the largest step of each column (``k + 1``
  numbers) and, at an Irons-Tuck step, two inner products per column;
* ``X~'WX~`` and ``X~'Wy~`` (``k x k`` and ``k``), the raw sums of squares of the collinearity
  rule, and the residual sums of squares;
* the covariance's meat: ``sum_i s_i s_i'`` (HC1), ``sum_g u_g u_g'`` and the cluster count per
  clustering dimension (CR1, one- and two-way), or the per-period score sums ``h_t`` (``T x k``,
  Driscoll-Kraay).

Demeaning in the coefficient space. With fixed-effect groupings ``g = 1..G`` (group ``c_g(i)`` of
row ``i``) the demeaned column is ``x~ = x - sum_g a_g[c_g]``; the engine keeps the coefficient
tables ``a_g`` (one row per group, one column per variable; they stay in the engine, cached) and
a sweep updates, for each grouping in turn::

    a_g  <-  weighted mean over the rows of group c of  (x - sum_{h != g} a_h[c_h])

which is one ``GROUP BY`` over the rows joined with the other groupings' tables. The step
``a_g(new) - a_g(old)`` equals the group means the in-memory sweep subtracts (``P_g x~``), so
the iterates are those of :func:`~tradeimpact.core.fixed_effects.demean`, row for row: the same
convergence criterion (a plain sweep whose largest step is below ``tol * max(max|x|, 1)``, per
column), the same Irons-Tuck extrapolation after :data:`ACCELERATE_AFTER` pairs of plain sweeps
(its inner products ``<d1, d2>``, ``<d2, d2>`` over rows are one more aggregate; the update is
``a <- a2 - c (a2 - a1)`` on the small tables), one exact sweep for one grouping, and the count
of sweeps per column reported in :attr:`EngineFit.sweeps`. Columns that have converged are
frozen and left out of later queries.

Estimation sample: as :func:`tradeimpact.core.sample.estimation_sample` (missing: a null, NaN or
infinite value in a used numeric column, a null label; then non-positive weights; then
singletons). Singletons are removed in the engine by iterating ``GROUP BY ... HAVING count(*) =
1``: a row dropped as a singleton empties its group, so the rows kept are those whose groups all
survive, a semi-join with one small table of surviving groups per grouping (the maximal subset
without singletons is unique, so the order of removal does not change it).

Cost per sweep: ``G`` scans of the rows (each a hash join with ``G - 1`` group tables and a
hash aggregate into one of them), plus one scan per Irons-Tuck step; the fit adds about
``4 + (number of cluster dimensions)`` scans. Memory on the driver: ``O(k^2 + T k)``.

References: Gaure (2013), "OLS with multiple high dimensional category variables", CSDA 66;
Correia (2016), "A feasible estimator for linear models with multi-way fixed effects"; Irons &
Tuck (1969); Berge (2018), "Efficient estimation of maximum likelihood models with multiple
fixed-effects: the R package FENmlm"; Cameron, Gelbach & Miller (2011) (two-way clustering).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from tradeimpact.core.collinearity import COLLIN_TOL, collinear_columns
from tradeimpact.core.covariance import (
    SmallSample,
    VcovSpec,
    _k_factor,
    check_cluster_count,
    vcov_driscoll_kraay,
)
from tradeimpact.core.fixed_effects import ACCELERATE_AFTER, NotConvergedWarning
from tradeimpact.errors import ModelSpecError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import ibis.expr.types as ir

__all__ = ["EngineFit", "check_ibis_columns", "fit_ibis", "is_ibis_table"]

FloatArray = npt.NDArray[np.float64]


def is_ibis_table(data: Any) -> bool:
    """True when ``data`` is an Ibis table expression (without importing Ibis otherwise)."""
    if not type(data).__module__.startswith("ibis."):
        return False
    import ibis.expr.types as ir

    return isinstance(data, ir.Table)


def check_ibis_columns(table: ir.Table, columns: Sequence[str | None]) -> None:
    """Raise :class:`ModelSpecError` naming any column absent from ``table``.

    The message of :func:`tradeimpact.core.frame.check_columns`: the closest names for a
    misspelling and the columns present.
    """
    present = list(table.columns)
    missing = [c for c in dict.fromkeys(columns) if c is not None and c not in present]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, present, n=3, cutoff=0.5)
            if close:
                hints.append(f"{c!r}: did you mean {' or '.join(repr(m) for m in close)}?")
        raise ModelSpecError(
            f"column(s) {', '.join(repr(c) for c in missing)} not in the data"
            + (f" ({'; '.join(hints)})" if hints else "")
            + f" (columns: {', '.join(present)})"
        )


def _numeric(table: ir.Table, column: str, role: str) -> ir.FloatingValue:
    """``table[column]`` as float64, or the error of :func:`~tradeimpact.core.frame.numeric_column`."""
    col = table[column]
    dt = col.type()
    if dt.is_numeric() or dt.is_boolean():
        return col.cast("float64")
    hint = ""
    if dt.is_string():
        bad = (
            table.filter(col.notnull() & col.strip().try_cast("float64").isnull())
            .select(col.name("v"))
            .distinct()
            .limit(3)
            .to_pyarrow()
            .column("v")
            .to_pylist()
        )
        if bad:
            hint = (
                f": it holds text such as {', '.join(repr(b) for b in bad)}; make missing values "
                f"null (Ibis: t[{column!r}].try_cast('float64')) or encode a categorical "
                "variable as dummies or fixed effects"
            )
        else:
            hint = f": it holds numbers as text; cast it first, e.g. t[{column!r}].cast('float64')"
    raise ModelSpecError(f"{role} column {column!r} must be numeric, not {dt}{hint}")


@dataclass(frozen=True)
class EngineFit:
    """What the engine returns: the numbers :func:`fit_ibis` computed (no row-level arrays).

    ``names`` are the kept regressors, ``coef``/``bread``/``cov`` their estimates,
    ``(X~'WX~)^{-1}`` and covariance; ``collinear`` the regressors dropped as collinear;
    ``nobs`` the rows used and ``dropped`` the rows dropped by reason (as
    :class:`~tradeimpact.core.sample.EstimationSample`); ``df_k`` the parameters counted in the
    small-sample factor; ``n_clusters`` the clusters per cluster term (or ``{"time": T}`` for
    Driscoll-Kraay); ``kind`` the covariance kind; ``bandwidth`` the DK bandwidth used;
    ``sweeps`` the demeaning sweeps per variable (outcome first) and ``converged`` whether each
    reached ``tol``; ``r2``, ``r2_within``, ``rmse`` as in memory.
    """

    names: list[str]
    coef: FloatArray
    bread: FloatArray
    cov: FloatArray
    nobs: int
    dropped: dict[str, int]
    collinear: list[str]
    df_k: int
    kind: str
    n_clusters: dict[str, int]
    cluster_names: list[str]
    small_sample: SmallSample
    G_df: Literal["min", "conventional"]
    bandwidth: float | None
    r2: float
    r2_within: float
    rmse: float
    weighted: bool
    fixed_effects: list[str]
    sweeps: dict[str, int] = field(default_factory=dict)
    converged: dict[str, bool] = field(default_factory=dict)
    tol: float = 1e-10


class _Session:
    """Cached engine tables of one fit, released at the end."""

    def __init__(self) -> None:
        self.live: list[Any] = []
        self.names: list[str] = []
        self.spark: dict[int, Any] = {}

    def _drop(self, t: Any) -> None:
        entry = self.spark.pop(id(t), None)
        if entry is None:
            t.release()
            return
        backend, name, df = entry
        backend._session.catalog.dropTempView(name)
        df.unpersist()

    def cache(self, expr: ir.Table) -> ir.Table:
        """``expr`` computed once and kept (a temporary table in DuckDB, a persisted DataFrame
        in Spark); counted at once, so that a lazy engine materialises it before the tables it
        was computed from are released."""
        backend = expr.get_backend()
        if getattr(backend, "name", None) == "pyspark":
            # Spark keeps a cached DataFrame's whole lineage in its plan, which then grows with
            # every sweep; a local checkpoint (eager) cuts it to the materialised rows
            name = f"_ti_{id(self)}_{len(self.names)}_{len(self.live)}"
            df = backend._session.sql(backend.compile(expr)).localCheckpoint(eager=True)
            df.createOrReplaceTempView(name)
            self.names.append(name)
            out = backend.table(name)
            self.spark[id(out)] = (backend, name, df)
            self.live.append(out)
            return out
        out = expr.cache()
        self.live.append(out)
        out.count().to_pyarrow()
        return out

    def release(self, table: ir.Table | None) -> None:
        if table is None:
            return
        for i, t in enumerate(self.live):
            if t is table:
                self.live.pop(i)
                self._drop(t)
                return

    def close(self) -> None:
        while self.live:
            self._drop(self.live.pop())


def _row(expr: ir.Table) -> dict[str, Any]:
    """The one row of an aggregate as a dict (None for SQL NULL)."""
    rows = expr.to_pyarrow().to_pylist()
    return dict(rows[0]) if rows else {}


def _wsum(w: ir.FloatingValue | None, v: ir.FloatingValue) -> ir.FloatingScalar:
    return (v if w is None else w * v).sum()


def fit_ibis(
    table: ir.Table,
    y: str,
    x: Sequence[str],
    *,
    fe: Sequence[str | Sequence[str]] = (),
    weights: str | None = None,
    vcov: VcovSpec | None = None,
    drop_singletons: bool = True,
    intercept: bool = True,
    fixef_tol: float = 1e-10,
    collin_tol: float = COLLIN_TOL,
    maxiter: int = 10_000,
    dropped: Mapping[str, int] | None = None,
    require: Sequence[str] = (),
) -> EngineFit:
    """Fit ``y ~ x | fe`` by (weighted) least squares inside the engine of ``table``.

    The estimator, sample rules and covariances of :func:`tradeimpact.models.linear.fit_feols`
    (``beta = (X~'WX~)^{-1} X~'Wy~``; see the module docstring for how each step is a query).

    Parameters
    ----------
    table : ibis.expr.types.Table
        The rows (any Ibis backend: DuckDB, PySpark, ...).
    y, x : str, list of str
        Outcome and regressor columns (numeric or Boolean).
    fe : list
        Fixed-effect columns; an entry that is a list is the combination of those columns.
    weights : str, optional
        Analytic weights column.
    vcov : VcovSpec, optional
        The request as parsed (:func:`tradeimpact.core.covariance.parse_vcov`), not bound
        (the cluster and time columns are read by the engine). Default HC1.
    drop_singletons, intercept, fixef_tol, collin_tol, maxiter
        As :func:`~tradeimpact.models.linear.fit_feols` and
        :func:`~tradeimpact.core.fixed_effects.demean`.
    dropped : mapping, optional
        Rows dropped upstream (by reason), carried into the counts.
    require : list of str
        Regressors that must survive the collinearity check.

    Returns
    -------
    EngineFit

    Raises
    ------
    ModelSpecError
        A column is absent or not numeric, no row is left, a required regressor is collinear,
        a cluster variable has fewer than two clusters.
    """
    vcov = vcov if vcov is not None else VcovSpec("hetero")
    x = list(x)
    fe_parts = [[f] if isinstance(f, str) else list(f) for f in fe]
    fe_names = ["^".join(p) for p in fe_parts]
    present = list(table.columns)
    cl_parts = [
        [t] if t in present else [c.strip() for c in t.split("^")] for t in vcov.cluster_names
    ]
    time_col = vcov.time_name if vcov.kind == "DK" else None
    if vcov.kind == "DK" and time_col is None:
        raise ModelSpecError("vcov='DK' (Driscoll-Kraay) needs the time column: pass time=<column>")
    label_cols = list(
        dict.fromkeys(
            [*(c for p in fe_parts for c in p), *(c for p in cl_parts for c in p)]
            + ([time_col] if time_col else [])
        )
    )
    check_ibis_columns(table, [y, *x, weights, *label_cols])

    # ---- the internal columns: _y, _x<j>, _w, and the labels under their own names
    cols: dict[str, Any] = {"_y": _numeric(table, y, "outcome")}
    for j, c in enumerate(x):
        cols[f"_x{j}"] = _numeric(table, c, "regressor")
    names = list(x)
    labels = {"_y": y, **{f"_x{j}": c for j, c in enumerate(x)}}
    if not fe_parts and intercept:
        import ibis

        one = ibis.literal(1.0, type="float64")
        cols = {"_y": cols["_y"], "_xi": one, **{k: v for k, v in cols.items() if k != "_y"}}
        names = ["Intercept", *names]
        labels["_xi"] = "Intercept"
    lab = {c: f"_l{i}" for i, c in enumerate(label_cols)}
    for c, internal in lab.items():
        cols[internal] = table[c]
    if weights is not None:
        cols["_w"] = _numeric(table, weights, "weights")
    base0 = table.select(**cols)
    xvars = [k for k in cols if k.startswith("_x")]
    allvars = ["_y", *xvars]
    w = base0["_w"] if weights is not None else None

    good = None
    for v in allvars + (["_w"] if weights is not None else []):
        ok = base0[v].notnull() & ~base0[v].isnan() & ~base0[v].isinf()
        good = ok if good is None else good & ok
    for internal in lab.values():
        col = base0[internal]
        ok = col.notnull()
        if col.type().is_floating():
            ok = ok & ~col.isnan()
        good = good & ok
    counts = _row(
        base0.aggregate(
            n=base0.count(),
            good=good.cast("int64").sum(),  # type: ignore[union-attr]
            pos=(good & (base0["_w"] > 0)).cast("int64").sum()  # type: ignore[operator]
            if weights is not None
            else good.cast("int64").sum(),  # type: ignore[union-attr]
        )
    )
    n0, n_good, n_pos = int(counts["n"]), int(counts["good"] or 0), int(counts["pos"] or 0)
    drops: dict[str, int] = {}
    for reason, cnt in (dropped or {}).items():
        drops[str(reason)] = drops.get(str(reason), 0) + int(cnt)
    drops["missing"] = drops.get("missing", 0) + n0 - n_good
    if weights is not None:
        drops["nonpositive_weights"] = n_good - n_pos
    keep_expr = good if weights is None else good & (base0["_w"] > 0)  # type: ignore[operator]
    base = base0.filter(keep_expr)
    fe_keys = [[lab[c] for c in p] for p in fe_parts]
    sess = _Session()
    try:
        return _fit(
            sess, base, w is not None, allvars, names, labels, fe_keys, fe_names, lab, cl_parts,
            time_col, vcov, n0, n_pos, drops, drop_singletons, fixef_tol, collin_tol, maxiter,
            require,
        )  # fmt: skip
    finally:
        sess.close()


def _no_rows(n: int, drops: Mapping[str, int]) -> ModelSpecError:
    return ModelSpecError(
        f"no observations left: of {n} rows, dropped "
        + ", ".join(f"{v} {k}" for k, v in drops.items() if v)
    )


def _fit(
    sess: _Session,
    base: ir.Table,
    weighted: bool,
    allvars: list[str],
    names: list[str],
    labels: dict[str, str],
    fe_keys: list[list[str]],
    fe_names: list[str],
    lab: dict[str, str],
    cl_parts: list[list[str]],
    time_col: str | None,
    vcov: VcovSpec,
    n0: int,
    n_pos: int,
    drops: dict[str, int],
    drop_singletons: bool,
    tol: float,
    collin_tol: float,
    maxiter: int,
    require: Sequence[str],
) -> EngineFit:
    if n_pos == 0:
        raise _no_rows(n0, drops)
    # ---- singletons: the surviving groups of every grouping, as small cached tables
    if fe_keys and drop_singletons:
        drops.setdefault("singletons", 0)
        survivors: list[ir.Table | None] = [None] * len(fe_keys)

        def current() -> ir.Table:
            out = base
            for s, keys in zip(survivors, fe_keys, strict=True):
                if s is not None:
                    out = out.semi_join(s, keys)
            return out

        changed = True
        while changed:
            changed = False
            for g, keys in enumerate(fe_keys):
                cur = current()
                grouped = cur.group_by(keys).aggregate(_n=cur.count())
                n_single = int(grouped.filter(grouped["_n"] == 1).count().to_pyarrow().as_py())
                if n_single:
                    new = sess.cache(grouped.filter(grouped["_n"] >= 2).select(*keys))
                    sess.release(survivors[g])
                    survivors[g] = new
                    changed = True
        base = current()
        n = int(base.count().to_pyarrow().as_py())
        drops["singletons"] += n_pos - n
    else:
        n = n_pos
    if n == 0:
        raise _no_rows(n0, drops)
    w = base["_w"] if weighted else None

    # ---- the scale of each column and the weighted mean of y
    agg: dict[str, Any] = {f"m{j}": base[v].abs().max() for j, v in enumerate(allvars)}
    agg["sw"] = base.count().cast("float64") if w is None else w.sum()
    agg["swy"] = _wsum(w, base["_y"])
    for j, v in enumerate(allvars[1:]):
        agg[f"ss{j}"] = _wsum(w, base[v] * base[v])
    first = _row(base.aggregate(**agg))
    scale = {v: max(float(first[f"m{j}"]), 1.0) for j, v in enumerate(allvars)}
    sw = float(first["sw"])
    ybar = float(first["swy"]) / sw
    raw_ss = np.array([float(first[f"ss{j}"]) for j in range(len(allvars) - 1)])

    # ---- demeaning in the coefficient space
    coef_tabs: list[ir.Table] = []
    sweeps: dict[str, int] = {}
    converged: dict[str, bool] = {}
    if fe_keys:
        coef_tabs, sweeps, converged = _demean(sess, base, w, allvars, fe_keys, scale, tol, maxiter)
        n_bad = sum(not ok for ok in converged.values())
        if n_bad:
            warnings.warn(
                f"fixed-effect demeaning did not converge in {maxiter} iterations (tol {tol}) "
                f"for {n_bad} of {len(allvars)} columns",
                NotConvergedWarning,
                stacklevel=3,
            )
    demeaned = _demeaned(base, coef_tabs, fe_keys, allvars)
    t = demeaned
    wt = t["_w"] if weighted else None
    xv = allvars[1:]
    k_all = len(xv)
    agg = {}
    for i in range(k_all):
        for j in range(i, k_all):
            agg[f"g{i}_{j}"] = _wsum(wt, t["_d" + xv[i]] * t["_d" + xv[j]])
        agg[f"xy{i}"] = _wsum(wt, t["_d" + xv[i]] * t["_d_y"])
    agg["tssw"] = _wsum(wt, t["_d_y"] * t["_d_y"])
    agg["tss"] = _wsum(wt, (t["_y"] - ybar) * (t["_y"] - ybar))
    second = _row(t.aggregate(**agg))
    gram = np.zeros((k_all, k_all))
    for i in range(k_all):
        for j in range(i, k_all):
            gram[i, j] = gram[j, i] = float(second[f"g{i}_{j}"])
    xty = np.array([float(second[f"xy{i}"]) for i in range(k_all)])
    gone = _collinear(gram, raw_ss, collin_tol)
    idx = [j for j in range(k_all) if j not in set(gone)]
    collinear = [names[j] for j in gone]
    lost = [r for r in require if r in collinear]
    if lost:
        raise ModelSpecError(
            f"{', '.join(lost)} is collinear with the fixed effects or the other regressors "
            "(no variation left to identify it): check the treatment timing, the control units "
            "and the fixed effects"
        )
    kept = [names[j] for j in idx]
    k = len(kept)
    bread = np.asarray(np.linalg.inv(gram[np.ix_(idx, idx)]), dtype=np.float64)
    beta = bread @ xty[idx]

    # ---- residuals and the covariance's meat
    fit = sum(
        (t["_d" + xv[j]] * float(b) for j, b in zip(idx, beta, strict=True)),
        start=t["_d_y"] * 0.0,
    )
    t = t.mutate(_e=t["_d_y"] - fit)
    ws = (lambda v: v) if not weighted else (lambda v: t["_w"] * v)
    score = {f"s{j}": ws(t["_d" + xv[jj]] * t["_e"]) for j, jj in enumerate(idx)}
    t = t.mutate(**score)
    res_agg: dict[str, Any] = {"rss": _wsum(t["_w"] if weighted else None, t["_e"] * t["_e"])}
    if vcov.kind == "hetero":
        for i in range(k):
            for j in range(i, k):
                res_agg[f"h{i}_{j}"] = (t[f"s{i}"] * t[f"s{j}"]).sum()
    third = _row(t.aggregate(**res_agg))
    rss = float(third["rss"])

    levels = [int(tab.count().to_pyarrow().as_py()) for tab in coef_tabs]
    n_cl: dict[str, int] = {}
    bandwidth = None
    if vcov.kind == "CR1":
        dims = [[lab[c] for c in p] for p in cl_parts]
        meats: list[FloatArray] = []
        gs: list[int] = []
        dim_list = (
            dims if len(dims) == 1 else [dims[0], dims[1], list(dict.fromkeys(dims[0] + dims[1]))]
        )
        if len(dims) > 2:
            raise ModelSpecError(f"one- or two-way clustering only, got {len(dims)} cluster terms")
        for keys in dim_list:
            m, g = _cluster_meat(t, keys, k)
            meats.append(m)
            gs.append(g)
        for nm, g in zip(vcov.cluster_names, gs, strict=False):
            n_cl[nm] = g
        check_cluster_count(list(n_cl.values()), list(n_cl))
        k_tot = k + _fe_dof(base, fe_keys, levels, dims)
        q = _k_factor(n, k_tot, vcov.small_sample)
        g_min = min(gs[:2]) if len(dims) == 2 else gs[0]
        signs = [1.0] if len(dims) == 1 else [1.0, 1.0, -1.0]
        vmat = np.zeros((k, k))
        for meat, g, sign in zip(meats, gs, signs, strict=True):
            gg = g_min if vcov.G_df == "min" else g
            vmat += sign * (gg / (gg - 1)) * (bread @ meat @ bread)
        cov = q * vmat
    elif vcov.kind == "DK":
        k_tot = k + _fe_dof(base, fe_keys, levels, [])
        tk = lab[str(time_col)]
        per = (
            t.group_by(tk)
            .aggregate(**{f"s{j}": t[f"s{j}"].sum() for j in range(k)})
            .order_by(tk)
            .to_pyarrow()
        )
        h = np.column_stack([np.asarray(per.column(f"s{j}"), dtype=np.float64) for j in range(k)])
        n_cl["time"] = h.shape[0]
        cov = vcov_driscoll_kraay(
            bread,
            h,
            np.arange(h.shape[0]),
            n=n,
            k=k_tot,
            bandwidth=vcov.bandwidth,
            small_sample=vcov.small_sample,
        )
        from tradeimpact.core.covariance import default_bandwidth

        bandwidth = default_bandwidth(h.shape[0]) if vcov.bandwidth is None else vcov.bandwidth
    elif vcov.kind == "hetero":
        k_tot = k + _fe_dof(base, fe_keys, levels, [])
        meat = np.zeros((k, k))
        for i in range(k):
            for j in range(i, k):
                meat[i, j] = meat[j, i] = float(third[f"h{i}_{j}"])
        c = 1.0 if vcov.small_sample == "none" else n / (n - k_tot)
        cov = c * bread @ meat @ bread
    elif vcov.kind == "iid":
        k_tot = k + _fe_dof(base, fe_keys, levels, [])
        cov = rss / (n - k_tot) * bread
    else:
        raise ModelSpecError(f"unknown covariance {vcov.kind!r}")
    cov = (cov + cov.T) / 2

    tss = float(second["tss"])
    # without fixed effects y~ = y and the within sum of squares is about the mean (in memory too)
    tss_within = float(second["tssw"]) if fe_keys else tss
    return EngineFit(
        names=kept,
        coef=np.asarray(beta, dtype=np.float64),
        bread=bread,
        cov=np.asarray(cov, dtype=np.float64),
        nobs=n,
        dropped=drops,
        collinear=collinear,
        df_k=k_tot,
        kind=vcov.kind,
        n_clusters=n_cl,
        cluster_names=list(vcov.cluster_names),
        small_sample=vcov.small_sample,
        G_df=vcov.G_df,
        bandwidth=bandwidth,
        r2=1 - rss / tss if tss > 0 else float("nan"),
        r2_within=1 - rss / tss_within if tss_within > 0 else float("nan"),
        rmse=float(np.sqrt(rss / sw)),
        weighted=weighted,
        fixed_effects=list(fe_names),
        sweeps={labels[v]: s for v, s in sweeps.items()},
        converged={labels[v]: ok for v, ok in converged.items()},
        tol=tol,
    )


def _join_all(
    base: ir.Table, tabs: Sequence[ir.Table | None], keys: Sequence[list[str]]
) -> ir.Table:
    out = base
    for tab, k in zip(tabs, keys, strict=True):
        if tab is not None:
            out = out.join(tab, k)
    return out


def _coef(g: int, v: str) -> str:
    return f"_a{g}{v}"


def _demeaned(
    base: ir.Table, tabs: Sequence[ir.Table], fe_keys: Sequence[list[str]], allvars: list[str]
) -> ir.Table:
    """``base`` with ``_d<var> = var - sum_g a_g[c_g]`` (``_d_y`` for the outcome)."""
    if not tabs:
        return base.mutate(**{"_d" + v: base[v] for v in allvars})
    t = _join_all(base, tabs, fe_keys)
    return t.mutate(
        **{
            "_d" + v: t[v] - sum((t[_coef(g, v)] for g in range(len(tabs))), start=t[v] * 0.0)
            for v in allvars
        }
    )


def _demean(
    sess: _Session,
    base: ir.Table,
    w: ir.FloatingValue | None,
    allvars: list[str],
    fe_keys: list[list[str]],
    scale: Mapping[str, float],
    tol: float,
    maxiter: int,
) -> tuple[list[ir.Table], dict[str, int], dict[str, bool]]:
    """Alternating projections in the coefficient space (module docstring); the final tables."""
    n_g = len(fe_keys)
    state: list[ir.Table | None] = [None] * n_g

    def sweep(
        tabs: list[ir.Table | None], active: list[str]
    ) -> tuple[list[ir.Table | None], dict[str, float]]:
        """One pass over every grouping; the new tables and each active column's largest step."""
        tabs = list(tabs)
        biggest = dict.fromkeys(active, 0.0)
        for g, keys in enumerate(fe_keys):
            others = [None if h == g else tabs[h] for h in range(n_g)]
            j = _join_all(base, others, fe_keys)
            resid = {
                v: j[v]
                - sum(
                    (j[_coef(h, v)] for h in range(n_g) if others[h] is not None), start=j[v] * 0.0
                )
                for v in active
            }
            if w is None:
                means = {_coef(g, v): r.mean() for v, r in resid.items()}
            else:
                jw = j["_w"]
                means = {_coef(g, v): (jw * r).sum() / jw.sum() for v, r in resid.items()}
            new = j.group_by(keys).aggregate(**means)
            old = tabs[g]
            if old is not None:
                frozen = [c for c in old.columns if c not in keys and c not in means]
                if frozen:
                    new = new.join(old.select(*keys, *frozen), keys)
            new = sess.cache(new)
            if old is None:
                steps = new.aggregate(**{v: new[_coef(g, v)].abs().max() for v in active})
            else:
                both = new.select(*keys, *[new[_coef(g, v)].name("n" + v) for v in active]).join(
                    old.select(*keys, *[old[_coef(g, v)].name("o" + v) for v in active]), keys
                )
                steps = both.aggregate(
                    **{v: (both["n" + v] - both["o" + v]).abs().max() for v in active}
                )
            got = _row(steps)
            for v in active:
                biggest[v] = max(biggest[v], float(got[v] or 0.0))
            tabs[g] = new
        return tabs, biggest

    if n_g == 1:
        new, _ = sweep(state, list(allvars))
        return (
            [t for t in new if t is not None],
            dict.fromkeys(allvars, 1),
            dict.fromkeys(allvars, True),
        )

    limit = {v: tol * scale[v] for v in allvars}
    active = list(allvars)
    sweeps = dict.fromkeys(allvars, 0)
    converged = dict.fromkeys(allvars, False)
    count = 0
    keep: list[list[ir.Table | None]] = []

    def drop_states(*live: list[ir.Table | None]) -> None:
        ids = {id(t) for s in live for t in s if t is not None}
        for s in keep:
            for t in s:
                if t is not None and id(t) not in ids:
                    sess.release(t)
        keep.clear()
        keep.extend(live)

    def finish(done: list[str]) -> None:
        for v in done:
            converged[v] = True
            sweeps[v] = count
            active.remove(v)

    while active and count < maxiter:
        prev = state
        count += 1
        state, big = sweep(state, active)
        finish([v for v in active if big[v] <= limit[v]])
        drop_states(prev, state)
        if not active:
            break
        mid = state
        count += 1
        state, big = sweep(state, active)
        finish([v for v in active if big[v] <= limit[v]])
        drop_states(prev, mid, state)
        if not active or count < 2 * ACCELERATE_AFTER:
            continue
        state = _irons_tuck(sess, base, fe_keys, prev, mid, state, active)
        drop_states(state)
    for v in active:
        sweeps[v] = count
    final = [t for t in state if t is not None]
    return final, sweeps, converged


def _irons_tuck(
    sess: _Session,
    base: ir.Table,
    fe_keys: list[list[str]],
    prev: list[ir.Table | None],
    mid: list[ir.Table | None],
    cur: list[ir.Table | None],
    active: list[str],
) -> list[ir.Table | None]:
    """The Irons-Tuck step of :func:`~tradeimpact.core.fixed_effects.demean` on the tables.

    In rows: ``d1 = F(F(x)) - F(x) = -D (a2 - a1)``, ``d2 = d1 - (F(x) - x) = -D (a2 - 2 a1 + a0)``,
    ``c = <d1, d2> / <d2, d2>`` (unweighted inner products over the rows, as in memory) and
    ``x <- F(F(x)) - c d1``, i.e. ``a <- a2 - c (a2 - a1)``.
    """
    deltas: list[ir.Table] = []
    for g, keys in enumerate(fe_keys):
        a0, a1, a2 = prev[g], mid[g], cur[g]
        assert a1 is not None and a2 is not None
        j = a2.select(*keys, *[a2[_coef(g, v)].name("c" + v) for v in active]).join(
            a1.select(*keys, *[a1[_coef(g, v)].name("b" + v) for v in active]), keys
        )
        if a0 is not None:
            j = j.join(a0.select(*keys, *[a0[_coef(g, v)].name("z" + v) for v in active]), keys)
        d = {}
        for v in active:
            d[f"_p{g}{v}"] = j["c" + v] - j["b" + v]
            z = j["z" + v] if a0 is not None else 0.0
            d[f"_q{g}{v}"] = j["c" + v] - 2.0 * j["b" + v] + z
        deltas.append(sess.cache(j.select(*keys, **d)))
    t = _join_all(base, deltas, fe_keys)
    agg = {}
    for v in active:
        p = sum((t[f"_p{g}{v}"] for g in range(len(fe_keys))), start=t[f"_p0{v}"] * 0.0)
        q = sum((t[f"_q{g}{v}"] for g in range(len(fe_keys))), start=t[f"_q0{v}"] * 0.0)
        agg["n" + v] = (p * q).sum()
        agg["d" + v] = (q * q).sum()
    got = _row(t.aggregate(**agg))
    out: list[ir.Table | None] = []
    for g, keys in enumerate(fe_keys):
        a2 = cur[g]
        assert a2 is not None
        j = a2.join(deltas[g].select(*keys, *[f"_p{g}{v}" for v in active]), keys)
        upd = {}
        for v in active:
            denom = float(got["d" + v] or 0.0)
            c = float(got["n" + v] or 0.0) / denom if denom > 0.0 else 0.0
            upd[_coef(g, v)] = j[_coef(g, v)] - c * j[f"_p{g}{v}"]
        cols = [c for c in a2.columns if c not in keys and c not in upd]
        out.append(sess.cache(j.select(*keys, *cols, **upd)))
        sess.release(deltas[g])
    return out


def _collinear(gram: FloatArray, raw_ss: FloatArray, tol: float) -> list[int]:
    """The one collinearity rule (:func:`~tradeimpact.core.collinearity.collinear_columns`) from
    the engine's aggregates: ``k`` pseudo-rows with the same Gram matrix (its symmetric square
    root, eigenvalues below zero by rounding set to zero) and the same raw sums of squares."""
    vals, vecs = np.linalg.eigh(gram)
    root = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    return collinear_columns(root, np.diag(np.sqrt(np.clip(raw_ss, 0.0, None))), None, tol)


def _cluster_meat(t: ir.Table, keys: list[str], k: int) -> tuple[FloatArray, int]:
    """``sum_g u_g u_g'`` with ``u_g = sum_{i in g} s_i`` (computed by the engine) and ``G``."""
    u = t.group_by(keys).aggregate(**{f"u{j}": t[f"s{j}"].sum() for j in range(k)})
    agg: dict[str, Any] = {"G": u.count()}
    for i in range(k):
        for j in range(i, k):
            agg[f"m{i}_{j}"] = (u[f"u{i}"] * u[f"u{j}"]).sum()
    got = _row(u.aggregate(**agg))
    meat = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            meat[i, j] = meat[j, i] = float(got[f"m{i}_{j}"])
    return meat, int(got["G"])


def _fe_dof(
    base: ir.Table, fe_keys: list[list[str]], levels: list[int], clusters: list[list[str]]
) -> int:
    """:func:`tradeimpact.core.fixed_effects.fe_dof` in the engine (fixest's "nested" count)."""
    if not fe_keys:
        return 0
    total = sum(levels) - (len(fe_keys) - 1)
    for keys, lv in zip(fe_keys, levels, strict=True):
        for ck in clusters:
            pairs = base.select(*dict.fromkeys(keys + ck)).distinct()
            per = pairs.group_by(keys).aggregate(_n=pairs.count())
            if int(per["_n"].max().to_pyarrow().as_py()) == 1:
                total += 1 - lv
                break
    return int(total)
