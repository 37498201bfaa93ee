"""Randomization inference for staggered adoption: the cohorts' dates re-assigned across units.

Design. Unit ``i`` has a cohort ``C_i``, the first period in which it is treated (never-treated
units coded 0, inf or null: :func:`tradeimpact.core.cohort.cohort_values`), and its rows are
treated from that date on: ``D_it = 1[t >= C_i]``. A placebo assignment is a permutation ``pi`` of
the units (within strata, if given) that hands unit ``i`` the date of unit ``pi(i)``: the
multiset of dates, the never-treated codes included, is the observed one, only who gets which
date changes. For every assignment the treatment indicator of every row is recomputed,
``D^pi_it = 1[t >= C_pi(i)]``, and the statistic re-estimated. Under the sharp null of no effect
on any unit in any period (``y_it(C) = y_it(inf)`` for every date ``C``) the outcomes do not
depend on the assignment, and when the observed assignment is one draw from the uniform
distribution over these permutations (design-based inference for staggered adoption: Athey &
Imbens 2022, "Design-based analysis in difference-in-differences settings with staggered
adoption", J. Econometrics 226(1); Roth & Sant'Anna 2023, "Efficient estimation for staggered
rollout designs", J. Political Economy Microeconomics 1(4)) the test below is exact.

P-value (two-sided, on ``|T|``, the actual assignment in the reference set; MacKinnon & Webb 2020,
"Randomization inference for difference-in-differences with few treated clusters",
J. Econometrics 218(2)):

* all ``P`` distinct assignments enumerated (when ``P <= max_exact``; ``P`` is the number of
  distinct ways to hand out the multiset of dates, ``prod_strata m! / prod_c m_c!``):
  ``p = #{pi : |T_pi| >= |T|} / P``, an exact :class:`~fractions.Fraction`;
* otherwise ``B`` seeded uniform permutations: ``p = (1 + #{b : |T_b| >= |T|}) / (1 + B)``.

Ties within a relative ``1e-9`` count against the null (as
:func:`~tradeimpact.inference.randomization.randomization_inference`). With one common cohort
the assignments are the ``C(N, k)`` sets of treated units of that function, and the two p-values
are the same fraction.

Statistics (``estimator``, ``statistic``):

* ``"twfe"`` (default): the static two-way fixed-effects DiD coefficient ``beta`` of
  ``y_it = beta D_it + X_it gamma + alpha_i + lambda_t + e_it`` (fixest ``feols(y ~ D | unit +
  time)``). By Frisch-Waugh-Lovell ``beta_pi = D_pi' W y** / D_pi' W M D_pi`` with ``M`` the
  ``W``-orthogonal residual maker of the fixed effects and controls and ``y** = M y``. When the
  unit is one of the fixed effects (the default), ``M D_pi`` is assembled from closed-form pieces
  (:class:`_CohortPlacebos`): the placebo column is ``sum_j 1[unit j] 1[t >= C_pi(j)]``, so its
  numerator and denominator are sums over units of per-(unit, date) moments minus one quadratic
  form in the dimension of the other fixed effects and controls; ``y`` and the controls are
  projected once, no iteration: 999 placebos take about 0.02 s on 30 units x 12 periods and
  0.9 s on 833 units x 120 months with 10 dates. Otherwise (and for the studentized statistics)
  each chunk of placebo columns is demeaned in one :func:`~tradeimpact.core.fixed_effects.demean`
  call (6 s for the 1e5-row panel with ``"t"``).
* ``statistic="t"``: ``t_pi = beta_pi / se_pi`` with ``se_pi`` the assignment's own CR1 standard
  error (clustered by ``cluster``, default the unit; fixest's small-sample factor
  ``G/(G-1) (n-1)/(n-K)``), MacKinnon & Webb's RI-t.
* ``statistic="t_pre"`` (TWFE): ``t_pi = beta_pi / sqrt(V_pi)``, ``V_pi = sum_it h_pi,it^2
  s_i^2`` with ``h_pi = W M D_pi / (D_pi' W M D_pi)`` the estimator's own linear weights
  (``beta_pi = h_pi' y``) and ``s_i^2`` unit ``i``'s residual variance in the fit ``y ~ FE + X``
  on the rows before the first cohort date (untreated under every assignment, so ``V_pi`` is free
  of the null value): the variance of ``beta_pi`` if the errors are independent with unit-
  specific variances, as :mod:`tradeimpact.inference.studentized`'s ``"pre_var_model"`` for
  one date (without its leave-out of the treated units). For few treated units noisier than
  the controls, where the coefficient test over-rejects (``benchmarks/size_staggered.py``).
* ``"sunab"`` / ``"cs"``: the simple ATT of Sun & Abraham (2021) (the interaction-weighted
  average of the post-treatment cohort x relative-period effects,
  :func:`tradeimpact.models.sunab.sunab_fit`) or of Callaway & Sant'Anna (2021)
  (:func:`tradeimpact.models.callaway_santanna.att_gt`, ``aggregate("simple")``), refitted under
  every assignment (heavier: two fits per assignment, see below). ``statistic="t"`` divides by the
  estimator's own standard error (CR1 by unit for Sun-Abraham, the influence-function s.e. for
  Callaway-Sant'Anna).

Interval (test inversion, constant additive effect ``tau``; Imbens & Rosenbaum 2005, MacKinnon &
Webb 2020 section 5): under ``H0: y_it(C) = y_it(inf) + tau 1[t >= C]`` the outcome free of the
effect is ``y - tau D`` (``D`` the actual indicator). Every statistic above is linear in ``y``,
so ``T_pi(tau) = T_pi - tau c_pi`` with ``c_pi`` the statistic computed with ``D`` in place of
``y`` (``c = 1`` for the actual assignment); the p-value changes only at the breakpoints
``(T_pi -/+ T) / (c_pi -/+ 1)`` (``T`` and ``c`` divided by the assignment's scale for
``"t_pre"``, a scale free of ``tau``), where the accepted set is found exactly. For ``"twfe"``
with ``statistic="t"`` the cluster scores are linear in ``tau`` too, ``se_pi(tau)^2`` is a
quadratic and the breakpoints are the real roots of one quartic per assignment (as
:mod:`tradeimpact.inference.studentized`). ``conf_int`` is not available for the studentized
Sun-Abraham and Callaway-Sant'Anna statistics (their scales are not re-derived under ``tau``).

Size at 5% (``benchmarks/size_staggered.py``: 30 units x 10 periods, AR(1) 0.5, cohorts at
periods 4, 6, 8; 1,000 panels, ``B = 199``; binomial 99% band 3.3-6.9%), coefficient / CR1 t /
``t_pre``: dates assigned at random, unit noise U(0.5, 2): 4.8 / 4.5 / 5.1% (power at an effect
of 1: 70 / 69 / 70%); 18 treated units 3x noisier than 12 never-treated: 4.7 / 5.5 / 3.5%;
3 treated units 3x noisier than 27 controls: 36.1 / 11.8 / 3.9%; 3 treated 1/3 as noisy:
0.0 / 0.5 / 2.4% (power 26 / 68 / 88%). With few treated units whose noise differs from the
controls', use ``statistic="t_pre"``: the coefficient test is then wrong both ways (issue 10).
The Sun-Abraham and Callaway-Sant'Anna ATT tests (100 panels, ``B = 49``, band 0-11%; their
placebo ATTs coincide here, balanced panel and never-treated controls): 7% with random dates
(power 50%), 27% with 3 treated units 3x noisier; about 7 ms (SA) and 14 ms (CS) per assignment.

Written by hand (no Python package offers randomization inference for staggered designs); the
actual coefficient equals pyfixest's ``feols("y ~ D | unit + time")``, the closed form equals the
projection path, the one-cohort p-value equals ``randomization_inference``'s, and the size and
power are checked by Monte Carlo in ``tests/test_staggered_ri.py`` and
``benchmarks/size_staggered.py``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.core.cohort import NEVER_TREATED_RULE, check_constant_within, cohort_values
from tradeimpact.core.fixed_effects import FixedEffects, demean, fe_dof
from tradeimpact.core.frame import check_columns, numeric_column, to_polars
from tradeimpact.core.registry import register_inference
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.randomization import (
    _FWL,
    MAX_DENSE_REGRESSORS,
    PINV_RTOL,
    TIE_RTOL,
    AssignmentTest,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Estimator = Literal["twfe", "sunab", "cs"]
Statistic = Literal["coef", "t", "t_pre"]

#: Largest ``k_R * N * K`` (other fixed-effect levels and controls x units x dates) for which the
#: closed form keeps its per-(unit, date) tables; larger designs use the projection path.
MAX_CLOSED_FORM_ELEMENTS = 10_000_000


# --------------------------------------------------------------------------------------------
# the design
# --------------------------------------------------------------------------------------------


@dataclass
class _Design:
    """The panel as arrays: rows, units, dates and the fixed effects."""

    y: FloatArray
    tvals: FloatArray  # time of each row, in the units of the cohort column
    ucode: IntArray  # unit code of each row
    unit_labels: npt.NDArray[Any]
    dates: FloatArray  # the distinct finite dates, sorted; code len(dates) = never treated
    unit_date: IntArray  # date code of each unit (the observed assignment)
    strata: IntArray  # stratum code of each unit
    fe: FixedEffects
    fe_cols: list[str]
    x: FloatArray
    w: FloatArray | None
    clusters: IntArray
    frame: pl.DataFrame
    names: dict[str, Any] = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return int(self.unit_labels.size)

    @property
    def date_ext(self) -> FloatArray:
        """The dates with ``inf`` appended (the never-treated code)."""
        return np.append(self.dates, np.inf)

    def indicator(self, assignment: IntArray) -> FloatArray:
        """``D_it = 1[t >= C]`` for every row under one assignment (date codes by unit)."""
        return (self.tvals >= self.date_ext[assignment[self.ucode]]).astype(np.float64)


def _time_index(s: pl.Series, column: str) -> FloatArray:
    """The time column as numbers, on the scale :func:`cohort_values` gives date cohorts."""
    if s.dtype.is_numeric():
        return numeric_column(s.to_frame(), column, "time")
    if s.dtype == pl.Date or isinstance(s.dtype, pl.Datetime):
        d = s.cast(pl.Date)
        return np.asarray(
            (d.dt.year().cast(pl.Float64) * 12 + d.dt.month().cast(pl.Float64) - 1).to_numpy(),
            dtype=np.float64,
        )
    raise ModelSpecError(f"time column {column!r} must be a number or a date, not {s.dtype}")


def _per_unit(values: npt.NDArray[Any], ucode: IntArray, n_units: int) -> npt.NDArray[Any]:
    """The value of each unit (the caller has checked it is constant within unit)."""
    out = np.empty(n_units, dtype=values.dtype)
    out[ucode] = values
    return out


def _prepare(
    data: Any,
    y: str,
    unit: str,
    time: str,
    cohort: str,
    fe: Sequence[str] | None,
    controls: Sequence[str] | None,
    weights: str | None,
    strata: str | None,
    cluster: str | None,
) -> _Design:
    """Validate the panel and turn it into arrays (errors name the argument or column)."""
    frame = to_polars(data)
    fe_cols = list(fe) if fe is not None else [unit, time]
    ctrl = list(controls) if controls else []
    check_columns(frame, [y, unit, time, cohort, *fe_cols, *ctrl, weights, strata, cluster])
    for col in dict.fromkeys([y, unit, time, *fe_cols, *ctrl, weights, strata, cluster]):
        if col is None:
            continue
        s = frame[col]
        bad = s.is_null()
        if s.dtype.is_float():
            bad = bad | s.is_nan()
        if bad.any():
            raise ModelSpecError(
                f"column {col!r} has {int(bad.sum())} missing value(s), first at row "
                f"{int(bad.arg_max() or 0)}; drop or fill them before estimation"
            )
    check_constant_within(frame, cohort, unit)
    y_arr = numeric_column(frame, y, "outcome")
    tvals = _time_index(frame[time], time)
    cvals = cohort_values(frame, cohort, time).to_numpy()
    unit_labels, ucode = np.unique(frame[unit].to_numpy(), return_inverse=True)
    ucode = ucode.astype(np.int64).ravel()
    n_units = unit_labels.size
    unit_cohort = _per_unit(cvals, ucode, n_units)
    dates = np.unique(unit_cohort[np.isfinite(unit_cohort)])
    if dates.size == 0:
        raise ModelSpecError(
            f"no treated unit: every value of cohort column {cohort!r} codes a never-treated "
            f"unit ({NEVER_TREATED_RULE})"
        )
    unit_date = np.where(
        np.isfinite(unit_cohort), np.searchsorted(dates, unit_cohort), dates.size
    ).astype(np.int64)
    if strata is not None:
        _check_label_constant(frame, strata, unit)
        _, s_rows = np.unique(frame[strata].to_numpy(), return_inverse=True)
        strata_codes = _per_unit(s_rows.astype(np.int64).ravel(), ucode, n_units)
    else:
        strata_codes = np.zeros(n_units, dtype=np.int64)
    w = None if weights is None else numeric_column(frame, weights, "weight")
    if w is not None and (w < 0).any():
        raise ModelSpecError(f"weights column {weights!r} has negative values")
    x = (
        np.column_stack([numeric_column(frame, c) for c in ctrl])
        if ctrl
        else np.empty((frame.height, 0))
    )
    fe_obj = FixedEffects.from_columns([frame[c].to_numpy() for c in fe_cols], fe_cols)
    if cluster is None:
        clusters = ucode
    else:
        _, cl = np.unique(frame[cluster].to_numpy(), return_inverse=True)
        clusters = cl.astype(np.int64).ravel()
    design = _Design(
        y=y_arr,
        tvals=tvals,
        ucode=ucode,
        unit_labels=unit_labels,
        dates=dates.astype(np.float64),
        unit_date=unit_date,
        strata=strata_codes,
        fe=fe_obj,
        fe_cols=fe_cols,
        x=x,
        w=w,
        clusters=clusters,
        frame=frame,
        names={
            "y": y,
            "unit": unit,
            "time": time,
            "cohort": cohort,
            "controls": ctrl,
            "weights": weights,
            "cluster": cluster,
            "strata": strata,
        },
    )
    _check_comparisons(design, cohort)
    return design


def _check_label_constant(frame: pl.DataFrame, column: str, unit: str) -> None:
    """Raise when a (non-numeric) column takes two values within one unit."""
    per = frame.group_by(unit, maintain_order=True).agg(pl.col(column).n_unique().alias("_k"))
    bad = per.filter(pl.col("_k") > 1)
    if bad.height:
        raise ModelSpecError(
            f"column {column!r} must be constant within each {unit!r}: unit {bad[unit][0]!r} "
            "has several values"
        )


def _check_comparisons(design: _Design, cohort: str) -> None:
    """Raise unless some period has treated and untreated rows (never- or not-yet-treated)."""
    d = design.indicator(design.unit_date)
    _, tcode = np.unique(design.tvals, return_inverse=True)
    treated = np.bincount(tcode, weights=d)
    rows = np.bincount(tcode)
    if not ((treated > 0) & (treated < rows)).any():
        raise ModelSpecError(
            f"no comparison units in cohort column {cohort!r}: no unit is never treated and none "
            "is not yet treated in a period in which another unit is treated, so the effect is "
            f"not identified ({NEVER_TREATED_RULE})"
        )


# --------------------------------------------------------------------------------------------
# the assignments
# --------------------------------------------------------------------------------------------


def n_distinct_assignments(unit_date: npt.ArrayLike, strata: npt.ArrayLike | None = None) -> int:
    """Number of distinct ways to hand out the multiset of dates: ``prod_s m_s! / prod_c m_sc!``."""
    codes = np.asarray(unit_date)
    st = np.zeros(codes.size, dtype=np.int64) if strata is None else np.asarray(strata)
    total = 1
    for s in np.unique(st):
        _, counts = np.unique(codes[st == s], return_counts=True)
        m = int(counts.sum())
        term = math.factorial(m)
        for c in counts:
            term //= math.factorial(int(c))
        total *= term
    return total


def _multiset_permutations(labels: IntArray) -> Iterator[IntArray]:
    """Every distinct arrangement of ``labels`` (each once), choosing positions label by label."""
    values, counts = np.unique(labels, return_counts=True)
    m = labels.size

    def rec(free: tuple[int, ...], k: int, out: IntArray) -> Iterator[IntArray]:
        if k == values.size - 1:
            out[list(free)] = values[k]
            yield out.copy()
            return
        for chosen in itertools.combinations(free, int(counts[k])):
            out[list(chosen)] = values[k]
            rest = tuple(i for i in free if i not in set(chosen))
            yield from rec(rest, k + 1, out)

    yield from rec(tuple(range(m)), 0, np.empty(m, dtype=np.int64))


def _assignments(
    unit_date: IntArray,
    strata: IntArray,
    max_exact: int,
    n_permutations: int,
    seed: int,
) -> tuple[IntArray, int, bool, int]:
    """``(A, actual_idx, exact, total)``: ``A[p, j]`` is the date code of unit ``j`` under ``p``."""
    total = n_distinct_assignments(unit_date, strata)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    if total <= max_exact:
        per_stratum = [list(_multiset_permutations(unit_date[g])) for g in groups]
        rows = np.empty((total, unit_date.size), dtype=np.int64)
        for p, combo in enumerate(itertools.product(*per_stratum)):
            for g, arr in zip(groups, combo, strict=True):
                rows[p, g] = arr
        actual_idx = int(np.flatnonzero((rows == unit_date[None, :]).all(axis=1))[0])
        return rows, actual_idx, True, total
    if n_permutations < 1:
        raise ModelSpecError(f"n_permutations must be at least 1, not {n_permutations}")
    rng = np.random.default_rng(seed)
    rows = np.empty((n_permutations + 1, unit_date.size), dtype=np.int64)
    rows[0] = unit_date
    for b in range(1, n_permutations + 1):
        out = unit_date.copy()
        for g in groups:
            out[g] = unit_date[g][rng.permutation(g.size)]
        rows[b] = out
    return rows, 0, False, total


def _member(assign: IntArray, code: int) -> Any:
    """Sparse ``(N, P)`` 0/1 matrix: unit ``j`` gets date ``code`` under assignment ``p``."""
    from scipy import sparse

    p_idx, j_idx = np.nonzero(assign == code)
    return sparse.csc_matrix(
        (np.ones(p_idx.size), (j_idx, p_idx)), shape=(assign.shape[1], assign.shape[0])
    )


# --------------------------------------------------------------------------------------------
# TWFE: the closed form (unit absorbed) and the projection path
# --------------------------------------------------------------------------------------------


class _CohortPlacebos:
    """Exact FWL moments of the placebo columns ``D_pi = sum_j 1[unit j] 1[t >= C_pi(j)]``.

    The staggered generalisation of
    :class:`tradeimpact.inference.randomization._UnitPlacebos` (one date there). With ``U`` the
    unit dummies, ``R`` the dummies of the other fixed effects and the controls, ``M`` the
    ``W``-weighted residual maker of ``[U, R]``, ``M_U`` that of ``U`` alone and
    ``H = R' W M_U R`` (``k_R`` square):

    * ``s_jc = M_U (1[unit j] 1[t >= c])`` is ``1[t >= c]`` ``w``-centred on unit ``j``'s rows and
      zero elsewhere; ``M D_pi = sum_j s_{j,C_pi(j)} - M_U R H^+ c_pi`` with
      ``c_pi = sum_j R' W s_{j,C_pi(j)}``;
    * denominator ``D_pi' W M D_pi = sum_j q_{j,C_pi(j)} - c_pi' H^+ c_pi`` with
      ``q_jc = s_jc' W s_jc`` (the ``s_jc`` of different units have disjoint rows);
    * numerator for any column ``e``: ``D_pi' W M e = sum_j a_{j,C_pi(j)}(e) - c_pi' H^+ R'W M_U e``
      with ``a_jc(e) = sum_{i in j, t_i >= c} w_i (M_U e)_i``.

    ``q``, ``a`` and ``R'W s_jc`` are tabulated once per (unit, date); an assignment then costs a
    gather over units and one ``k_R`` quadratic form. Exact: ``M_U`` is a within-unit mean and
    ``H^+`` a small dense pseudo-inverse (equilibrated, as in ``_UnitPlacebos``), no iteration.
    """

    def __init__(
        self,
        design: _Design,
        w: FloatArray,
        inv_unit_w: FloatArray,
        r_mat: Any,
        h_pinv: FloatArray,
        q_tab: FloatArray,
        c_tabs: list[FloatArray],
        posts: list[FloatArray],
    ) -> None:
        self.design = design
        self.w = w
        self.inv_unit_w = inv_unit_w
        self.r_mat = r_mat
        self.h_pinv = h_pinv
        self.q_tab = q_tab  # (N, K+1), last column 0 (never treated)
        self.c_tabs = c_tabs  # K arrays (N, k_R): R'W s_jc
        self.posts = posts  # K arrays (n,): 1[t >= c]

    @classmethod
    def build(cls, design: _Design) -> _CohortPlacebos | None:
        """The closed form, or None when the unit is not absorbed or the tables would be large."""
        from scipy import linalg, sparse

        fe, ucode, n_units = design.fe, design.ucode, design.n_units
        n = ucode.size
        unit_g = None
        for g in range(fe.n_groupings):
            if fe.sizes[g] != n_units:
                continue
            codes = fe.codes[:, g]
            first = np.zeros(n_units, dtype=np.int64)
            first[ucode] = codes
            if np.array_equal(first[ucode], codes):
                unit_g = g
                break
        others = [g for g in range(fe.n_groupings) if g != unit_g]
        k_r = sum(fe.sizes[g] for g in others) + design.x.shape[1]
        k_dates = design.dates.size
        if (
            unit_g is None
            or k_r > MAX_DENSE_REGRESSORS
            or k_r * n_units * k_dates > MAX_CLOSED_FORM_ELEMENTS
        ):
            return None
        w = np.ones(n) if design.w is None else design.w
        rows = np.arange(n)
        u_mat = sparse.csr_matrix((np.ones(n), (rows, ucode)), shape=(n, n_units))
        blocks = [
            sparse.csr_matrix((np.ones(n), (rows, fe.codes[:, g])), shape=(n, fe.sizes[g]))
            for g in others
        ]
        if design.x.shape[1]:
            blocks.append(sparse.csr_matrix(design.x))
        r_mat = sparse.hstack(blocks, format="csr") if blocks else sparse.csr_matrix((n, 0))

        def by_unit(values: FloatArray) -> FloatArray:
            return np.asarray(np.bincount(ucode, weights=values, minlength=n_units), np.float64)

        unit_w = by_unit(w)
        inv_unit_w = np.divide(1.0, unit_w, out=np.zeros(n_units), where=unit_w > 0)
        rw = r_mat.multiply(w[:, None]).tocsr()
        a_mat = (rw.T @ u_mat).tocsr()  # R'WU, (k_R, N)
        h = (r_mat.T @ rw).toarray() - (a_mat @ sparse.diags(inv_unit_w) @ a_mat.T).toarray()
        h = 0.5 * (h + h.T)
        if k_r:
            diag = np.sqrt(np.clip(np.diag(h), 0.0, None))
            eq = np.divide(1.0, diag, out=np.ones(k_r), where=diag > 0)
            h_pinv = eq[:, None] * linalg.pinvh(eq[:, None] * h * eq[None, :], rtol=PINV_RTOL)
            h_pinv = h_pinv * eq[None, :]
        else:
            h_pinv = np.empty((0, 0))
        q_tab = np.zeros((n_units, k_dates + 1))
        c_tabs: list[FloatArray] = []
        posts: list[FloatArray] = []
        for k, c in enumerate(design.dates):
            post = (design.tvals >= c).astype(np.float64)
            centred = post - (by_unit(w * post) * inv_unit_w)[ucode]
            q_tab[:, k] = by_unit(w * centred * centred)
            c_tabs.append(np.asarray((u_mat.T @ r_mat.multiply((w * centred)[:, None])).toarray()))
            posts.append(post)
        return cls(design, w, inv_unit_w, r_mat, np.asarray(h_pinv), q_tab, c_tabs, posts)

    def moments(
        self, assign: IntArray, columns: Sequence[FloatArray]
    ) -> tuple[FloatArray, list[FloatArray]]:
        """``D_pi' W M D_pi`` and ``D_pi' W M e`` for each column ``e``, for every assignment."""
        d = self.design
        n_units, k_dates = d.n_units, d.dates.size
        jj = np.arange(n_units)[None, :]
        k_r = self.h_pinv.shape[0]
        c_pi = np.zeros((assign.shape[0], k_r))
        if k_r:
            for k in range(k_dates):
                c_pi += _member(assign, k).T @ self.c_tabs[k]
        quad = np.einsum("pk,kl,pl->p", c_pi, self.h_pinv, c_pi) if k_r else 0.0
        den = self.q_tab[jj, assign].sum(axis=1) - quad
        nums = []
        for e in columns:
            unit_mean = np.bincount(d.ucode, weights=self.w * e, minlength=n_units)
            within = e - (unit_mean * self.inv_unit_w)[d.ucode]
            a_tab = np.zeros((n_units, k_dates + 1))
            for k in range(k_dates):
                a_tab[:, k] = np.bincount(
                    d.ucode, weights=self.w * self.posts[k] * within, minlength=n_units
                )
            num = a_tab[jj, assign].sum(axis=1)
            if k_r:
                g = self.h_pinv @ (self.r_mat.T @ (self.w * within))
                num = num - c_pi @ g
            nums.append(np.asarray(num, dtype=np.float64))
        return np.asarray(den, dtype=np.float64), nums

    def scale(self, assign: IntArray) -> FloatArray:
        """``D_pi' W D_pi`` (the raw scale for the collinearity check)."""
        d = self.design
        tab = np.zeros((d.n_units, d.dates.size + 1))
        for k in range(d.dates.size):
            tab[:, k] = np.bincount(d.ucode, weights=self.w * self.posts[k], minlength=d.n_units)
        return np.asarray(tab[np.arange(d.n_units)[None, :], assign].sum(axis=1), np.float64)


