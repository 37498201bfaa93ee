"""Wild cluster bootstrap (restricted, WCR) p-values and confidence intervals by test inversion.

Reference: Roodman, MacKinnon, Nielsen & Webb (2019), "Fast and wild: Bootstrap inference in Stata
using boottest", Stata Journal 19(1); Cameron, Gelbach & Miller (2008), REStat 90(3); Webb (2023),
"Reworking wild bootstrap-based inference for clustered errors", Canadian J. Economics (6-point
weights); MacKinnon & Webb (2017) on few treated clusters.

Model ``y = X beta + D alpha + u`` (``D`` fixed-effect dummies, partialled out: the inputs are
``X~ = M_D X`` and ``y~ = M_D y``), test ``H0: beta_j = r`` with the CR1 t-statistic
``t = (b_j - r) / se_j``. The restricted ("WCR", boottest's ``11``) bootstrap:

1. restricted fit under ``H0``: ``e_r = M_[D, X_-j] (y - r x_j)``;
2. for draws ``v*_g`` (Rademacher ``+-1``, or Webb's six points ``+-sqrt(1/2), +-1, +-sqrt(3/2)``)
   per cluster ``g``: ``y* = fitted_r + e_r * v*_{g(i)}``;
3. ``t*_b = (b*_j - r) / se*_j`` with the same CR1 formula (the ``G/(G-1) (n-1)/(n-k)`` factor
   cancels between ``t`` and ``t*``);
4. p-value ``= #{b : |t*_b| >= |t|} / B`` (symmetric, two-sided); the confidence interval is the
   set of ``r`` not rejected at ``1 - level``, found by bisection on each side.

Algebra (Roodman et al. 2019, sec. 3-4: everything is linear in the draws). With ``a_j`` row ``j``
of ``(X~'X~)^{-1}``, ``c_i = x~_i' a_j`` and ``Z = [D, X]``, the bootstrap numerator is
``b*_j - r = p' v`` with the cluster sums ``p_g = sum_{i in g} c_i e_r,i`` and the bootstrap
cluster scores are ``s*(v) = C' diag(c) M_Z (e_r o v) = Q v`` (``C`` the n x G cluster
indicators), so ``se*_j^2 = k_c ||Q v||^2``. ``Q`` is never formed as an ``n x B`` or ``G x B``
object. Since ``X~`` is orthogonal to the fixed effects, ``P_Z = P_D + P_X~``; split ``D`` into
the groupings nested in the clusters (``N``) and the others (``D_nn``, e.g. time effects with
clustering by unit). ``c`` is orthogonal to every column of ``D`` and ``e_r`` too, so the nested
groupings drop out (a nested level lies inside one cluster) and, by Frisch-Waugh-Lovell,

    ``Q = diag(p) - F_D A_D^+ H_D - F_X (X~'X~)^{-1} H_X``

with ``F_D[g, l] = sum_{i in g, l(i)=l} c_i``, ``H_D[l, g] = sum_{i in g, l(i)=l} e_r,i``,
``A_D = D_nn' M_N D_nn`` (``A_D^+``: any generalized inverse, from a pivoted Cholesky
factorization, since the groupings overlap at least in the constant and ``F_D`` annihilates that
null space), ``F_X = C' diag(c) X~`` and ``H_X = X~' diag(e_r) C``: a diagonal plus a
rank-``m`` term, ``m = k + #non-nested levels``. After the ``O(n k)`` setup each draw costs
``O(G m)`` (``algebra="low-rank"``); draws are processed in blocks of ``block_size`` columns, so
the peak memory is ``O(G x block + G m + n k)`` and only five numbers per draw are stored
(``p0'v, p1'v`` and the three inner products of ``Q0 v, Q1 v``, with ``e_r = e_0 - r f`` affine
in ``r``, so each candidate ``r`` of the test inversion costs ``O(B)``). When ``m > G`` (many
non-nested levels, few clusters) ``Q`` itself (``G x G``) is formed from the same pieces
(``"cluster"``, ``O(G^2)`` per draw); with more than ``MAX_NONNESTED_LEVELS`` non-nested levels
``Q`` comes instead from projecting the ``G`` columns ``e_r o C`` by alternating projections, a
block of clusters at a time (``"projection"``). Weights (WLS) enter through the ``sqrt(w)``
transformation of every column. The three algebras agree to rounding
(``tests/test_wild_bootstrap.py``).

Draws: with Rademacher weights and ``2^G <= B`` all ``2^G`` sign vectors are enumerated (the test is
then exact and deterministic). Otherwise, when ``G B <= WILDBOOTTEST_ORDER_MAX``, the ``B`` draws
come from ``numpy.random.default_rng(seed)`` in the order of the ``wildboottest`` package
(``rng.choice`` over the support, ``G*B`` values reshaped to ``G x B``), so that a seed gives the
same draws, hence the same p-value, as pyfixest's ``wildboottest``; above that size (that order
would need all ``G x B`` draws at once) they come from the same generator in chunks of
``DRAW_CHUNK`` draws (``rng.choice(support, size=(DRAW_CHUNK, G))``, chunk after chunk): the
draws, and so the results, do not depend on ``block_size``. The engine reads the draws as rows
(:meth:`BootstrapDraws.blocks_t`, the generator's own layout: no transpose) and sums the three
inner products per draw in one pass (:func:`tradeimpact.core.kernels.wild_quadratics`, compiled
when numba is installed): at 1e6 rows, 10,000 clusters and B = 9,999 the peak memory stays
under 1 GiB (the draws of one block, ``256 x G``, are the largest bootstrap array).

Written by hand because neither linearmodels nor statsmodels has a wild cluster bootstrap and the
``wildboottest`` package needs the fixed effects as dummies and all ``G x B`` draws in memory;
tested against pyfixest's ``Feols.wildboottest`` (which calls ``wildboottest``) in
``tests/test_wild_bootstrap.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tradeimpact.core.fixed_effects import FixedEffects, demean
from tradeimpact.core.kernels import wild_quadratics
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
WeightsType = Literal["rademacher", "webb"]

#: Relative tolerance under which ``|t*|`` and ``|t|`` count as tied (ties count against H0).
TIE_RTOL = 1e-9

#: Largest ``G * B`` drawn in the ``wildboottest`` order (all draws at once: 32 MiB of float64).
WILDBOOTTEST_ORDER_MAX = 2**22

#: Draws per random-number call above ``WILDBOOTTEST_ORDER_MAX`` (fixed: results do not depend on
#: the block size).
DRAW_CHUNK = 256

#: Target size (float64 entries) of one ``G x block`` array; sets the default ``block_size``.
BLOCK_ENTRIES = 2**21

#: Largest dense ``G x m`` (low-rank path) or ``G x G`` (cluster path) matrix, in entries.
MAX_DENSE_ENTRIES = 2**25

#: Most non-nested fixed-effect levels for which ``A_D`` (levels x levels) is formed and factored;
#: above, ``Q`` comes from projecting the ``G`` cluster columns by alternating projections.
MAX_NONNESTED_LEVELS = 6000

#: Pivots below this fraction of the largest diagonal entry of ``A_D`` count as zero (its null
#: space: the fixed-effect groupings overlap, e.g. in the constant).
PSD_RTOL = 1e-10

WEBB_SUPPORT = np.concatenate([-np.sqrt(np.array([3, 2, 1]) / 2), np.sqrt(np.array([1, 2, 3]) / 2)])


def _support(weights_type: str) -> FloatArray:
    if weights_type == "rademacher":
        return np.array([-1.0, 1.0])
    if weights_type == "webb":
        return WEBB_SUPPORT
    raise ModelSpecError(f"weights_type must be 'rademacher' or 'webb', not {weights_type!r}")


def draw_weights(
    n_clusters: int, B: int, weights_type: WeightsType, seed: int
) -> tuple[FloatArray, bool]:
    """All bootstrap weights ``(G, B')`` at once and whether they are the full enumeration.

    The ``wildboottest`` order (see the module docstring). :func:`wild_cluster_bootstrap` uses
    :class:`BootstrapDraws`, which yields the same draws in blocks.
    """
    if weights_type == "rademacher" and 2**n_clusters <= B:
        v = np.array(list(itertools.product([-1.0, 1.0], repeat=n_clusters))).T
        return v.astype(np.float64), True
    support = _support(weights_type)
    rng = np.random.default_rng(seed)
    draws = rng.choice(support, size=n_clusters * B, replace=True)
    return np.asarray(draws, dtype=np.float64).reshape(n_clusters, B), False


class BootstrapDraws:
    """The bootstrap weights, produced block by block (``G x block`` at a time).

    ``mode`` is ``"enumeration"`` (all ``2^G`` Rademacher sign vectors, in the order of
    ``itertools.product([-1, 1], repeat=G)``), ``"wildboottest"`` (the package's order, drawn at
    once: ``G B <= WILDBOOTTEST_ORDER_MAX``) or ``"chunked"`` (``DRAW_CHUNK`` draws per call).
    """

    def __init__(self, n_clusters: int, B: int, weights_type: str, seed: int) -> None:
        self.g = n_clusters
        self.support = _support(weights_type)
        self.seed = seed
        if weights_type == "rademacher" and n_clusters < 63 and 2**n_clusters <= B:
            self.mode = "enumeration"
            self.B = 2**n_clusters
        elif n_clusters * B <= WILDBOOTTEST_ORDER_MAX:
            self.mode = "wildboottest"
            self.B = B
        else:
            self.mode = "chunked"
            self.B = B

    @property
    def full_enumeration(self) -> bool:
        return self.mode == "enumeration"

    def blocks(self, block_size: int) -> Iterator[FloatArray]:
        """Yield the draws as consecutive ``(G, <= block_size)`` arrays (all ``B`` of them)."""
        if block_size < 1:
            raise ModelSpecError(f"block_size must be positive, not {block_size}")
        if self.mode == "enumeration":
            # column b = the b-th tuple of itertools.product: cluster g's sign is bit G-1-g of b
            shifts = np.arange(self.g - 1, -1, -1, dtype=np.int64)[:, None]
            for b0 in range(0, self.B, block_size):
                idx = np.arange(b0, min(b0 + block_size, self.B), dtype=np.int64)[None, :]
                yield ((idx >> shifts) & 1).astype(np.float64) * 2.0 - 1.0
            return
        rng = np.random.default_rng(self.seed)
        if self.mode == "wildboottest":
            full = np.asarray(
                rng.choice(self.support, size=self.g * self.B, replace=True), dtype=np.float64
            ).reshape(self.g, self.B)
            for b0 in range(0, self.B, block_size):
                yield full[:, b0 : b0 + block_size]
            return
        pending: list[FloatArray] = []
        have = 0
        done = 0
        while done < self.B:
            size = min(DRAW_CHUNK, self.B - done - have)
            if size > 0 and have < block_size:  # draw only what the next block needs
                chunk = np.asarray(
                    rng.choice(self.support, size=(size, self.g), replace=True), dtype=np.float64
                ).T
                pending.append(chunk)
                have += size
            if have >= block_size or done + have >= self.B:
                buf = np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]
                take = min(block_size, buf.shape[1])
                yield np.ascontiguousarray(buf[:, :take])
                rest = buf[:, take:]
                pending = [rest] if rest.shape[1] else []
                have = rest.shape[1]
                done += take

    def blocks_t(self, block_size: int) -> Iterator[FloatArray]:
        """The draws of :meth:`blocks`, in the same order, as ``(<= block_size, G)`` arrays.

        Row ``b`` is draw ``b``: the generator's own layout in the chunked mode (no transpose or
        copy when ``block_size`` is a multiple of ``DRAW_CHUNK``), the transposed view otherwise.
        """
        if self.mode != "chunked" or block_size % DRAW_CHUNK:
            for v in self.blocks(block_size):
                yield v.T
            return
        rng = np.random.default_rng(self.seed)
        done = 0
        while done < self.B:
            parts = []
            take = min(block_size, self.B - done)
            got = 0
            while got < take:
                size = min(DRAW_CHUNK, take - got)
                parts.append(
                    np.asarray(
                        rng.choice(self.support, size=(size, self.g), replace=True),
                        dtype=np.float64,
                    )
                )
                got += size
            yield parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
            done += take


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
    seed : int
    draw_order : str
        ``"enumeration"``, ``"wildboottest"`` or ``"chunked"`` (see :class:`BootstrapDraws`).
    algebra : str
        ``"low-rank"`` (``O(G m)`` per draw), ``"cluster"`` or ``"projection"`` (``G x G``
        matrix; module docstring).
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
    draw_order: str = ""
    algebra: str = ""
    method: str = ""
    _engine: Any = field(default=None, repr=False)
    _ci_cache: dict[float, tuple[float, float]] = field(default_factory=dict, repr=False)

    @property
    def p_fraction(self) -> None:
        """None: a bootstrap p-value is not an exact fraction (the common result shape)."""
        return None

    def pvalue_at(self, r: float) -> float:
        """Bootstrap p-value of ``H0: beta_j = r`` with the same draws."""
        return float(self._engine.pvalue(r)[0])

    def conf_int(self, level: float = 0.95) -> tuple[float, float]:
        """Confidence interval by test inversion: ``{r : p(r) > 1 - level}`` (bisection)."""
        if level not in self._ci_cache:
            self._ci_cache[level] = self._engine.invert(1 - level)
        return self._ci_cache[level]

    def tidy(self, level: float = 0.95) -> Any:
        """One-row :class:`polars.DataFrame`: term, estimate, std_error, statistic, p_value,
        conf_low, conf_high, method."""
        import polars as pl

        lo, hi = self.conf_int(level)
        return pl.DataFrame(
            {
                "term": [self.term],
                "estimate": [self.estimate],
                "std_error": [self.std_error],
                "statistic": [self.tstat],
                "p_value": [self.pvalue],
                "conf_low": [lo],
                "conf_high": [hi],
                "method": [self.method],
            }
        )

    def summary(self) -> str:
        lo, hi = self.conf_int()
        return (
            f"{self.method}\n{self.term}: estimate {self.estimate:.6g} (CR1 se {self.std_error:.4g}); "
            f"H0 {self.term} = {self.null:g}: t = {self.tstat:.4f}, bootstrap p = {self.pvalue:.4f}; "
            f"95% CI by test inversion [{lo:.6g}, {hi:.6g}]"
        )

    def __str__(self) -> str:
        return self.summary()


def _csum(codes: IntArray, g: int, a: FloatArray) -> FloatArray:
    """Cluster sums of the rows of ``a`` (``(n,)`` or ``(n, m)``) -> ``(G,)`` or ``(G, m)``."""
    if a.ndim == 1:
        return np.asarray(np.bincount(codes, weights=a, minlength=g), dtype=np.float64)
    return (
        np.column_stack(
            [np.bincount(codes, weights=a[:, j], minlength=g) for j in range(a.shape[1])]
        )
        if a.shape[1]
        else np.zeros((g, 0))
    )


def _is_nested(level: IntArray, n_levels: int, codes: IntArray) -> bool:
    """Every level of the grouping lies inside one cluster."""
    first = np.full(n_levels, -1, dtype=np.int64)
    first[level[::-1]] = codes[::-1]  # the cluster of some row of each level
    return bool(np.all(first[level] == codes))


def _psd_solve(a: FloatArray, rhs: FloatArray) -> FloatArray:
    """A solution of ``a x = rhs`` for positive semi-definite ``a`` and ``rhs`` in its range
    (``a`` is overwritten).

    Pivoted Cholesky (LAPACK ``dpstrf``): ``P' a P = L L'`` with rank ``r``; ``x`` solves the
    ``r x r`` leading block and is zero on the other pivots. Any solution serves here: the
    bootstrap scores ``F_D x`` do not depend on the null-space component (module docstring).
    """
    from scipy.linalg import lapack, solve_triangular

    if a.shape[0] == 0:
        return np.zeros_like(rhs)
    scale = float(np.max(np.diag(a)))
    if scale <= 0:
        return np.zeros_like(rhs)
    fac, piv, rank, info = lapack.dpstrf(a, lower=1, tol=PSD_RTOL * scale, overwrite_a=1)
    if info < 0:  # pragma: no cover - LAPACK argument error
        raise ModelSpecError(f"pivoted Cholesky failed (info {info})")
    idx = piv[:rank] - 1
    low = fac[:rank, :rank]  # only its lower triangle is read (the upper holds leftovers)
    z = solve_triangular(low, rhs[idx], lower=True, check_finite=False)
    out = np.zeros_like(rhs)
    out[idx] = solve_triangular(low, z, trans="T", lower=True, check_finite=False)
    return out


def _indicator(level: IntArray, n_levels: int, values: FloatArray) -> sp.csr_matrix:
    """Sparse ``n x L`` matrix with ``values[i]`` at ``(i, level[i])``."""
    n = level.size
    return sp.csr_matrix((values, (np.arange(n), level)), shape=(n, n_levels))


class _WCREngine:
    """The pieces of the WCR bootstrap that are affine in ``r`` (see the module docstring)."""

    def __init__(
        self,
        x_t: FloatArray,
        y_t: FloatArray,
        codes: IntArray,
        j: int,
        fe: FixedEffects | None,
        weights: FloatArray | None,
        draws: BootstrapDraws,
        block_size: int | None = None,
        algebra: str | None = None,
    ) -> None:
        n, k = x_t.shape
        sw = np.ones(n) if weights is None else np.sqrt(weights)
        xs = x_t * sw[:, None]
        ys = y_t * sw
        g = int(codes.max()) + 1
        self.n, self.k, self.g, self.j = n, k, g, j
        xtx_inv: FloatArray = np.asarray(np.linalg.inv(xs.T @ xs), dtype=np.float64)
        self.b = xtx_inv @ (xs.T @ ys)
        c = xs @ xtx_inv[j]  # c_i = x_i' a_j
        others = [i for i in range(k) if i != j]
        xo = xs[:, others]

        def resid_on_others(a: FloatArray) -> FloatArray:
            if not others:
                return a.copy()
            return a - xo @ np.linalg.lstsq(xo, a, rcond=None)[0]

        e0 = resid_on_others(ys)  # restricted residual at r = 0
        f = resid_on_others(xs[:, j])  # e_r = e0 - r f
        self.p0, self.p1 = _csum(codes, g, c * e0), _csum(codes, g, c * f)
        # actual CR1 variance of b_j (without the common small-sample factor)
        u = _csum(codes, g, c * (ys - xs @ self.b))
        self.var_j = float(u @ u)

        # groupings not nested in the clusters, and the count m of the low-rank path
        nested: list[int] = []
        non_nested: list[int] = []
        if fe is not None:
            for h in range(fe.n_groupings):
                lv = fe.codes[:, h]
                (nested if _is_nested(lv, fe.sizes[h], codes) else non_nested).append(h)
        m = k + sum(fe.sizes[h] for h in non_nested) if fe is not None else k
        n_levels = m - k
        if algebra is None:
            if m <= g:
                algebra = "low-rank"
            elif n_levels <= MAX_NONNESTED_LEVELS:
                algebra = "cluster"
            else:
                algebra = "projection"
        size = g * m if algebra == "low-rank" else g * g
        if size > MAX_DENSE_ENTRIES or (
            algebra != "projection" and n_levels > MAX_NONNESTED_LEVELS
        ):
            raise ModelSpecError(
                f"wild bootstrap too large: {g} clusters and {n_levels} fixed-effect levels not "
                f"nested in the clusters (dense matrices of {max(size, n_levels**2) * 8 / 2**30:.1f}"
                " GiB); cluster on a coarser variable or absorb fewer non-nested fixed effects"
            )
        self.algebra = algebra
        if algebra in ("low-rank", "cluster"):
            # Q_r v = p_r o v - F (M0 - r M1) v
            f_x = _csum(codes, g, c[:, None] * xs)  # G x k
            h_x0 = _csum(codes, g, e0[:, None] * xs).T  # k x G
            h_x1 = _csum(codes, g, f[:, None] * xs).T
            f_parts, m0_parts, m1_parts = [f_x], [xtx_inv @ h_x0], [xtx_inv @ h_x1]
            if non_nested:
                assert fe is not None
                cl = sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, g))
                d_nn = sp.hstack(
                    [_indicator(fe.codes[:, h], fe.sizes[h], sw) for h in non_nested], format="csr"
                )  # sqrt(w) o D_nn
                f_d = np.asarray((cl.T @ d_nn.multiply(c[:, None])).todense())  # G x L
                h_d = np.column_stack(
                    [
                        np.asarray((d_nn.multiply(e0[:, None]).T @ cl).todense()),
                        np.asarray((d_nn.multiply(f[:, None]).T @ cl).todense()),
                    ]
                )  # L x 2G
                theta = _psd_solve(self._a_d(d_nn, fe, nested, sw, weights), h_d)
                f_parts.insert(0, f_d)
                m0_parts.insert(0, theta[:, :g])
                m1_parts.insert(0, theta[:, g:])
            f_all = np.ascontiguousarray(np.column_stack(f_parts))
            m0 = np.ascontiguousarray(np.vstack(m0_parts))
            m1 = np.ascontiguousarray(np.vstack(m1_parts))
            if algebra == "low-rank":
                self._f, self._m0, self._m1 = f_all, m0, m1
            else:
                self._q0 = np.diag(self.p0) - f_all @ m0
                self._q1 = np.diag(self.p1) - f_all @ m1
        else:
            self._q0 = self._cluster_q(xs, xtx_inv, sw, codes, c, e0, fe, weights)
            self._q1 = self._cluster_q(xs, xtx_inv, sw, codes, c, f, fe, weights)

        # one pass over the draws, block by block: five numbers per draw are kept
        bs = block_size or max(
            DRAW_CHUNK,
            (BLOCK_ENTRIES // max(g, m if algebra == "low-rank" else g)) // DRAW_CHUNK * DRAW_CHUNK,
        )
        n0, n1, d00, d01, d11 = ([] for _ in range(5))
        low = self.algebra == "low-rank"
        if low:
            m_all = np.vstack([self._m0, self._m1])  # (2m, G): both M_r v in one product
            m_r = self._m0.shape[0]
            f_t = self._f.T
        # draws as rows (b, G): Q_r v for a block is (V Q_r')'; the products of each draw with
        # Q0 v and Q1 v are fused (tradeimpact.core.kernels.wild_quadratics: no b x G temporary)
        for vt in draws.blocks_t(bs):
            n0.append(vt @ self.p0)
            n1.append(vt @ self.p1)
            if low:
                a = vt @ m_all.T  # (b, 2m)
                z0, z1 = a[:, :m_r] @ f_t, a[:, m_r:] @ f_t  # (F M_r v)'
            else:
                z0, z1 = vt @ self._q0.T, vt @ self._q1.T  # (Q_r v)'
            q00, q01, q11 = wild_quadratics(vt, self.p0, self.p1, z0, z1, low)
            d00.append(q00)
            d01.append(q01)
            d11.append(q11)
        self.n0, self.n1 = np.concatenate(n0), np.concatenate(n1)
        self.d00, self.d01, self.d11 = np.concatenate(d00), np.concatenate(d01), np.concatenate(d11)
        self.block_size = bs

    @staticmethod
    def _a_d(
        d_nn: sp.csr_matrix,
        fe: FixedEffects,
        nested: list[int],
        sw: FloatArray,
        weights: FloatArray | None,
    ) -> FloatArray:
        """``A_D = D~_nn' M_N D~_nn`` (``~``: rows times ``sqrt(w)``)."""
        a = np.asarray((d_nn.T @ d_nn).todense())
        if not nested:
            return a
        if len(nested) == 1:
            h = nested[0]
            lv = fe.codes[:, h]
            nmat = _indicator(lv, fe.sizes[h], sw)  # sqrt(w) o N
            ntn = np.asarray(nmat.power(2).sum(axis=0)).ravel()
            cross = nmat.T @ d_nn  # L_N x L_nn, sparse
            inv = 1.0 / np.where(ntn > 0, ntn, 1.0)
            n_l, n_nn = cross.shape
            if cross.nnz >= 0.05 * n_l * n_nn and n_l * n_nn <= MAX_DENSE_ENTRIES:
                dense = cross.toarray()  # e.g. balanced unit x time: BLAS beats sparse products
                a -= (dense.T * inv) @ dense
                return a
            return a - np.asarray((cross.T @ (sp.diags(inv) @ cross)).todense())
        # several nested groupings: M_N by alternating projections, a block of columns at a time
        sub = FixedEffects(fe.codes[:, nested], [fe.names[h] for h in nested])
        n, L = d_nn.shape
        step = max(1, 2**22 // max(n, 1))
        d_csc = d_nn.tocsc()
        for l0 in range(0, L, step):
            raw = np.asarray(d_csc[:, l0 : l0 + step].todense()) / sw[:, None]
            proj = demean(raw, sub, weights) * sw[:, None]  # M_N~ of the columns
            a[:, l0 : l0 + step] = np.asarray(d_nn.T @ proj)
        return (a + a.T) / 2

    def _cluster_q(
        self,
        xs: FloatArray,
        xtx_inv: FloatArray,
        sw: FloatArray,
        codes: IntArray,
        c: FloatArray,
        e: FloatArray,
        fe: FixedEffects | None,
        weights: FloatArray | None,
    ) -> FloatArray:
        """``Q = C' diag(c) M_Z (e o C)`` (``G x G``), projecting blocks of cluster columns."""
        n, g = self.n, self.g
        q = np.zeros((g, g))
        step = max(1, 2**22 // max(n, 1))
        rows = np.arange(n)
        for h0 in range(0, g, step):
            h1 = min(g, h0 + step)
            sel = (codes >= h0) & (codes < h1)
            cols = np.zeros((n, h1 - h0))
            cols[rows[sel], codes[sel] - h0] = e[sel]
            if fe is not None:
                cols = demean(cols / sw[:, None], fe, weights) * sw[:, None]
            cols -= xs @ (xtx_inv @ (xs.T @ cols))
            q[:, h0:h1] = _csum(codes, g, c[:, None] * cols)
        return q

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


def _cluster_column(result: RegressionResult, column: str) -> npt.NDArray[Any]:
    """The labels of column ``column`` on the rows handed to the fit (``design_record.frame``),
    as pyfixest's ``wildboottest(cluster="col")`` reads them from the fit's data."""
    rec = getattr(result, "design_record", None)
    frame = getattr(rec, "frame", None)
    if frame is None:
        raise ModelSpecError(
            f"cluster={column!r}: this {type(result).__name__} keeps no data frame to read the "
            "column from; refit with vcov={'CRV1': " + repr(column) + "} (its first clustering "
            "is then the bootstrap's) or pass cluster= as one label per estimation row"
        )
    if column not in frame.columns:
        raise ModelSpecError(
            f"cluster={column!r} is not a column of the fit's data (columns: "
            f"{', '.join(frame.columns)})"
        )
    return np.asarray(frame[column].to_numpy())


def _from_result(
    result: RegressionResult, param: str | None, cluster: npt.ArrayLike | str | None
) -> tuple[FloatArray, FloatArray, npt.NDArray[Any], str, list[str], Any, Any]:
    """The demeaned design, bootstrap clusters and coefficient of a fitted linear result."""
    design = result.extra.get("design")
    if design is None:
        raise ModelSpecError(
            f"the wild cluster bootstrap needs a linear fit (feols, did, event_study, sunab); this "
            f"{result.model} result keeps no linear design"
            + (
                ": for PPML use tradeimpact.inference.ppml_placebo.ppml_randomization_inference"
                if result.model == "PPML"
                else ""
            )
        )
    names = list(design.names)
    effect = str(getattr(result, "effect", "") or "")
    if param is None and effect:
        param = effect  # a did() result: its effect
    if param is None:
        if len(names) != 1:
            raise ModelSpecError(f"give param=, one of {names}")
        param = names[0]
    if param not in names:
        raise ModelSpecError(f"param {param!r} is not a coefficient of this model ({names})")
    if cluster is not None:
        labels = (
            _cluster_column(result, cluster) if isinstance(cluster, str) else np.asarray(cluster)
        )
        if labels.ndim != 1:
            raise ModelSpecError(
                f"cluster= must be a column name or one label per row (a 1-d array), not an "
                f"array of shape {labels.shape}"
            )
        if labels.shape[0] == design.keep.size and labels.shape[0] != design.y_t.size:
            labels = labels[design.keep]
        if labels.shape[0] != design.y_t.size:
            raise ModelSpecError(
                f"cluster has {labels.shape[0]} labels but the fit uses {design.y_t.size} rows "
                f"(of {design.keep.size}): give one label per estimation row or per input row"
            )
    elif design.clusters:
        labels = np.asarray(design.clusters[0])
    elif getattr(getattr(result, "design_record", None), "unit", None) is not None:
        # a did() fit that is not clustered: its unit, as did(inference="wild") does
        rec = result.design_record  # type: ignore[attr-defined]
        labels = rec.frame[rec.unit].to_numpy()[design.keep]
    else:
        raise ModelSpecError(
            "the fit is not clustered: refit with vcov={'CR1': column} or pass cluster= labels"
        )
    return design.x_t, design.y_t, labels, param, names, design.fe, design.weights


@overload
def wild_cluster_bootstrap(
    data: RegressionResult,
    y_t: None = None,
    clusters: None = None,
    term: None = None,
    *,
    param: str | None = None,
    cluster: npt.ArrayLike | str | None = None,
    null: float = 0.0,
    weights_type: WeightsType = "rademacher",
    B: int = 9999,
    seed: int = 0,
    block_size: int | None = None,
) -> WildBootstrapResult: ...


@overload
def wild_cluster_bootstrap(
    data: npt.ArrayLike,
    y_t: npt.ArrayLike,
    clusters: npt.ArrayLike,
    term: int | str | None = None,
    *,
    param: str | None = None,
    names: list[str] | None = None,
    fe: FixedEffects | None = None,
    weights: npt.ArrayLike | None = None,
    null: float = 0.0,
    weights_type: WeightsType = "rademacher",
    B: int = 9999,
    seed: int = 0,
    block_size: int | None = None,
) -> WildBootstrapResult: ...


def wild_cluster_bootstrap(
    data: Any,
    y_t: npt.ArrayLike | None = None,
    clusters: npt.ArrayLike | None = None,
    term: int | str | None = None,
    *,
    param: str | None = None,
    names: list[str] | None = None,
    fe: FixedEffects | None = None,
    weights: npt.ArrayLike | None = None,
    cluster: npt.ArrayLike | str | None = None,
    null: float = 0.0,
    weights_type: WeightsType = "rademacher",
    B: int = 9999,
    seed: int = 0,
    block_size: int | None = None,
    _algebra: str | None = None,
) -> WildBootstrapResult:
    """Restricted wild cluster bootstrap (WCR) test and test-inversion CI for one coefficient.

    Two call forms (dispatching on the first argument)::

        wild_cluster_bootstrap(result, param="treat:post", B=9999, seed=1, weights_type="webb")
        wild_cluster_bootstrap(x_t, y_t, clusters, "treat:post", names=..., fe=..., weights=...)

    Parameters
    ----------
    data : RegressionResult or array (n, k)
        A fitted linear result (``feols``, ``did``, ``event_study``, ``sunab``: its demeaned
        design, fixed effects, weights and first clustering are used), or the regressors with
        the fixed effects ``fe`` already partialled out (``M_D X``).
    y_t : array (n,), optional
        The outcome with the fixed effects partialled out (array form only).
    clusters : array (n,), optional
        Bootstrap (and CR1) cluster labels (array form only).
    term : int or str, optional
        The coefficient tested (index or name in ``names``); ``param`` is the same by name.
    param : str, optional
        The coefficient tested, by name (result form: required unless the model has one).
    names : list of str, optional
        Coefficient names of the columns of ``x_t`` (array form).
    fe : FixedEffects, optional
        The fixed effects partialled out of ``x_t``/``y_t`` (array form; needed to project the
        bootstrap residuals when they are not nested in the clusters).
    weights : array (n,), optional
        Regression weights (WLS; array form).
    cluster : str or array, optional
        Result form: the bootstrap clusters instead of the fit's first clustering variable: a
        column of the fit's data (``did``, ``event_study``, ``sunab`` results; pyfixest's
        ``wildboottest(cluster=...)``) or labels (one per estimation row, or per row handed to
        the fit).
    null : float
        ``r`` of ``H0: beta_j = r`` for :attr:`WildBootstrapResult.pvalue`.
    weights_type : {"rademacher", "webb"}
    B : int
        Draws (Rademacher with ``2^G <= B``: full enumeration instead).
    seed : int
    block_size : int, optional
        Draws processed at once (default: about ``2^21 / G``, a multiple of ``DRAW_CHUNK``); the
        results do not depend on it.

    Returns
    -------
    WildBootstrapResult

    Notes
    -----
    Memory ``O(G x block_size + G m + n k)`` and time ``O(n k + B G m)`` (module docstring).
    """
    if isinstance(data, RegressionResult):
        if y_t is not None or clusters is not None:
            raise ModelSpecError("with a fitted result give param= (and cluster=), not arrays")
        x_raw, y_raw, labels, name, names, fe, weights = _from_result(
            data, param if param is not None else (term if isinstance(term, str) else None), cluster
        )
        j = names.index(name)
    else:
        if y_t is None or clusters is None:
            raise ModelSpecError("give x_t, y_t and clusters, or a fitted linear result")
        x_raw, y_raw, labels = np.asarray(data), np.asarray(y_t), np.asarray(clusters)
        which = param if param is not None else term
        if which is None:
            raise ModelSpecError("give the coefficient to test: term= (index or name) or param=")
        names = names if names is not None else []
        if isinstance(which, str):
            if which not in names:
                raise ModelSpecError(f"{which!r} is not in names ({names})")
            j = names.index(which)
        else:
            j = int(which)
    x = np.asarray(x_raw, dtype=np.float64)
    y = np.asarray(y_raw, dtype=np.float64).ravel()
    x = x.reshape(y.size, -1)
    names = names if names else [f"x{i}" for i in range(x.shape[1])]
    if not 0 <= j < x.shape[1]:
        raise ModelSpecError(f"term index {j} out of range for {x.shape[1]} regressors")
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    if codes.size != y.size:
        raise ModelSpecError(f"{codes.size} cluster labels for {y.size} rows")
    g = int(codes.max()) + 1 if codes.size else 0
    if g < 2:
        which = (
            f"cluster={cluster!r}" if isinstance(cluster, str)
            else "the cluster labels" if cluster is not None or clusters is not None
            else "the fit's clustering"
        )  # fmt: skip
        raise ModelSpecError(
            f"the wild cluster bootstrap needs at least two clusters; {which} puts all "
            f"{codes.size} estimation rows in {g} cluster: cluster by a variable with more "
            "groups (with one treated cluster, use randomization inference: "
            "tradeimpact.inference.studentized_randomization_inference)"
        )
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    draws = BootstrapDraws(g, B, weights_type, seed)
    eng = _WCREngine(x, y, codes, j, fe, w, draws, block_size, _algebra)
    p, p_strict, t = eng.pvalue(null)
    n, k = x.shape
    ssc = g / (g - 1) * (n - 1) / (n - k)
    full = draws.full_enumeration
    label = (
        f"wild cluster bootstrap (restricted WCR, {weights_type}, "
        f"{'all 2^' + str(g) + ' draws' if full else 'B=' + str(draws.B) + f', seed {seed}'}, "
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
        B=int(draws.B),
        full_enumeration=full,
        weights_type=weights_type,
        n_clusters=g,
        seed=seed,
        draw_order=draws.mode,
        algebra=eng.algebra,
        method=label,
        _engine=eng,
    )
