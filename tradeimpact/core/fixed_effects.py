"""Fixed effects: building them, singletons, nesting, degrees of freedom and the within-transformation.

This is the one place where fixed effects are coded and partialled out; DiD, event studies, PPML
(inside IRLS), randomization inference and the wild bootstrap all call :func:`demean`, and every
small-sample correction counts the absorbed parameters with :func:`fe_dof`.

Contents: :func:`factorize` (labels -> dense codes), :class:`FixedEffects` (the coded groupings,
:meth:`~FixedEffects.subset`, :meth:`~FixedEffects.singleton_mask`,
:meth:`~FixedEffects.degrees_of_freedom`), :func:`is_nested` and :func:`fe_dof` (fixest's
``fixef.K = "nested"`` count), :func:`demean`.

Demeaning:

Method (Gaure 2013, "OLS with multiple high dimensional category variables", CSDA 66; the method of
R ``lfe``/``fixest`` and pyfixest's ``demean``): for fixed-effect groupings ``g = 1..G`` with
(weighted) group-mean operators ``P_g``, the residual of ``x`` on all dummies is the limit of
``x <- x - P_g x`` cycled over ``g`` (the method of alternating projections, von Neumann-Halperin).
With one grouping a single sweep is exact. Convergence is declared when the largest change of a
sweep, relative to the scale of the column, is below ``tol``. With several groupings the sweeps
are accelerated by Irons-Tuck extrapolation (as fixest and pyfixest do), which cuts the number of
sweeps many-fold where the fixed effects are highly correlated (e.g. low mobility between groups).

Written by hand because linearmodels' ``AbsorbingLS`` does not expose the projection for re-use
across many right-hand sides (randomization inference re-uses it for every placebo); it is checked
against pyfixest's ``demean`` and linearmodels in ``tests/test_absorb.py``.

(Moved here from ``tradeimpact.models.absorb`` in issue 13.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tradeimpact.errors import TradeImpactWarning

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def factorize(values: npt.ArrayLike) -> tuple[IntArray, int]:
    """Map any 1-d array of labels to integer codes ``0..k-1`` (sorted label order).

    Returns ``(codes, k)``. Integer labels within a range of at most ``4 n`` values are coded in
    O(n) (a presence table and its running count) instead of by a sort: the same codes.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iub" and arr.size and arr.ndim == 1:
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo <= 4 * arr.size and hi < 2**62:
            shifted = arr.astype(np.int64) - lo
            present = np.bincount(shifted, minlength=hi - lo + 1) > 0
            codes = np.asarray((np.cumsum(present) - 1)[shifted], dtype=np.int64)
            return codes, int(codes.max()) + 1
    _, codes = np.unique(arr, return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    return codes, int(codes.max()) + 1 if codes.size else 0


@dataclass
class FixedEffects:
    """Integer-coded fixed-effect groupings for ``n`` observations.

    ``codes`` has shape ``(n, G)``: column ``g`` holds the group of each observation in grouping
    ``g`` (``0..k_g-1``). Build one with :meth:`from_columns` from raw label arrays.
    """

    codes: IntArray
    names: list[str] = field(default_factory=list)
    #: varying-slope blocks (fixest ``id[z]``, ``id[[z]]``; :class:`tradeimpact.core.slopes.Slopes`),
    #: absorbed by :func:`demean` with the groupings and counted by :func:`fe_dof`
    slopes: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes, dtype=np.int64)
        if codes.ndim == 1:
            codes = codes[:, None]
        self.codes = codes
        if not self.names:
            self.names = [f"fe{g}" for g in range(codes.shape[1])]
        self.sizes = [
            int(codes[:, g].max()) + 1 if codes.shape[0] else 0 for g in range(codes.shape[1])
        ]

    @classmethod
    def from_columns(
        cls, columns: Sequence[npt.ArrayLike], names: Sequence[str] | None = None
    ) -> FixedEffects:
        """Factorize each label column into integer codes."""
        coded = [factorize(c)[0] for c in columns]
        if not coded:
            raise ValueError("at least one fixed-effect column is needed")
        return cls(np.column_stack(coded), list(names) if names is not None else [])

    @property
    def n(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_groupings(self) -> int:
        return int(self.codes.shape[1])

    def subset(self, mask: npt.NDArray[np.bool_]) -> FixedEffects:
        """The fixed effects of the rows where ``mask`` is true, re-coded to ``0..k-1``.

        O(n) (no sort): the groups still present keep their order, so the codes equal those
        of :meth:`from_columns` on the subset's labels.
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.all():
            return FixedEffects(self.codes.copy(), list(self.names), list(self.slopes))
        cols = []
        for g in range(self.n_groupings):
            c = self.codes[mask, g]
            present = np.bincount(c, minlength=self.sizes[g]) > 0
            cols.append((np.cumsum(present) - 1)[c])
        codes = np.column_stack(cols) if cols else np.zeros((int(mask.sum()), 0), np.int64)
        return FixedEffects(codes, list(self.names), [s.subset(mask) for s in self.slopes])

    def kernel_codes(self) -> npt.NDArray[np.integer[Any]]:
        """The codes as one ``(G, n)`` C-contiguous array for the compiled sweeps (cached).

        int32 when every grouping has fewer than 2**31 levels (half the memory traffic of the
        sweeps), else int64. Cached on the object: the codes of a ``FixedEffects`` are not
        modified after construction (:meth:`subset` builds a new one).
        """
        cached = self.__dict__.get("_kernel_codes")
        if cached is None or cached.shape[1] != self.codes.shape[0]:
            small = max(self.sizes, default=0) < 2**31 - 1
            cached = np.ascontiguousarray(self.codes.T, dtype=np.int32 if small else np.int64)
            self.__dict__["_kernel_codes"] = cached
        return cached

    def singleton_mask(self) -> npt.NDArray[np.bool_]:
        """Rows that are alone in some group, found iteratively (dropping one can make another).

        fixest/pyfixest drop these by default: they are fit perfectly and carry no information, and
        keeping them understates cluster-robust standard errors (Correia 2015).
        """
        keep = np.ones(self.n, dtype=bool)
        while True:
            changed = False
            for g in range(self.n_groupings):
                counts = np.bincount(self.codes[keep, g], minlength=self.sizes[g])
                single = keep & (counts[self.codes[:, g]] == 1)
                if single.any():
                    keep &= ~single
                    changed = True
            if not changed:
                return ~keep

    def degrees_of_freedom(self) -> int:
        """Number of fixed-effect parameters absorbed, net of redundancies (the rank of the dummy
        design, varying slopes included).

        Exact: for one grouping its levels; for two ``k1 + k2 - c`` with ``c`` the number of
        connected components of the bipartite group graph (Abowd, Creecy & Kramarz 2002); for
        three or more, or with varying slopes, the rank of the sparse dummy design computed by
        :func:`tradeimpact.core.slopes.absorbed_rank` (the largest grouping partialled out, then a
        dense rank of the rest) when the rest has at most
        ``slopes.DENSE_RANK_MAX_COLUMNS`` columns. Beyond that it falls back to fixest's rule
        without ``fixef.force_exact``, ``sum(k_g) - (G - 1)`` (plus the slopes' per-group ranks),
        which counts one redundancy per extra grouping and can exceed the rank.

        (:func:`fe_dof`, the count of the small-sample factors, keeps fixest's and pyfixest's
        default rule so that standard errors equal theirs.)
        """
        ks = [int(np.unique(self.codes[:, g]).size) for g in range(self.n_groupings)]
        if self.slopes or self.n_groupings >= 3:
            from tradeimpact.core.slopes import absorbed_rank, slope_dof

            exact = absorbed_rank(self)
            if exact is not None:
                return exact
            plain = sum(ks) - (self.n_groupings - 1) if ks else 0
            return plain + (slope_dof(self) if self.slopes else 0)
        if self.n_groupings == 1:
            return ks[0]
        if self.n_groupings == 2:
            return ks[0] + ks[1] - _n_components(self.codes[:, 0], self.codes[:, 1])
        return sum(ks) - (self.n_groupings - 1)


def _nested_dense(codes: IntArray, size: int, outer: npt.NDArray[Any]) -> bool:
    """Every group of ``codes`` (``0..size-1``) lies within one group of ``outer`` (O(n)).

    ``outer`` holds any labels compared by equality (no coding needed).
    """
    if codes.size == 0:
        return True
    first = np.empty(size, dtype=outer.dtype)
    first[codes[::-1]] = outer[::-1]  # the last write wins: rows reversed, each group's first row
    return bool(np.array_equal(first[codes], outer))


def is_nested(inner: npt.ArrayLike, outer: npt.ArrayLike) -> bool:
    """True when every group of ``inner`` lies within a single group of ``outer``.

    (A fixed effect nested in a cluster variable, e.g. unit effects with clusters by unit, is not
    counted in the small-sample ``k``: :func:`fe_dof`.)
    """
    ci, k = factorize(inner)
    co, _ = factorize(outer)  # codes: NaN labels compare equal to each other as one group
    return _nested_dense(ci, k, co)


def fe_dof(
    fe: FixedEffects | Sequence[npt.ArrayLike] | None,
    clusters: Sequence[npt.ArrayLike] = (),
) -> int:
    """Fixed-effect parameters counted in ``k`` for the small-sample factor (fixest "nested").

    ``sum_g L_g - (n_fe - 1)`` over all groupings, minus the levels of the groupings nested in a
    cluster variable, plus one per nested grouping; the rule of pyfixest's
    ``ssc(k_fixef="nonnested")`` and fixest's default (``fixef.K = "nested"``). With no fixed
    effects it is 0. Varying slopes (``fe.slopes``) add their parameters net of redundancies
    (:func:`tradeimpact.core.slopes.slope_dof`), never discounted for nesting in a cluster.

    Parameters
    ----------
    fe : FixedEffects, or a list of label arrays (one per grouping), or None
    clusters : list of label arrays
        The cluster variables (none for iid / HC1 covariances).

    O(n) per grouping and cluster variable once coded (one ``factorize`` per array given as
    labels; a :class:`FixedEffects` is already coded), so it costs nothing next to a fit.
    """
    if fe is None:
        return 0
    extra = 0
    if isinstance(fe, FixedEffects) and fe.slopes:
        from tradeimpact.core.slopes import slope_dof

        extra = slope_dof(fe)
    if isinstance(fe, FixedEffects):
        pairs = [(fe.codes[:, g], fe.sizes[g]) for g in range(fe.n_groupings)]
    else:
        pairs = [factorize(f) for f in fe]
    if not pairs:
        return extra
    levels = [int(np.count_nonzero(np.bincount(c, minlength=k))) for c, k in pairs]
    total = sum(levels) - (len(pairs) - 1)
    # labels compared as they are (the estimation rows have no missing label): no sort needed
    coded = [
        np.asarray(c) if np.asarray(c).dtype.kind in "iub" else factorize(c)[0] for c in clusters
    ]
    for (c, k), lv in zip(pairs, levels, strict=True):
        if any(_nested_dense(c, k, cl) for cl in coded):
            total += 1 - lv
    return int(total) + extra


def _n_components(a: IntArray, b: IntArray) -> int:
    """Connected components of the bipartite graph linking groups of ``a`` and ``b``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    adj = coo_matrix((np.ones(a.size), (a, b + na)), shape=(na + nb, na + nb))
    n, _ = connected_components(adj, directed=False)
    return int(n)


#: Pairs of plain sweeps before Irons-Tuck extrapolation starts (fast problems never reach it).
ACCELERATE_AFTER = 2


class NotConvergedWarning(TradeImpactWarning):
    """Alternating projections stopped at ``maxiter`` before reaching ``tol``."""


def demean(
    x: npt.ArrayLike,
    fe: FixedEffects,
    weights: npt.ArrayLike | None = None,
    *,
    tol: float = 1e-10,
    maxiter: int = 10_000,
    in_place: bool = False,
    order: Literal["C", "F"] = "C",
    backend: str | None = None,
) -> FloatArray:
    """Residualise ``x`` (shape ``(n,)`` or ``(n, k)``) on all fixed effects in ``fe``.

    Returns ``M_D x`` where ``M_D = I - D (D'WD)^- D'W`` and ``D`` stacks the dummies of every
    grouping; ``W = diag(weights)`` (ones when ``weights`` is None). Columns are processed
    one at a time in Fortran order (each column stops when it has converged).

    ``in_place=True`` demeans ``x`` itself (a 2-d Fortran-ordered float64 array) and returns it:
    no copy of the design. ``order`` is the memory order of the returned copy otherwise (``"F"``
    saves the conversion). ``backend`` selects the kernels (:mod:`tradeimpact.core.kernels`:
    ``"numba"``, ``"numpy"``; None: the process default); both give the same numbers to
    rounding.

    Raises no error on non-convergence but warns with :class:`NotConvergedWarning`.
    """
    import warnings

    from tradeimpact.core.kernels import demean_columns, resolve_backend

    kind = resolve_backend(backend)
    if in_place:
        out = x
        if not (
            isinstance(out, np.ndarray)
            and out.ndim == 2
            and out.dtype == np.float64
            and out.flags.f_contiguous
            and out.flags.writeable
        ):
            raise ValueError("demean(in_place=True) needs a writeable 2-d float64 Fortran array")
        one_d = False
    else:
        arr = np.asarray(x, dtype=np.float64)
        one_d = arr.ndim == 1
        # Fortran order: every column is contiguous, and columns are swept one at a time.
        out = np.array(arr.reshape(arr.shape[0], -1), dtype=np.float64, order="F", copy=True)
    n, k = out.shape
    if n != fe.n:
        raise ValueError(f"x has {n} rows but the fixed effects have {fe.n}")
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if fe.slopes:  # varying slopes: their projections join the sweep (tradeimpact.core.slopes)
        from tradeimpact.core.slopes import demean_with_slopes

        bad_s = demean_with_slopes(
            out, fe, w, tol=tol, maxiter=maxiter, accelerate_after=ACCELERATE_AFTER
        )
        if bad_s:
            warnings.warn(
                f"fixed-effect demeaning did not converge in {maxiter} iterations (tol {tol}) "
                f"for {bad_s} of {k} columns",
                NotConvergedWarning,
                stacklevel=2,
            )
        return _finish(out, one_d, in_place, order)
    sizes = fe.sizes
    if kind == "numba":
        kcodes = fe.kernel_codes()
        codes = [kcodes[g] for g in range(fe.n_groupings)]
    else:
        codes = [np.ascontiguousarray(fe.codes[:, g]) for g in range(fe.n_groupings)]
    inv_group_w = []
    for g, c in enumerate(codes):
        gw = np.bincount(c, weights=w, minlength=sizes[g]).astype(np.float64)
        gw[gw == 0] = 1.0  # empty groups never index a row
        inv_group_w.append(1.0 / gw)

    if kind == "numba" and n and k and fe.n_groupings:
        ok = demean_columns(
            out,
            kcodes,
            sizes,
            inv_group_w,
            w,
            tol=tol,
            maxiter=maxiter,
            accelerate_after=ACCELERATE_AFTER,
        )
        bad = int(np.count_nonzero(~ok))
        if bad:
            warnings.warn(
                f"fixed-effect demeaning did not converge in {maxiter} iterations (tol {tol}) "
                f"for {bad} of {k} columns",
                NotConvergedWarning,
                stacklevel=2,
            )
        return _finish(out, one_d, in_place, order)

    def sweep(col: FloatArray) -> float:
        """One pass of x <- x - P_g x over every grouping g, in place; the largest step."""
        biggest = 0.0
        for g, c in enumerate(codes):
            sums = np.bincount(c, weights=col if w is None else col * w, minlength=sizes[g])
            means = sums * inv_group_w[g]
            step = np.take(means, c)
            col -= step
            biggest = max(biggest, float(np.abs(means).max()) if means.size else 0.0)
        return biggest

    def converge(col: FloatArray) -> bool:
        """Sweep ``col`` in place until a plain sweep's largest step is below tolerance.

        Irons-Tuck acceleration (Irons & Tuck 1969; the acceleration of fixest, Berge 2018, and
        of pyfixest): from ``x``, ``F(x)`` and ``F(F(x))`` (``F`` = one sweep) the next iterate is
        ``F(F(x)) - c (F(F(x)) - F(x))`` with ``c = <d1, d2> / <d2, d2>``,
        ``d1 = F(F(x)) - F(x)``, ``d2 = d1 - (F(x) - x)``. Every iterate stays ``x0 - D a`` for
        some ``a`` (an affine combination of such vectors), so the limit is still ``M_D x0``;
        convergence is only ever declared on a plain sweep, as without acceleration.
        """
        scale = max(float(np.abs(col).max()) if n else 0.0, 1.0)
        limit = tol * scale
        prev = np.empty_like(col)
        mid = np.empty_like(col)
        sweeps = 0
        while sweeps < maxiter:
            np.copyto(prev, col)
            sweeps += 1
            if sweep(col) <= limit:
                return True
            np.copyto(mid, col)
            sweeps += 1
            if sweep(col) <= limit:
                return True
            if sweeps < 2 * ACCELERATE_AFTER:
                continue
            # col = F(F(x)), mid = F(x), prev = x
            d1 = col - mid
            d2 = d1 - (mid - prev)
            denom = float(d2 @ d2)
            if denom > 0.0:
                col -= (float(d1 @ d2) / denom) * d1
        return False

    not_converged = 0
    for j in range(k):
        col = out[:, j]
        if fe.n_groupings == 1:
            sweep(col)
            continue
        if not converge(col):
            not_converged += 1
    if not_converged:
        warnings.warn(
            f"fixed-effect demeaning did not converge in {maxiter} iterations (tol {tol}) "
            f"for {not_converged} of {k} columns",
            NotConvergedWarning,
            stacklevel=2,
        )
    return _finish(out, one_d, in_place, order)


def _finish(out: FloatArray, one_d: bool, in_place: bool, order: str) -> FloatArray:
    """The demeaned array in the layout asked for (no copy when in place or ``order="F"``)."""
    if one_d:
        return np.ascontiguousarray(out[:, 0])
    if in_place or order == "F":
        return out
    return np.ascontiguousarray(out)


def attach_slopes(
    fe: FixedEffects | None,
    n: int,
    terms: Sequence[Any],
    z_of: Callable[[Any], npt.NDArray[np.float64]],
    codes_of: Callable[[Any], tuple[npt.NDArray[np.int64], int]],
) -> FixedEffects | None:
    """``fe`` with the :class:`Slopes` blocks of ``terms`` attached (a :class:`FixedEffects` with
    no plain grouping when ``fe`` is None and there are slope-only terms); ``fe`` itself when
    ``terms`` is empty (``terms``: :class:`tradeimpact.core.slopes.SlopeTerm`).
    """
    from tradeimpact.core.slopes import slope_blocks

    if not terms:
        return fe
    if fe is None:
        fe = FixedEffects(np.zeros((n, 0), dtype=np.int64), [])
    fe.slopes = fe.slopes + slope_blocks(terms, fe, codes_of, z_of)
    return fe
