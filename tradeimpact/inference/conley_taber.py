"""Conley & Taber (2011) inference for difference-in-differences with few treated groups.

Reference: Conley, T. G. and Taber, C. R. (2011), "Inference with 'Difference in Differences'
with a Small Number of Policy Changes", Review of Economics and Statistics 93(1), 113-125.

Model: ``y_gt = alpha d_gt + X_gt beta + FE + eta_gt`` with ``N1`` treated groups (few) and ``N0``
control groups (many). With the fixed effects and controls partialled out (``a~ = M a``, Frisch-
Waugh-Lovell, :func:`tradeimpact.core.fixed_effects.demean`),

    alpha_hat - alpha = sum_{j treated} sum_t w_jt d~_jt eta_jt / sum_{j treated} sum_t w_jt d~_jt^2
                        + o_p(1)   (N0 -> inf),

which does not vanish as ``N0`` grows: its distribution is that of the treated groups' errors. CT
estimate it from the control groups' residuals: for a control group ``l`` the placebo value
``W_l = sum_t w_jt d~_jt e_lt / sum_t w_jt d~_jt^2`` applies the treated group's residualised
treatment path ``d~_j`` to ``l``'s residuals, cell by cell (time, or any cell key such as
product x month); with several treated groups one control group is drawn for each (all
combinations when few, otherwise ``n_draws`` seeded draws, with replacement as in CT).

Test inversion (as CT build their intervals): under ``H0: alpha = a0`` the residuals are
``e(a0) = M(y - a0 d)``, so ``W_l(a0) = A_l - a0 B_l`` and the statistic ``alpha_hat - a0`` are
linear in ``a0`` and the confidence set is found exactly from the breakpoints. Two rules:

* ``"symmetric"`` (default): keep ``a0`` when
  ``p(a0) = (1 + #{l: |W_l(a0)| >= |alpha_hat - a0|}) / (1 + N0) > 1 - level``: the statistic is
  ranked among the placebo values with itself included, which keeps the size at ``1 - level``
  with a finite number of control groups (exchangeable errors), e.g. one treated among 20;
* ``"equal_tailed"``: CT's quantile interval
  ``[alpha_hat - Q(1 - a/2), alpha_hat - Q(a/2)]``, ``Q`` the empirical quantiles of ``W``
  (order statistics ``ceil(N0 p)``); valid as ``N0 -> inf``, over-rejects with few controls.

Ferman & Pinto (2019), "Inference in Differences-in-Differences with Few Treated Groups and
Heteroskedasticity", Review of Economics and Statistics 101(3), 452-467: CT assume the treated
group's error has the controls' distribution; when groups differ in size (an aggregate of ``M_j``
individual observations per cell) the variance of ``W`` falls with ``M_j`` and CT over-reject for
a small treated group, under-reject for a large one. Their correction (``correction=
"ferman_pinto"``) models ``var(W_j | M_j) = A + B / M_j``, fits ``(A, B)`` by OLS of the controls'
``W_l^2`` on ``[1, 1/M_l]`` (at ``a0 = alpha_hat``; ``A, B >= 0``) and rescales each control's placebo value by
``sqrt(var(W | M_treated) / var(W | M_l))`` before it stands in for the treated group's error
(``variance="group_size"``). When every group has the same ``M`` (a unit-level aggregate panel
such as country-month trade flows) the model is a constant and the test *is* Conley-Taber's: the
result says so in ``reduces_to``. Their alternative for many pre-treatment periods (heteroskedas-
ticity of unknown form, stationarity in time) estimates each group's own variance from its pre-
period: ``variance="pre_period"`` rescales by ``s_treated / s_l``, ``s`` the residual s.d. of a
group in the fit on the untreated cells only (free of ``a0``, so the inversion stays exact). With
one treated unit in a balanced panel this ranks exactly as the studentized randomization test
(:mod:`tradeimpact.inference.studentized`); results carry that note in ``same_test_as``.

Written by hand because no Python package implements it; checked against a brute-force
re-estimation (explicit dummies) at each candidate ``a0`` in ``tests/test_conley_taber.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import optimize

from tradeimpact.core.fixed_effects import FixedEffects, demean
from tradeimpact.core.registry import inference_method
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]
Kind = Literal["symmetric", "equal_tailed"]
Correction = Literal["none", "ferman_pinto"]
Variance = Literal["group_size", "pre_period"]

TIE_RTOL = 1e-9


def _invert(
    stat0: float,
    a: FloatArray,
    b: FloatArray,
    alpha: float,
    kind: Kind,
) -> tuple[float, float]:
    """Accepted hull of ``a0`` for statistic ``stat0 - a0`` against placebos ``a - a0 b``."""
    n0 = a.size
    pts: list[float] = []
    cands: tuple[FloatArray, ...]
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "symmetric":
            cands = ((a - stat0) / (b - 1.0), (a + stat0) / (b + 1.0))
        else:
            cands = ((a - stat0) / (b - 1.0),)
        for r in cands:
            pts.extend(r[np.isfinite(r)].tolist())
    pts = sorted(set(pts))
    span = max(1.0, *(abs(p) for p in pts)) if pts else max(1.0, abs(stat0))
    grid = [pts[0] - span] if pts else [stat0 - span]
    for lo, hi in itertools.pairwise(pts):
        grid += [lo, 0.5 * (lo + hi)]
    if pts:
        grid += [pts[-1], pts[-1] + span]
    g = np.array(grid)
    stat = stat0 - g
    plac = a[None, :] - g[:, None] * b[None, :]
    if kind == "symmetric":
        tol = TIE_RTOL * np.maximum(1.0, np.abs(stat))
        count = (np.abs(plac) >= (np.abs(stat) - tol)[:, None]).sum(axis=1)
        keep = (1 + count) / (1 + n0) > alpha + 1e-12
    else:
        k_lo = max(1, math.ceil(n0 * alpha / 2))
        k_hi = max(1, math.ceil(n0 * (1 - alpha / 2)))
        srt = np.sort(plac, axis=1)
        # the endpoints are breakpoints where the statistic equals an order statistic: without a
        # tie tolerance, rounding rejects them and the hull shrinks to the next midpoint
        tol = TIE_RTOL * np.maximum(1.0, np.maximum(np.abs(stat), np.abs(srt).max(axis=1)))
        keep = (stat >= srt[:, k_lo - 1] - tol) & (stat <= srt[:, k_hi - 1] + tol)
    if not keep.any():
        return (math.nan, math.nan)
    low = -math.inf if keep[0] else float(g[keep].min())
    high = math.inf if keep[-1] else float(g[keep].max())
    return (low, high)


@dataclass
class ConleyTaberResult:
    """Conley-Taber interval for the treatment coefficient.

    Attributes
    ----------
    estimate : float
        ``alpha_hat``.
    low, high : float
        The interval at ``level`` (test inversion, see the module docstring).
    placebo : numpy.ndarray
        ``W`` at ``a0 = alpha_hat`` (the estimated distribution of ``alpha_hat - alpha``).
    method : str
        Name of the method and rule.
    """

    estimate: float
    level: float
    kind: Kind
    n_treated: int
    n_control: int
    exact: bool
    method: str
    _a: FloatArray = field(repr=False)
    _b: FloatArray = field(repr=False)
    nobs: int = 0
    reduces_to: str | None = None
    same_test_as: str | None = None

    @property
    def p_fraction(self) -> Fraction | None:
        """The p-value of ``alpha = 0`` as a fraction (symmetric rule, all placebos enumerated)."""
        if self.kind != "symmetric" or not self.exact:
            return None
        stat = self.estimate
        tol = TIE_RTOL * max(1.0, abs(stat))
        count = int((np.abs(self._a) >= abs(stat) - tol).sum())
        return Fraction(1 + count, 1 + self._a.size)

    @property
    def placebo(self) -> FloatArray:
        return np.asarray(self._a - self.estimate * self._b)

    @property
    def ci(self) -> tuple[float, float]:
        """``(low, high)`` at the result's level."""
        return self.conf_int(self.level)

    @property
    def low(self) -> float:
        return self.ci[0]

    @property
    def high(self) -> float:
        return self.ci[1]

    def conf_int(self, level: float = 0.95) -> tuple[float, float]:
        """Interval by test inversion at ``level``."""
        return _invert(self.estimate, self._a, self._b, 1 - level, self.kind)

    def pvalue_at(self, a0: float = 0.0) -> float:
        """P-value of ``H0: alpha = a0`` under the result's rule."""
        stat = self.estimate - a0
        plac = self._a - a0 * self._b
        n0 = plac.size
        if self.kind == "symmetric":
            tol = TIE_RTOL * max(1.0, abs(stat))
            return float((1 + (np.abs(plac) >= abs(stat) - tol).sum()) / (1 + n0))
        tol = TIE_RTOL * max(1.0, abs(stat))
        below = (plac <= stat + tol).mean()
        above = (plac >= stat - tol).mean()
        return float(min(1.0, 2 * min(below, above)))

    @property
    def pvalue(self) -> float:
        """P-value of ``H0: alpha = 0``."""
        return self.pvalue_at(0.0)

    def tidy(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "term": ["treatment"],
                "estimate": [self.estimate],
                "p_value": [self.pvalue],
                "conf_low": [self.low],
                "conf_high": [self.high],
                "n_control": [self.n_control],
                "method": [self.method],
            }
        )

    def summary(self) -> str:
        return "\n".join(
            [
                self.method,
                f"treated groups: {self.n_treated}   control groups: {self.n_control}   "
                f"nobs: {self.nobs}",
                f"estimate: {self.estimate:.6g}   p-value (alpha = 0): {self.pvalue:.4f}",
                f"{100 * self.level:g}% interval: [{self.low:.6g}, {self.high:.6g}]",
            ]
        )

    def __str__(self) -> str:
        return self.summary()


