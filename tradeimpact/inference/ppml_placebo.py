"""Placebo-in-space randomization inference for PPML with one (or a few) treated units.

Model (PPML, :func:`tradeimpact.models.ppml.ppml`)::

    E[y_it] = exp(beta D_it + x_it' gamma + FE),     D_it = 1[i in S] post_it,

with ``S`` the treated units. Every placebo assignment ``S'`` (each unit in turn when one unit is
treated; all ``C(N, |S|)`` sets when there are at most ``max_exact``, otherwise
``n_permutations`` seeded draws plus the actual set) is refitted by PPML on the same estimation
rows (IRLS of :mod:`tradeimpact.models.ppml`, warm-started from the fitted means of the model
without ``D``). The p-value is ``#{a : |s_a| >= |s_actual|} / A`` over the ``A`` assignments
(the actual one included; ties within ``1e-9`` relative count against the null), exact as a
:class:`~fractions.Fraction` (Fisher 1935; MacKinnon & Webb 2020, J. Econometrics 218).

Two statistics ``s``:

* ``"coef"``: ``beta_a``. Valid when the units are exchangeable; with one treated unit noisier
  than the controls it over-rejects (its coefficient is more dispersed than the placebos').
* ``"t"`` (default): ``beta_a / se_a`` with ``se_a`` the *assigned units' own* sandwich: the
  rows of the units in ``S'``, the regressors local to them (``D`` and every fixed-effect level
  all of whose rows belong to those units, e.g. their unit effects), the other fixed effects and
  the controls held at their estimates::

      V_a = [H^+ (Z' diag(w^2 e^2) Z) H^+]_DD * n_a / (n_a - rank H),   H = Z' diag(w mu) Z,

  ``e = y - mu``, ``n_a`` the rows of ``S'``. With unit and time effects and one treated unit
  ``beta_a = log(sum_post y / sum_post m) - log(sum_pre y / sum_pre m)`` (``m`` the mean without
  the effect) and ``V_a = sum_pre e^2 / (sum_pre mu)^2 + sum_post e^2 / (sum_post mu)^2`` (times
  the degrees-of-freedom factor): the delta-method variance of that log ratio from the unit's
  own residuals. Why not CR1: with one treated cluster and a unit effect, the treated cluster's
  score for ``beta`` is identically zero (its residuals sum to zero before and after), so the
  CR1 variance ignores the treated unit's noise, and the CR1-studentized placebo statistic is
  no more pivotal than the coefficient. ``beta_a / se_a`` scales with the assigned unit's noise
  in numerator and denominator alike (multiplicative noise ``exp(sigma_i eps)``, Poisson noise
  whose relative size falls with the level), so its distribution is close to the same for every
  unit: the heteroskedasticity-robust studentization of MacKinnon & Webb (2020, sec. 3), with the
  own-unit variance as the scale. Checked by Monte Carlo (``tests/test_ppml_placebo.py``,
  ``benchmarks/size_ppml.py``): with the treated unit 1x, 2x, 3x noisier the studentized test
  keeps its 5% size where CR1 and the coefficient test do not (5,000 replications: 5.0%, 5.1%,
  6.1% at 1x, 2x, 3x; CR1 66-85%; the coefficient 4.9%, 21.5%, 39.4%).
* ``"t_log"``: ``beta_a / se_log,a`` with the log-scale residuals of the assigned units,
  ``r = log((y + 1/2) / (mu + 1/2))`` (the half keeps zeros finite), demeaned within each unit's
  pre- and post-event rows: ``se_log^2 = s^2 (1/n_pre + 1/n_post)``, ``s^2`` their sum of squares
  over ``n_a - 2|S'|``. Under multiplicative (log-normal) noise the log residuals are symmetric
  and nearly independent of the coefficient, so this ratio is closer to pivotal than the
  level-residual sandwich, whose large positive residuals inflate the numerator and denominator
  together (5.6% against 6.1% at 3x in the same Monte Carlo); with many zeros (where PPML is
  used because of them) the ``+ 1/2`` dominates and ``"t"`` is the safer choice.

Interval: by test inversion of the same test for a constant multiplicative effect
``H0: beta = b0``: the outcome ``y exp(-b0 D)`` is free of the effect under ``H0``; every
assignment is refitted on it and ``b0`` is kept when its p-value exceeds ``1 - level``. The two
ends are found by bisection (each step ``A`` refits; the p-value is taken to fall monotonically
away from the estimate on each side). With ``A`` assignments no ``b0`` is rejected at level
``1 - alpha`` when ``1 / A > alpha``: the interval is then the whole line, and ``conf_int``
returns None with the reason in :attr:`PPMLPlaceboResult.ci_note` (also when the refits would
exceed ``ci_max_fits``).

A placebo unit separated under its placebo treatment (no positive outcome after, or before, the
event) has a diverging coefficient (``-inf`` or ``+inf``); so has a refit that does not
converge; its statistic counts as the most extreme one (conservative: it can only raise the
p-value).

Written by hand because no Python or R package offers randomization inference for PPML with
absorbed fixed effects (ritest-style permutations of a Stata ``ppmlhdfe`` fit are the nearest).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.core.fixed_effects import FixedEffects
from tradeimpact.core.frame import to_polars
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.randomization import AssignmentTest, _panel_args, on_result
from tradeimpact.models.ppml import PPMLResult, _fe_columns, _group_codes, _irls, ppml
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Statistic = Literal["t", "t_log", "coef"]

#: Relative tolerance under which two statistics count as tied (ties count against H0).
TIE_RTOL = 1e-9

__all__ = ["PPMLPlaceboResult", "ppml_randomization_inference"]


@dataclass
class PPMLPlaceboResult(AssignmentTest):
    """Randomization inference for a PPML effect: the actual statistic among its placebos.

    Attributes
    ----------
    estimate : float
        PPML coefficient of the actual treatment (``exp(estimate) - 1`` is the proportional
        effect).
    std_error : float
        The treated units' own sandwich standard error ``se_actual`` (module docstring).
    statistic : {"t", "t_log", "coef"}
        The statistic of the test.
    placebo : polars.DataFrame
        One row per assignment: ``assignment`` (units joined by ``+``), ``estimate``,
        ``std_error`` (own sandwich), ``tstat``, ``std_error_log``, ``tstat_log`` (log-scale
        residuals), ``is_actual``.
    p_numerator, p_denominator : int
        The p-value as a fraction.
    exact : bool
        True when every assignment was enumerated.
    cr1_pvalue, cr1_std_error : float
        The PPML CR1 (clustered by unit, normal) figures of the same fit, for comparison only.
    ci_note : str
        Why :meth:`conf_int` returns None, when it does.
    """

    estimate: float
    std_error: float
    statistic: str
    placebo: pl.DataFrame
    p_numerator: int
    p_denominator: int
    exact: bool
    treated: list[Any]
    nobs: int
    cr1_pvalue: float
    cr1_std_error: float
    ppml_result: PPMLResult = field(repr=False)
    ci_note: str = ""
    ci_max_fits: int = 20_000
    method: str = ""
    _refit: Any = field(default=None, repr=False)
    _ci_cache: dict[float, tuple[float, float] | None] = field(default_factory=dict, repr=False)
    #: the options as run when computed from a fitted result (so that a size check reruns it)
    run_options: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def tstat(self) -> float:
        return self.estimate / self.std_error if self.std_error > 0 else math.inf

    def _statistic_value(self) -> float:
        if self.statistic == "coef":
            return self.estimate
        col = "tstat" if self.statistic == "t" else "tstat_log"
        return float(self.placebo.filter(pl.col("is_actual"))[col][0])

    def pvalue_at(self, b0: float) -> float:
        """The randomization p-value of ``H0: beta = b0`` (refits every assignment on
        ``y exp(-b0 D)``)."""
        num, den = self._refit(b0)
        return num / den

    def conf_int(self, level: float = 0.95) -> tuple[float, float] | None:
        """Interval ``{b0 : p(b0) > 1 - level}`` by test inversion, or None (see ``ci_note``)."""
        if level in self._ci_cache:
            return self._ci_cache[level]
        alpha = 1.0 - level
        if 1.0 / self.p_denominator > alpha + 1e-12:
            self.ci_note = (
                f"no interval at {level:.0%}: with {self.p_denominator} assignments the smallest "
                f"p-value is 1/{self.p_denominator} > {alpha:g}, so no effect size is rejected"
            )
            self._ci_cache[level] = None
            return None
        fits_per_edge = 40 * self.p_denominator
        if 2 * fits_per_edge > self.ci_max_fits:
            self.ci_note = (
                f"no interval: test inversion would refit {2 * fits_per_edge} PPML models "
                f"(> ci_max_fits={self.ci_max_fits}); the p-value is reported alone"
            )
            self._ci_cache[level] = None
            return None
        b = self.estimate
        scale = max(self.std_error, 1e-3 * max(abs(b), 1.0))

        def rejected(b0: float) -> bool:
            return self.pvalue_at(b0) <= alpha + 1e-12

        def edge(direction: float) -> float:
            inside, out = b, b + direction * 2.0 * scale
            for k in range(30):
                if rejected(out):
                    break
                inside, out = out, b + direction * 2.0 * scale * 2 ** (k + 1)
            else:
                return float(direction * math.inf)
            for _ in range(30):
                mid = 0.5 * (inside + out)
                if rejected(mid):
                    out = mid
                else:
                    inside = mid
                if abs(out - inside) <= 1e-4 * scale:
                    break
            return float(0.5 * (inside + out))

        ci = (edge(-1.0), edge(1.0))
        self._ci_cache[level] = ci
        return ci

    def tidy(self, level: float = 0.95) -> pl.DataFrame:
        """One row: estimate, own-sandwich SE, p-value (and fraction), interval, method."""
        ci = self.conf_int(level)
        low, high = (float("nan"), float("nan")) if ci is None else ci
        return pl.DataFrame(
            {
                "term": ["treatment"],
                "estimate": [self.estimate],
                "std_error": [self.std_error],
                "statistic": [self._statistic_value()],
                "p_value": [self.pvalue],
                "p_fraction": [f"{self.p_numerator}/{self.p_denominator}"],
                "conf_low": [low],
                "conf_high": [high],
                "n_assignments": [self.p_denominator],
                "method": [self.method],
            }
        )

    def summary(self, level: float = 0.95) -> str:
        ci = self.conf_int(level)
        kind = "exact (all assignments)" if self.exact else "random draws of assignments"
        ci_text = (
            f"[{ci[0]:.6g}, {ci[1]:.6g}] (test inversion, constant multiplicative effect)"
            if ci is not None
            else self.ci_note
        )
        return "\n".join(
            [
                f"{self.method}, {kind}",
                f"treated: {', '.join(map(str, self.treated))}   nobs: {self.nobs}",
                f"estimate: {self.estimate:.6g} (own-unit sandwich se {self.std_error:.4g}); "
                f"statistic: {_STAT_LABEL[self.statistic]} = {self._statistic_value():.4g}",
                f"p-value: {self.p_numerator}/{self.p_denominator} = {self.pvalue:.4f}",
                f"{level:.0%} interval: {ci_text}",
                f"for comparison only, CR1 (one treated cluster: over-rejects): se "
                f"{self.cr1_std_error:.4g}, p {self.cr1_pvalue:.4f}",
            ]
        )

    def __str__(self) -> str:
        return self.summary()


_STAT_LABEL = {
    "t": "estimate / own-unit sandwich se",
    "t_log": "estimate / own-unit log-residual se",
    "coef": "estimate",
}


class _Refitter:
    """The PPML refits of every assignment on the estimation rows (arrays, warm-started)."""

    def __init__(
        self,
        y: FloatArray,
        x: FloatArray,
        fe: FixedEffects,
        w: FloatArray | None,
        unit_codes: IntArray,
        post: FloatArray,
        assignments: list[tuple[int, ...]],
        actual: int,
        statistic: str,
        tol: float,
        fixef_tol: float,
        maxiter: int,
    ) -> None:
        self.y, self.x, self.fe, self.w = y, x, fe, w
        self.unit_codes, self.post = unit_codes, post
        self.assignments, self.actual, self.statistic = assignments, actual, statistic
        self.opts = dict(tol=tol, maxiter=maxiter, fixef_tol=fixef_tol, collin_tol=1e-10)
        self.d_actual = self.treatment(assignments[actual])
        n_units = int(unit_codes.max()) + 1
        self.rows_of = [np.flatnonzero(unit_codes == u) for u in range(n_units)]
        self.level_sizes = [
            np.bincount(fe.codes[:, h], minlength=fe.sizes[h]) for h in range(fe.n_groupings)
        ]

    def treatment(self, units: tuple[int, ...]) -> FloatArray:
        return np.isin(self.unit_codes, units).astype(np.float64) * self.post

    def fit_all(self, y: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Coefficient and own-unit standard errors (sandwich, log scale) of every assignment."""
        null = _irls(y, self.x, self.fe, self.w, np.zeros(y.size), **self.opts)  # type: ignore[arg-type]
        mu0 = null["mu"]
        b = np.empty(len(self.assignments))
        se = np.empty(len(self.assignments))
        se_log = np.empty(len(self.assignments))
        for a, units in enumerate(self.assignments):
            d = self.treatment(units)
            in_units = np.isin(self.unit_codes, units)
            if not np.any(d > 0) or not np.any(in_units & (d == 0)):
                raise ModelSpecError(
                    f"unit(s) {units} (codes on the estimation rows) lack rows before or after "
                    "the event: every unit needs both for its placebo assignment"
                )
            # separated placebo (no positive outcome after, or before, the event): the
            # coefficient diverges; it counts as the most extreme statistic (conservative)
            if not np.any(y[d > 0] > 0) or not np.any(y[in_units & (d == 0)] > 0):
                b[a] = -math.inf if not np.any(y[d > 0] > 0) else math.inf
                se[a] = se_log[a] = 0.0
                continue
            fit = _irls(
                y,
                np.column_stack([d, self.x]),
                self.fe,
                self.w,
                np.zeros(y.size),
                mu_start=mu0,
                **self.opts,  # type: ignore[arg-type]
            )
            if 0 in fit["collinear"]:
                raise ModelSpecError(
                    f"the placebo treatment of unit(s) {units} is collinear with the fixed "
                    "effects (no post-event rows?): every unit needs rows before and after"
                )
            if not fit["converged"]:
                b[a] = math.copysign(math.inf, float(fit["beta"][0]))
                se[a] = se_log[a] = 0.0
                continue
            b[a] = float(fit["beta"][0])
            se[a] = self.own_se(y, fit["mu"], d, units)
            se_log[a] = self.log_se(y, fit["mu"], d, units)
        return b, se, se_log

    def log_se(self, y: FloatArray, mu: FloatArray, d: FloatArray, units: tuple[int, ...]) -> float:
        """The assigned units' log-residual standard error of ``beta`` (module docstring)."""
        rows = np.concatenate([self.rows_of[u] for u in units])
        r = np.log((y[rows] + 0.5) / (mu[rows] + 0.5))
        cell = self.unit_codes[rows] * 2 + (d[rows] > 0)
        _, inv, counts = np.unique(cell, return_inverse=True, return_counts=True)
        means = np.bincount(inv, weights=r) / counts
        ss = float(np.sum((r - means[inv]) ** 2))
        n_post = int(np.sum(d[rows] > 0))
        n_pre = rows.size - n_post
        dof = rows.size - counts.size
        if dof <= 0:
            return 0.0
        return math.sqrt(ss / dof * (1.0 / n_pre + 1.0 / n_post))

    def own_se(self, y: FloatArray, mu: FloatArray, d: FloatArray, units: tuple[int, ...]) -> float:
        """The assigned units' own sandwich standard error of ``beta`` (module docstring)."""
        rows = np.concatenate([self.rows_of[u] for u in units])
        cols = [d[rows]]
        for h in range(self.fe.n_groupings):
            codes = self.fe.codes[rows, h]
            inside = np.bincount(codes, minlength=self.fe.sizes[h])
            local = np.flatnonzero((inside > 0) & (inside == self.level_sizes[h]))
            for lv in local:
                cols.append((codes == lv).astype(np.float64))
        z = np.column_stack(cols)
        w = np.ones(rows.size) if self.w is None else self.w[rows]
        m = mu[rows]
        e = y[rows] - m
        h_mat = z.T @ (z * (w * m)[:, None])
        meat = z.T @ (z * ((w * e) ** 2)[:, None])
        h_inv = np.linalg.pinv(h_mat, hermitian=True)
        rank = int(np.linalg.matrix_rank(h_mat, hermitian=True))
        v = float((h_inv @ meat @ h_inv)[0, 0])
        dof = rows.size / (rows.size - rank) if rows.size > rank else math.inf
        return math.sqrt(max(v * dof, 0.0))

    def stats(self, b: FloatArray, se: FloatArray, se_log: FloatArray) -> FloatArray:
        if self.statistic == "coef":
            return np.abs(b)
        scale = se if self.statistic == "t" else se_log
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(scale > 0, np.abs(b) / scale, np.inf)

    def count(self, b: FloatArray, se: FloatArray, se_log: FloatArray) -> int:
        s = self.stats(b, se, se_log)
        ref = s[self.actual]
        tol = TIE_RTOL * max(1.0, ref) if np.isfinite(ref) else 0.0
        return int(np.sum(s >= ref - tol))

    def __call__(self, b0: float) -> tuple[int, int]:
        """The p-value of ``H0: beta = b0`` as (count, assignments)."""
        y0 = self.y * np.exp(-b0 * self.d_actual)
        b, se, se_log = self.fit_all(y0)
        return self.count(b, se, se_log), len(self.assignments)


