"""Synthetic control (Abadie, Diamond & Hainmueller 2010) with in-space placebos.

Reference: Abadie, A., Diamond, A. and Hainmueller, J. (2010), "Synthetic Control Methods for
Comparative Case Studies: Estimating the Effect of California's Tobacco Control Program", Journal
of the American Statistical Association 105(490), 493-505; R ``Synth`` (``dataprep``, ``synth``).

Weights. With ``X1`` (``k`` predictors of the treated unit) and ``X0`` (``k x J`` for the ``J``
donors), each predictor scaled by its standard deviation across all units (as ``Synth``), the
donor weights solve::

    W(V) = argmin_{W >= 0, 1'W = 1} (X1 - X0 W)' V (X1 - X0 W)

for a diagonal ``V >= 0`` with ``trace V = 1``. Without predictors, ``X`` holds the pre-period
outcomes and ``V = I``: ``W`` minimises the pre-period mean squared prediction error (MSPE)
directly. With predictors, ``V`` is chosen to minimise the pre-period MSPE of the outcome,
``(Z1 - Z0 W(V))'(Z1 - Z0 W(V)) / T0`` (``Synth``'s nested optimisation; here Nelder-Mead over
``V = theta^2 / sum theta^2`` from the equal-weights start and seeded random starts, the best
kept).

Effect: the gap ``Y1t - Y0t' W`` per period; ``att`` is its mean over the post-periods.

Inference (section 2.4 and 4.3 of the paper): in-space placebos re-estimate the synthetic control
for every donor as if it were treated (the other donors as its pool). For every unit the ratio
``RMSPE_post / RMSPE_pre`` is computed; the permutation p-value is the share of units (treated
and placebos) whose ratio is at least the treated unit's, an exact fraction (``pvalue_fraction``).
The paper reports 1/39 for California.

An exact pre-period fit (as many donors as pre-periods or more, e.g. an annual event with a few
pre-years) leaves ``RMSPE_pre`` at round-off (1e-16), and a ratio of round-off would rank units
by floating-point noise, differently on another machine. ``RMSPE_pre`` therefore enters the
ratio as at least ``sqrt(machine epsilon)`` times the root mean square of the pre-period
outcomes of every unit (:data:`EXACT_FIT_RELATIVE`): units that fit exactly are ranked by their
post-period RMSPE, among themselves and above every unit whose fit is not exact. The rule is set
before the data are seen, so the permutation test stays exact; ``n_exact_fit`` counts the units
it applied to, and ``summary()`` says so.

The inner problem is a quadratic programme on the simplex solved exactly by an active-set method
(NNLS for the support, then the KKT system; :func:`simplex_weights`; written by hand because
linearmodels and statsmodels have no synthetic control); tested against R synthdid's
``sc_estimate`` on the Proposition 99 data and the paper's permutation p-value in
``tests/test_synth.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
from scipy import optimize

from tradeimpact.core.frame import check_columns, numeric_column, to_polars
from tradeimpact.errors import ModelSpecError

FloatArray = npt.NDArray[np.float64]
Predictor = str | tuple[str, Sequence[Any]]

__all__ = ["SynthResult", "synth"]


#: an RMSPE below this share of the pre-period outcomes' root mean square is an exact fit
EXACT_FIT_RELATIVE = float(np.sqrt(np.finfo(np.float64).eps))


def simplex_weights(a: FloatArray, b: FloatArray, v: FloatArray | None = None) -> FloatArray:
    """``argmin_{w >= 0, sum w = 1} (b - a w)' diag(v) (b - a w)``, exactly.

    Active-set solution: Lawson-Hanson NNLS (:func:`scipy.optimize.nnls`) on the problem with the
    adding-up constraint appended as a heavily weighted row finds the support ``S``; the
    equality-constrained least squares on ``S`` is then solved exactly from its KKT system and
    accepted when its weights are positive and no weight off ``S`` would lower the objective
    (``g_j + mu >= 0``); otherwise SLSQP from the NNLS solution finishes the job.
    """
    k, j = a.shape
    sv = np.ones(k) if v is None else np.sqrt(np.asarray(v, dtype=np.float64))
    aw = a * sv[:, None]
    bw = b * sv
    scale = max(float(np.abs(aw).max()), 1e-300)
    aw, bw = aw / scale, bw / scale
    big = 1e4 * max(1.0, float(np.linalg.norm(aw, 2)))
    w0, _ = optimize.nnls(np.vstack([aw, np.full((1, j), big)]), np.append(bw, big), maxiter=50 * j)
    if w0.sum() <= 0:
        w0 = np.full(j, 1.0 / j)
    w0 = w0 / w0.sum()
    support = np.flatnonzero(w0 > 1e-12)
    m = support.size
    kkt = np.zeros((m + 1, m + 1))
    kkt[:m, :m] = 2.0 * aw[:, support].T @ aw[:, support]
    kkt[:m, m] = 1.0
    kkt[m, :m] = 1.0
    rhs = np.append(2.0 * aw[:, support].T @ bw, 1.0)
    sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    w = np.zeros(j)
    w[support] = sol[:m]
    grad = 2.0 * aw.T @ (aw @ w - bw)
    mu = sol[m]
    tol = 1e-9 * max(1.0, float(np.abs(grad).max()))
    if np.all(sol[:m] > 0) and np.all(grad + mu >= -tol):
        return w
    gram = aw.T @ aw
    lin = aw.T @ bw

    def fun(x: FloatArray) -> tuple[float, FloatArray]:
        r = aw @ x - bw
        return float(r @ r), 2.0 * (gram @ x - lin)

    res = optimize.minimize(
        fun,
        w0,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * j,
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones(j)}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    out = np.clip(res.x, 0.0, None)
    return np.asarray(out / out.sum(), dtype=np.float64)


@dataclass
class _Fit:
    weights: FloatArray
    v: FloatArray
    gap: FloatArray  # all periods


def _fit_unit(
    y1: FloatArray,
    y0: FloatArray,
    x1: FloatArray | None,
    x0: FloatArray | None,
    t0: int,
    *,
    seed: int,
    n_starts: int,
) -> _Fit:
    """Weights (and V) for one treated series ``y1`` (T,) on donors ``y0`` (T, J)."""
    z1, z0 = y1[:t0], y0[:t0]
    if x1 is None or x0 is None:
        w = simplex_weights(z0, z1)
        return _Fit(w, np.ones(t0) / t0, y1 - y0 @ w)
    k = x1.size

    def loss(theta: FloatArray) -> float:
        v = theta**2
        s = v.sum()
        v = np.full(k, 1.0 / k) if s == 0 else v / s
        w = simplex_weights(x0, x1, v)
        r = z1 - z0 @ w
        return float(r @ r) / t0

    rng = np.random.default_rng(seed)
    starts = [np.full(k, 1.0 / np.sqrt(k))] + [rng.uniform(0.1, 1.0, k) for _ in range(n_starts)]
    best: tuple[float, FloatArray] | None = None
    for s0 in starts:
        res = optimize.minimize(
            loss, s0, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 2000}
        )
        if best is None or res.fun < best[0]:
            best = (float(res.fun), res.x)
    assert best is not None
    v = best[1] ** 2
    v = v / v.sum() if v.sum() > 0 else np.full(k, 1.0 / k)
    w = simplex_weights(x0, x1, v)
    return _Fit(w, v, y1 - y0 @ w)


@dataclass
class SynthResult:
    """Result of :func:`synth`.

    ``att`` (mean post-period gap); ``weights`` (polars ``unit, weight``); ``v_weights``
    (``predictor, v``; empty without predictors); ``path`` (``time, treated, synthetic, gap``);
    ``placebos`` (``unit, pre_rmspe, post_rmspe, ratio, treated`` for the treated unit and every
    placebo); ``rmspe_ratio`` of the treated unit; ``pvalue_fraction`` (exact) and ``pvalue``;
    ``placebo_gaps`` (``unit, time, gap``) for the placebo plot. ``tidy()``, ``summary()`` and
    ``plot()`` as the other estimators.
    """

    att: float
    treated_unit: Any
    treatment_time: Any
    weights: pl.DataFrame
    v_weights: pl.DataFrame
    path: pl.DataFrame
    placebos: pl.DataFrame
    placebo_gaps: pl.DataFrame
    rmspe_ratio: float
    pvalue_fraction: Fraction | None
    depvar: str = "y"
    extra: dict[str, Any] = field(default_factory=dict)
    #: units (treated and placebos) whose pre-period fit is exact: ranked by post-period RMSPE
    n_exact_fit: int = 0

    @property
    def pvalue(self) -> float:
        """Permutation p-value of the post/pre RMSPE ratio (NaN without placebos)."""
        return float(self.pvalue_fraction) if self.pvalue_fraction is not None else float("nan")

    @property
    def params(self) -> pd.Series:
        return pd.Series([self.att], index=["att"], name="parameter")

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series([self.pvalue], index=["att"], name="pvalue")

    @property
    def pre_rmspe(self) -> float:
        return float(self.placebos.filter(pl.col("treated"))["pre_rmspe"].item())

    def tidy(self) -> pl.DataFrame:
        """One row: ``term, estimate, pre_rmspe, rmspe_ratio, p_value, inference``."""
        n = self.placebos.height
        return pl.DataFrame(
            {
                "term": ["att"],
                "estimate": [self.att],
                "pre_rmspe": [self.pre_rmspe],
                "rmspe_ratio": [self.rmspe_ratio],
                "p_value": [self.pvalue],
                "inference": [f"placebo-in-space permutation of the RMSPE ratio ({n} units)"],
            }
        )

    def summary(self) -> str:
        """Printable summary: effect, fit, weights, permutation inference."""
        lines = [
            f"Synthetic control (Abadie, Diamond & Hainmueller 2010), outcome {self.depvar}",
            f"Treated unit: {self.treated_unit}; treatment from {self.treatment_time}",
            f"Average post-period gap (att): {self.att:.5g}",
            f"Pre-period RMSPE: {self.pre_rmspe:.5g}; post/pre RMSPE ratio: {self.rmspe_ratio:.4g}",
        ]
        if self.pvalue_fraction is not None:
            lines.append(
                f"Permutation p-value (ratio rank among {self.placebos.height} units): "
                f"{self.pvalue_fraction} = {self.pvalue:.4f}"
            )
        if self.n_exact_fit:
            lines.append(
                f"{self.n_exact_fit} of {self.placebos.height} units fit the pre-period exactly "
                "(RMSPE at round-off): their ratios use the exact-fit floor, so they are ranked "
                "by post-period RMSPE"
            )
        top = self.weights.filter(pl.col("weight") > 1e-3).sort("weight", descending=True)
        lines.append("Donor weights > 0.001:")
        lines += [f"  {r['unit']}: {r['weight']:.4f}" for r in top.iter_rows(named=True)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot(self, *, mspe_cutoff: float | None = 5.0, ax: Any = None, title: str = "") -> Any:
        """Gap of the treated unit (black) over the placebo gaps (grey).

        Placebos whose pre-period MSPE exceeds ``mspe_cutoff`` times the treated unit's are left
        out, as in figures 5-7 of the paper (``None`` keeps all). Returns the matplotlib ``Axes``.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _fig, ax = plt.subplots(figsize=(7, 4))
        pre_mspe = self.pre_rmspe**2
        keep = self.placebos.filter(~pl.col("treated"))
        if mspe_cutoff is not None:
            keep = keep.filter(pl.col("pre_rmspe") ** 2 <= mspe_cutoff * pre_mspe)
        for unit_id in keep["unit"].to_list():
            g = self.placebo_gaps.filter(pl.col("unit") == unit_id)
            ax.plot(g["time"].to_list(), g["gap"].to_numpy(), color="0.75", lw=0.8)
        ax.plot(self.path["time"].to_list(), self.path["gap"].to_numpy(), color="black", lw=2)
        ax.axhline(0, color="grey", ls="--", lw=0.8)
        ax.axvline(self.treatment_time, color="grey", ls=":", lw=0.8)
        ax.set_ylabel(f"gap in {self.depvar}")
        ax.set_title(title or f"{self.treated_unit}: gap and placebo gaps")
        return ax


