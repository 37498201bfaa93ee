"""HonestDiD: robust inference when parallel trends may be violated (Rambachan & Roth 2023).

Reference: Rambachan, A. and Roth, J. (2023), "A More Credible Approach to Parallel Trends",
Review of Economic Studies 90(5), 2555-2591; R package ``HonestDiD`` (functions
``createSensitivityResults_relativeMagnitudes``, ``createSensitivityResults``,
``computeConditionalCS_DeltaRM``, ``findOptimalFLCI``), whose defaults are followed.

Set-up. The event-study coefficients ``beta = (beta_pre, beta_post)`` (reference period excluded)
satisfy ``beta = tau + delta`` with ``tau_pre = 0``; the target is ``theta = l' tau_post``. The
difference in trends ``delta`` is restricted to a set ``Delta``:

* relative magnitudes ``Delta^RM(Mbar)``: every post-period first difference of ``delta`` is at
  most ``Mbar`` times the largest pre-period first difference (in absolute value). The confidence
  set is the union over the location ``s`` and sign of that largest pre-period difference of the
  conditional-least-favourable hybrid (C-LF) or conditional (ARP) confidence sets of Andrews,
  Roth & Pakes (2023, "Inference for linear conditional moment inequalities", REStud), computed by
  test inversion over a grid of ``theta`` (the package's default: 1,000 points on
  ``l'beta_post +- (Mbar sum_t t|l_t| maxpre + 20 sd(l'beta_post))``, ``maxpre`` the largest
  pre-period first difference; the interval is the hull of the accepted grid points). This is
  the grid of the package version behind its README's Medicaid numbers (the Python port
  ``moderndid`` documents the same formula); an older stored version of ``deltarm.R`` used
  ``+-20 sd(l'beta_post)`` around 0, which does not reproduce them. The grid matters: the
  reported end points are grid points.
* smoothness ``Delta^SD(M)``: second differences of ``delta`` bounded by ``M``. The fixed-length
  confidence interval (FLCI, Armstrong & Kolesar 2018) uses the affine estimator
  ``a + v' beta`` that minimises the half-length ``cv_alpha(b / h) h`` over the worst-case bias
  ``b`` and standard deviation ``h``, ``cv_alpha(t)`` the ``1 - alpha`` quantile of ``|N(t, 1)|``.

ARP test of ``E[Y - a theta - X nu] <= 0`` (``Y = A beta - d``, nuisance ``nu``): the statistic
``eta = min_nu max_j (Y - a theta - X nu)_j / sd_j`` equals ``max_gamma gamma'(Y - a theta)`` over
the vertices ``gamma`` of the dual polytope ``{gamma >= 0, sd'gamma = 1, X'gamma = 0}``. These
vertices do not depend on the data, so they are enumerated once (basic solutions) and every grid
point and simulation draw is a matrix product; the conditioning set of the optimal vertex gives
the truncation bounds ``(v_lo, v_up)`` exactly (ARP 2023, Appendix; ``HonestDiD``'s
``.vlo_vup_dual_fn`` finds the same bounds by bisection on a linear programme). The critical value
is the ``1 - alpha`` quantile of a normal truncated to ``[v_lo, v_up]`` (hybrid: ``v_up`` capped
at the least-favourable critical value at size ``kappa = alpha / 10``, second stage at size
``(alpha - kappa) / (1 - kappa)``).

The Monte Carlo pieces of the R package (least-favourable critical value from 1,000 draws,
folded-normal quantile from 10^6 draws, both after ``set.seed(0)``) are reproduced with R's own
random stream (:mod:`tradeimpact.sensitivity._rrandom`), so intervals agree with the package to
the printed digit. Written by hand because no Python package implements HonestDiD; checked
against the numbers the HonestDiD README reports for the Medicaid example in
``tests/test_honestdid.py``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import optimize, stats

from tradeimpact.errors import ModelSpecError
from tradeimpact.sensitivity._rrandom import RRandom, rmvnorm

FloatArray = npt.NDArray[np.float64]

Method = Literal["C-LF", "Conditional"]

#: Largest number of candidate bases enumerated for the dual vertices.
MAX_BASES = 500_000


# ----------------------------------------------------------------------------- inputs
def _check_inputs(
    betahat: npt.ArrayLike,
    sigma: npt.ArrayLike,
    num_pre: int,
    num_post: int,
    l_vec: npt.ArrayLike | None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    b = np.asarray(betahat, dtype=np.float64).ravel()
    s = np.asarray(sigma, dtype=np.float64)
    if num_pre < 1 or num_post < 1:
        raise ModelSpecError("HonestDiD needs at least one pre-period and one post-period")
    if b.size != num_pre + num_post:
        raise ModelSpecError(
            f"betahat has {b.size} coefficients but num_pre + num_post = {num_pre + num_post}"
        )
    if s.shape != (b.size, b.size):
        raise ModelSpecError(f"sigma must be {b.size} x {b.size}, got {s.shape}")
    if not np.allclose(s, s.T, atol=1e-12 * max(1.0, float(np.abs(s).max()))):
        raise ModelSpecError("sigma is not symmetric")
    if np.linalg.eigvalsh(s).min() < -1e-10 * max(1.0, float(np.abs(s).max())):
        raise ModelSpecError("sigma is not positive semi-definite")
    lv = np.zeros(num_post) if l_vec is None else np.asarray(l_vec, dtype=np.float64).ravel()
    if l_vec is None:
        lv[0] = 1.0
    if lv.size != num_post:
        raise ModelSpecError(f"l_vec must have num_post = {num_post} entries, got {lv.size}")
    return b, s, lv


# ----------------------------------------------------------------------------- Delta^RM
def _create_a_rm(
    num_pre: int, num_post: int, mbar: float, s: int, max_positive: bool
) -> FloatArray:
    """Constraint matrix ``A`` of ``Delta^RM_{s,sign}(Mbar) = {delta: A delta <= 0}``.

    Rows ``|delta_{t+1} - delta_t| <= c_t v' delta`` for every first difference, with ``v' delta``
    the pre-period first difference ending at ``s`` (``s = -(num_pre - 1), ..., 0``; sign flipped
    when ``max_positive`` is False), ``c_t = 1`` before and ``Mbar`` after the reference period;
    the column of the reference period ``t = 0`` is dropped.
    """
    n = num_pre + num_post
    a_tilde = np.zeros((n, n + 1))
    for r in range(n):
        a_tilde[r, r : r + 2] = (-1.0, 1.0)
    v = np.zeros(n + 1)
    v[num_pre + s - 1 : num_pre + s + 1] = (-1.0, 1.0)
    if not max_positive:
        v = -v
    a_ub = np.vstack([np.tile(v, (num_pre, 1)), np.tile(mbar * v, (num_post, 1))])
    a = np.vstack([a_tilde - a_ub, -a_tilde - a_ub])
    a = a[(a**2).sum(axis=1) > 1e-10]
    return np.asarray(np.delete(a, num_pre, axis=1), dtype=np.float64)


def _construct_gamma(l_vec: FloatArray) -> FloatArray:
    """Invertible matrix with first row ``l'``, completed by unit vectors (HonestDiD's RREF rule)."""
    rows = [l_vec]
    for j in range(l_vec.size):
        e = np.zeros(l_vec.size)
        e[j] = 1.0
        cand = np.vstack([*rows, e])
        if np.linalg.matrix_rank(cand) == len(rows) + 1:
            rows.append(e)
        if len(rows) == l_vec.size:
            break
    return np.vstack(rows)


def _dual_vertices(sd: FloatArray, x: FloatArray) -> FloatArray:
    """Vertices of ``{g >= 0 : sd'g = 1, X'g = 0}`` (rows), by enumerating basic solutions."""
    m = sd.size
    if x.shape[1]:
        u, sv, _ = np.linalg.svd(x, full_matrices=False)
        rank = int((sv > 1e-10 * max(1.0, float(sv.max()))).sum())
        xb = u[:, :rank]
    else:
        rank = 0
        xb = np.empty((m, 0))
    k = rank + 1
    if math.comb(m, k) > MAX_BASES:
        raise ModelSpecError(
            f"too many moment rows ({m}) for vertex enumeration with {rank} nuisance parameters"
        )
    w = np.column_stack([sd, xb])  # (m, k)
    subsets = np.array(list(itertools.combinations(range(m), k)), dtype=np.int64)
    mats = np.transpose(w[subsets], (0, 2, 1))  # (n_sub, k, k): rows = constraints
    det = np.linalg.det(mats)
    ok = np.abs(det) > 1e-12 * np.abs(mats).max(axis=(1, 2)) ** k
    rhs = np.zeros(k)
    rhs[0] = 1.0
    sol = np.linalg.solve(mats[ok], np.broadcast_to(rhs, (int(ok.sum()), k))[..., None])[..., 0]
    feasible = (sol >= -1e-10).all(axis=1)
    verts = np.zeros((int(feasible.sum()), m))
    sub_ok = subsets[ok][feasible]
    np.put_along_axis(verts, sub_ok, np.maximum(sol[feasible], 0.0), axis=1)
    if verts.shape[0] == 0:
        return verts
    return np.asarray(np.unique(np.round(verts, 12), axis=0), dtype=np.float64)


def _truncnorm_ppf(p: float, lo: float, hi: float) -> float:
    """Quantile of the standard normal truncated to ``[lo, hi]`` (TruncatedNormal::norminvp)."""
    if lo >= hi:
        return lo
    return float(stats.truncnorm.ppf(p, lo, hi))


@dataclass
class _ARPProblem:
    """The moment inequalities of one ``(s, sign)`` piece, reduced to the ARP rows."""

    y: FloatArray  # A beta - d, ARP rows
    a: FloatArray  # coefficient of theta
    sigma_y: FloatArray
    verts: FloatArray
    lf_cv: float

    def accept(self, thetas: FloatArray, alpha: float, hybrid: bool, kappa: float) -> FloatArray:
        """1 where the test does not reject ``theta``, for each grid value."""
        out = np.ones(thetas.size)
        if self.verts.shape[0] == 0:
            return out  # eta = -inf: never rejects
        yt = self.y[:, None] - self.a[:, None] * thetas[None, :]  # (m, G)
        vals = self.verts @ yt  # (nv, G)
        best = np.argmax(vals, axis=0)
        eta = vals[best, np.arange(thetas.size)]
        size = (alpha - kappa) / (1 - kappa) if hybrid else alpha
        sv = self.verts @ self.sigma_y  # (nv, m)
        var_all = np.einsum("vm,vm->v", sv, self.verts)
        var_b = var_all[best]
        degenerate = var_b < 1e-20
        safe = np.where(degenerate, 1.0, var_b)
        bvec = sv[best] / safe[:, None]  # (G, m): Sigma gamma / gamma'Sigma gamma
        s_vec = yt.T - bvec * eta[:, None]
        num = s_vec @ self.verts.T  # (G, nv)
        den = 1.0 - bvec @ self.verts.T
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = num / den
        vlo = np.where(den > 1e-10, ratio, -np.inf).max(axis=1)
        vup = np.where(den < -1e-10, ratio, np.inf).min(axis=1)
        if hybrid:
            vup = np.minimum(vup, self.lf_cv)
        sigma_b = np.sqrt(safe)
        zlo, zup, stat = vlo / sigma_b, vup / sigma_b, eta / sigma_b
        inside = (zlo <= stat) & (stat <= zup) & ~degenerate
        cval = np.zeros(thetas.size)
        idx = np.flatnonzero(inside & (zlo < zup))
        if idx.size:
            cval[idx] = stats.truncnorm.ppf(1 - size, zlo[idx], zup[idx])
        flat = inside & (zlo >= zup)
        cval[flat] = zlo[flat]
        cval = np.maximum(cval, 0.0)
        out[inside & (stat > cval)] = 0.0
        out[degenerate & (eta > 0)] = 0.0
        if hybrid:
            out[eta > self.lf_cv] = 0.0
        return out


def _decide(
    eta: float, vlo: float, vup: float, sigma_b: float, lf_cv: float, hybrid: bool, size: float
) -> float:
    """ARP conditional (hybrid) decision: 1 accept, 0 reject."""
    if hybrid and eta > lf_cv:
        return 0.0
    if sigma_b < 1e-10:
        return 0.0 if eta > 0 else 1.0
    if hybrid:
        vup = min(vup, lf_cv)
    zlo, zup, stat = vlo / sigma_b, vup / sigma_b, eta / sigma_b
    if not (zlo <= stat <= zup):
        return 1.0
    cval = max(0.0, _truncnorm_ppf(1 - size, zlo, zup))
    return 0.0 if stat > cval else 1.0


def _eta_lp(y: FloatArray, x: FloatArray, sd: FloatArray) -> tuple[float, FloatArray]:
    """``min eta s.t. y - X nu <= eta sd`` (HiGHS) and its dual ``gamma`` (>= 0)."""
    k = x.shape[1]
    res = optimize.linprog(
        np.r_[1.0, np.zeros(k)],
        A_ub=-np.column_stack([sd, x]),
        b_ub=-y,
        bounds=[(None, None)] * (k + 1),
        method="highs",
    )
    if res.status != 0:
        return math.nan, np.zeros(y.size)
    return float(res.fun), np.asarray(-res.ineqlin.marginals, dtype=np.float64)


@dataclass
class _ARPProblemLP:
    """Same test as :class:`_ARPProblem` by linear programming (for problems too large to
    enumerate the dual vertices): ``eta`` and its dual by HiGHS, then ``(v_lo, v_up)`` by ARP's
    primal formulas (non-degenerate solution) or by the dual fixed-point iteration of
    ``HonestDiD``'s ``.vlo_vup_dual_fn`` (degenerate)."""

    y: FloatArray
    a: FloatArray
    sigma_y: FloatArray
    x: FloatArray
    lf_cv: float

    def _dual_value(self, f: FloatArray, w: FloatArray) -> tuple[float, FloatArray]:
        rhs = np.zeros(w.shape[1])
        rhs[0] = 1.0
        res = optimize.linprog(-f, A_eq=w.T, b_eq=rhs, bounds=[(0, None)] * f.size, method="highs")
        return float(-res.fun), np.asarray(res.x, dtype=np.float64)

    def _bounds_dual(
        self, yv: FloatArray, eta: float, gam: FloatArray, sd: FloatArray
    ) -> tuple[float, float]:
        w = np.column_stack([sd, self.x])
        var_b = float(gam @ self.sigma_y @ gam)
        bvec = self.sigma_y @ gam / var_b
        s_vec = yv - bvec * eta
        sigma_b = math.sqrt(var_b)

        def solves(c: float) -> tuple[bool, FloatArray]:
            val, g = self._dual_value(s_vec + bvec * c, w)
            return abs(val - c) <= 1e-6, g

        out = []
        for start in (max(100.0, eta + 20 * sigma_b), min(-100.0, eta - 20 * sigma_b)):
            ok, g = solves(start)
            if ok:
                out.append(math.copysign(math.inf, start))
                continue
            c = start
            for _ in range(10):  # fixed point on the optimal vertex (HonestDiD's shortcut)
                den = 1 - float(g @ bvec)
                c = float(g @ s_vec) / den if abs(den) > 1e-12 else c
                ok, g = solves(c)
                if ok:
                    break
            if not ok:  # bisection between eta (a solution) and start (not one)
                lo_c, hi_c = eta, start
                while abs(hi_c - lo_c) > 1e-6:
                    mid = 0.5 * (lo_c + hi_c)
                    if solves(mid)[0]:
                        lo_c = mid
                    else:
                        hi_c = mid
                c = lo_c
            out.append(c)
        return out[1], out[0]

    def accept(self, thetas: FloatArray, alpha: float, hybrid: bool, kappa: float) -> FloatArray:
        out = np.ones(thetas.size)
        size = (alpha - kappa) / (1 - kappa) if hybrid else alpha
        sd = np.sqrt(np.diag(self.sigma_y))
        m, k = self.x.shape
        for i, th in enumerate(thetas):
            yv = self.y - self.a * th
            eta, lam = _eta_lp(yv, self.x, sd)
            if math.isnan(eta):
                continue
            if hybrid and eta > self.lf_cv:
                out[i] = 0.0
                continue
            bind = lam > 1e-6
            var_b = float(lam @ self.sigma_y @ lam)
            if var_b < 1e-20:
                out[i] = 0.0 if eta > 0 else 1.0
                continue
            full = bind.sum() == k + 1 and np.linalg.matrix_rank(self.x[bind]) == min(
                int(bind.sum()), k
            )
            if full:
                # ARP primal: condition on the binding set B
                wb = np.column_stack([sd[bind], self.x[bind]])
                inv = np.linalg.inv(wb)
                s_b = np.eye(m)[bind]
                s_bc = np.eye(m)[~bind]
                gamma_b = np.column_stack([sd[~bind], self.x[~bind]]) @ inv @ s_b - s_bc
                v_b = (inv[0] @ s_b).ravel()
                var_b = float(v_b @ self.sigma_y @ v_b)
                rho = gamma_b @ self.sigma_y @ v_b / var_b
                with np.errstate(divide="ignore", invalid="ignore"):
                    mm = (-gamma_b @ yv) / rho + float(v_b @ yv)
                vlo = float(mm[rho > 0].max()) if (rho > 0).any() else -math.inf
                vup = float(mm[rho < 0].min()) if (rho < 0).any() else math.inf
            else:
                vlo, vup = self._bounds_dual(yv, eta, lam, sd)
            out[i] = _decide(eta, vlo, vup, math.sqrt(var_b), self.lf_cv, hybrid, size)
        return out