def _fp_group_size(
    num_a: list[FloatArray],
    num_b: list[FloatArray],
    dens: list[float],
    alpha_hat: float,
    m_g: FloatArray,
    treated_g: npt.NDArray[np.int64],
    control_g: npt.NDArray[np.int64],
) -> tuple[list[FloatArray], str | None]:
    """Ferman-Pinto factors ``sqrt(var(W | M_j) / var(W | M_l))`` from ``W_l^2 = A + B/M_l + u``.

    ``W_jl = (A_jl - alpha_hat B_jl) / den_j`` is control ``l``'s placebo value on treated group
    ``j``'s path; least squares of ``W_jl^2`` on ``[1, 1/M_l]`` over the controls gives
    ``(A, B)``, constrained to ``A, B >= 0`` (non-negative least squares: with few controls the
    unconstrained fit can make a variance negative at some ``M``; the constraint gives the
    homoskedastic CT scaling when ``B`` would be negative).
    Equal ``M`` for every group: the model is a constant, every factor is 1 and the test is
    Conley-Taber's (returned as the second element).
    """
    m_all = m_g[np.concatenate([treated_g, control_g])]
    if np.ptp(m_all) <= 1e-12 * float(np.max(np.abs(m_all))):
        note = (
            "Conley-Taber (2011): every group has the same number of observations per cell, so "
            "the Ferman-Pinto variance A + B/M is constant and the correction does nothing"
        )
        return [np.ones(control_g.size) for _ in treated_g], note
    z = np.column_stack([np.ones(control_g.size), 1.0 / m_g[control_g]])
    factors = []
    for j, a_j, b_j, den_j in zip(treated_g, num_a, num_b, dens, strict=True):
        w_l = (a_j - alpha_hat * b_j) / den_j
        # A, B >= 0 (a variance cannot be negative at any M): non-negative least squares
        coef = optimize.nnls(z, w_l**2)[0]
        var_l = coef[0] + coef[1] / m_g[control_g]
        var_j = coef[0] + coef[1] / m_g[j]
        floor = 1e-12 * max(float(np.max(np.abs(var_l))), 1e-300)
        if var_j <= floor or (var_l <= floor).any():
            raise ModelSpecError(
                "the Ferman-Pinto variance model A + B/M is zero at some group size "
                f"(A = {coef[0]:.4g}, B = {coef[1]:.4g}): the controls' placebo values are all "
                "zero; use variance='pre_period'"
            )
        factors.append(np.sqrt(var_j / var_l))
    return factors, None


