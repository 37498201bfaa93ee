"""Sun & Abraham (2021) interaction-weighted event-study estimator (fixest's ``sunab``).

Reference: Sun, L. and Abraham, S. (2021), "Estimating dynamic treatment effects in event studies
with heterogeneous treatment effects", Journal of Econometrics 225(2), 175-199.

With staggered adoption, the TWFE event-study coefficients mix effects of other relative periods
and cohorts (Sun & Abraham 2021, Prop. 3). The interaction-weighted (IW) estimator instead
saturates relative time by cohort::

    y_it = sum_{c not ref} sum_{r != ref_p} delta_{c,r} 1[C_i = c] 1[t - C_i = r]
           + X_it' gamma + alpha_i + lambda_t + e_it

(``C_i`` the first treated period of unit ``i``; never-treated units, cohorts outside the observed
periods, are the reference cohort and get no interaction), then averages the cohort-specific
effects with the cohort shares in each relative period::

    beta_r = sum_c w_{c,r} delta_{c,r},     w_{c,r} = n_{c,r} / sum_{c'} n_{c',r}

(``n_{c,r}`` the number of estimation rows of cohort ``c`` at relative period ``r``). The overall
ATT averages every ``delta_{c,r}`` with ``r >= 0`` with weights ``n_{c,r} / sum_{c', r' >= 0}
n_{c',r'}`` (fixest ``summary(agg = "att")``). The covariance of the aggregates is ``W V W'``
(``V`` the covariance of the ``delta`` and ``gamma``, e.g. CR1 by unit), the weights being treated
as fixed, as fixest does. Checked against fixest's published ``base_stagg`` numbers
(``tests/test_sunab.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.absorb import FixedEffects
from tradeimpact.models.linear import CollinearityWarning, VcovSpec, fit_feols
from tradeimpact.models.results import EventStudyResult, RegressionResult

FloatArray = npt.NDArray[np.float64]


def _label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def sunab_fit(
    y: FloatArray,
    cohort: FloatArray,
    rel: FloatArray,
    *,
    controls: FloatArray | None = None,
    control_names: Sequence[str] = (),
    fe: FixedEffects,
    weights: FloatArray | None = None,
    vcov: VcovSpec,
    ref_p: Sequence[int] = (-1,),
    depvar: str = "y",
    dropped: dict[str, int] | None = None,
    freq: str = "",
) -> EventStudyResult:
    """Fit the saturated cohort x relative-period regression and aggregate (IW estimator).

    Parameters
    ----------
    y : array (n,)
    cohort : array (n,)
        First treated period of the row's unit; ``inf`` or NaN for never-treated (reference).
    rel : array (n,)
        Relative period ``t - cohort`` (binned by the caller if wanted); ignored for never-treated.
    controls : array (n, k), optional
    fe : FixedEffects
        Normally unit and period effects.
    vcov : VcovSpec
    ref_p : relative periods left out (the reference, normally ``-1``).

    Returns
    -------
    EventStudyResult
        Names ``e::r`` for the aggregated relative periods, then the controls;
        ``aggregates = {"ATT": ..., "ATT_se": ...}``; ``extra["interactions"]`` is the raw fit.
    """
    n = y.size
    treated = np.isfinite(cohort)
    if not treated.any():
        raise ModelSpecError("no treated cohort: every unit is never-treated")
    if treated.all():
        raise ModelSpecError(
            "no never-treated units: the Sun & Abraham estimator needs a never-treated reference "
            "cohort (or use estimator='cs' with not-yet-treated controls)"
        )
    cells = sorted(
        {(float(c), float(r)) for c, r in zip(cohort[treated], rel[treated], strict=True)}
        - {(float(c), float(r)) for c in np.unique(cohort[treated]) for r in ref_p}
    )
    cells = [cr for cr in cells if cr[1] not in set(map(float, ref_p))]
    names = [f"rel::{_label(r)}:cohort::{_label(c)}" for c, r in cells]
    cols = np.zeros((n, len(cells)))
    index = {cr: j for j, cr in enumerate(cells)}
    for i in np.flatnonzero(treated):
        j = index.get((float(cohort[i]), float(rel[i])))
        if j is not None:
            cols[i, j] = 1.0
    x = cols if controls is None else np.column_stack([cols, controls])
    all_names = [*names, *control_names]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollinearityWarning)
        raw = fit_feols(
            y, x, all_names, fe=fe, weights=weights, vcov=vcov, depvar=depvar, dropped=dropped
        )
    lost_controls = [d for d in raw.dropped_regressors if d in control_names]
    if lost_controls:
        warnings.warn(
            "dropped control(s) collinear with the fixed effects: " + ", ".join(lost_controls),
            CollinearityWarning,
            stacklevel=2,
        )
    del caught
    keep = raw.extra["design"].keep
    kept = set(raw.names)
    # observation counts per (cohort, rel) cell on the estimation rows
    counts: dict[tuple[float, float], int] = {}
    for c, r in zip(cohort[keep & treated], rel[keep & treated], strict=True):
        counts[(float(c), float(r))] = counts.get((float(c), float(r)), 0) + 1
    rels = sorted({r for (_, r), nm in zip(cells, names, strict=True) if nm in kept})
    pos = {nm: j for j, nm in enumerate(raw.names)}
    w_rows: list[FloatArray] = []
    out_names: list[str] = []
    event_terms: dict[int, str] = {}
    for r in rels:
        row = np.zeros(len(raw.names))
        cs = [(c, rr) for (c, rr), nm in zip(cells, names, strict=True) if rr == r and nm in kept]
        tot = sum(counts.get(cr, 0) for cr in cs)
        for cr in cs:
            row[pos[names[index[cr]]]] = counts.get(cr, 0) / tot
        w_rows.append(row)
        nm = f"e::{_label(r)}"
        out_names.append(nm)
        event_terms[int(r)] = nm
    for cn in control_names:
        if cn in pos:
            row = np.zeros(len(raw.names))
            row[pos[cn]] = 1.0
            w_rows.append(row)
            out_names.append(cn)
    w = np.vstack(w_rows)
    coef = w @ raw.beta
    cov = w @ raw.cov_matrix @ w.T
    # overall ATT over r >= 0
    att_w = np.zeros(len(raw.names))
    post_cells = [
        (cr, nm) for cr, nm in zip(cells, names, strict=True) if cr[1] >= 0 and nm in kept
    ]
    tot = sum(counts.get(cr, 0) for cr, _ in post_cells)
    for cr, nm in post_cells:
        att_w[pos[nm]] = counts.get(cr, 0) / tot
    att = float(att_w @ raw.beta)
    att_se = float(np.sqrt(att_w @ raw.cov_matrix @ att_w))
    res = EventStudyResult(
        names=out_names,
        beta=coef,
        cov_matrix=cov,
        nobs=raw.nobs,
        vcov_type=raw.vcov_type,
        df_inference=raw.df_inference,
        depvar=depvar,
        fixed_effects=raw.fixed_effects,
        dropped=raw.dropped,
        dropped_regressors=[d for d in raw.dropped_regressors if d in control_names],
        n_clusters=raw.n_clusters,
        model=f"Sun & Abraham (2021) IW, {raw.model}",
        extra={
            **{k: v for k, v in raw.extra.items() if k != "design"},
            "interactions": raw,
            "weights": w,
            "att_weights": att_w,
            "design": raw.extra["design"],
        },
        event_terms=event_terms,
        ref=int(ref_p[0]),
        freq=freq,
        aggregates={"ATT": att, "ATT_se": att_se},
    )
    pre = [event_terms[e] for e in sorted(event_terms) if e < 0]
    res.pretrend = res.wald_test(pre) if pre else None
    return res


def sunab(
    data: Any,
    y: str,
    cohort: str,
    period: str,
    unit: str,
    *,
    controls: Sequence[str] = (),
    fe: Sequence[str | Sequence[str]] | None = None,
    weights: str | None = None,
    vcov: Any = "CR1",
    ref_p: int = -1,
    outcome: str = "level",
) -> EventStudyResult:
    """Sun & Abraham (2021) event study, fixest's ``y ~ x + sunab(cohort, period) | unit + period``.

    ``cohort`` is the first treated period of each unit (never-treated units: null, or a value
    outside the observed periods, e.g. 10000 as in fixest's ``base_stagg``); ``period`` an integer
    period. All relative periods observed are estimated except ``ref_p`` (no binning; use
    :func:`tradeimpact.models.event_study` with ``estimator="sunab"`` for a window and bins).
    Returns the aggregated event-time coefficients and ``aggregates["ATT"]`` (see module docstring).
    """
    from tradeimpact.models.event_study import event_study

    return event_study(
        data,
        y,
        unit,
        period,
        treat_date=cohort,
        window=None,
        ref=ref_p,
        fe=fe,
        controls=controls,
        weights=weights,
        estimator="sunab",
        vcov=vcov,
        outcome=outcome,  # type: ignore[arg-type]
    )


__all__ = ["RegressionResult", "sunab", "sunab_fit"]