def _least_favorable_cv_lp(
    x: FloatArray, sigma_y: FloatArray, kappa: float, sims: int, seed: int
) -> float:
    """:func:`_least_favorable_cv` with ``eta`` from one linear programme per draw."""
    xi = rmvnorm(sims, sigma_y, RRandom(seed))
    sd = np.sqrt(np.diag(sigma_y))
    eta = np.array([_eta_lp(row, x, sd)[0] for row in xi])
    return float(np.nanquantile(eta, 1 - kappa))


def _least_favorable_cv(
    verts: FloatArray, sigma_y: FloatArray, kappa: float, sims: int, seed: int
) -> float:
    """``1 - kappa`` quantile of ``eta`` under ``Y ~ N(0, Sigma_Y)`` (HonestDiD: 1,000 draws)."""
    xi = rmvnorm(sims, sigma_y, RRandom(seed))
    if verts.shape[0] == 0:
        return math.inf
    eta = (xi @ verts.T).max(axis=1)
    return float(np.quantile(eta, 1 - kappa))


def _rm_pieces(
    betahat: FloatArray,
    sigma: FloatArray,
    num_pre: int,
    num_post: int,
    l_vec: FloatArray,
    mbar: float,
    kappa: float,
    hybrid: bool,
    sims: int,
    seed: int,
    engine: str = "auto",
) -> list[_ARPProblem | _ARPProblemLP]:
    gamma_inv = np.linalg.inv(_construct_gamma(l_vec))
    pieces: list[_ARPProblem | _ARPProblemLP] = []
    for s in range(-(num_pre - 1), 1):
        for positive in (True, False):
            a_mat = _create_a_rm(num_pre, num_post, mbar, s, positive)
            agi = a_mat[:, num_pre:] @ gamma_inv
            if num_post > 1:
                rows = np.flatnonzero((a_mat[:, num_pre:] != 0).sum(axis=1) > 0)
            else:
                rows = np.arange(a_mat.shape[0])
            y = (a_mat @ betahat)[rows]
            sig_y = (a_mat @ sigma @ a_mat.T)[np.ix_(rows, rows)]
            sd = np.sqrt(np.diag(sig_y))
            x = agi[rows, 1:]
            use_lp = engine == "lp" or (
                engine == "auto" and math.comb(rows.size, x.shape[1] + 1) > MAX_BASES
            )
            if use_lp:
                lf = _least_favorable_cv_lp(x, sig_y, kappa, sims, seed) if hybrid else math.inf
                pieces.append(_ARPProblemLP(y, agi[rows, 0], sig_y, x, lf))
            else:
                verts = _dual_vertices(sd, x)
                lf = _least_favorable_cv(verts, sig_y, kappa, sims, seed) if hybrid else math.inf
                pieces.append(_ARPProblem(y, agi[rows, 0], sig_y, verts, lf))
    return pieces