def _pre_period_sd(
    y: FloatArray,
    d: FloatArray,
    g: npt.NDArray[np.int64],
    c: npt.NDArray[np.int64],
    fe: FixedEffects,
    x: FloatArray | None,
    w: FloatArray | None,
    g_lab: npt.NDArray[Any],
) -> FloatArray:
    """Residual s.d. of every group in the fit ``y ~ FE (+ X)`` on the cells without treatment."""
    treated_cells = np.unique(c[d != 0])
    pre = ~np.isin(c, treated_cells)
    if not pre.any():
        raise ModelSpecError("no cell without treatment: the pre-period variance is undefined")
    cols = np.column_stack([y[pre], *([x[pre]] if x is not None else [])])
    wp = None if w is None else w[pre]
    dm = demean(cols, fe.subset(pre), wp)
    e = dm[:, 0]
    if x is not None:
        xt = dm[:, 1:]
        ww = np.ones(e.size) if wp is None else wp
        e = e - xt @ np.linalg.lstsq(xt * np.sqrt(ww)[:, None], e * np.sqrt(ww), rcond=None)[0]
    ww = np.ones(e.size) if wp is None else wp
    n_g = g_lab.size
    ss = np.bincount(g[pre], weights=ww * e * e, minlength=n_g)
    cnt = np.bincount(g[pre], weights=ww, minlength=n_g)
    sd = np.sqrt(np.divide(ss, cnt, out=np.zeros(n_g), where=cnt > 0))
    tiny = 1e-12 * max(1.0, float(np.sqrt(np.mean(e * e))))
    if (sd <= tiny).any():
        bad = int(np.flatnonzero(sd <= tiny)[0])
        raise ModelSpecError(
            f"group {g_lab[bad]!r} has no pre-period cell or no residual variation there: the "
            "pre-period variance is undefined"
        )
    return sd