def _check_den(den: FloatArray, scale: FloatArray, design: _Design, assign: IntArray) -> None:
    """Raise naming the first assignment whose indicator has no variation left."""
    bad = den <= 1e-10 * np.maximum(scale, 1e-300)
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        shown = dict(
            zip(
                design.unit_labels[:6].tolist(),
                design.date_ext[assign[p][:6]].tolist(),
                strict=True,
            )
        )
        raise ModelSpecError(
            f"{int(bad.sum())} assignment(s) give a treatment indicator collinear with the fixed "
            f"effects and controls (e.g. assignment {p}, dates by unit {shown} ...): no variation "
            "is left to estimate its coefficient (a unit never observed before or after its "
            "date, or every unit treated at once)"
        )


@dataclass
class _TwfeFit:
    beta: FloatArray
    cross: FloatArray
    quad: FloatArray  # (P, 3): se(tau)^2 = q0 tau^2 + q1 tau + q2 (statistic="t"), else empty
    var: FloatArray  # (P,): the modelled variance (statistic="t_pre"), else empty


def _twfe(design: _Design, assign: IntArray, statistic: Statistic, chunk_elements: int) -> _TwfeFit:
    """TWFE coefficient (and, for ``"t"``, the CR1 quadratics) under every assignment."""
    d_actual = design.indicator(design.unit_date)
    fast = _CohortPlacebos.build(design) if statistic == "coef" else None
    if fast is not None:
        den, (num_y, num_d) = fast.moments(assign, [design.y, d_actual])
        _check_den(den, fast.scale(assign), design, assign)
        return _TwfeFit(num_y / den, num_d / den, np.empty((0, 3)), np.empty(0))
    w = None if design.w is None else design.w
    w_arr = np.ones(design.y.size) if w is None else w
    first = demean(np.column_stack([design.y, d_actual, design.x]), design.fe, w)
    fwl = _FWL(first[:, 0], first[:, 2:], w)
    y_tt = fwl.y_tt[:, 0]
    d_tt = fwl.partial_x(first[:, 1:2])[:, 0]
    n_assign = assign.shape[0]
    beta = np.empty(n_assign)
    cross = np.empty(n_assign)
    quad = np.empty((n_assign, 3)) if statistic == "t" else np.empty((0, 3))
    var = np.empty(n_assign) if statistic == "t_pre" else np.empty(0)
    s2_rows = _pre_unit_variances(design)[design.ucode] if statistic == "t_pre" else None
    n = design.y.size
    chunk = max(1, chunk_elements // max(n, 1))
    cl = None
    if statistic == "t":
        from scipy import sparse

        g = int(design.clusters.max()) + 1
        cl = sparse.csr_matrix((np.ones(n), (design.clusters, np.arange(n))), shape=(g, n))
    date_ext = design.date_ext
    for start in range(0, n_assign, chunk):
        block = assign[start : start + chunk]
        raw = (design.tvals[:, None] >= date_ext[block[:, design.ucode]].T).astype(np.float64)
        t_tt = fwl.partial_x(demean(raw, design.fe, w))
        den = np.einsum("ij,ij,i->j", t_tt, t_tt, w_arr)
        _check_den(den, np.einsum("ij,i->j", raw, w_arr), design, block)
        wt = w_arr[:, None] * t_tt
        b = (wt.T @ y_tt) / den
        c = (wt.T @ d_tt) / den
        sl = slice(start, start + block.shape[0])
        beta[sl], cross[sl] = b, c
        if s2_rows is not None:  # V = sum_i h_i^2 s_unit(i)^2, h = W T** / den
            var[sl] = np.einsum("ij,ij,i->j", wt, wt, s2_rows) / den**2
        if cl is not None:
            a_g = cl @ (wt * (y_tt[:, None] - b[None, :] * t_tt))  # (G, P) scores at tau = 0
            b_g = cl @ (wt * (d_tt[:, None] - c[None, :] * t_tt))  # their slope in tau
            quad[sl, 0] = np.einsum("gp,gp->p", b_g, b_g) / den**2
            quad[sl, 1] = -2 * np.einsum("gp,gp->p", a_g, b_g) / den**2
            quad[sl, 2] = np.einsum("gp,gp->p", a_g, a_g) / den**2
    if statistic == "t":
        quad *= _cr1_factor(design)
    return _TwfeFit(beta, cross, quad, var)


def _pre_unit_variances(design: _Design) -> FloatArray:
    """Each unit's residual variance in the fit ``y ~ FE + X`` on the rows before the first date.

    Those rows are untreated under every assignment (the multiset of dates is fixed), so the
    variances depend neither on the assignment nor on the null value ``tau``. Raises
    :class:`~tradeimpact.errors.ModelSpecError` naming a unit without such rows or without
    residual variation.
    """
    pre = design.tvals < design.dates.min()
    unit = design.names.get("unit", "unit")
    if np.unique(design.tvals[pre]).size < 2:
        raise ModelSpecError(
            "statistic='t_pre' needs at least two periods before the first cohort date (the "
            "pre-period residual variance of each unit); use statistic='t'"
        )
    w = None if design.w is None else design.w[pre]
    dm = demean(np.column_stack([design.y[pre], design.x[pre]]), design.fe.subset(pre), w)
    e = _FWL(dm[:, 0], dm[:, 1:], w).y_tt[:, 0]
    wp = np.ones(e.size) if w is None else w
    n_units = design.n_units
    ss = np.bincount(design.ucode[pre], weights=wp * e * e, minlength=n_units)
    ws = np.bincount(design.ucode[pre], weights=wp, minlength=n_units)
    var = np.divide(ss, ws, out=np.zeros(n_units), where=ws > 0)
    tol = 1e-24 * max(1.0, float(np.mean(e * e)) if e.size else 1.0)
    bad = np.flatnonzero(~(var > tol))
    if bad.size:
        raise ModelSpecError(
            f"{unit} {design.unit_labels[bad[0]]!r} has no row before the first cohort date or "
            f"no residual variation there ({bad.size} unit(s)): its pre-period variance is "
            "undefined; use statistic='t' or drop such units"
        )
    return np.asarray(var, dtype=np.float64)


def _cr1_factor(design: _Design) -> float:
    """fixest's CR1 factor ``G/(G-1) (n-1)/(n-K)``, ``K`` = 1 + controls + non-nested FE levels."""
    n = design.y.size
    g = int(np.unique(design.clusters).size)
    if g < 2:
        raise ModelSpecError(
            "statistic='t' needs at least two clusters (the CR1 standard error is undefined)"
        )
    fe_cols = [design.fe.codes[:, k] for k in range(design.fe.n_groupings)]
    k_tot = 1 + design.x.shape[1] + fe_dof(fe_cols, [design.clusters])
    if n <= k_tot:
        raise ModelSpecError(
            f"{n} rows leave no residual degrees of freedom for {k_tot} parameters"
        )
    return g / (g - 1) * (n - 1) / (n - k_tot)


# --------------------------------------------------------------------------------------------
# Sun-Abraham and Callaway-Sant'Anna: refits
# --------------------------------------------------------------------------------------------


def _refit(
    design: _Design, assign: IntArray, estimator: Estimator, statistic: Statistic, **options: Any
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Simple ATT (``y`` and ``D_actual`` as outcome) and its own s.e. under every assignment."""
    d_actual = design.indicator(design.unit_date)
    n_assign = assign.shape[0]
    est = np.empty(n_assign)
    cross = np.empty(n_assign)
    se = np.full(n_assign, np.nan)
    for p in range(n_assign):
        cohort_rows = design.date_ext[assign[p][design.ucode]]
        est[p], se[p] = _att(design, cohort_rows, design.y, estimator, options, need_se=True)
        cross[p], _ = _att(design, cohort_rows, d_actual, estimator, options, need_se=False)
    if statistic == "t" and not (np.isfinite(se) & (se > 0)).all():
        bad = int(np.flatnonzero(~(np.isfinite(se) & (se > 0)))[0])
        raise ModelSpecError(f"assignment {bad} has no positive standard error: its t is undefined")
    return est, cross, se


def _att(
    design: _Design,
    cohort_rows: FloatArray,
    outcome: FloatArray,
    estimator: Estimator,
    options: dict[str, Any],
    *,
    need_se: bool,
) -> tuple[float, float]:
    """The simple ATT of one estimator with the given cohorts (by row) and outcome."""
    if estimator == "sunab":
        from tradeimpact.core.collinearity import CollinearityWarning
        from tradeimpact.core.covariance import VcovSpec
        from tradeimpact.models.sunab import sunab_fit

        ref = options.get("ref", -1)
        vcov = (
            VcovSpec("CR1", [design.clusters], [design.names["cluster"] or design.names["unit"]])
            if need_se
            else VcovSpec("iid")
        )
        with warnings.catch_warnings():
            # A placebo assignment can leave a cohort x relative-period cell collinear with the
            # fixed effects; the refit drops it exactly as the actual fit would, and only the
            # refit's point estimate (and its own s.e.) is used, so the warning tells the user
            # nothing about their model: safe to silence, and only this category.
            warnings.simplefilter("ignore", CollinearityWarning)  # safe: see the comment above
            res = sunab_fit(
                outcome,
                cohort_rows,
                design.tvals - cohort_rows,
                controls=design.x if design.x.shape[1] else None,
                control_names=list(design.names["controls"]),
                fe=design.fe,
                weights=design.w,
                vcov=vcov,
                ref_p=(int(ref),),
            )
        aggregates = res.aggregates or {}
        return float(aggregates["ATT"]), float(aggregates.get("ATT_se", math.nan))
    from tradeimpact.models.callaway_santanna import SmallGroupWarning, att_gt

    names = design.names
    frame = pl.DataFrame(
        {
            "__y": outcome,
            "__u": design.ucode,
            "__t": design.tvals,
            "__g": np.where(np.isfinite(cohort_rows), cohort_rows, 0.0),
            **({"__w": design.w} if design.w is not None else {}),
        }
    )
    with warnings.catch_warnings():
        # SmallGroupWarning concerns the analytic standard errors of small groups; this
        # placebo refit uses only the point estimate (the test's reference distribution is the
        # placebo distribution, not the analytic s.e.): safe to silence, and only this category.
        warnings.simplefilter("ignore", SmallGroupWarning)  # safe: see the comment above
        agg = att_gt(
            frame,
            "__y",
            "__u",
            "__t",
            "__g",
            control_group=options.get("control_group", "never"),
            weights="__w" if names["weights"] else None,
            outcome="level",  # the outcome handed in is the one tested (already transformed)
        ).aggregate("simple")
    return float(agg.overall_att), float(agg.overall_se)


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------


@dataclass
class StaggeredRandomizationResult(AssignmentTest):
    """Randomization inference for a staggered design (the cohorts' dates re-assigned).

    Attributes
    ----------
    estimate : float
        The estimator under the actual assignment (TWFE coefficient or simple ATT).
    statistic : float
        The test statistic of the actual assignment (the estimate, or estimate / own s.e.).
    placebo : polars.DataFrame
        One row per assignment: ``assignment`` (index), ``estimate``, ``scale`` (1 for
        ``statistic="coef"``), ``statistic``, ``is_actual`` (the actual one included).
    p_numerator, p_denominator : int
        The p-value as a fraction: assignments at least as extreme over all assignments.
    exact : bool
        Every distinct assignment enumerated (else ``B`` seeded draws plus the actual one).
    n_assignments : int
        Number of assignments in the reference set (``p_denominator``).
    n_distinct : int
        Number of distinct assignments of the dates (``prod m! / prod m_c!``).
    estimator, statistic_kind : str
        ``"twfe"``, ``"sunab"`` or ``"cs"``; ``"coef"`` or ``"t"``.
    method, rule : str
        The method's label; the p-value rule in words.
    treated : list
        The units with a finite date (treated at some point) under the actual assignment.
    nobs : int
        Rows used.
    """

    estimate: float
    statistic: float
    placebo: pl.DataFrame
    p_numerator: int
    p_denominator: int
    exact: bool
    n_distinct: int
    estimator: str
    statistic_kind: str
    method: str
    rule: str
    treated: list[Any]
    nobs: int
    #: what the test is of, when not a coefficient of the fit it was run on (read by
    #: RegressionResult.with_inference): the static TWFE effect or the overall ATT
    tests: str = ""
    _cross: FloatArray = field(repr=False, default_factory=lambda: np.empty(0))
    _quad: FloatArray = field(repr=False, default_factory=lambda: np.empty((0, 3)))
    _actual: int = 0

    @property
    def n_assignments(self) -> int:
        return self.p_denominator

    @property
    def placebo_statistics(self) -> FloatArray:
        return self.placebo["statistic"].to_numpy()

    @property
    def _invertible(self) -> bool:
        if self.statistic_kind in ("coef", "t_pre"):
            return True
        return self._quad.shape[0] == self.p_denominator

    def _stats_at(self, taus: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``|T(tau)|`` of the actual assignment (G,) and of every assignment (G, P)."""
        b = self.placebo["estimate"].to_numpy()
        num = b[None, :] - taus[:, None] * self._cross[None, :]
        if self.statistic_kind in ("coef", "t_pre"):
            t = np.abs(num) / self.placebo["scale"].to_numpy()[None, :]
        else:
            q = self._quad
            var = q[None, :, 0] * taus[:, None] ** 2 + q[None, :, 1] * taus[:, None] + q[None, :, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.abs(num) / np.sqrt(np.clip(var, 0.0, None))
            t = np.where(np.isfinite(t), t, np.inf)
        return t[:, self._actual], t

    def pvalue_at(self, tau: float = 0.0) -> float:
        """P-value of ``H0: constant effect tau`` (``tau = 0`` is the headline p-value)."""
        if not self._invertible:
            raise ModelSpecError(_NO_INVERSION)
        return self._pvalue_at_effect(tau)

    def _breakpoints(self) -> list[float]:
        b = self.placebo["estimate"].to_numpy()
        c = self._cross
        a = self._actual
        pts: list[float] = []
        if self.statistic_kind in ("coef", "t_pre"):
            sc = self.placebo["scale"].to_numpy()
            b, c = b / sc, c / sc
            with np.errstate(divide="ignore", invalid="ignore"):
                for r in ((b - b[a]) / (c - c[a]), (b + b[a]) / (c + c[a])):
                    pts.extend(r[np.isfinite(r)].tolist())
            return pts
        q = self._quad  # (b_p - tau c_p)^2 V_a(tau) = (b_a - tau c_a)^2 V_p(tau): a quartic
        for p in range(b.size):
            if p == a:
                continue
            lhs = np.polymul(np.polymul([-c[p], b[p]], [-c[p], b[p]]), q[a])
            rhs = np.polymul(np.polymul([-c[a], b[a]], [-c[a], b[a]]), q[p])
            poly = np.trim_zeros(np.polysub(lhs, rhs), "f")
            if poly.size < 2:
                continue
            roots = np.roots(poly)
            real = roots[np.abs(roots.imag) <= 1e-9 * np.maximum(1.0, np.abs(roots.real))].real
            pts.extend(real.tolist())
        return pts

    def conf_int(self, level: float = 0.95) -> tuple[float, float]:
        """Interval for a constant additive effect by exact test inversion (module docstring).

        ``tau`` is kept when ``p(tau) > 1 - level``; ``p(tau)`` changes only at the
        breakpoints, so it is evaluated at each of them and between them. Returns the hull of the
        accepted set, with infinite ends when it is unbounded (e.g. ``1 / P > 1 - level``).
        Raises :class:`~tradeimpact.errors.ModelSpecError` for the studentized Sun-Abraham and
        Callaway-Sant'Anna statistics.
        """
        if not self._invertible:
            raise ModelSpecError(_NO_INVERSION)
        if not 0.0 < level < 1.0:
            raise ModelSpecError(f"level must be between 0 and 1, not {level}")
        return self._invert_at_breakpoints(level)

    def tidy(self, level: float = 0.95) -> pl.DataFrame:
        """One row: estimate, statistic, p-value (with its fraction), interval, method."""
        low, high = self.conf_int(level) if self._invertible else (math.nan, math.nan)
        return self._tidy_row(low, high, statistic=self.statistic)

    def summary(self) -> str:
        """Plain-text summary stating the p-value rule."""
        return self._summary_text(
            self.method, f"estimate: {self.estimate:.6g}   statistic: {self.statistic:.4g}"
        )

    def __str__(self) -> str:
        return self.summary()


_NO_INVERSION = (
    "no test-inversion interval for the studentized Sun-Abraham / Callaway-Sant'Anna statistic "
    "(its standard error is not re-derived under each null value); use statistic='coef'"
)


# --------------------------------------------------------------------------------------------
# the function
# --------------------------------------------------------------------------------------------


def staggered_randomization_inference(
    data: Any,
    y: str,
    unit: str,
    time: str,
    cohort: str,
    *,
    fe: Sequence[str] | None = None,
    controls: Sequence[str] | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    strata: str | None = None,
    estimator: Estimator = "twfe",
    statistic: Statistic = "coef",
    control_group: str = "never",
    ref: int = -1,
    n_permutations: int = 999,
    seed: int = 0,
    max_exact: int = 10_000,
    chunk_elements: int = 20_000_000,
) -> StaggeredRandomizationResult:
    """Randomization inference for staggered adoption: the observed dates handed out again.

    Every assignment hands the observed multiset of cohort dates (never-treated codes included)
    to the units in another order (within ``strata``), recomputes ``D_it = 1[t >= C_i]`` for every
    row and re-estimates the statistic. P-value (two-sided, actual assignment included):
    ``p = #{|T_pi| >= |T|} / P`` over all ``P`` distinct assignments when ``P <= max_exact``
    (exact, ``p_fraction``), else ``p = (1 + #{b : |T_b| >= |T|}) / (1 + B)`` with
    ``B = n_permutations`` seeded uniform permutations. Exact under the sharp null of no effect
    when the dates were assigned at random across units (Athey & Imbens 2022; MacKinnon & Webb
    2020). Formulas of the statistics and of the interval: see the module docstring.

    Parameters
    ----------
    data : polars.DataFrame, polars.LazyFrame, pandas.DataFrame or pyarrow.Table
        Long panel, one row per unit and period.
    y, unit, time : str
        Outcome, unit (the level of assignment) and time columns (numbers or dates).
    cohort : str
        First treated period of each unit, constant within unit, in the units of ``time``;
        never-treated units coded 0, inf or null.
    fe : sequence of str, optional
        Fixed effects of the TWFE regression; default ``[unit, time]``.
    controls : sequence of str, optional
        Covariates of the TWFE (and Sun-Abraham) regression.
    weights : str, optional
        Regression weights (unit weights for Callaway-Sant'Anna).
    cluster : str, optional
        Cluster of the CR1 standard error for ``statistic="t"`` (default the unit).
    strata : str, optional
        Dates are permuted only among units of the same stratum (constant within unit).
    estimator : {"twfe", "sunab", "cs"}
        Static TWFE coefficient (fast), or Sun-Abraham's / Callaway-Sant'Anna's simple ATT
        (refitted twice per assignment: on ``y`` and on the actual ``D`` for the interval).
    statistic : {"coef", "t", "t_pre"}
        The estimate, the estimate over its own standard error (CR1 for TWFE), or (TWFE only)
        over its standard error modelled from each unit's pre-period residual variance (the one
        that keeps its size with few treated units noisier or quieter than the controls).
    control_group : {"never", "notyet"}
        Comparison group of Callaway-Sant'Anna.
    ref : int
        Reference relative period of Sun-Abraham.
    n_permutations : int
        Random assignments drawn when there are more than ``max_exact`` distinct ones.
    seed : int
        Seed of the draws.
    max_exact : int
        Enumerate every distinct assignment when there are at most this many.
    chunk_elements : int
        Largest ``n * P`` block of placebo columns projected at once (projection path).

    Returns
    -------
    StaggeredRandomizationResult
        ``pvalue``, ``p_fraction``, ``conf_int(level)``, ``method``, ``tidy()``, ``estimate``,
        ``n_assignments``, ``placebo``.

    Raises
    ------
    ModelSpecError
        A column not in the data (named), missing values, a cohort varying within a unit, no
        treated unit, no comparison (no never-treated and no not-yet-treated unit), an assignment
        whose indicator is absorbed by the fixed effects, an unknown option.
    """
    if estimator not in ("twfe", "sunab", "cs"):
        raise ModelSpecError(f"estimator must be 'twfe', 'sunab' or 'cs', not {estimator!r}")
    if statistic not in ("coef", "t", "t_pre"):
        raise ModelSpecError(f"statistic must be 'coef', 't' or 't_pre', not {statistic!r}")
    if statistic == "t_pre" and estimator != "twfe":
        raise ModelSpecError("statistic='t_pre' is an option of estimator='twfe' only")
    if estimator != "twfe" and fe is not None and list(fe) != [unit, time]:
        raise ModelSpecError(f"fe is an option of estimator='twfe' only (got fe={list(fe)!r})")
    if estimator == "cs" and controls:
        raise ModelSpecError("estimator='cs' takes no controls (outcome regression without them)")
    design = _prepare(data, y, unit, time, cohort, fe, controls, weights, strata, cluster)
    assign, actual, exact, total = _assignments(
        design.unit_date, design.strata, max_exact, n_permutations, seed
    )
    quad = np.empty((0, 3))
    if estimator == "twfe":
        fit = _twfe(design, assign, statistic, chunk_elements)
        est, cross = fit.beta, fit.cross
        if statistic == "t":
            quad = fit.quad
            scale = np.sqrt(np.clip(quad[:, 2], 0.0, None))
            if (scale <= 0).any():
                bad = int(np.flatnonzero(scale <= 0)[0])
                raise ModelSpecError(f"assignment {bad} has a zero CR1 standard error")
        elif statistic == "t_pre":
            scale = np.sqrt(fit.var)
        else:
            scale = np.ones_like(est)
        label = {
            "coef": "TWFE DiD coefficient",
            "t": "TWFE DiD t (own CR1 s.e.)",
            "t_pre": "TWFE DiD t (s.e. modelled from the units' pre-period variances)",
        }[statistic]
    else:
        est, cross, se = _refit(
            design, assign, estimator, statistic, ref=ref, control_group=control_group
        )
        scale = se if statistic == "t" else np.ones_like(est)
        name = "Sun-Abraham" if estimator == "sunab" else "Callaway-Sant'Anna"
        label = f"{name} simple ATT" + (" t (own s.e.)" if statistic == "t" else "")
    t = est / scale
    tol = TIE_RTOL * max(1.0, abs(float(t[actual])))
    numer = int((np.abs(t) >= abs(float(t[actual])) - tol).sum())
    n_assign = assign.shape[0]
    rule = (
        "p = #{assignments with |T_p| >= |T_actual|} / #{assignments}, the observed dates "
        "handed out again across units"
        + (" within strata" if strata else "")
        + ", the actual assignment included"
        + ("" if exact else f" ({n_permutations} random permutations + the actual one)")
    )
    placebo = pl.DataFrame(
        {
            "assignment": np.arange(n_assign),
            "estimate": est,
            "scale": scale,
            "statistic": t,
            "is_actual": np.arange(n_assign) == actual,
        }
    )
    treated_units = design.unit_labels[design.unit_date < design.dates.size].tolist()
    return StaggeredRandomizationResult(
        estimate=float(est[actual]),
        statistic=float(t[actual]),
        placebo=placebo,
        p_numerator=numer,
        p_denominator=n_assign,
        exact=exact,
        n_distinct=total,
        estimator=estimator,
        statistic_kind=statistic,
        method=f"staggered randomization inference (cohort dates re-assigned; {label})",
        rule=rule,
        treated=treated_units,
        nobs=int(design.y.size),
        tests={"twfe": "static TWFE effect", "sunab": "ATT", "cs": "ATT"}.get(estimator, ""),
        _cross=np.asarray(cross, dtype=np.float64),
        _quad=quad,
        _actual=actual,
    )


@register_inference("ri_staggered")
def ri_staggered_of_result(result: Any, **options: Any) -> StaggeredRandomizationResult:
    """:func:`staggered_randomization_inference` on the design a staggered fit recorded.

    The registered method ``"ri_staggered"`` (``result.with_inference("ri_staggered")``). It
    reads ``result.design_record`` (the :class:`~tradeimpact.models.results.EventStudyDesign` of
    :func:`~tradeimpact.models.event_study` and of the Sun-Abraham fits: the estimation rows,
    their outcome as fitted ``_y``, the cohort and the period index of every row, the controls
    and weights) and re-assigns the cohorts' dates across its units. The statistic follows the
    fit's estimator: Sun-Abraham's simple ATT for ``estimator="sunab"`` (without the window's
    binning, i.e. every relative period, as :func:`~tradeimpact.models.sunab`), Callaway-
    Sant'Anna's for ``"cs"``, and for an event study fitted by TWFE the static TWFE coefficient
    of the same design (one number for the whole post-period, not an event-time coefficient).
    ``options`` are the keyword arguments of :func:`staggered_randomization_inference` and
    override these defaults.
    """
    rec = getattr(result, "design_record", None)
    needed = ("frame", "unit", "cohort", "period")
    if rec is None or not all(hasattr(rec, a) for a in needed):
        raise ModelSpecError(
            f"'ri_staggered' needs a staggered fit that records its design (event_study or "
            f"sunab: result.design_record with every row's cohort); a {type(result).__name__} "
            "has none: call staggered_randomization_inference(data, y, unit, time, cohort) on "
            "the panel"
        )
    frame = rec.frame.with_columns(
        pl.Series("__period", np.asarray(rec.period, dtype=np.float64)),
        pl.Series("__cohort", np.asarray(rec.cohort, dtype=np.float64)),
    )
    y = "_y" if "_y" in frame.columns else rec.y
    kind = getattr(rec, "estimator", "twfe")
    estimator = kind if kind in ("twfe", "sunab", "cs") else "twfe"
    fe = getattr(rec, "fe", None)
    if fe is not None and not all(isinstance(f, str) for f in fe):
        raise ModelSpecError(
            f"'ri_staggered' takes fixed effects given as columns, not interactions (fe={fe!r}); "
            "call staggered_randomization_inference(data, ...) with an interacted column"
        )
    args: dict[str, Any] = {
        "estimator": estimator,
        "controls": list(getattr(rec, "controls", []) or []) or None,
        "weights": getattr(rec, "weights", None),
    }
    if estimator == "twfe" and fe is not None:
        args["fe"] = [rec.unit if f == rec.unit else "__period" if f == rec.time else f for f in fe]
    if estimator == "sunab":
        args["ref"] = int(getattr(rec, "ref", -1))
    args.update(options)
    return staggered_randomization_inference(frame, y, rec.unit, "__period", "__cohort", **args)


__all__ = [
    "StaggeredRandomizationResult",
    "n_distinct_assignments",
    "ri_staggered_of_result",
    "staggered_randomization_inference",
]
