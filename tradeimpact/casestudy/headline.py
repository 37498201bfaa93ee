"""The headline test of every regression row, and its size check: THE one place that chooses them.

Both call the inference layer (:mod:`tradeimpact.inference`) on the row's design frame
(:func:`tradeimpact.casestudy.designs.design_frame`) with the specification's ``[inference]``
options; nothing is estimated here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import polars as pl

from tradeimpact.casestudy.spec import HEADLINE_METHODS, Spec
from tradeimpact.core.collinearity import CollinearityWarning
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.headline import SizeCheck, size_check_panel
from tradeimpact.inference.ppml_placebo import ppml_randomization_inference
from tradeimpact.inference.randomization import randomization_inference
from tradeimpact.inference.studentized import studentized_randomization_inference

__all__ = ["HEADLINE_METHODS", "METHOD_LABELS", "headline_inference", "headline_size_check"]

#: Short labels of the headline and secondary methods, as the tables print them.
METHOD_LABELS = {
    "ri_t": "studentized RI (RI-t)",
    "ri": "coefficient RI",
    "ppml_ri": "PPML studentized RI",
}


def headline_inference(
    data: pl.DataFrame,
    ric: dict[str, Any],
    fe: Sequence[str],
    spec: Spec,
    *,
    ppml: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """The headline p-value and interval of a regression design: THE one place that chooses it.

    Every regression row of every case study (the real section's included) takes its headline
    ``p_value``, ``ci_low``/``ci_high`` and their labels from here, with the cluster-robust
    figures beside them (in :func:`~tradeimpact.casestudy.designs.fit_row`). The method is the specification's
    ``[inference] headline``:

    * ``"ri_t"`` (the shipped default): studentized randomization inference, placebo-in-space
      (:func:`tradeimpact.inference.studentized.studentized_randomization_inference`, scale
      ``"pre_sd"``; MacKinnon & Webb 2020): the statistic of every assignment of the treatment
      is its estimate over the residual s.d. of its own units in the pre-period-only fit, so
      that a treated country noisier than the controls does not make the test over-reject
      (issue 10: 5% where the coefficient test rejects 48% with the treated unit 3x noisier);
      exact p as a fraction when every assignment is enumerated (at most ``ri_max_exact``,
      else ``ri_draws`` seeded draws); the interval by exact test inversion.
    * ``"ri"``: coefficient randomization inference
      (:func:`tradeimpact.inference.randomization.randomization_inference`): p = the share of
      placebo estimates at least as large in absolute value. Valid when the units are
      exchangeable (equal noise); kept as a labelled secondary column under ``"ri_t"``.

    PPML rows (``ppml=True``, the outcome in levels) headline
    :func:`tradeimpact.inference.ppml_placebo.ppml_randomization_inference` (every assignment
    refitted by PPML) with the statistic ``[inference] ppml_statistic`` (``"t_log"`` shipped:
    the coefficient over the assigned units' own log-residual s.e., the one whose size held at
    5 +- 1.5 points with the treated unit 1x-3x noisier in ``reports/size_ppml.md``); its
    interval by test inversion for a constant multiplicative effect (None, with the reason in
    ``p_method``, when it cannot be computed).

    Returns
    -------
    (result, fields)
        The inference result (kept in :attr:`CaseStudy.ri`; it has ``placebo`` with
        ``estimate``) and the row fields ``ci_low, ci_high, ci_method, p_value, p_fraction,
        n_placebos, p_method, headline``.
    """
    inf = spec.inference
    method = inf.headline
    level = spec.level
    if method not in HEADLINE_METHODS:  # a Spec built by hand (load_spec checks the file's)
        raise ModelSpecError(
            f"{spec.path}: [inference] headline: unknown method {method!r} "
            f"(offered: {', '.join(repr(m) for m in HEADLINE_METHODS)})"
        )
    opts = inf.options()
    args = (data, "y", ric["unit"], "period", ric["treated"], ric["post"], list(fe))
    res: Any
    if ppml:
        stat = inf.ppml_statistic
        res = ppml_randomization_inference(*args, statistic=stat, **opts)  # type: ignore[arg-type]
        ci = res.conf_int(level)
        lo, hi = ci if ci is not None else (None, None)
        key = "ppml_ri"
        stat_word = {"t_log": "coefficient / own log-residual s.e.",
                     "t": "coefficient / own sandwich s.e.", "coef": "coefficient"}[stat]  # fmt: skip
        ci_method = ("PPML studentized RI, placebo-in-space, every assignment refitted "
                     f"({stat_word}; test inversion, constant multiplicative effect)")  # fmt: skip
        if ci is None:
            ci_method += f": {res.ci_note}"
        label = f"PPML studentized RI ({stat_word})"
    elif method == "ri_t":
        res = studentized_randomization_inference(*args, scale="pre_sd", **opts)
        lo, hi = res.conf_int(level)
        key = "ri_t"
        ci_method = ("studentized RI (RI-t, pre-period residual s.d.; MacKinnon-Webb 2020), "
                     "placebo-in-space (exact test inversion)")  # fmt: skip
        label = "studentized RI (RI-t, pre-period residual s.d.)"
    else:
        res = randomization_inference(*args, **opts)
        lo, hi = res.conf_int(level)
        key = "ri"
        ci_method = "coefficient randomization inference, placebo-in-space (test inversion)"
        label = "coefficient randomization inference"
    kind = "exact" if res.exact else "random draws"
    fields = {
        "ci_low": lo, "ci_high": hi, "ci_method": ci_method,
        "p_value": float(res.pvalue), "p_fraction": f"{res.p_numerator}/{res.p_denominator}",
        "n_placebos": int(res.p_denominator),
        "p_method": f"{label} ({kind}, {res.p_numerator}/{res.p_denominator})",
        "headline": key,
    }  # fmt: skip
    return res, fields


def headline_size_check(
    data: pl.DataFrame,
    ric: dict[str, Any],
    fe: Sequence[str],
    spec: Spec,
    *,
    ppml: bool = False,
) -> SizeCheck:
    """The headline test's size on this panel (:func:`~tradeimpact.inference.headline.size_check_panel`).

    The same test as :func:`headline_inference` (same design, fixed effects and options) rerun
    where the true effect is zero by construction: at placebo event dates inside the pre-period
    (the actual treated units, pre-period rows only) and at placebo units (each control given
    the treatment at the actual date, the treated units left out), at most
    ``[inference] size_check_runs`` (PPML rows: ``size_check_runs_ppml``) runs of each kind
    (evenly spaced dates; all control units or seeded draws of them). Returns a :class:`~tradeimpact.inference.headline.SizeCheck`
    (``k``, ``n``, ``sentence()``).
    """
    inf = spec.inference
    opts: dict[str, Any] = inf.options()
    runs = inf.size_check_runs
    if ppml:
        # every PPML run refits every assignment by IRLS: fewer runs keep the build bounded
        method = "ppml_ri"
        opts["statistic"] = inf.ppml_statistic
        runs = inf.size_check_runs_ppml
    else:
        method = inf.headline
        if method == "ri_t":
            opts["scale"] = "pre_sd"
    with warnings.catch_warnings():
        # Safe: a placebo date whose treatment the fixed effects absorb raises ModelSpecError
        # after a CollinearityWarning, and size_check_panel records that run in
        # SizeCheck.skipped (printed in the tables); only that warning is silenced.
        warnings.simplefilter("ignore", CollinearityWarning)  # safe: such runs are skipped
        return size_check_panel(
            data, "y", ric["unit"], "period", ric["treated"], ric["post"], list(fe),
            method=method, options=opts, level=0.05, max_runs=runs,
            seed=inf.seed,
        )  # fmt: skip