def conley_taber(
    y: Any,
    treatment: npt.ArrayLike | None = None,
    groups: npt.ArrayLike | None = None,
    cells: npt.ArrayLike | None = None,
    fe: FixedEffects | None = None,
    controls: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
    *,
    level: float = 0.95,
    kind: Kind = "symmetric",
    max_exact: int = 10_000,
    n_draws: int = 9_999,
    seed: int = 0,
    correction: Correction = "none",
    group_sizes: npt.ArrayLike | None = None,
    variance: Variance | None = None,
) -> ConleyTaberResult:
    """Conley & Taber (2011) confidence interval for a few treated groups.

    Two call forms (dispatching on the first argument): a fitted did() result
    (``conley_taber(result, correction="ferman_pinto", group_sizes="column")``: the registered
    method ``"conley_taber"`` (``"conley_taber_fp"`` with the correction), the same numbers as
    ``did(..., inference="conley_taber", conley_taber={...})``; ``group_sizes`` may name a column
    there), or the arrays below.

    With ``correction="ferman_pinto"`` the control groups' placebo values are rescaled to the
    treated group's modelled variance before they stand in for its error (Ferman & Pinto 2019;
    see the module docstring): ``variance="group_size"`` (default when ``group_sizes`` is given)
    fits ``var(W | M) = A + B / M`` on the controls, ``"pre_period"`` (default otherwise) scales
    by each group's pre-period residual s.d.

    Parameters
    ----------
    y : array (n,)
        Outcome.
    treatment : array (n,)
        Treatment variable ``d`` (0 for every observation of a control group).
    groups : array (n,)
        Group (the level at which treatment is assigned, e.g. importer); treated groups are
        those with some non-zero ``d``.
    cells : array (n,)
        Key matching observations across groups (the period, or a product x period key); each
        group has at most one observation per cell and every control group must have the cells
        of every treated group.
    fe : FixedEffects
        Fixed effects absorbed (normally group and period effects).
    controls : array (n, k), optional
        Covariates.
    weights : array (n,), optional
        Regression weights.
    level : float
        Coverage of the interval.
    kind : {"symmetric", "equal_tailed"}
        Inversion rule (see the module docstring); "symmetric" keeps the size with few controls.
    max_exact, n_draws, seed
        With several treated groups: enumerate all ``N0^N1`` assignments of control groups when
        at most ``max_exact``, else draw ``n_draws`` (seeded).
    correction : {"none", "ferman_pinto"}
        Heteroskedasticity correction of the placebo values (Ferman & Pinto 2019).
    group_sizes : array (n,), optional
        Number of individual observations behind each row (e.g. firms, shipments, population);
        a group's ``M`` is its mean over its rows. Used by ``variance="group_size"``.
    variance : {"group_size", "pre_period"}, optional
        The Ferman-Pinto variance model (see above).

    Returns
    -------
    ConleyTaberResult
        ``low``, ``high``, ``ci``, ``method``, ``pvalue`` (``H0: alpha = 0``), ``conf_int(level)``.
    """
    if isinstance(y, RegressionResult):
        if any(a is not None for a in (treatment, groups, cells, fe, controls, weights)):
            raise ModelSpecError(
                "with a fitted result give only the method's options: the result holds its "
                "outcome, treatment, groups, cells, fixed effects, controls and weights"
            )
        given = {"level": level, "kind": kind, "max_exact": max_exact, "n_draws": n_draws,
                 "seed": seed, "correction": correction, "group_sizes": group_sizes,
                 "variance": variance}  # fmt: skip
        defaults = {"level": 0.95, "kind": "symmetric", "max_exact": 10_000, "n_draws": 9_999,
                    "seed": 0, "correction": "none", "group_sizes": None, "variance": None}  # fmt: skip
        # the options that differ from the defaults (group_sizes may be an array: identity)
        opts = {k: v for k, v in given.items()
                if (v is not None if defaults[k] is None else v != defaults[k])}  # fmt: skip
        name = "conley_taber_fp" if correction == "ferman_pinto" else "conley_taber"
        return inference_method(name)(y, **opts)  # type: ignore[no-any-return]
    if treatment is None or groups is None or cells is None or fe is None:
        raise ModelSpecError(
            "give y, treatment, groups, cells and fe (arrays), or a fitted did() result"
        )
    if correction not in ("none", "ferman_pinto"):
        raise ModelSpecError(f"correction must be 'none' or 'ferman_pinto', not {correction!r}")
    if variance is None:
        variance = "group_size" if group_sizes is not None else "pre_period"
    if variance not in ("group_size", "pre_period"):
        raise ModelSpecError(f"variance must be 'group_size' or 'pre_period', not {variance!r}")
    if kind not in ("symmetric", "equal_tailed"):
        raise ModelSpecError(f"kind must be 'symmetric' or 'equal_tailed', got {kind!r}")
    y_arr = np.asarray(y, dtype=np.float64).ravel()
    d = np.asarray(treatment, dtype=np.float64).ravel()
    n = y_arr.size
    if d.size != n or fe.n != n:
        raise ModelSpecError("y, treatment and the fixed effects must have the same rows")
    g_codes_raw = np.asarray(groups)
    c_codes_raw = np.asarray(cells)
    if g_codes_raw.shape[0] != n or c_codes_raw.shape[0] != n:
        raise ModelSpecError("groups and cells must have one entry per observation")
    g_lab, g = np.unique(g_codes_raw, return_inverse=True)
    c_lab, c = np.unique(c_codes_raw, return_inverse=True)
    g, c = g.ravel(), c.ravel()
    n_g, n_c = g_lab.size, c_lab.size
    treated_g = np.unique(g[d != 0])
    control_g = np.setdiff1d(np.arange(n_g), treated_g)
    if treated_g.size == 0:
        raise ModelSpecError("no treated group: the treatment is zero everywhere")
    if control_g.size == 0:
        raise ModelSpecError("no control groups: every group has some treatment")
    key = g * n_c + c
    if np.unique(key).size != n:
        raise ModelSpecError("some group has two observations in the same cell")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    x = None if controls is None else np.asarray(controls, dtype=np.float64).reshape(n, -1)
    cols = [y_arr[:, None], d[:, None]] + ([x] if x is not None else [])
    dm = demean(np.column_stack(cols), fe, None if weights is None else w)
    y_t, d_t = dm[:, 0], dm[:, 1]
    if x is not None:
        x_t = dm[:, 2:]
        xtwx = x_t.T @ (x_t * w[:, None])
        if np.linalg.matrix_rank(xtwx) < xtwx.shape[0]:
            raise ModelSpecError("the controls are collinear with the fixed effects")
        proj = np.linalg.solve(xtwx, x_t.T @ (w[:, None] * np.column_stack([y_t, d_t])))
        resid = np.column_stack([y_t, d_t]) - x_t @ proj
        y_t, d_t = resid[:, 0], resid[:, 1]
    den_all = float(d_t @ (w * d_t))
    if den_all <= 1e-12 * max(1.0, float(d @ (w * d))):
        raise ModelSpecError("the treatment is collinear with the fixed effects and controls")
    alpha_hat = float(d_t @ (w * y_t)) / den_all

    # residuals under H0: alpha = a0 are M(y) - a0 M(d): keep both parts, cell by cell
    ey = np.full((n_g, n_c), np.nan)
    ed = np.full((n_g, n_c), np.nan)
    ey[g, c] = y_t
    ed[g, c] = d_t
    num_a = []  # per treated group: A (N0,), B (N0,) before dividing by the common denominator
    num_b = []
    dens = []
    den = 0.0
    for j in treated_g:
        rows = g == j
        cj = c[rows]
        wd = w[rows] * d_t[rows]  # w_jt d~_jt
        sub_y = ey[np.ix_(control_g, cj)]
        sub_d = ed[np.ix_(control_g, cj)]
        if np.isnan(sub_y).any():
            bad = control_g[np.isnan(sub_y).any(axis=1)][0]
            raise ModelSpecError(
                f"control group {g_lab[bad]!r} lacks cells of treated group {g_lab[j]!r}: "
                "every control group must be observed in the cells of every treated group"
            )
        num_a.append(sub_y @ wd)
        num_b.append(sub_d @ wd)
        dens.append(float(wd @ d_t[rows]))
        den += dens[-1]
    n1, n0 = treated_g.size, control_g.size
    reduces_to: str | None = None
    fp_label = ""
    if correction == "ferman_pinto":
        if variance == "group_size":
            if group_sizes is None:
                raise ModelSpecError("variance='group_size' needs group_sizes (one per row)")
            m_rows = np.asarray(group_sizes, dtype=np.float64).ravel()
            if m_rows.size != n or not (np.isfinite(m_rows).all() and (m_rows > 0).all()):
                raise ModelSpecError("group_sizes must be positive and finite, one per row")
            m_g = np.bincount(g, weights=m_rows, minlength=n_g) / np.bincount(g, minlength=n_g)
            factors, reduces_to = _fp_group_size(num_a, num_b, dens, alpha_hat, m_g, treated_g,
                                                 control_g)  # fmt: skip
            fp_label = "variance A + B/M fitted on the controls"
        else:
            s_g = _pre_period_sd(y_arr, d, g, c, fe, x, None if weights is None else w, g_lab)
            factors = [s_g[j] / s_g[control_g] for j in treated_g]
            fp_label = "each group's pre-period residual s.d."
        num_a = [a * f for a, f in zip(num_a, factors, strict=True)]
        num_b = [b * f for b, f in zip(num_b, factors, strict=True)]
    total = n0**n1
    if total <= max_exact:
        exact = True
        combos = np.array(list(itertools.product(range(n0), repeat=n1)), dtype=np.int64)
    else:
        exact = False
        combos = np.random.default_rng(seed).integers(0, n0, size=(n_draws, n1))
    a_vals = sum(num_a[j][combos[:, j]] for j in range(n1)) / den
    b_vals = sum(num_b[j][combos[:, j]] for j in range(n1)) / den
    rule = (
        "symmetric rank test, statistic included in the reference set"
        if kind == "symmetric"
        else "equal-tailed quantiles of the placebo distribution (CT 2011)"
    )
    balanced = n == n_g * n_c and weights is None and x is None and fe.n_groupings == 2
    same: str | None = None
    if n1 == 1 and kind == "symmetric" and balanced:
        same = (
            "coefficient randomization inference (placebo-in-space): with one treated unit in a "
            "balanced panel each W_l is control l's placebo estimate, so p and interval coincide"
            if correction == "none" or reduces_to is not None
            else (
                "studentized randomization inference (RI-t, pre-period s.d.): with one treated "
                "unit in a balanced panel the rescaled W_l rank exactly as the studentized "
                "placebo estimates"
                if variance == "pre_period"
                else None
            )
        )
    method = f"Conley-Taber (2011), residual-based, test inversion ({rule})"
    if correction == "ferman_pinto":
        method = (
            f"Conley-Taber with the Ferman-Pinto (2019) heteroskedasticity correction "
            f"({fp_label}), test inversion ({rule})"
        )
    return ConleyTaberResult(
        estimate=alpha_hat,
        level=level,
        kind=kind,
        n_treated=int(n1),
        n_control=int(n0),
        exact=exact,
        method=method,
        reduces_to=reduces_to,
        same_test_as=same,
        _a=np.asarray(a_vals, dtype=np.float64),
        _b=np.asarray(b_vals, dtype=np.float64),
        nobs=n,
    )