def relative_magnitudes_ci(
    betahat: npt.ArrayLike,
    sigma: npt.ArrayLike,
    num_pre: int,
    num_post: int,
    mbar: float,
    *,
    l_vec: npt.ArrayLike | None = None,
    alpha: float = 0.05,
    method: Method = "C-LF",
    grid_points: int = 1000,
    grid_lb: float | None = None,
    grid_ub: float | None = None,
    seed: int = 0,
    sims: int = 1000,
    engine: Literal["auto", "vertices", "lp"] = "auto",
) -> tuple[float, float]:
    """Confidence interval for ``l' tau_post`` under ``Delta^RM(Mbar)`` (HonestDiD defaults).

    Parameters
    ----------
    betahat, sigma : arrays
        Event-study coefficients (pre-periods first, reference period excluded) and covariance.
    num_pre, num_post : int
        Number of pre- and post-period coefficients.
    mbar : float
        Post-period first differences of the trend at most ``Mbar`` times the largest pre-period
        one.
    l_vec : array, optional
        Weights on the post-period effects (default: the first post period).
    alpha : float
        1 - coverage.
    method : {"C-LF", "Conditional"}
        Conditional-least-favourable hybrid (package default) or the conditional ARP test.
    grid_points, grid_lb, grid_ub : grid of ``theta`` (default: the package's, see module).
    seed, sims : the least-favourable critical value's draws (R's ``set.seed(seed)``, 1,000).
    engine : {"auto", "vertices", "lp"}
        Dual-vertex enumeration (fast, exact) or one linear programme per grid point (for many
        post-periods); "auto" enumerates when there are at most ``MAX_BASES`` candidate bases.

    Returns
    -------
    (low, high) : the hull of the accepted grid points; ``(nan, nan)`` when none is accepted.
    """
    b, s, lv = _check_inputs(betahat, sigma, num_pre, num_post, l_vec)
    if mbar < 0:
        raise ModelSpecError("Mbar must be non-negative")
    if method not in ("C-LF", "Conditional"):
        raise ModelSpecError(f"method must be 'C-LF' or 'Conditional', got {method!r}")
    if num_pre < 1:
        raise ModelSpecError("relative magnitudes need at least one pre-period")
    hybrid = method == "C-LF"
    kappa = alpha / 10 if hybrid else 0.0
    sd_theta = float(np.sqrt(lv @ s[num_pre:, num_pre:] @ lv))
    # HonestDiD's default grid: centred on l'beta_post, half-width
    # Mbar * sum_t t |l_t| * (largest pre-period first difference, beta_0 = 0) + 20 sd(l'beta_post)
    pre = b[:num_pre]
    maxpre = float(np.abs(np.diff(np.append(pre, 0.0))).max()) if num_pre > 1 else abs(pre[0])
    center = float(lv @ b[num_pre:])
    half = mbar * float(np.arange(1, num_post + 1) @ np.abs(lv)) * maxpre + 20 * sd_theta
    lo = center - half if grid_lb is None else grid_lb
    hi = center + half if grid_ub is None else grid_ub
    grid = np.linspace(lo, hi, grid_points)
    accept = np.zeros(grid_points)
    for piece in _rm_pieces(b, s, num_pre, num_post, lv, mbar, kappa, hybrid, sims, seed, engine):
        accept = np.maximum(accept, piece.accept(grid, alpha, hybrid, kappa))
    if not accept.any():
        return (math.nan, math.nan)
    return (float(grid[accept > 0].min()), float(grid[accept > 0].max()))