def synth(
    data: Any,
    y: str,
    unit: str,
    time: str,
    treated_unit: Any,
    treatment_time: Any,
    *,
    predictors: Sequence[Predictor] | None = None,
    donors: Sequence[Any] | None = None,
    placebos: bool = True,
    n_starts: int = 2,
    seed: int = 0,
) -> SynthResult:
    """Synthetic control weights, gap, in-space placebos and the RMSPE-ratio permutation test.

    ``W = argmin_{W >= 0, 1'W = 1} (X1 - X0 W)' V (X1 - X0 W)`` with ``V`` minimising the
    pre-period MSPE (Abadie, Diamond & Hainmueller 2010, JASA 105(490)); see the module docstring.

    Parameters
    ----------
    data : polars or pandas frame
        Long balanced panel of ``unit`` x ``time`` with the outcome ``y``.
    y, unit, time : str
        Outcome, unit and period columns.
    treated_unit : label
        The treated unit.
    treatment_time : label
        The first treated period (periods before it are the pre-period).
    predictors : list, optional
        Each a column (averaged over the pre-period) or ``(column, periods)`` (averaged over
        those periods, e.g. ``("cigsale", [1975])``). Without predictors, the pre-period outcomes
        are matched directly (``V = I``).
    donors : list, optional
        Donor pool (default: every other unit).
    placebos : bool
        Run the in-space placebos and the permutation test (default).
    n_starts : int
        Random starts of the ``V`` search besides equal weights (with predictors).
    seed : int
        Seed of those starts.

    Returns
    -------
    SynthResult
    """
    df = to_polars(data)
    needed = {y, unit, time}
    for p in predictors or []:
        needed.add(p if isinstance(p, str) else p[0])
    check_columns(df, sorted(needed))
    # numbers only: a text outcome or predictor is an error naming the column, never a cast
    numeric_column(df, y, "outcome")
    for c in sorted(needed - {y, unit, time}):
        numeric_column(df, c, "predictor")
    times = df.get_column(time).unique().sort().to_list()
    if treatment_time not in times:
        raise ModelSpecError(f"treatment_time {treatment_time!r} is not a period of {time!r}")
    t0 = times.index(treatment_time)
    if t0 < 1 or t0 == len(times):
        raise ModelSpecError("synth needs at least one pre- and one post-treatment period")
    units = df.get_column(unit).unique().sort().to_list()
    if treated_unit not in units:
        raise ModelSpecError(f"treated_unit {treated_unit!r} is not a unit of {unit!r}")
    unknown = [d for d in donors if d not in units] if donors is not None else []
    if unknown:
        raise ModelSpecError(f"donors not units of {unit!r}: {unknown}")
    pool = [u for u in (donors if donors is not None else units) if u != treated_unit]
    if len(pool) < 2:
        raise ModelSpecError("synth needs at least two donor units")
    wide = df.pivot(on=unit, index=time, values=y).sort(time)
    if (
        wide.height != len(times)
        or wide.select(pl.exclude(time)).null_count().sum_horizontal().item()
    ):
        raise ModelSpecError(f"synth needs a balanced panel of {y!r} without missing values")
    ymat = {u: wide.get_column(str(u)).cast(pl.Float64).to_numpy() for u in [treated_unit, *pool]}

    # predictors: (k, units) matrix scaled by the sd across units (Synth's dataprep/synth)
    xmat: dict[Any, FloatArray] | None = None
    pred_names: list[str] = []
    if predictors:
        rows = []
        pre_times = times[:t0]
        for p in predictors:
            col, periods = (p, pre_times) if isinstance(p, str) else (p[0], list(p[1]))
            pred_names.append(col if isinstance(p, str) else f"{col}{list(periods)}")
            agg = (
                df.filter(pl.col(time).is_in(periods))
                .group_by(unit)
                .agg(pl.col(col).cast(pl.Float64).mean())
            )
            lookup = dict(zip(agg[unit].to_list(), agg[col].to_list(), strict=True))
            vals = [lookup.get(u) for u in [treated_unit, *pool]]
            if any(v is None or not np.isfinite(v) for v in vals):
                raise ModelSpecError(f"predictor {pred_names[-1]!r} is missing for some unit")
            rows.append(np.asarray(vals, dtype=np.float64))
        x = np.vstack(rows)
        sd = x.std(axis=1, ddof=1)
        sd[sd == 0] = 1.0
        x = x / sd[:, None]
        xmat = {u: x[:, i] for i, u in enumerate([treated_unit, *pool])}

    def fit(target: Any, donors_: list[Any]) -> _Fit:
        y0 = np.column_stack([ymat[d] for d in donors_])
        x1 = xmat[target] if xmat is not None else None
        x0 = np.column_stack([xmat[d] for d in donors_]) if xmat is not None else None
        return _fit_unit(ymat[target], y0, x1, x0, t0, seed=seed, n_starts=n_starts)

    main = fit(treated_unit, pool)

    def rmspe(gap: FloatArray) -> tuple[float, float]:
        return float(np.sqrt(np.mean(gap[:t0] ** 2))), float(np.sqrt(np.mean(gap[t0:] ** 2)))

    # the exact-fit floor of RMSPE_pre (module docstring): round-off is not a fit
    pre_values = np.concatenate([ymat[u][:t0] for u in [treated_unit, *pool]])
    floor = EXACT_FIT_RELATIVE * float(np.sqrt(np.mean(pre_values**2)))
    n_exact = 0

    def ratio_of(pre_: float, post_: float) -> float:
        nonlocal n_exact
        if pre_ <= floor:
            n_exact += 1
        denom = max(pre_, floor)
        return post_ / denom if denom > 0 else float("inf")

    pre, post = rmspe(main.gap)
    ratio = ratio_of(pre, post)
    rows_p = [
        {
            "unit": treated_unit,
            "pre_rmspe": pre,
            "post_rmspe": post,
            "ratio": ratio,
            "treated": True,
        }
    ]
    gaps: list[pl.DataFrame] = []
    fraction: Fraction | None = None
    if placebos:
        for d in pool:
            others = [u for u in pool if u != d]
            f = fit(d, others)
            pr, po = rmspe(f.gap)
            rows_p.append(
                {
                    "unit": d,
                    "pre_rmspe": pr,
                    "post_rmspe": po,
                    "ratio": ratio_of(pr, po),
                    "treated": False,
                }
            )
            gaps.append(pl.DataFrame({"unit": [d] * len(times), "time": times, "gap": f.gap}))
        ratios = np.array([r["ratio"] for r in rows_p])
        fraction = Fraction(int(np.sum(ratios >= ratio)), len(rows_p))
    synthetic = ymat[treated_unit] - main.gap
    return SynthResult(
        att=float(np.mean(main.gap[t0:])),
        treated_unit=treated_unit,
        treatment_time=treatment_time,
        weights=pl.DataFrame({"unit": pool, "weight": main.weights}),
        v_weights=pl.DataFrame(
            {"predictor": pred_names, "v": main.v if pred_names else np.zeros(0)},
            schema={"predictor": pl.String, "v": pl.Float64},
        ),
        path=pl.DataFrame(
            {"time": times, "treated": ymat[treated_unit], "synthetic": synthetic, "gap": main.gap}
        ),
        placebos=pl.DataFrame(rows_p),
        placebo_gaps=pl.concat(gaps) if gaps else pl.DataFrame(),
        rmspe_ratio=ratio,
        pvalue_fraction=fraction,
        depvar=y,
        n_exact_fit=n_exact,
    )