def conley_taber_panel(
    data: object,
    y: str,
    unit: str,
    time: str,
    treated: Hashable | list[Hashable],
    post: str,
    fe: list[str] | None = None,
    **kwargs: object,
) -> ConleyTaberResult:
    """Frame front end: ``d = 1[unit in treated] * post``, cells = ``time``, FE = unit + time.

    ``data`` is a polars or pandas frame; other keyword arguments go to :func:`conley_taber`.
    """
    from tradeimpact.inference.randomization import _to_polars

    fe_cols = fe if fe is not None else [unit, time]
    frame = _to_polars(data, list(dict.fromkeys([y, unit, time, post, *fe_cols])))
    tl = treated if isinstance(treated, list) else [treated]
    units = frame[unit].to_numpy()
    missing = [t for t in tl if t not in set(units.tolist())]
    if missing:
        raise ModelSpecError(f"treated unit(s) {missing} not found in column '{unit}'")
    d = np.isin(units, np.asarray(tl)).astype(float) * frame[post].cast(pl.Float64).to_numpy()
    fx = FixedEffects.from_columns([frame[col].to_numpy() for col in fe_cols], fe_cols)
    return conley_taber(
        frame[y].cast(pl.Float64).to_numpy(),
        d,
        units,
        frame[time].to_numpy(),
        fx,
        **kwargs,  # type: ignore[arg-type]
    )