# ----------------------------------------------------------------------------- FLCI (Delta^SD)
@functools.lru_cache(maxsize=4)
def _folded_draws(seed: int) -> FloatArray:
    """HonestDiD's ``set.seed(seed); rnorm(10^6)``, sorted (cached: the same for every M)."""
    draws = np.sort(RRandom(seed).rnorm(10**6))
    draws.setflags(write=False)
    return draws


def _qfoldednormal(p: float, mu: float, sorted_draws: FloatArray) -> float:
    """``quantile(abs(draws + mu), p)`` (R type 7) of HonestDiD's seeded draws, in O(log n).

    ``|z + mu|`` over sorted ``z`` is the merge of two sorted runs (``z >= -mu`` and, reversed,
    ``z < -mu``); the order statistics are found by bisection on the merge instead of a
    partition of 10^6 values. Equal to ``numpy.quantile(numpy.abs(draws + mu), p)``.
    """
    z = sorted_draws
    n = z.size
    split = int(np.searchsorted(z, -mu, side="left"))
    len_a, len_b = n - split, split

    def a_at(i: int) -> float:  # i-th smallest of z + mu over z >= -mu
        return float(z[split + i] + mu)

    def b_at(j: int) -> float:  # j-th smallest of -(z + mu) over z < -mu
        return float(-(z[split - 1 - j] + mu))

    def kth(k: int) -> float:
        lo, hi = max(0, k + 1 - len_b), min(k + 1, len_a)
        while lo < hi:
            i = (lo + hi) // 2
            j = k + 1 - i
            if i < len_a and j > 0 and b_at(j - 1) > a_at(i):
                lo = i + 1
            else:
                hi = i
        i, j = lo, k + 1 - lo
        return max(a_at(i - 1) if i > 0 else -math.inf, b_at(j - 1) if j > 0 else -math.inf)

    h = (n - 1) * p
    k = math.floor(h)
    v = kth(k)
    return v if k + 1 >= n else v + (h - k) * (kth(k + 1) - v)


