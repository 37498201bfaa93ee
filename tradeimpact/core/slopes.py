"""Absorbed varying (heterogeneous) slopes: fixest's ``id[z]`` and ``id[[z]]``, ppmlhdfe's
``a(id##c.z)`` and ``a(id#c.z)``.

A varying-slope term absorbs, for every group ``j`` of a grouping ``id``, the columns
``1{id = j} * z`` (``id[[z]]``, ppmlhdfe ``id#c.z``: the slope only) or ``1{id = j} * [1, z]``
(``id[z]``, ppmlhdfe ``id##c.z``: the group's fixed effect and its slope); ``z`` may hold several
variables (``id[z1,z2]``). The within transformation of :func:`tradeimpact.core.fixed_effects.demean`
projects on these blocks in its alternating-projection sweep (Gaure 2013; fixest's and
``reghdfe``/``ppmlhdfe``'s treatment of slopes): the projection of a column ``v`` on one block is
the per-group weighted least-squares fit of ``v`` on ``[1, z]`` (or ``z``) within each group,

    fit_i = m_j + (z_i - zbar_j)' beta_j,   beta_j = A_j^+ sum_{i in j} w_i (z_i - zbar_j) v_i,
    A_j = sum_{i in j} w_i (z_i - zbar_j)(z_i - zbar_j)'

with ``m_j`` and ``zbar_j`` the weighted group means (``m_j = 0`` and ``zbar_j = 0`` for a slope
without intercept). ``A_j^+`` is the pseudo-inverse: a group in which ``z`` does not vary (or, for
``id[[z]]``, is zero throughout) contributes no slope, exactly as the rank-deficient least-squares
fit. Eigenvalues of ``A_j`` below ``1e-12`` times the group's uncentred second moment of ``z``
count as zero.

Parameters (for the small-sample ``K``): a block has ``sum_j rank(block_j)`` parameters; the
redundancies between blocks (e.g. unit trends ``id[[t]]`` with year effects ``t``: the sum of
the slopes is the linear trend, which the year dummies span) are removed by the exact rank of
the absorbed design (:func:`absorbed_rank`) when it is affordable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class FixedEffects(Protocol):
    """What this module reads of :class:`tradeimpact.core.fixed_effects.FixedEffects`.

    A structural type, so that this module does not import ``fixed_effects`` (which imports it:
    the import graph stays acyclic, tests/test_import_graph.py).
    """

    codes: IntArray
    names: list[str]
    slopes: list[Any]

    @property
    def n(self) -> int: ...

    @property
    def n_groupings(self) -> int: ...

    sizes: list[int]


__all__ = [
    "DENSE_RANK_MAX_COLUMNS",
    "SlopeTerm",
    "Slopes",
    "absorbed_rank",
    "demean_with_slopes",
    "parse_slope_term",
    "slope_dof",
]

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"
_TERM = re.compile(
    rf"^\s*(?P<group>{_NAME}(?:\s*\^\s*{_NAME})*)\s*\[(?P<open>\[?)(?P<vars>[^\[\]]*)(?P<close>\]?)\]\s*$"
)

#: The exact rank of the absorbed design is computed (a dense symmetric eigenproblem after the
#: largest grouping is partialled out) when at most this many other columns remain.
DENSE_RANK_MAX_COLUMNS = 4000


@dataclass(frozen=True)
class SlopeTerm:
    """A parsed varying-slope term: ``group`` columns (interacted with ``^``), slope ``variables``
    and whether the group's own fixed effect is part of it (``id[z]``) or not (``id[[z]]``)."""

    group: tuple[str, ...]
    variables: tuple[str, ...]
    intercept: bool

    @property
    def group_name(self) -> str:
        """The grouping as fixest writes it, ``id`` or ``a^b``."""
        return "^".join(self.group)

    @property
    def name(self) -> str:
        """The term as fixest writes it: ``id[z]`` or ``id[[z]]`` (``id[z1,z2]`` for several)."""
        inner = ",".join(self.variables)
        return f"{self.group_name}[{inner}]" if self.intercept else f"{self.group_name}[[{inner}]]"


