"""Wild cluster bootstrap (restricted, WCR) p-values and confidence intervals by test inversion.

Reference: Roodman, MacKinnon, Nielsen & Webb (2019), "Fast and wild: Bootstrap inference in Stata
using boottest", Stata Journal 19(1); Cameron, Gelbach & Miller (2008), REStat 90(3); Webb (2023),
"Reworking wild bootstrap-based inference for clustered errors", Canadian J. Economics (6-point
weights); MacKinnon & Webb (2017) on few treated clusters.

Model ``y = X beta + D alpha + u`` (``D`` fixed-effect dummies, already partialled out: the
inputs are ``X~ = M_D X`` and ``y~ = M_D y``), test ``H0: beta_j = r`` with the CR1 t-statistic
``t = (b_j - r) / se_j``. The restricted ("WCR", boottest's ``11``) bootstrap:

1. restricted fit under ``H0``: ``e_r = M_[D, X_-j] (y - r x_j)``;
2. for draws ``v*_g`` (Rademacher ``+-1``, or Webb's six points ``+-sqrt(1/2), +-1, +-sqrt(3/2)``)
   per cluster ``g``: ``y* = fitted_r + e_r * v*_{g(i)}``;
3. ``t*_b = (b*_j - r) / se*_j`` with the same CR1 formula (the ``G/(G-1) (n-1)/(n-k)`` factor
   cancels between ``t`` and ``t*``);
4. p-value ``= #{b : |t*_b| >= |t|} / B`` (symmetric, two-sided); the confidence interval is the
   set of ``r`` not rejected at ``1 - level``, found by bisection on each side.

Everything is linear in the draws (Roodman et al. 2019, sec. 3): with ``a_j`` row ``j`` of
``(X~'X~)^{-1}``, ``c_i = x~_i' a_j``, cluster sums ``p_g = sum_{i in g} c_i e_r,i`` and
``A = M_Z (e_r o C)`` (``C`` the n x G cluster indicator matrix, ``Z = [D, X]``),
``b*_j - r = p' v`` and ``se*_j^2 = k_c ||Q v||^2`` with ``Q = C' diag(c) A`` (G x G). ``M_Z`` of
the ``G`` columns ``e_r o C`` takes one :func:`~tradeimpact.models.absorb.demean` call (the fixed
effects need not be nested in the clusters). ``e_r`` is affine in ``r`` so every candidate ``r`` of
the test inversion costs ``O(G B)``. Memory: two ``n x G`` arrays.

Draws: with Rademacher weights and ``2^G <= B`` all ``2^G`` sign vectors are enumerated (the test is
then exact and deterministic); otherwise ``B`` draws from ``numpy.random.default_rng(seed)`` in the
order of the ``wildboottest`` package (``rng.choice`` over the support, ``G*B`` values reshaped to
``G x B``), so that a given seed gives the same draws as pyfixest's ``wildboottest``.

Written by hand because neither linearmodels nor statsmodels has a wild cluster bootstrap and the
``wildboottest`` package needs the fixed effects as dummies; tested against pyfixest's
``Feols.wildboottest`` (which calls ``wildboottest``) in ``tests/test_wild_bootstrap.py``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.absorb import FixedEffects, demean

FloatArray = npt.NDArray[np.float64]
WeightsType = Literal["rademacher", "webb"]

#: Relative tolerance under which ``|t*|`` and ``|t|`` count as tied (ties count against H0).
TIE_RTOL = 1e-9

WEBB_SUPPORT = np.concatenate([-np.sqrt(np.array([3, 2, 1]) / 2), np.sqrt(np.array([1, 2, 3]) / 2)])


def draw_weights(
    n_clusters: int, B: int, weights_type: WeightsType, seed: int
) -> tuple[FloatArray, bool]:
    """Bootstrap weights ``(G, B')`` and whether they are the full Rademacher enumeration."""
    if weights_type == "rademacher" and 2**n_clusters <= B:
        v = np.array(list(itertools.product([-1.0, 1.0], repeat=n_clusters))).T
        return v.astype(np.float64), True
    rng = np.random.default_rng(seed)
    if weights_type == "rademacher":
        draws = rng.choice(np.array([-1, 1]), size=n_clusters * B, replace=True)
    elif weights_type == "webb":
        draws = rng.choice(WEBB_SUPPORT, size=n_clusters * B, replace=True)
    else:
        raise ModelSpecError(f"weights_type must be 'rademacher' or 'webb', not {weights_type!r}")
    return np.asarray(draws, dtype=np.float64).reshape(n_clusters, B), False


@dataclass
class WildBootstrapResult:
    """Wild cluster bootstrap test of ``H0: beta_j = r`` (restricted, symmetric p-value).

    Attributes
    ----------
    term : str
        The coefficient tested.
    estimate, std_error : float
        ``b_j`` and its CR1 standard error with ``k`` = the columns of ``x_t`` only (absorbed
        fixed effects not counted; the factor cancels in the bootstrap, so the p-value and the
        interval do not depend on it; the model's own SE is in the regression result).
    null : float
        The hypothesised value ``r`` of :attr:`pvalue`.
    tstat : float
        ``(b_j - r) / se_j``.
    pvalue : float
        ``#{b : |t*_b| >= |t|} / B`` (ties within ``1e-9`` relative count against H0).
    pvalue_strict : float
        ``#{b : |t*_b| > |t|} / B`` beyond the tie tolerance (the rule of ``wildboottest``).
    B : int
        Number of bootstrap draws (``2^G`` under full enumeration).
    full_enumeration : bool
    weights_type : str
    n_clusters : int
    method : str
        Label for result tables.
    """

    term: str
    estimate: float
    std_error: float
    null: float
    tstat: float
    pvalue: float
    pvalue_strict: float
    B: int
    full_enumeration: bool
    weights_type: str
    n_clusters: int
    seed: int
    method: str = ""
    _engine: Any = field(default=None, repr=False)
    _ci_cache: dict[float, tuple[float, float]] = field(default_factory=dict, repr=False)

    def pvalue_at(self, r: float) -> float:
        """Bootstrap p-value of ``H0: beta_j = r`` with the same draws."""
        return float(self._engine.pvalue(r)[0])

    def conf_int(self, level: float = 0.95) -> tuple[float, float]:
        """Confidence interval by test inversion: ``{r : p(r) > 1 - level}`` (bisection)."""
        if level not in self._ci_cache:
            self._ci_cache[level] = self._engine.invert(1 - level)
        return self._ci_cache[level]

    def summary(self) -> str:
        lo, hi = self.conf_int()
        return (
            f"{self.method}\n{self.term}: estimate {self.estimate:.6g} (CR1 se {self.std_error:.4g}); "
            f"H0 {self.term} = {self.null:g}: t = {self.tstat:.4f}, bootstrap p = {self.pvalue:.4f}; "
            f"95% CI by test inversion [{lo:.6g}, {hi:.6g}]"
        )

    def __str__(self) -> str:
        return self.summary()


class _WCREngine:
    """The pieces of the WCR bootstrap that are affine in ``r`` (see the module docstring)."""

    def __init__(
        self,
        x_t: FloatArray,
        y_t: FloatArray,
        codes: npt.NDArray[np.int64],
        j: int,
        fe: FixedEffects | None,
        weights: FloatArray | None,
        v: FloatArray,
    ) -> None:
        n, k = x_t.shape
        sw = np.ones(n) if weights is None else np.sqrt(weights)
        xs = x_t * sw[:, None]
        ys = y_t * sw
        g = int(codes.max()) + 1
        self.n, self.k, self.g = n, k, g
        xtx_inv = np.linalg.inv(xs.T @ xs)
        self.b = xtx_inv @ (xs.T @ ys)
        a_j = xtx_inv[j]
        c = xs @ a_j  # c_i = x_i' a_j
        others = [i for i in range(k) if i != j]
        xo = xs[:, others]

        def resid_on_others(a: FloatArray) -> FloatArray:
            if not others:
                return a.copy()
            return a - xo @ np.linalg.lstsq(xo, a, rcond=None)[0]

        e0 = resid_on_others(ys)  # restricted residual at r = 0
        f = resid_on_others(xs[:, j])  # e_r = e0 - r f

        def m_z(cols: FloatArray) -> FloatArray:
            """Residual maker of [D, X] in the sqrt(w)-transformed space, column-wise."""
            if fe is not None:
                cols = demean(cols / sw[:, None], fe, weights) * sw[:, None]
            return cols - xs @ (xtx_inv @ (xs.T @ cols))

        def cluster_matrix(e: FloatArray) -> FloatArray:
            m = np.zeros((n, g))
            m[np.arange(n), codes] = e
            return m

        def csum(a: FloatArray) -> FloatArray:
            out = np.zeros((g, *a.shape[1:]))
            np.add.at(out, codes, a)
            return out

        self.p0, self.p1 = csum(c * e0), csum(c * f)
        q0 = csum(c[:, None] * m_z(cluster_matrix(e0)))
        q1 = csum(c[:, None] * m_z(cluster_matrix(f)))
        self.v = v
        self.n0, self.n1 = self.p0 @ v, self.p1 @ v
        q0v, q1v = q0 @ v, q1 @ v
        self.d00 = np.sum(q0v * q0v, axis=0)
        self.d01 = np.sum(q0v * q1v, axis=0)
        self.d11 = np.sum(q1v * q1v, axis=0)
        # actual CR1 variance of b_j (without the common small-sample factor)
        resid = ys - xs @ self.b
        u = csum(c * resid)
        self.var_j = float(u @ u)
        self.j = j

    def tstats(self, r: float) -> tuple[float, FloatArray]:
        t = (self.b[self.j] - r) / np.sqrt(self.var_j)
        num = self.n0 - r * self.n1
        den = np.sqrt(np.maximum(self.d00 - 2 * r * self.d01 + r * r * self.d11, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            tb = np.where(den > 0, num / den, 0.0)
        return float(t), tb

    def pvalue(self, r: float) -> tuple[float, float, float]:
        t, tb = self.tstats(r)
        at, atb = abs(t), np.abs(tb)
        tie = TIE_RTOL * max(at, 1.0)
        p = float(np.mean(atb >= at - tie))
        p_strict = float(np.mean(atb > at + tie))
        return p, p_strict, t

    def invert(self, alpha: float) -> tuple[float, float]:
        b = float(self.b[self.j])
        se = np.sqrt(self.var_j)

        def rejected(r: float) -> bool:
            return self.pvalue(r)[0] <= alpha

        def edge(direction: float) -> float:
            step = 2.0 * se
            inside, out = b, b + direction * step
            tries = 0
            while not rejected(out):
                inside, out = out, b + direction * step * 2 ** (tries + 1)
                tries += 1
                if tries > 60:
                    return float(direction * np.inf)
            for _ in range(200):
                mid = (inside + out) / 2
                if rejected(mid):
                    out = mid
                else:
                    inside = mid
                if abs(out - inside) <= 1e-10 * max(se, abs(b), 1e-300):
                    break
            return float((inside + out) / 2)

        return edge(-1.0), edge(1.0)


def wild_cluster_bootstrap(
    x_t: npt.ArrayLike,
    y_t: npt.ArrayLike,
    clusters: npt.ArrayLike,
    term: int | str,
    *,
    names: list[str] | None = None,
    fe: FixedEffects | None = None,
    weights: npt.ArrayLike | None = None,
    null: float = 0.0,
    weights_type: WeightsType = "rademacher",
    B: int = 9999,
    seed: int = 0,
) -> WildBootstrapResult:
    """Restricted wild cluster bootstrap (WCR) test and test-inversion CI for one coefficient.

    Parameters
    ----------
    x_t, y_t : arrays (n, k) and (n,)
        Regressors and outcome with the fixed effects ``fe`` already partialled out (``M_D X``,
        ``M_D y``; e.g. ``result.extra["design"]`` of a linear fit).
    clusters : array (n,)
        Bootstrap (and CR1) cluster labels.
    term : int or str
        The coefficient tested (index or name in ``names``).
    fe : FixedEffects, optional
        The fixed effects partialled out of ``x_t``/``y_t`` (needed to project the bootstrap
        residuals when they are not nested in the clusters).
    weights : array (n,), optional
        Regression weights (WLS).
    null : float
        ``r`` of ``H0: beta_j = r`` for :attr:`WildBootstrapResult.pvalue`.
    weights_type : {"rademacher", "webb"}
    B : int
        Draws (Rademacher with ``2^G <= B``: full enumeration instead).
    seed : int

    Returns
    -------
    WildBootstrapResult
    """
    x = np.asarray(x_t, dtype=np.float64)
    y = np.asarray(y_t, dtype=np.float64).ravel()
    x = x.reshape(y.size, -1)
    names = names if names is not None else [f"x{i}" for i in range(x.shape[1])]
    j = names.index(term) if isinstance(term, str) else int(term)
    _, codes = np.unique(np.asarray(clusters), return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    g = int(codes.max()) + 1
    if g < 2:
        raise ModelSpecError("the wild cluster bootstrap needs at least two clusters")
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    v, full = draw_weights(g, B, weights_type, seed)
    eng = _WCREngine(x, y, codes, j, fe, w, v)
    p, p_strict, t = eng.pvalue(null)
    n, k = x.shape
    ssc = g / (g - 1) * (n - 1) / (n - k)
    label = (
        f"wild cluster bootstrap (restricted WCR, {weights_type}, "
        f"{'all 2^' + str(g) + ' draws' if full else 'B=' + str(v.shape[1]) + f', seed {seed}'}, "
        f"G={g}, CI by test inversion)"
    )
    return WildBootstrapResult(
        term=names[j],
        estimate=float(eng.b[j]),
        std_error=float(np.sqrt(ssc * eng.var_j)),
        null=float(null),
        tstat=t,
        pvalue=p,
        pvalue_strict=p_strict,
        B=int(v.shape[1]),
        full_enumeration=full,
        weights_type=weights_type,
        n_clusters=g,
        seed=seed,
        method=label,
        _engine=eng,
    )