@dataclass
class _FLCISetup:
    num_pre: int
    num_post: int
    l_vec: FloatArray
    sigma: FloatArray

    def __post_init__(self) -> None:
        k = self.num_pre
        self.w_to_l = np.eye(k) - np.eye(k, k=-1)  # l_pre = W w (w = cumulative sums of l_pre)
        s_pre = self.sigma[:k, :k]
        s_pp = self.sigma[:k, k:]
        self.q = self.w_to_l.T @ s_pre @ self.w_to_l
        self.lin = 2 * self.w_to_l.T @ s_pp @ self.l_vec
        self.const = float(self.l_vec @ self.sigma[k:, k:] @ self.l_vec)
        npost = self.num_post
        t = np.arange(1, npost + 1, dtype=float)
        self.sum_w = float(t @ self.l_vec)
        self.bias_const = float(
            sum(abs(np.arange(1, s + 1) @ self.l_vec[npost - s :]) for s in range(1, npost + 1))
            - t @ self.l_vec
        )
        self.lower = np.tril(np.ones((k, k)))

    def var(self, w: FloatArray) -> float:
        return float(w @ self.q @ w + self.lin @ w + self.const)

    def bias(self, w: FloatArray) -> float:
        """Worst-case bias over Delta^SD(1): const + sum_k |sum_{j<=k} w_j|."""
        return float(self.bias_const + np.abs(self.lower @ w).sum())

    def h0(self) -> float:
        w = np.zeros(self.num_pre)
        w[-1] = self.sum_w
        return math.sqrt(self.var(w))

    def h_min(self) -> float:
        """Smallest standard deviation: equality-constrained quadratic programme (KKT)."""
        k = self.num_pre
        kkt = np.block([[2 * self.q, np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
        rhs = np.concatenate([-self.lin, [self.sum_w]])
        sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
        return math.sqrt(max(self.var(sol[:k]), 0.0))

    def min_bias_given_h(self, h: float) -> tuple[float, FloatArray]:
        """min bias(w) s.t. sd(w) <= h, sum(w) = sum_w: variables (U, w), linear objective."""
        k = self.num_pre
        w0 = np.zeros(k)
        w0[-1] = self.sum_w

        def obj(z: FloatArray) -> float:
            return float(z[:k].sum())

        def obj_grad(z: FloatArray) -> FloatArray:
            return np.concatenate([np.ones(k), np.zeros(k)])

        lw = self.lower
        cons = [
            {
                "type": "ineq",
                "fun": lambda z: np.concatenate([z[:k] - lw @ z[k:], z[:k] + lw @ z[k:]]),
                "jac": lambda z: np.block([[np.eye(k), -lw], [np.eye(k), lw]]),
            },
            {
                "type": "eq",
                "fun": lambda z: np.array([z[k:].sum() - self.sum_w]),
                "jac": lambda z: np.concatenate([np.zeros(k), np.ones(k)])[None, :],
            },
            {
                "type": "ineq",
                "fun": lambda z: np.array([h**2 - self.var(z[k:])]),
                "jac": lambda z: np.concatenate([np.zeros(k), -(2 * self.q @ z[k:] + self.lin)])[
                    None, :
                ],
            },
        ]
        # start from the min-variance point (feasible for any h >= h_min)
        kkt = np.block([[2 * self.q, np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
        wv = np.linalg.lstsq(kkt, np.concatenate([-self.lin, [self.sum_w]]), rcond=None)[0][:k]
        best_w = wv if self.var(wv) <= h**2 * (1 + 1e-9) else w0
        z0 = np.concatenate([np.abs(lw @ best_w) + 1e-9, best_w])
        res = optimize.minimize(
            obj,
            z0,
            jac=obj_grad,
            constraints=cons,
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 1000},
        )
        w = res.x[k:]
        # evaluate on w itself (the exact worst-case bias of the weights found)
        return self.bias(w), w


def flci(
    betahat: npt.ArrayLike,
    sigma: npt.ArrayLike,
    num_pre: int,
    num_post: int,
    m: float,
    *,
    l_vec: npt.ArrayLike | None = None,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Fixed-length confidence interval for ``l' tau_post`` under ``Delta^SD(M)``.

    Minimises ``cv_alpha(M b(h) / h) h`` over ``h`` in ``[h_min, h_0]`` (``b(h)`` the smallest
    worst-case bias of an affine estimator with standard deviation at most ``h``; ``cv_alpha`` the
    ``1 - alpha`` quantile of ``|N(t, 1)|`` from HonestDiD's seeded 10^6 draws); the interval is
    ``v' beta +- half-length`` (``findOptimalFLCI``).

    Returns
    -------
    (low, high)
    """
    b, s, lv = _check_inputs(betahat, sigma, num_pre, num_post, l_vec)
    if m < 0:
        raise ModelSpecError("M must be non-negative")
    setup = _FLCISetup(num_pre, num_post, lv, s)
    draws = _folded_draws(seed)
    h_lo, h_hi = setup.h_min(), setup.h0()

    def halflength(h: float) -> tuple[float, FloatArray]:
        bias, w = setup.min_bias_given_h(h)
        return _qfoldednormal(1 - alpha, m * bias / h, draws) * h, w

    if m == 0 or h_hi <= h_lo * (1 + 1e-12):
        h_star = h_lo
    else:
        res = optimize.minimize_scalar(
            lambda h: halflength(h)[0],
            bounds=(h_lo, h_hi),
            method="bounded",
            options={"xatol": 1e-10 * h_hi},
        )
        h_star = float(res.x)
        # the optimum can sit at an end of the bracket
        for end in (h_lo, h_hi):
            if halflength(end)[0] < halflength(h_star)[0]:
                h_star = end
    half, w = halflength(h_star)
    l_pre = setup.w_to_l @ w
    center = float(l_pre @ b[:num_pre] + lv @ b[num_pre:])
    return (center - half, center + half)


# ----------------------------------------------------------------------------- results
@dataclass
class HonestDiDResult:
    """A sensitivity analysis: one robust interval per value of the restriction parameter.

    Attributes
    ----------
    table : polars.DataFrame
        ``param`` (Mbar or M), ``lb``, ``ub``, ``method``, ``delta``.
    original : tuple
        The conventional interval ``l'beta_post +- z sd`` (parallel trends exactly).
    restriction : str
        "relative_magnitudes" or "smoothness".
    """

    table: pl.DataFrame
    original: tuple[float, float]
    restriction: str
    estimate: float
    alpha: float = 0.05
    breakdown: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def param_name(self) -> str:
        return "Mbar" if self.restriction == "relative_magnitudes" else "M"

    def breakdown_value(self) -> float | None:
        """Smallest parameter value in the table whose interval contains zero (None if none).

        :func:`breakdown_value` refines it by bisection.
        """
        hit = self.table.filter((pl.col("lb") <= 0) & (pl.col("ub") >= 0))
        return None if hit.height == 0 else float(hit["param"].min())  # type: ignore[arg-type]

    def tidy(self) -> pl.DataFrame:
        return self.table

    def summary(self) -> str:
        lines = [
            f"HonestDiD sensitivity ({self.restriction}; Rambachan & Roth 2023)",
            f"original {100 * (1 - self.alpha):.0f}% CI: [{self.original[0]:.5g}, {self.original[1]:.5g}]",
        ]
        lines += [
            f"{self.param_name} = {p:.4g}: [{lb:.5g}, {ub:.5g}] ({m})"
            for p, lb, ub, m in self.table.select("param", "lb", "ub", "method").iter_rows()
        ]
        if self.breakdown is not None:
            lines.append(f"breakdown value: {self.param_name} = {self.breakdown:.4g}")
        return "\n".join(lines)

    def plot(self, ax: Any = None, *, synthetic: bool = False, title: str | None = None) -> Any:
        """Sensitivity plot: the robust intervals against the parameter, original CI at left.

        Returns the matplotlib Figure. ``synthetic=True`` labels the figure SYNTHETIC.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        else:
            fig = ax.figure
        params = self.table["param"].to_numpy()
        gap = float(np.min(np.diff(np.sort(params)))) if params.size > 1 else 1.0
        x0 = float(params.min()) - gap
        ax.errorbar(
            [x0],
            [(self.original[0] + self.original[1]) / 2],
            yerr=[[(self.original[1] - self.original[0]) / 2]],
            fmt="none",
            color="black",
            capsize=3,
            label="original",
        )
        lb = self.table["lb"].to_numpy()
        ub = self.table["ub"].to_numpy()
        ax.errorbar(
            params,
            (lb + ub) / 2,
            yerr=(ub - lb) / 2,
            fmt="none",
            color="tab:blue",
            capsize=3,
            label=str(self.table["method"][0]),
        )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel(r"$\bar{M}$" if self.restriction == "relative_magnitudes" else "M")
        ax.set_ylabel("robust confidence interval")
        ax.legend(frameon=False)
        head = title or f"HonestDiD: {self.restriction.replace('_', ' ')}"
        ax.set_title(("SYNTHETIC — " if synthetic else "") + head)
        if synthetic:
            fig.text(0.99, 0.01, "SYNTHETIC DATA", ha="right", va="bottom", color="red")
        fig.tight_layout()
        return fig


def _original_ci(
    b: FloatArray, s: FloatArray, num_pre: int, lv: FloatArray, alpha: float
) -> tuple[float, float, float]:
    est = float(lv @ b[num_pre:])
    se = float(np.sqrt(lv @ s[num_pre:, num_pre:] @ lv))
    z = float(stats.norm.ppf(1 - alpha / 2))
    return est, est - z * se, est + z * se


def _inputs_from(obj: Any) -> tuple[FloatArray, FloatArray, int, int]:
    """Duck-typed inputs: an event-study result or an object with ``honestdid_inputs()``.

    An :class:`~tradeimpact.models.results.EventStudyResult` gives
    ``event_study_inputs() -> (event_times, betahat, sigma)`` with ``pre_index``/``post_index``;
    HonestDiD needs the reference period to be the last pre-period (event time -1).
    """
    if hasattr(obj, "event_study_inputs") and hasattr(obj, "pre_index"):
        _times, b, s = obj.event_study_inputs()
        pre = np.asarray(obj.pre_index)
        post = np.asarray(obj.post_index)
        if getattr(obj, "ref", -1) != -1:
            raise ModelSpecError(
                f"HonestDiD needs the reference period at event time -1, got {obj.ref}"
            )
        order = np.concatenate([pre, post])
        if not np.array_equal(order, np.arange(order.size)):
            raise ModelSpecError("event-study coefficients must be ordered pre-periods first")
        return np.asarray(b, float), np.asarray(s, float), int(pre.size), int(post.size)
    if hasattr(obj, "honestdid_inputs"):
        b, s, npre, npost = obj.honestdid_inputs()
        return np.asarray(b, float), np.asarray(s, float), int(npre), int(npost)
    names = ("betahat", "sigma", "num_pre", "num_post")
    if all(hasattr(obj, n) for n in names):
        return (
            np.asarray(obj.betahat, float),
            np.asarray(obj.sigma, float),
            int(obj.num_pre),
            int(obj.num_post),
        )
    raise ModelSpecError(
        "pass betahat, sigma, num_pre and num_post, or an event-study result with "
        "honestdid_inputs()"
    )


def sensitivity_relative_magnitudes(
    betahat: Any,
    sigma: npt.ArrayLike | None = None,
    num_pre: int | None = None,
    num_post: int | None = None,
    *,
    mbarvec: Sequence[float] | None = None,
    l_vec: npt.ArrayLike | None = None,
    alpha: float = 0.05,
    method: Method = "C-LF",
    grid_points: int = 1000,
    seed: int = 0,
    breakdown: bool = True,
) -> HonestDiDResult:
    """``createSensitivityResults_relativeMagnitudes``: robust intervals over ``Mbar``.

    ``betahat`` may be an event-study result (see :func:`_inputs_from`) instead of an array.
    Default ``mbarvec``: 10 values on [0, 2]. With ``breakdown=True`` the breakdown value (the
    smallest ``Mbar`` whose interval contains 0) is refined by bisection.
    """
    if sigma is None:
        betahat, sigma, num_pre, num_post = _inputs_from(betahat)
    assert num_pre is not None and num_post is not None
    b, s, lv = _check_inputs(betahat, sigma, num_pre, num_post, l_vec)
    mv = list(np.linspace(0, 2, 10)) if mbarvec is None else list(mbarvec)
    rows = []
    for mb in mv:
        lo, hi = relative_magnitudes_ci(
            b, s, num_pre, num_post, mb, l_vec=lv, alpha=alpha, method=method,
            grid_points=grid_points, seed=seed,
        )  # fmt: skip
        rows.append((float(mb), lo, hi, method, "DeltaRM"))
    table = pl.DataFrame(rows, schema=["param", "lb", "ub", "method", "delta"], orient="row")
    est, olo, ohi = _original_ci(b, s, num_pre, lv, alpha)
    res = HonestDiDResult(table, (olo, ohi), "relative_magnitudes", est, alpha)
    if breakdown:
        res.breakdown = breakdown_value(
            lambda mb: relative_magnitudes_ci(
                b, s, num_pre, num_post, mb, l_vec=lv, alpha=alpha, method=method,
                grid_points=grid_points, seed=seed,
            ),
            upper=max(mv) if mv else 2.0,
            original=(olo, ohi),
        )  # fmt: skip
    return res


def sensitivity_smoothness(
    betahat: Any,
    sigma: npt.ArrayLike | None = None,
    num_pre: int | None = None,
    num_post: int | None = None,
    *,
    mvec: Sequence[float] | None = None,
    l_vec: npt.ArrayLike | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    breakdown: bool = True,
) -> HonestDiDResult:
    """``createSensitivityResults`` with ``Delta^SD(M)`` and the FLCI (the package default).

    Default ``mvec``: 10 values on ``[0, Mub]``, ``Mub`` from :func:`delta_sd_upper_bound_mpre`
    (with one pre-period: ``[0, sd(beta_pre)]``), as the package does.
    """
    if sigma is None:
        betahat, sigma, num_pre, num_post = _inputs_from(betahat)
    assert num_pre is not None and num_post is not None
    b, s, lv = _check_inputs(betahat, sigma, num_pre, num_post, l_vec)
    est, olo, ohi = _original_ci(b, s, num_pre, lv, alpha)
    sd_theta = float(np.sqrt(lv @ s[num_pre:, num_pre:] @ lv))
    if mvec is None:
        top = math.sqrt(s[0, 0]) if num_pre == 1 else delta_sd_upper_bound_mpre(b, s, num_pre)
        mv = list(np.linspace(0, top, 10))
    else:
        mv = list(mvec)
    rows = []
    for m in mv:
        lo, hi = flci(b, s, num_pre, num_post, m, l_vec=lv, alpha=alpha, seed=seed)
        rows.append((float(m), lo, hi, "FLCI", "DeltaSD"))
    table = pl.DataFrame(rows, schema=["param", "lb", "ub", "method", "delta"], orient="row")
    res = HonestDiDResult(table, (olo, ohi), "smoothness", est, alpha)
    if breakdown:
        res.breakdown = breakdown_value(
            lambda m: flci(b, s, num_pre, num_post, m, l_vec=lv, alpha=alpha, seed=seed),
            upper=max(mv) if mv else sd_theta,
            original=(olo, ohi),
        )
    return res


def delta_sd_upper_bound_mpre(
    betahat: npt.ArrayLike, sigma: npt.ArrayLike, num_pre: int, alpha: float = 0.05
) -> float:
    """Upper confidence bound on the largest pre-period second difference (``|.|``).

    ``max_j (A beta_pre)_j + z_{1-alpha} se_j`` over the rows ``+-(delta_{t+1} - 2 delta_t +
    delta_{t-1})`` of the pre-periods with ``delta_0 = 0`` (``DeltaSD_upperBound_Mpre``), the
    package's default top of the ``M`` grid.
    """
    b = np.asarray(betahat, dtype=np.float64)[:num_pre]
    s = np.asarray(sigma, dtype=np.float64)[:num_pre, :num_pre]
    rows = []
    for r in range(num_pre - 1):
        row = np.zeros(num_pre + 1)
        row[r : r + 3] = (1.0, -2.0, 1.0)
        rows.append(row[:num_pre])  # the reference period (last column) is dropped
    a = np.vstack([np.array(rows), -np.array(rows)])
    se = np.sqrt(np.diag(a @ s @ a.T))
    return float((a @ b + stats.norm.ppf(1 - alpha) * se).max())


def breakdown_value(
    ci_at: Any,
    *,
    upper: float,
    original: tuple[float, float] | None = None,
    tol: float = 1e-3,
    max_upper: float = 1e3,
) -> float | None:
    """Smallest restriction parameter whose robust interval contains zero (bisection).

    ``ci_at(p) -> (low, high)`` must widen with ``p`` (true of ``Delta^RM(Mbar)`` and
    ``Delta^SD(M)``, nested in their parameter). Returns 0 if the interval at 0 already contains
    zero, None if it still excludes zero at ``max_upper``; precision ``tol`` (relative to the
    bracket), and for the grid-based relative-magnitudes intervals, the grid's resolution.
    """

    def covers(p: float) -> bool:
        lo, hi = ci_at(p)
        return (not math.isnan(lo)) and lo <= 0 <= hi

    if original is not None and not (original[0] > 0 or original[1] < 0):
        return 0.0
    if covers(0.0):
        return 0.0
    hi = max(upper, 1e-8)
    while not covers(hi):
        hi *= 2
        if hi > max_upper:
            return None
    lo = 0.0
    while hi - lo > tol * max(hi, 1e-12):
        mid = 0.5 * (lo + hi)
        if covers(mid):
            hi = mid
        else:
            lo = mid
    return hi


__all__ = [
    "HonestDiDResult",
    "breakdown_value",
    "delta_sd_upper_bound_mpre",
    "flci",
    "relative_magnitudes_ci",
    "sensitivity_relative_magnitudes",
    "sensitivity_smoothness",
]