def _assignments(
    n_units: int, treated: list[int], max_exact: int, n_permutations: int, seed: int
) -> tuple[list[tuple[int, ...]], int, bool]:
    k = len(treated)
    actual = tuple(sorted(treated))
    total = math.comb(n_units, k)
    if total <= max_exact:
        sets = list(itertools.combinations(range(n_units), k))
        return sets, sets.index(actual), True
    rng = np.random.default_rng(seed)
    draws = [
        tuple(sorted(rng.choice(n_units, size=k, replace=False).tolist()))
        for _ in range(n_permutations)
    ]
    return [actual, *draws], 0, False


def ppml_randomization_inference(
    data: Any,
    y: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    treated: Hashable | Sequence[Hashable] | None = None,
    post: str | None = None,
    fe: Sequence[str | Sequence[str]] | None = None,
    *,
    controls: Sequence[str] | None = None,
    weights: str | None = None,
    statistic: Statistic = "t",
    max_exact: int = 10_000,
    n_permutations: int = 999,
    seed: int = 0,
    tol: float = 1e-8,
    fixef_tol: float = 1e-10,
    maxiter: int = 50,
    ci_max_fits: int = 20_000,
) -> PPMLPlaceboResult:
    """Placebo-in-space randomization inference for a PPML DiD with few treated units.

    Two call forms (dispatching on the first argument): a fitted ``did(..., outcome="ppml")``
    result (``ppml_randomization_inference(result, statistic="t_log")``: the registered method
    ``"ppml_ri"``, every assignment refitted on the fit's own rows, fixed effects, controls and
    weights; the same numbers as ``did(..., outcome="ppml", inference="ri_t",
    ri={"statistic": ...})``, or ``inference="ri"`` with ``statistic="coef"``), or the panel as
    below.

    Parameters
    ----------
    data : polars.DataFrame, polars.LazyFrame or pandas.DataFrame
        Long panel (one row per unit, period and any other dimension, e.g. product).
    y : str
        Outcome in levels (``>= 0``, zeros allowed).
    unit, time : str
        The level of assignment (e.g. importer) and the period column.
    treated : label or sequence of labels
        The actually treated unit(s).
    post : str
        0/1 column: the row is after the event.
    fe : sequence, optional
        Fixed effects (as :func:`~tradeimpact.models.ppml.ppml`); default ``[unit, time]``.
    controls : sequence of str
        Further regressors (held at their estimates in the own-unit sandwich).
    weights : str, optional
        Observation weights.
    statistic : {"t", "t_log", "coef"}
        ``"t"``: the coefficient over the assigned units' own sandwich standard error (valid
        when the treated unit is noisier than the controls); ``"t_log"``: over their
        log-residual standard error (closer to exact under multiplicative noise without many
        zeros); ``"coef"``: the coefficient (module docstring).
    max_exact, n_permutations, seed
        Enumerate the ``C(N, |S|)`` assignments when at most ``max_exact``, else draw
        ``n_permutations`` (seeded) and add the actual one.
    tol, fixef_tol, maxiter
        PPML (IRLS) tolerances, as :func:`~tradeimpact.models.ppml.ppml`.
    ci_max_fits : int
        Largest number of refits the test-inversion interval may take.

    Returns
    -------
    PPMLPlaceboResult
    """
    if isinstance(data, RegressionResult):
        return on_result(  # type: ignore[no-any-return]
            "ppml_ri", data, dict(locals()),
            {"max_exact": 10_000, "n_permutations": 999, "seed": 0, "tol": 1e-8,
             "fixef_tol": 1e-10, "maxiter": 50, "ci_max_fits": 20_000},
            always=("statistic",),
        )  # fmt: skip
    y, unit, time, post = _panel_args(y, unit, time, treated, post)
    controls = list(controls or ())
    if statistic not in ("t", "t_log", "coef"):
        raise ModelSpecError(f"statistic must be 't', 't_log' or 'coef', not {statistic!r}")
    frame = to_polars(data)
    fe_specs: list[str | Sequence[str]] = list(fe) if fe is not None else [unit, time]
    if not fe_specs:
        raise ModelSpecError("give fixed effects (at least the unit and time effects)")
    fe_cols = [_fe_columns(s)[1] for s in fe_specs]
    needed = list(
        dict.fromkeys([y, unit, time, post, *controls, *(c for cs in fe_cols for c in cs)])
    )
    if weights:
        needed.append(weights)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ModelSpecError(f"column(s) {missing} not in the data (columns: {frame.columns})")
    treated_list = list(treated) if isinstance(treated, (list, tuple, set)) else [treated]
    units_present = set(frame[unit].unique().to_list())
    absent = [t for t in treated_list if t not in units_present]
    if absent:
        raise ModelSpecError(f"treated unit(s) {absent} not in column {unit!r}")
    bad_post = ~frame[post].cast(pl.Float64).is_in([0.0, 1.0])
    if bad_post.any():
        raise ModelSpecError(
            f"column {post!r} must be 0/1; row {int(bad_post.arg_max() or 0)} is not"
        )
    frame = frame.with_columns(
        (pl.col(unit).is_in(treated_list).cast(pl.Float64) * pl.col(post).cast(pl.Float64)).alias(
            "__D"
        )
    )
    res = ppml(
        frame,
        y,
        ["__D", *controls],
        fe_specs,
        weights=weights,
        vcov={"CR1": unit},
        tol=tol,
        fixef_tol=fixef_tol,
        maxiter=maxiter,
    )
    if "__D" not in res.names:
        raise ModelSpecError("the treatment is collinear with the fixed effects")
    sub = frame.filter(pl.Series(res.sample))
    yv = sub[y].cast(pl.Float64).to_numpy()
    xv = (
        np.column_stack([sub[c].cast(pl.Float64).to_numpy() for c in controls])
        if controls
        else np.zeros((sub.height, 0))
    )
    wv = sub[weights].cast(pl.Float64).to_numpy() if weights else None
    fx = FixedEffects(np.column_stack([_group_codes(sub, cols) for cols in fe_cols]))
    labels = sub[unit].to_numpy()
    uniq, unit_codes = np.unique(labels, return_inverse=True)
    unit_codes = unit_codes.astype(np.int64)
    treated_codes = [int(np.flatnonzero(uniq == t)[0]) for t in treated_list if t in set(uniq)]
    if len(treated_codes) != len(treated_list):
        raise ModelSpecError("a treated unit has no estimation rows (separated or singleton)")
    if uniq.size <= len(treated_codes):
        raise ModelSpecError("no control units: every unit is treated")
    assignments, actual, exact = _assignments(
        uniq.size, treated_codes, max_exact, n_permutations, seed
    )
    refit = _Refitter(
        yv,
        xv,
        fx,
        wv,
        unit_codes,
        sub[post].cast(pl.Float64).to_numpy(),
        assignments,
        actual,
        statistic,
        tol,
        fixef_tol,
        maxiter,
    )
    b, se, se_log = refit.fit_all(yv)
    count = refit.count(b, se, se_log)
    names = ["+".join(str(uniq[u]) for u in a) for a in assignments]
    with np.errstate(divide="ignore", invalid="ignore"):
        tstats = np.where(se > 0, b / se, np.inf)
        tstats_log = np.where(se_log > 0, b / se_log, np.inf)
    placebo = pl.DataFrame(
        {
            "assignment": names,
            "estimate": b,
            "std_error": se,
            "tstat": tstats,
            "std_error_log": se_log,
            "tstat_log": tstats_log,
            "is_actual": [i == actual for i in range(len(assignments))],
        }
    )
    label = (
        "randomization inference for PPML (placebo-in-space refits, "
        + {
            "t": "studentized by the units' own sandwich",
            "t_log": "studentized by the units' own log residuals",
            "coef": "coefficient",
        }[statistic]
        + ")"
    )
    return PPMLPlaceboResult(
        estimate=float(b[actual]),
        std_error=float(se[actual]),
        statistic=statistic,
        placebo=placebo,
        p_numerator=count,
        p_denominator=len(assignments),
        exact=exact,
        treated=treated_list,
        nobs=int(res.nobs),
        cr1_pvalue=float(res.pvalues["__D"]),
        cr1_std_error=float(res.std_errors["__D"]),
        ppml_result=res,
        ci_max_fits=ci_max_fits,
        method=label,
        _refit=refit,
    )