def parse_slope_term(spec: Any) -> SlopeTerm | None:
    """``"id[z]"``, ``"id[[z]]"``, ``"id[z1, z2]"``, ``"a^b[z]"`` -> :class:`SlopeTerm`; other
    specs (a plain fixed effect) -> None.

    Raises
    ------
    ValueError
        A term with brackets that is not of these forms (naming the term).
    """
    if not isinstance(spec, str) or "[" not in spec:
        return None
    m = _TERM.match(spec)
    if not m or bool(m.group("open")) != bool(m.group("close")):
        raise ValueError(
            f"varying-slope term {spec!r}: write 'id[z]' (fixed effect and slope), 'id[[z]]' "
            "(slope only) or 'id[z1,z2]'"
        )
    variables = tuple(v.strip() for v in m.group("vars").split(","))
    if not variables or not all(re.fullmatch(_NAME, v) for v in variables):
        raise ValueError(f"varying-slope term {spec!r}: the slope variables must be column names")
    group = tuple(g.strip() for g in m.group("group").split("^"))
    return SlopeTerm(group, variables, intercept=not m.group("open"))


def _recode(codes: IntArray, size: int, mask: npt.NDArray[np.bool_]) -> tuple[IntArray, int]:
    c = codes[mask]
    present = np.bincount(c, minlength=size) > 0
    return (np.cumsum(present) - 1)[c].astype(np.int64), int(present.sum())


@dataclass
class Slopes:
    """One varying-slope block on ``n`` rows: group ``codes`` (``0..size-1``), the slope
    variables ``z`` (shape ``(n, p)``), ``intercept`` (the block includes the group dummies:
    ``id[z]``), ``fe_index`` (with ``intercept``, the grouping of the
    :class:`~tradeimpact.core.fixed_effects.FixedEffects` whose plain projection this block
    replaces) and the ``name`` as written (``id[z]``)."""

    codes: IntArray
    size: int
    z: FloatArray
    intercept: bool
    name: str
    fe_index: int | None = None

    def __post_init__(self) -> None:
        self.codes = np.asarray(self.codes, dtype=np.int64).ravel()
        z = np.asarray(self.z, dtype=np.float64)
        self.z = z.reshape(z.shape[0], -1)

    def subset(self, mask: npt.NDArray[np.bool_]) -> Slopes:
        """The block on the rows of ``mask``, groups re-coded as :meth:`FixedEffects.subset`."""
        codes, size = _recode(self.codes, self.size, np.asarray(mask, dtype=bool))
        return Slopes(codes, size, self.z[mask], self.intercept, self.name, self.fe_index)

    def columns(self) -> Any:
        """The absorbed columns as a sparse ``(n, size * (p + intercept))`` matrix
        (``[D, D * z_1, ..., D * z_p]``)."""
        import scipy.sparse as sp

        n = self.codes.size
        rows = np.arange(n)
        blocks = []
        if self.intercept:
            blocks.append(sp.csr_matrix((np.ones(n), (rows, self.codes)), shape=(n, self.size)))
        for k in range(self.z.shape[1]):
            blocks.append(sp.csr_matrix((self.z[:, k], (rows, self.codes)), shape=(n, self.size)))
        return sp.hstack(blocks).tocsc()

    def group_ranks(self) -> IntArray:
        """Parameters per group: the rank of the group's rows of ``[1, z]`` (or ``z``)."""
        return self.projector(None).ranks

    def projector(self, weights: FloatArray | None) -> _Projector:
        """The weighted projection on this block (module docstring), set up once per weights."""
        return _Projector(self, weights)


class _Projector:
    """Per-group weighted least squares on ``[1, z]`` (``intercept``) or ``z``."""

    def __init__(self, s: Slopes, w: FloatArray | None) -> None:
        c, k = s.codes, s.size
        self.codes = c
        self.size = k
        self.w = w
        self.intercept = s.intercept
        p = s.z.shape[1]
        wsum = np.bincount(c, weights=w, minlength=k).astype(np.float64)
        present = np.bincount(c, minlength=k) > 0
        self.inv_w = 1.0 / np.where(wsum > 0, wsum, 1.0)
        z = s.z
        if s.intercept:
            zbar = (
                np.column_stack(
                    [
                        np.bincount(c, weights=z[:, j] if w is None else z[:, j] * w, minlength=k)
                        for j in range(p)
                    ]
                )
                * self.inv_w[:, None]
            )
            zc = z - zbar[c]
        else:
            zc = z
        self.zc = np.asfortranarray(zc)
        zw = zc if w is None else zc * w[:, None]
        self.zw = np.asfortranarray(zw)
        a = np.empty((k, p, p))
        for i in range(p):
            for j in range(i, p):
                a[:, i, j] = a[:, j, i] = np.bincount(c, weights=zw[:, i] * zc[:, j], minlength=k)
        zraw = z if w is None else z * np.sqrt(w)[:, None]
        ref = np.bincount(c, weights=np.einsum("ij,ij->i", zraw, zraw), minlength=k)
        vals, vecs = np.linalg.eigh(a)
        keep = vals > 1e-12 * np.maximum(ref, np.finfo(np.float64).tiny)[:, None]
        inv = np.where(keep, 1.0 / np.where(keep, vals, 1.0), 0.0)
        self.ainv = np.einsum("gik,gk,gjk->gij", vecs, inv, vecs)
        self.ranks = (keep.sum(axis=1) + (1 if s.intercept else 0)) * present
        self.p = p

    def __call__(self, col: FloatArray) -> FloatArray:
        """The fitted values of ``col`` on the block (not in place)."""
        c, k = self.codes, self.size
        p = self.p
        b = np.column_stack(
            [np.bincount(c, weights=self.zw[:, j] * col, minlength=k) for j in range(p)]
        )
        beta = np.einsum("gij,gj->gi", self.ainv, b)
        fit = np.einsum("ij,ij->i", self.zc, beta[c]) if p > 1 else self.zc[:, 0] * beta[c, 0]
        if self.intercept:
            sums = np.bincount(c, weights=col if self.w is None else col * self.w, minlength=k)
            fit = fit + (sums * self.inv_w)[c]
        return np.asarray(fit, dtype=np.float64)


