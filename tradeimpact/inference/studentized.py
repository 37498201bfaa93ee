"""Studentized randomization inference (RI-t) for a DiD with one or few treated units.

Why: the coefficient randomization test (:func:`~tradeimpact.inference.randomization.
randomization_inference`, "RI-beta") and Conley-Taber compare the treated unit's estimate with
the estimates of placebo units. When the treated unit's noise differs from the controls' they are
no longer exchangeable and the test is wrong: with the treated unit 3x noisier it rejects a true
null about half the time at 5% (issue 10; MacKinnon & Webb 2020, section 4). Dividing every
assignment's estimate by that assignment's *own* scale removes the scale difference: if the
units' errors differ only by a factor (``e_it = sigma_i u_it`` with ``u`` exchangeable), the
studentized statistics are again exchangeable and the test keeps its size, while it stays exact
under the sharp null when the units are exchangeable anyway.

Statistic of assignment ``p`` (the set ``S_p`` of units given the treatment ``1[i in S_p] post``):

* ``scale="pre_sd"`` (default): ``t_p = beta_p / s_p`` with ``s_p`` the residual standard
  deviation of the units in ``S_p`` in the **pre-period-only** fit ``y ~ FE (+ controls)`` on the
  rows with ``post = 0``: ``s_p^2 = sum_{i in S_p, pre} w_i e_i^2 / sum_{i in S_p, pre} w_i``.
  Under ``H0: y(1) = y(0) + tau`` those rows carry no treatment, so ``s_p`` does not depend on
  ``tau``; ``beta_p(tau) = beta_p - tau c_p`` is linear (``c_p`` the coefficient of the actual
  treatment on the placebo column) and the confidence set of ``tau`` is found exactly from the
  breakpoints ``(beta_p/s_p -/+ beta/s) / (c_p/s_p -/+ 1/s)``.
* ``scale="cr1"``: ``t_p = beta_p / se_p`` with ``se_p`` the CR1 (clustered by unit, fixest small-
  sample factor) standard error of ``beta_p`` in the placebo regression, MacKinnon & Webb's RI-t.
  Under ``H0: tau`` the cluster scores are ``A_pg - tau B_pg``, so ``se_p(tau)^2`` is a quadratic
  in ``tau`` and each comparison ``|t_p(tau)| >= |t(tau)|`` changes sign only at the real roots
  of a quartic: the inversion is again exact.

* ``scale="pre_var_model"`` (the default of :func:`~tradeimpact.models.did.did` with 2-5
  treated units): ``t_p = beta_p / sqrt(V_p)``. ``beta_p = h_p' y`` is linear in ``y`` with the
  estimator's own weights ``h_p = W T_p** / (T_p**' W T_p**)``, so with independent errors of
  variance ``s_i^2`` in unit ``i`` (``s_i`` the pre-period residual s.d. above)
  ``V_p = sum_rows h_p^2 s_unit^2``; in a balanced two-way panel this is ``sum_i w_i(p)^2 s_i^2``
  (``1/|S|`` on the assignment's units, ``-1/#controls`` on its controls) times a factor common to
  all assignments (serial correlation alike in every unit cancels). Assignment ``p`` is estimated
  **without the actually treated units outside** ``S_p`` (they would put their noise in its
  control mean: with 3 of 20 treated units 1/3 as noisy, ``pre_sd`` rejects a true null 17% of
  the time at 5%, 0.5% when 3x as noisy). Reference set: all ``C(N, |S|)`` assignments, each so
  estimated; the actual one uses every other unit as a control. The test is approximate (the
  leave-out makes the samples differ, so it is not exact even with exchangeable units; the
  assignments that share treated units with the actual one are correlated with it): Monte Carlo
  of issue 10 (``benchmarks/size.py``: 20 x 60, AR(1) 0.5, 5,000 replications per cell, treated
  units 3x / 2x / 1x / 1/3 as noisy): 2 treated 3.9 / 4.3 / 5.0 / 3.9%, 3 treated
  4.4 / 4.2 / 4.6 / 4.1%, 4 treated 2.8 / 3.3 / 4.2 / 5.0%, 5 treated 2.0 / 2.6 / 4.1 / 5.2%
  (``pre_sd``: 0.0-2.0% at 3x, 9.1-21.8% at 1/3); ``tests/test_studentized_several_treated.py``.
  The scale and ``beta_p(tau) = beta_p - tau c_p`` are as in ``pre_sd``, so the interval is
  the same exact inversion.

P-value (two-sided, the actual assignment included): ``p = #{p : |t_p| >= |t|} / P``, ties within
a relative ``1e-9`` counted against the null; exact (``p_fraction``) when all ``C(N, |S|)``
assignments are enumerated, otherwise ``(1 + #) / (1 + B)`` with ``B`` seeded draws.

Reference: MacKinnon, J. G. and Webb, M. D. (2020), "Randomization inference for difference-in-
differences with few treated clusters", Journal of Econometrics 218(2), 435-450 (RI-t vs RI-beta);
Imbens & Rosenbaum (2005) for the test inversion. Written by hand (no Python package offers it);
the actual assignment's CR1 statistic equals pyfixest's t, the pre-period scales equal a
pyfixest fit on the pre-period rows, and the size is checked by Monte Carlo in
``tests/test_few_treated_monte_carlo.py`` and ``benchmarks/size.py``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.core.fixed_effects import demean
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.randomization import (
    _FWL,
    TIE_RTOL,
    AssignmentTest,
    _membership,
    _panel_args,
    _placebo_fit,
    _PlaceboFit,
    on_result,
)
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]
Scale = Literal["pre_sd", "cr1", "pre_var_model"]


@dataclass
class StudentizedRandomizationResult(AssignmentTest):
    """Studentized randomization inference: the actual t among the placebo t statistics.

    Attributes
    ----------
    estimate : float
        Coefficient of the actual treatment.
    statistic : float
        Its studentized statistic ``beta / s`` (``s`` the assignment's own scale).
    scale : {"pre_sd", "cr1", "pre_var_model"}
        The scale of every assignment (see the module docstring).
    placebo : polars.DataFrame
        One row per assignment: ``assignment``, ``estimate``, ``scale``, ``statistic``,
        ``is_actual`` (the actual assignment included).
    p_numerator, p_denominator : int
        The p-value as a fraction.
    exact : bool
        All assignments enumerated (else random draws plus the actual one).
    method, rule : str
        Name of the method; the p-value rule in words.
    """

    estimate: float
    statistic: float
    scale: Scale
    placebo: pl.DataFrame
    p_numerator: int
    p_denominator: int
    exact: bool
    rule: str
    treated: list[Any]
    nobs: int
    method: str
    _cross: FloatArray = field(repr=False, default_factory=lambda: np.empty(0))
    _quad: FloatArray = field(repr=False, default_factory=lambda: np.empty((0, 3)))
    _actual: int = 0
    same_test_as: str | None = None

    @property
    def p_value(self) -> Fraction:
        """``p_numerator / p_denominator`` as a fraction (the name :class:`RandomizationResult`
        uses; :attr:`p_fraction` is None when the assignments were drawn)."""
        return Fraction(self.p_numerator, self.p_denominator)

    @property
    def placebo_statistics(self) -> FloatArray:
        return self.placebo["statistic"].to_numpy()

    def _stats_at(self, taus: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``|t(tau)|`` of the actual assignment (G,) and of every assignment (G, P)."""
        b = self.placebo["estimate"].to_numpy()
        c = self._cross
        num = b[None, :] - taus[:, None] * c[None, :]
        if self.scale in ("pre_sd", "pre_var_model"):
            s = self.placebo["scale"].to_numpy()
            t = np.abs(num) / s[None, :]
        else:
            q = self._quad
            var = q[None, :, 0] * taus[:, None] ** 2 + q[None, :, 1] * taus[:, None] + q[None, :, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.abs(num) / np.sqrt(np.clip(var, 0.0, None))
            t = np.where(np.isfinite(t), t, np.inf)
        return t[:, self._actual], t

    def pvalue_at(self, tau: float = 0.0) -> float:
        """P-value of ``H0: constant effect tau`` (the headline p-value is ``tau = 0``)."""
        return self._pvalue_at_effect(tau)

    def _breakpoints(self) -> list[float]:
        b = self.placebo["estimate"].to_numpy()
        c = self._cross
        a = self._actual
        pts: list[float] = []
        if self.scale in ("pre_sd", "pre_var_model"):
            s = self.placebo["scale"].to_numpy()
            u, v = b / s, c / s
            with np.errstate(divide="ignore", invalid="ignore"):
                for r in ((u - u[a]) / (v - v[a]), (u + u[a]) / (v + v[a])):
                    pts.extend(r[np.isfinite(r)].tolist())
            return pts
        # (b_p - tau c_p)^2 V_a(tau) - (b_a - tau)^2 V_p(tau) = 0: a quartic per assignment
        q = self._quad
        for p in range(b.size):
            if p == a:
                continue
            lhs = np.polymul(np.polymul([-c[p], b[p]], [-c[p], b[p]]), q[a])
            rhs = np.polymul(np.polymul([-c[a], b[a]], [-c[a], b[a]]), q[p])
            poly = np.polysub(lhs, rhs)
            if not np.any(np.abs(poly) > 0):
                continue
            roots = np.roots(np.trim_zeros(poly, "f"))
            real = roots[np.abs(roots.imag) <= 1e-9 * np.maximum(1.0, np.abs(roots.real))].real
            pts.extend(real.tolist())
        return pts

    def conf_int(self, level: float = 0.95) -> tuple[float, float]:
        """Interval for a constant additive effect by exact test inversion.

        ``tau`` is kept when ``p(tau) > 1 - level``; ``p(tau)`` changes only at the breakpoints
        (see the module docstring), so it is evaluated at each breakpoint and between them.
        Returns the hull of the accepted set; infinite ends when it is unbounded (e.g. when
        ``1 / p_denominator > 1 - level``).
        """
        return self._invert_at_breakpoints(level)

    def tidy(self, level: float = 0.95) -> pl.DataFrame:
        """One row: estimate, statistic, p-value (with its fraction), interval, method."""
        low, high = self.conf_int(level)
        return self._tidy_row(low, high, statistic=self.statistic)

    def summary(self) -> str:
        return self._summary_text(
            self.method, f"estimate: {self.estimate:.6g}   statistic: {self.statistic:.4g}"
        )

    def __str__(self) -> str:
        return self.summary()


def pre_period_scales(
    fit: _PlaceboFit, member: Any, *, unit_name: str = "unit"
) -> tuple[FloatArray, FloatArray]:
    """Per-unit and per-assignment residual s.d. of the pre-period-only fit ``y ~ FE + X``.

    Rows with ``post = 0`` only; ``s_S^2 = sum_{S, pre} w e^2 / sum_{S, pre} w``. Raises
    :class:`ModelSpecError` naming a unit without pre-period rows or with zero residual variance.
    """
    pre = fit.post == 0
    if not pre.any():
        raise ModelSpecError("no pre-period rows (post = 0): the pre-period scale is undefined")
    w = None if fit.w is None else fit.w[pre]
    cols = np.column_stack([fit.y[pre], fit.x[pre]])
    dm = demean(cols, fit.fe.subset(pre), w)
    e = _FWL(dm[:, 0], dm[:, 1:], w).y_tt[:, 0]
    n_units = fit.unit_labels.size
    wp = np.ones(int(pre.sum())) if w is None else w
    ss = np.bincount(fit.ucode[pre], weights=wp * e * e, minlength=n_units)
    ws = np.bincount(fit.ucode[pre], weights=wp, minlength=n_units)
    unit_sd = np.sqrt(np.divide(ss, ws, out=np.full(n_units, np.nan), where=ws > 0))
    scale_tol = 1e-12 * max(1.0, float(np.sqrt(np.mean(e * e))) if e.size else 1.0)
    used = np.unique(np.concatenate([np.asarray(a) for a in fit.assignments]))
    bad = [int(u) for u in used if not (ws[u] > 0 and unit_sd[u] > scale_tol)]
    if bad:
        raise ModelSpecError(
            f"{unit_name} {fit.unit_labels[bad[0]]!r} has no pre-period row or no residual "
            f"variation in the pre-period fit ({len(bad)} unit(s)): the pre-period scale is "
            "undefined; use scale='cr1' or drop such units"
        )
    s = np.sqrt((member.T @ ss) / (member.T @ ws))
    return unit_sd, np.asarray(s, dtype=np.float64)


def _cr1_quadratics(
    fit: _PlaceboFit, member_all: Any, chunk_elements: int
) -> tuple[FloatArray, float]:
    """``se_p(tau)^2 = q0 tau^2 + q1 tau + q2`` for every assignment, CR1 clustered by unit.

    Scores of unit ``g`` under ``H0: tau``: ``sum_{i in g} w T** e(tau) = A_pg - tau B_pg`` with
    ``A_pg = sum w T** (y** - beta_p T**)``, ``B_pg = sum w T** (d** - c_p T**)``; the fixest
    factor ``G/(G-1) (n-1)/(n-K)`` (``K`` = 1 + controls + the non-nested fixed-effect levels).
    """
    from tradeimpact.core.covariance import fe_dof

    n = fit.y.size
    w = np.ones(n) if fit.w is None else fit.w
    first = demean(np.column_stack([fit.y, fit.d_actual, fit.x]), fit.fe, fit.w)
    fwl = _FWL(first[:, 0], first[:, 2:], fit.w)
    y_tt = fwl.y_tt[:, 0]
    d_tt = fwl.partial_x(first[:, 1:2])[:, 0]
    n_units = fit.unit_labels.size
    n_assign = len(fit.assignments)
    quad = np.empty((n_assign, 3))
    chunk = max(1, chunk_elements // max(n, 1))
    for start in range(0, n_assign, chunk):
        member = member_all[:, start : start + chunk].toarray()
        raw = member[fit.ucode, :] * fit.post[:, None]
        t_tt = fwl.partial_x(demean(raw, fit.fe, fit.w))
        den = np.einsum("ij,ij,i->j", t_tt, t_tt, w)
        beta = (t_tt.T @ (w * y_tt)) / den
        c = (t_tt.T @ (w * d_tt)) / den
        for j in range(t_tt.shape[1]):
            a_g = np.bincount(
                fit.ucode, weights=w * t_tt[:, j] * (y_tt - beta[j] * t_tt[:, j]), minlength=n_units
            )
            b_g = np.bincount(
                fit.ucode, weights=w * t_tt[:, j] * (d_tt - c[j] * t_tt[:, j]), minlength=n_units
            )
            quad[start + j] = [b_g @ b_g, -2 * a_g @ b_g, a_g @ a_g]
            quad[start + j] /= den[j] ** 2
    g = n_units
    fe_cols = [fit.fe.codes[:, k] for k in range(fit.fe.n_groupings)]
    k_tot = 1 + fit.x.shape[1] + fe_dof(fe_cols, [fit.ucode])
    factor = g / (g - 1) * (n - 1) / (n - k_tot)
    return quad * factor, factor


def _leave_out_moments(
    fit: _PlaceboFit,
    assignments: Sequence[tuple[int, ...]],
    unit_var: FloatArray,
    chunk_elements: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``beta_p``, ``c_p`` and modelled ``V_p`` of every assignment, the actually treated units
    outside ``S_p`` left out of its sample.

    Assignment ``S`` is estimated on the rows of the units not in ``A`` minus ``S`` (``A`` the
    actually treated units): ``beta_S = h_S' y`` with ``h_S = W T_S** / (T_S**' W T_S**)``, ``T_S**`` the
    column ``1[unit in S] post`` residualised on the fixed effects and controls of that sample
    (the estimator's own linear weights). With independent errors of variance ``s_u^2`` in unit
    ``u``, ``V_S = sum_rows h_S^2 s_unit^2``; in a balanced panel with a common post this is
    ``sum_i w_i(S)^2 s_i^2`` (``1/|S|`` on ``S``, ``-1/#controls`` on the controls) times a
    factor common to every assignment, so serial correlation that is the same in every unit
    changes no ranking. ``c_S`` is the coefficient of the actual treatment on ``T_S**`` (the
    null ``tau`` shifts ``beta_S`` by ``-tau c_S``; ``V_S`` does not depend on ``tau``).
    """
    actual = set(fit.actual)
    n_units = fit.unit_labels.size
    beta = np.empty(len(assignments))
    cross = np.empty(len(assignments))
    var = np.empty(len(assignments))
    groups: dict[tuple[int, ...], list[int]] = {}
    for j, a in enumerate(assignments):
        groups.setdefault(tuple(sorted(actual - set(a))), []).append(j)
    for dropped, idx in groups.items():
        rows = ~np.isin(fit.ucode, dropped)
        n = int(rows.sum())
        w_b = None if fit.w is None else fit.w[rows]
        w = np.ones(n) if w_b is None else w_b
        fe_b = fit.fe.subset(rows)
        ucode, post = fit.ucode[rows], fit.post[rows]
        first = demean(np.column_stack([fit.y[rows], fit.d_actual[rows], fit.x[rows]]), fe_b, w_b)
        fwl = _FWL(first[:, 0], first[:, 2:], w_b)
        y_tt = fwl.y_tt[:, 0]
        d_tt = fwl.partial_x(first[:, 1:2])[:, 0]
        row_var = unit_var[ucode]
        member_all = _membership([assignments[j] for j in idx], n_units)
        chunk = max(1, chunk_elements // max(n, 1))
        for start in range(0, len(idx), chunk):
            member = member_all[:, start : start + chunk].toarray()
            raw = member[ucode, :] * post[:, None]
            t_tt = fwl.partial_x(demean(raw, fe_b, w_b))
            wt = w[:, None] * t_tt
            den = np.einsum("ij,ij->j", wt, t_tt)
            scale = np.einsum("ij,ij,i->j", raw, raw, w)
            if (den <= 1e-10 * np.maximum(scale, 1e-300)).any():
                bad = int(np.flatnonzero(den <= 1e-10 * np.maximum(scale, 1e-300))[0])
                raise ModelSpecError(
                    f"assignment {idx[start + bad]} is collinear with the fixed effects and "
                    "controls once the other treated units are left out"
                )
            sel = idx[start : start + member.shape[1]]
            beta[sel] = (wt.T @ y_tt) / den
            cross[sel] = (wt.T @ d_tt) / den
            var[sel] = np.einsum("ij,ij,i->j", wt, wt, row_var) / den**2
    return beta, cross, var


def _pre_var_model(
    data: Any,
    y: str,
    unit: str,
    time: str,
    treated: Hashable | Sequence[Hashable],
    post: str,
    fe: Sequence[str] | None,
    controls: Sequence[str] | None,
    weights: str | None,
    max_exact: int,
    n_permutations: int,
    seed: int,
    chunk_elements: int,
) -> StudentizedRandomizationResult:
    """``scale="pre_var_model"``: t over the modelled s.e., treated units left out of the
    placebos' samples (see the module docstring)."""
    fit = _placebo_fit(data, y, unit, time, treated, post, fe, controls, weights, max_exact,
                       n_permutations, seed, chunk_elements)  # fmt: skip
    member = _membership(fit.assignments, fit.unit_labels.size)
    unit_sd, _ = pre_period_scales(fit, member, unit_name=f"unit ({unit})")
    unit_var = unit_sd**2
    k = len(fit.actual)
    n_units = fit.unit_labels.size
    if n_units - 2 * k < 1:
        raise ModelSpecError(
            f"scale='pre_var_model' needs more than 2 x {k} units (a placebo assignment "
            "disjoint from the treated units needs controls once they are left out); use "
            "scale='pre_sd'"
        )
    beta, cross, var = _leave_out_moments(fit, fit.assignments, unit_var, chunk_elements)
    a = fit.actual_idx
    s = np.sqrt(var)
    t = beta / s
    tol = TIE_RTOL * max(1.0, abs(t[a]))
    numer = int((np.abs(t) >= abs(t[a]) - tol).sum())
    n_assign = len(fit.assignments)
    rule = (
        "p = #{assignments with |t_p| >= |t_actual|} / #{assignments}, t_p = beta_p / sqrt(V_p) "
        "with V_p the variance of beta_p modelled from each unit's pre-period residual "
        "variance; assignment p estimated without the treated units outside it, the actual "
        "assignment included"
        + ("" if fit.exact else f" ({fit.n_permutations} random assignments + the actual one)")
    )
    placebo = pl.DataFrame(
        {
            "assignment": fit.names,
            "estimate": beta,
            "scale": s,
            "statistic": t,
            "is_actual": np.arange(n_assign) == a,
        }
    )
    return StudentizedRandomizationResult(
        estimate=float(beta[a]),
        statistic=float(t[a]),
        scale="pre_var_model",
        placebo=placebo,
        p_numerator=numer,
        p_denominator=n_assign,
        exact=fit.exact,
        rule=rule,
        treated=[fit.unit_labels[i] for i in fit.actual],
        nobs=fit.y.size,
        method=(
            "studentized randomization inference (RI-t, t over the s.e. modelled from the "
            "pre-period residual variances; treated units left out of placebo samples)"
        ),
        _cross=cross,
        _actual=a,
    )


def studentized_randomization_inference(
    data: Any,
    y: str | None = None,
    unit: str | None = None,
    time: str | None = None,
    treated: Hashable | Sequence[Hashable] | None = None,
    post: str | None = None,
    fe: Sequence[str] | None = None,
    *,
    controls: Sequence[str] | None = None,
    weights: str | None = None,
    scale: Scale = "pre_sd",
    max_exact: int = 10_000,
    n_permutations: int = 999,
    seed: int = 0,
    chunk_elements: int = 20_000_000,
    param: str | None = None,
) -> StudentizedRandomizationResult:
    """Studentized placebo-in-space randomization inference (RI-t), valid under heteroskedasticity.

    Two call forms (dispatching on the first argument): a fitted did() or event_study() result
    (``studentized_randomization_inference(result, scale="pre_var_model")``: the registered
    method ``"ri_t"``, the same numbers as ``did(..., inference="ri_t", ri={...})``; PPML:
    statistic ``"t_log"``; an event study: per event time), or the panel as below.

    Same arguments and assignments as
    :func:`~tradeimpact.inference.randomization.randomization_inference`; the statistic of each
    assignment is its estimate over its own scale (``scale="pre_sd"``: the residual s.d. of its
    units in the pre-period-only fit; ``"cr1"``: its own CR1 standard error;
    ``"pre_var_model"``: its standard error modelled from every unit's pre-period residual
    variance through the estimator's weights, the treated units outside the assignment left out
    of its sample, for several treated units). Formulas, the p-value rule and the exact test
    inversion: see the module docstring.

    ``pre_sd`` is the default because its scale is free of the null value and of the post-period
    (the treated unit's post-period residuals are not used), and the Monte Carlo of issue 10
    (``benchmarks/size.py``) keeps it at 5% whether the treated unit is 3x noisier, 2x, equal or
    1/3 as noisy. ``cr1`` is MacKinnon & Webb's RI-t; with one treated unit the treated cluster's
    own score is near zero and the CR1 scale of an assignment is mostly made of the *other*
    units' residuals, so it corrects much less (see ``reports/size.md``).

    Returns
    -------
    StudentizedRandomizationResult
        ``pvalue``, ``p_fraction``, ``conf_int(level)``, ``method``, ``tidy()``, ``placebo``.
    """
    if isinstance(data, RegressionResult):
        return on_result(  # type: ignore[no-any-return]
            "ri_t", data, dict(locals()),
            {"scale": "pre_sd", "max_exact": 10_000, "n_permutations": 999, "seed": 0,
             "chunk_elements": 20_000_000, "param": None},
        )  # fmt: skip
    y, unit, time, post = _panel_args(y, unit, time, treated, post)
    if param is not None:
        raise ModelSpecError("param= selects an event-time term of a fitted event study")
    if scale not in ("pre_sd", "cr1", "pre_var_model"):
        raise ModelSpecError(f"scale must be 'pre_sd', 'cr1' or 'pre_var_model', not {scale!r}")
    if scale == "pre_var_model":
        return _pre_var_model(data, y, unit, time, treated, post, fe, controls, weights,
                              max_exact, n_permutations, seed, chunk_elements)  # fmt: skip
    fit = _placebo_fit(
        data, y, unit, time, treated, post, fe, controls, weights, max_exact, n_permutations,
        seed, chunk_elements,
    )  # fmt: skip
    member = _membership(fit.assignments, fit.unit_labels.size)
    n_assign = len(fit.assignments)
    quad = np.empty((0, 3))
    if scale == "pre_sd":
        _, s = pre_period_scales(fit, member, unit_name=f"unit ({unit})")
        label = "pre-period residual s.d."
    else:
        quad, _ = _cr1_quadratics(fit, member, chunk_elements)
        s = np.sqrt(np.clip(quad[:, 2], 0.0, None))
        if (s <= 0).any():
            bad = int(np.flatnonzero(s <= 0)[0])
            raise ModelSpecError(
                f"assignment {fit.names[bad]!r} has a zero CR1 standard error: its t is undefined"
            )
        label = "own CR1 standard error"
    t = fit.betas / s
    a = fit.actual_idx
    tol = TIE_RTOL * max(1.0, abs(t[a]))
    numer = int((np.abs(t) >= abs(t[a]) - tol).sum())
    rule = (
        "p = #{assignments with |t_p| >= |t_actual|} / #{assignments}, t_p = beta_p / s_p with "
        f"s_p the assignment's {label}, the actual assignment included"
        + ("" if fit.exact else f" ({fit.n_permutations} random assignments + the actual one)")
    )
    placebo = pl.DataFrame(
        {
            "assignment": fit.names,
            "estimate": fit.betas,
            "scale": s,
            "statistic": t,
            "is_actual": np.arange(n_assign) == a,
        }
    )
    same = None
    if fit.simple_one_treated:
        same = (
            "Conley-Taber with the Ferman-Pinto pre-period variance: with one treated unit in a "
            "balanced panel it ranks the placebos exactly as this test"
            if scale == "pre_sd"
            else "coefficient randomization inference and Conley-Taber (2011): with one treated "
            "unit in a balanced panel the treated cluster's CR1 score is zero, so the CR1 t of "
            "an assignment is a monotone function of |beta_p|"
        )
    return StudentizedRandomizationResult(
        same_test_as=same,
        estimate=float(fit.betas[a]),
        statistic=float(t[a]),
        scale=scale,
        placebo=placebo,
        p_numerator=numer,
        p_denominator=n_assign,
        exact=fit.exact,
        rule=rule,
        treated=[fit.unit_labels[i] for i in fit.actual],
        nobs=fit.y.size,
        method=f"studentized randomization inference (RI-t, {label}; MacKinnon-Webb 2020)",
        _cross=fit.cross,
        _quad=quad,
        _actual=a,
    )


__all__ = [
    "StudentizedRandomizationResult",
    "pre_period_scales",
    "studentized_randomization_inference",
]