def demean_with_slopes(
    out: FloatArray,
    fe: FixedEffects,
    weights: FloatArray | None,
    *,
    tol: float,
    maxiter: int,
    accelerate_after: int = 2,
) -> int:
    """Residualise every column of ``out`` (Fortran order, in place) on the fixed effects and the
    varying-slope blocks of ``fe``; returns the number of columns that did not converge.

    The alternating projections of :func:`tradeimpact.core.fixed_effects.demean` with the slope
    blocks among the projections (a grouping that an ``id[z]`` block includes is projected by
    that block, jointly on ``[1, z]``), Irons-Tuck accelerated in the same way; convergence when
    a plain sweep's largest step is below ``tol`` times the column's scale. One block alone is
    exact in one sweep.
    """
    w = weights
    n = out.shape[0]
    replaced = {s.fe_index for s in fe.slopes if s.intercept and s.fe_index is not None}
    steps: list[Callable[[FloatArray], FloatArray]] = []
    for g in range(fe.n_groupings):
        if g in replaced:
            continue
        codes = np.ascontiguousarray(fe.codes[:, g])
        size = fe.sizes[g]
        gw = np.bincount(codes, weights=w, minlength=size).astype(np.float64)
        inv = 1.0 / np.where(gw > 0, gw, 1.0)

        def mean_step(
            col: FloatArray, codes: IntArray = codes, size: int = size, inv: FloatArray = inv
        ) -> FloatArray:
            sums = np.bincount(codes, weights=col if w is None else col * w, minlength=size)
            return np.asarray(np.take(sums * inv, codes), dtype=np.float64)

        steps.append(mean_step)
    steps.extend(s.projector(w) for s in fe.slopes)

    def sweep(col: FloatArray) -> float:
        biggest = 0.0
        for step in steps:
            fit = step(col)
            col -= fit
            biggest = max(biggest, float(np.abs(fit).max()) if fit.size else 0.0)
        return biggest

    not_converged = 0
    for j in range(out.shape[1]):
        col = out[:, j]
        if len(steps) == 1:
            sweep(col)
            continue
        limit = tol * max(float(np.abs(col).max()) if n else 0.0, 1.0)
        prev = np.empty_like(col)
        mid = np.empty_like(col)
        sweeps = 0
        done = False
        while sweeps < maxiter and not done:
            np.copyto(prev, col)
            sweeps += 1
            if sweep(col) <= limit:
                done = True
                break
            np.copyto(mid, col)
            sweeps += 1
            if sweep(col) <= limit:
                done = True
                break
            if sweeps < 2 * accelerate_after:
                continue
            d1 = col - mid
            d2 = d1 - (mid - prev)
            denom = float(d2 @ d2)
            if denom > 0.0:
                col -= (float(d1 @ d2) / denom) * d1
        if not done:
            not_converged += 1
    return not_converged


def _plain_columns(fe: FixedEffects, g: int) -> Any:
    import scipy.sparse as sp

    n = fe.n
    return sp.csr_matrix(
        (np.ones(n), (np.arange(n), fe.codes[:, g])), shape=(n, fe.sizes[g])
    ).tocsc()


def absorbed_rank(fe: FixedEffects, *, with_slopes: bool = True) -> int | None:
    """The exact rank of the absorbed design ``[D_1, ..., D_G, slope blocks]``, or None when it
    is too large to compute densely.

    Method: the largest plain grouping ``D*`` (disjoint indicator columns, rank = its levels) is
    partialled out analytically; the rest ``R`` (``m`` columns, each scaled to unit length)
    enters through ``S = R' M* R = R'R - (D*'R)' diag(counts)^-1 (D*'R)``, formed sparse, and
    ``rank = levels(D*) + rank(S)`` with ``rank(S)`` by :func:`numpy.linalg.matrix_rank`
    (symmetric eigenvalues, numpy's default tolerance) when ``m <= DENSE_RANK_MAX_COLUMNS``.
    """
    import scipy.sparse as sp

    slopes = list(fe.slopes) if with_slopes else []
    replaced = {s.fe_index for s in slopes if s.intercept and s.fe_index is not None}
    plain = [g for g in range(fe.n_groupings) if g not in replaced]
    levels = [
        int(np.count_nonzero(np.bincount(fe.codes[:, g], minlength=fe.sizes[g]))) for g in plain
    ]
    rest: list[Any] = []
    first = None
    if plain:
        first = plain[int(np.argmax(levels))]
    for g in plain:
        if g != first:
            rest.append(_plain_columns(fe, g))
    rest.extend(s.columns() for s in slopes)
    base = levels[plain.index(first)] if first is not None else 0
    if not rest:
        return base
    r = sp.hstack(rest).tocsc()
    norms = np.sqrt(np.asarray(r.multiply(r).sum(axis=0)).ravel())
    used = np.flatnonzero(norms > 0)
    m = int(used.size)
    if m == 0:
        return base
    if m > DENSE_RANK_MAX_COLUMNS:
        return None
    r = r[:, used] @ sp.diags(1.0 / norms[used])
    gram = (r.T @ r).toarray()
    if first is not None:
        d = _plain_columns(fe, first)
        counts = np.asarray(d.sum(axis=0)).ravel()
        cross = (d.T @ r).toarray()
        gram -= cross.T @ (cross / np.where(counts > 0, counts, 1.0)[:, None])
    gram = (gram + gram.T) / 2.0
    return base + int(np.linalg.matrix_rank(gram, hermitian=True))


def slope_dof(fe: FixedEffects) -> int:
    """Parameters the slope blocks of ``fe`` add to its plain fixed effects, net of redundancies:
    ``absorbed_rank(fe) - absorbed_rank(fe without slopes)`` when both are computable, otherwise
    the sum of the blocks' per-group ranks (less the group dummies an ``id[z]`` block includes,
    which the plain count already has)."""
    full = absorbed_rank(fe)
    plain = absorbed_rank(fe, with_slopes=False)
    if full is not None and plain is not None:
        return full - plain
    total = 0
    for s in fe.slopes:
        ranks = s.group_ranks()
        total += int(ranks.sum()) - (int(np.count_nonzero(ranks)) if s.intercept else 0)
    return total


def slope_blocks(
    terms: Sequence[SlopeTerm],
    fe: FixedEffects,
    codes_of: Callable[[SlopeTerm], tuple[IntArray, int]],
    z_of: Callable[[SlopeTerm], FloatArray],
) -> list[Slopes]:
    """Build the :class:`Slopes` blocks of ``terms`` for ``fe``: an ``id[z]`` term uses the
    grouping of ``fe`` named ``id`` (its ``fe_index``), an ``id[[z]]`` term its own codes from
    ``codes_of``; ``z_of`` gives the ``(n, p)`` slope variables."""
    out = []
    for t in terms:
        z = z_of(t)
        if t.intercept:
            g = fe.names.index(t.group_name)
            out.append(Slopes(fe.codes[:, g], fe.sizes[g], z, True, t.name, g))
        else:
            codes, size = codes_of(t)
            out.append(Slopes(codes, size, z, False, t.name, None))
    return out


def split_fe_specs(fe: Sequence[Any]) -> tuple[list[Any], list[SlopeTerm]]:
    """Separate varying-slope terms from plain fixed effects in a list of fixed-effect specs.

    Returns ``(plain, terms)``: ``plain`` the specs of plain fixed effects, with the grouping of
    every ``id[z]`` term added (once) since that term includes the group's fixed effect;
    ``terms`` the :class:`SlopeTerm` of each ``[...]`` spec, in order.

    Raises
    ------
    ValueError
        A malformed ``[...]`` term (from :func:`parse_slope_term`).
    """
    plain: list[Any] = []
    terms: list[SlopeTerm] = []
    seen: set[str] = set()
    for spec in fe:
        t = parse_slope_term(spec)
        if t is None:
            key = spec if isinstance(spec, str) else "^".join(spec)
            if key not in seen:
                plain.append(spec)
                seen.add(key)
            continue
        terms.append(t)
        if t.intercept and t.group_name not in seen:
            plain.append(t.group[0] if len(t.group) == 1 else list(t.group))
            seen.add(t.group_name)
    return plain, terms
