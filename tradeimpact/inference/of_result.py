"""Inference as functions of a fitted result: what ``did(inference=...)`` and
``event_study(inference=...)`` run, and ``result.with_inference(name)``.

The estimators of :mod:`tradeimpact.models` fit and record their design (the typed design
records :class:`~tradeimpact.models.results.DiDDesign` and
:class:`~tradeimpact.models.results.EventStudyDesign` in ``result.design_record``, the demeaned
linear design in ``result.extra["design"]``); they name an inference method and reach it
through :func:`tradeimpact.core.registry.inference_method`, never by import. This module builds
each method's input from that record and registers it:

==================== ========================================================================
name                 the test (DiD effect; per event time for event studies)
==================== ========================================================================
``"ri"``             coefficient randomization inference, placebo-in-space
                     (:mod:`~tradeimpact.inference.randomization`; PPML: every assignment
                     refitted, statistic ``"coef"``; event study: per event time)
``"ri_t"``           studentized randomization inference (:mod:`~tradeimpact.inference.
                     studentized`, MacKinnon & Webb 2020; PPML: statistic ``"t_log"`` or
                     ``"t"``; event study: pre-period residual s.d., per event time)
``"conley_taber"``   Conley & Taber (2011) (:mod:`~tradeimpact.inference.conley_taber`)
``"conley_taber_fp"`` the same with the Ferman & Pinto (2019) correction
``"wild"``           restricted wild cluster bootstrap (:mod:`~tradeimpact.inference.
                     wild_bootstrap`; any linear fit, ``param=`` names the coefficient)
``"ppml_ri"``        PPML placebo refits of a ``did(outcome="ppml")`` fit, ``statistic=``
                     ``"t"`` (default), ``"t_log"`` or ``"coef"``
``"default"``        the estimators' default headline rule (:func:`default_headline`)
==================== ========================================================================

Each method returns one inference result (``pvalue``, ``p_fraction``, ``conf_int(level)``,
``method``, ``tidy()``); for an event study without ``param=`` an :class:`EventTimeInference`
(one result per event-time term). The code is the code the estimators ran before issue 13
(moved here from ``models/did.py`` and ``models/event_study.py``): same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl

from tradeimpact.core.fixed_effects import FixedEffects, demean
from tradeimpact.core.registry import register_inference
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.conley_taber import conley_taber
from tradeimpact.inference.ppml_placebo import PPMLPlaceboResult, ppml_randomization_inference
from tradeimpact.inference.randomization import _FWL, placebo_in_space, randomization_inference
from tradeimpact.inference.studentized import (
    StudentizedRandomizationResult,
    studentized_randomization_inference,
)
from tradeimpact.inference.wild_bootstrap import WildBootstrapResult, wild_cluster_bootstrap
from tradeimpact.models.did import common_post
from tradeimpact.models.results import (
    DiDDesign,
    DiDResult,
    EventStudyDesign,
    EventStudyResult,
    HeadlineChoice,
    RegressionResult,
)

FloatArray = npt.NDArray[np.float64]

#: Largest number of treated units for which did() and event_study() headline the studentized
#: randomization test by default (issue 10: with few treated units cluster-robust tests over-
#: reject, and the coefficient tests are wrong when the treated units' noise differs).
FEW_TREATED = 5

#: Largest rows x placebo columns the default headline projects when the unit is not absorbed.
DEFAULT_PROJECTION_LIMIT = 50_000_000

#: Statistic of the default PPML headline (see :func:`default_headline` for why).
PPML_STATISTIC = "t_log"

#: Largest rows x placebo assignments the default PPML headline refits unasked (each
#: assignment is one IRLS fit on every estimation row: about 0.3-1.4 microseconds per row and
#: fit, so at most some 10-30 s); larger panels headline CR1 and say to pass inference='ri_t'.
DEFAULT_PPML_FIT_LIMIT = 20_000_000

#: Largest rows x refits the default PPML headline's test-inversion interval may take (it is
#: computed when asked; beyond this ``conf_int`` is ``(nan, nan)`` with the reason).
DEFAULT_PPML_CI_LIMIT = 100_000_000

#: Largest rows x units x event times for which the event-study default headline runs the
#: placebo blocks.
DEFAULT_PLACEBO_LIMIT = 200_000_000

_PPML_RI_OPTIONS = frozenset(
    {"statistic", "max_exact", "n_permutations", "seed", "tol", "fixef_tol", "maxiter",
     "ci_max_fits"}
)  # fmt: skip


# -- the placebo design of a fitted DiD ---------------------------------------------------------
@dataclass
class PlaceboContext:
    """The placebo design of a fitted DiD: what the randomization tests and the size check rerun.

    ``frame`` holds the estimation rows with the outcome as fitted (``_y``), the effect's post
    indicator (``_post_eff`` = post, or post x ddd) and interacted fixed effects materialised
    as columns (``fe_names``); ``treated`` lists the actually treated units.
    """

    frame: pl.DataFrame
    unit: str
    time: str
    treat: str
    fe_names: list[str]
    controls: list[str]
    weights: str | None
    treated: list[Hashable]
    cells: list[str]
    no_common_post: str = ""


def _did_record(res: Any) -> DiDDesign:
    rec = getattr(res, "design_record", None)
    if not isinstance(res, DiDResult) or not isinstance(rec, DiDDesign):
        raise ModelSpecError(
            "this method needs a result of tradeimpact.did() (its design record); for another "
            "fit call the method on the panel (data, y, unit, time, treated, post)"
        )
    return rec


def _treated_units(est: pl.DataFrame, unit: str, treat: str) -> list[Hashable]:
    return est.filter(pl.col(treat).cast(pl.Float64) == 1)[unit].unique().sort().to_list()


def placebo_context(res: DiDResult) -> PlaceboContext:
    """Build the :class:`PlaceboContext` of a fitted DiD (errors say why a design has none)."""
    rec = _did_record(res)
    unit, time, post, treat, ddd = rec.unit, rec.time, rec.post, rec.treat, rec.ddd
    if unit is None or time is None:
        raise ModelSpecError("placebo (randomization) inference needs unit and time columns")
    est = rec.frame
    # estimation rows of the fitted model (after singletons)
    keep = res.extra["design"].keep if "design" in res.extra else None
    frame = est if keep is None else est.filter(pl.Series(keep))
    # materialise interacted fixed effects as columns for the placebo routines
    fe_names: list[str] = []
    for spec in rec.fe:
        if isinstance(spec, str):
            fe_names.append(spec)
        else:
            nm = "^".join(spec)
            frame = frame.with_columns(pl.struct(list(spec)).rank("dense").alias(nm))
            fe_names.append(nm)
    # the placebo treatment is 1[unit in S] x post (x ddd): lower-order terms must be absorbed
    lower = list(res.dropped_regressors)
    if ddd is not None:
        needed = [f"{treat}:{ddd}", f"{treat}:{post}"]
        if any(t not in lower for t in needed):
            raise ModelSpecError(
                f"placebo inference for a triple difference needs the unit-level terms "
                f"{needed} absorbed by the fixed effects (e.g. unit x {ddd} and unit x {time})"
            )
    # a post coded on the treated rows only (0 for every control) is a common post once its
    # single event date is read off; the placebo assignment 1[unit in S] x post needs that
    # (Conley-Taber takes each treated unit's own post, staggered or not; RI needs one date)
    try:
        common = common_post(frame, unit, time, treat, post)
        no_common = ""
    except ModelSpecError as exc:
        common, no_common = None, str(exc)
    post_expr = pl.col(post).cast(pl.Float64) if common is None else common
    if ddd is not None:
        frame = frame.with_columns((post_expr * pl.col(ddd).cast(pl.Float64)).alias("_post_eff"))
    else:
        frame = frame.with_columns(post_expr.alias("_post_eff"))
    extra_controls = [c for c in res.names if c in (post, ddd, f"{post}:{ddd}")]
    ctrl = [c for c in [*extra_controls, *rec.controls] if c in frame.columns]
    frame = frame.with_columns(pl.col(c).cast(pl.Float64) for c in ctrl)
    raw_fe = [c for spec in rec.fe for c in ([spec] if isinstance(spec, str) else spec)]
    cells = list(dict.fromkeys(c for c in (time, ddd, *raw_fe) if c and c != unit))
    return PlaceboContext(
        frame=frame,
        unit=unit,
        time=time,
        treat=treat,
        fe_names=fe_names,
        controls=ctrl,
        weights=rec.weights,
        treated=_treated_units(frame, unit, treat),
        cells=cells,
        no_common_post=no_common,
    )


def run_placebo_method(
    ctx: PlaceboContext,
    method: str,
    options: Mapping[str, Any],
    *,
    frame: pl.DataFrame | None = None,
    treated: Sequence[Hashable] | None = None,
) -> Any:
    """Run one placebo-based test on the context (or on ``frame`` / ``treated`` in its place).

    ``method``: ``"ri"`` (coefficient RI), ``"ri_t"`` (studentized RI; ``options["scale"]``),
    ``"conley_taber"``, ``"conley_taber_fp"`` (Ferman-Pinto; ``options["group_sizes"]`` may name
    a column).
    """
    data = ctx.frame if frame is None else frame
    tr = list(ctx.treated if treated is None else treated)
    opts = dict(options)
    if method in ("ri", "ri_t"):
        if ctx.no_common_post and frame is None:
            raise ModelSpecError(ctx.no_common_post)
        fn = randomization_inference if method == "ri" else studentized_randomization_inference
        return fn(
            data,
            "_y",
            ctx.unit,
            ctx.time,
            tr,
            "_post_eff",
            ctx.fe_names,
            controls=ctx.controls or None,
            weights=ctx.weights,
            **opts,
        )
    if method in ("conley_taber", "conley_taber_fp"):
        fx = FixedEffects.from_columns([data[c].to_numpy() for c in ctx.fe_names], ctx.fe_names)
        d_col = data[ctx.unit].is_in(tr).cast(pl.Float64).to_numpy() * data["_post_eff"].to_numpy()
        # a cell = the row of a unit: time and every other dimension named in the model
        cells = data.select(pl.struct(ctx.cells).rank("dense"))[:, 0].to_numpy()
        xc = np.column_stack([data[c].to_numpy() for c in ctx.controls]) if ctx.controls else None
        if method == "conley_taber_fp":
            opts.setdefault("correction", "ferman_pinto")
            sizes = opts.get("group_sizes")
            if isinstance(sizes, str):
                if sizes not in data.columns:
                    raise ModelSpecError(f"group_sizes column {sizes!r} not found")
                opts["group_sizes"] = data[sizes].cast(pl.Float64).to_numpy()
        return conley_taber(
            data["_y"].to_numpy().astype(float),
            d_col,
            data[ctx.unit].to_numpy(),
            cells,
            fx,
            xc,
            None if ctx.weights is None else data[ctx.weights].cast(pl.Float64).to_numpy(),
            **opts,
        )
    raise ModelSpecError(f"no placebo method {method!r}")


def _checked(res: DiDResult, r: Any) -> Any:
    if not np.isclose(r.estimate, res.att, rtol=1e-8, atol=1e-12 * max(1.0, abs(res.att))):
        raise ModelSpecError(
            f"{r.method} re-estimated {r.estimate} but the model gives {res.att}:"
            " the placebo design does not reproduce this specification"
        )
    return r


def ppml_placebo(
    res: DiDResult, method: str, options: Mapping[str, Any], *, bounded: bool = False
) -> PPMLPlaceboResult:
    """PPML randomization inference of a did(outcome="ppml") fit (every assignment refitted).

    Runs :func:`tradeimpact.inference.ppml_placebo.ppml_randomization_inference` on the
    estimation rows of ``res`` with its fixed effects, controls and weights, the treated units
    of ``treat`` and the effect's post indicator (``post``, or ``post x ddd``; a post coded on
    treated rows only read as the common post of its one event date). ``method="ri_t"``: the
    studentized statistic (``options["statistic"]``, ``"t_log"`` or ``"t"``; default
    :data:`PPML_STATISTIC`); ``"ri"``: the coefficient (``statistic="coef"``). ``options`` go to
    that function (``max_exact``, ``n_permutations``, ``seed``, ``tol``, ``fixef_tol``,
    ``maxiter``, ``ci_max_fits``); the options as run are the result's ``run_options``.
    ``bounded`` (the default headline): refuse (ModelSpecError with the reason) beyond
    :data:`DEFAULT_PPML_FIT_LIMIT` row-fits and cap the interval's refits at
    :data:`DEFAULT_PPML_CI_LIMIT` row-fits. The refitted estimate must equal the fit's to
    ``1e-6`` relative (both are IRLS at tolerance ``1e-8``), else the design does not reproduce
    the specification and ModelSpecError says so.
    """
    rec = _did_record(res)
    opts = dict(options)
    opts.pop("param", None)
    unknown = sorted(set(opts) - _PPML_RI_OPTIONS)
    if unknown:
        raise ModelSpecError(
            f"ri= option(s) {unknown} do not apply to PPML randomization inference (offered: "
            f"{sorted(_PPML_RI_OPTIONS)})"
        )
    stat = opts.get("statistic")
    if method == "ri":
        if stat not in (None, "coef"):
            raise ModelSpecError(
                f"inference='ri' is the coefficient test (statistic 'coef'), not {stat!r}: use "
                "inference='ri_t' for a studentized statistic"
            )
        opts["statistic"] = "coef"
    else:
        if stat == "coef":
            raise ModelSpecError(
                "inference='ri_t' is studentized: ri={'statistic': 't_log' | 't'}; the "
                "coefficient test is inference='ri'"
            )
        opts["statistic"] = stat or PPML_STATISTIC
    unit, time = rec.unit, rec.time
    if unit is None or time is None:
        raise ModelSpecError("placebo (randomization) inference needs unit and time columns")
    ctx = placebo_context(res)
    if ctx.no_common_post:
        raise ModelSpecError(ctx.no_common_post)
    n_units = int(ctx.frame[unit].n_unique())
    n_sets = math.comb(n_units, len(ctx.treated))
    n_assign = n_sets if n_sets <= int(opts.get("max_exact", 10_000)) else (
        int(opts.get("n_permutations", 999)) + 1
    )  # fmt: skip
    rows = ctx.frame.height
    if bounded:
        if rows * n_assign > DEFAULT_PPML_FIT_LIMIT:
            raise ModelSpecError(
                f"{n_assign} placebo assignments x {rows} rows = {rows * n_assign} row-fits "
                f"(> {DEFAULT_PPML_FIT_LIMIT}) is too slow to run unasked; pass "
                "inference='ri_t' to run it"
            )
        opts.setdefault("ci_max_fits", int(min(20_000, DEFAULT_PPML_CI_LIMIT // max(rows, 1))))
    r = ppml_randomization_inference(
        ctx.frame,
        "_y",
        unit,
        time,
        list(ctx.treated),
        "_post_eff",
        ctx.fe_names,
        controls=list(ctx.controls),
        weights=rec.weights,
        **opts,
    )
    if not np.isclose(r.estimate, res.att, rtol=1e-6, atol=1e-10):
        raise ModelSpecError(
            f"{r.method} re-estimated {r.estimate} but the model gives {res.att}:"
            " the placebo design does not reproduce this specification"
        )
    r.run_options = dict(opts)
    return r


def ppml_caveat(n_treated: int, statistic: str) -> str:
    """What the size table says of the default PPML headline (its note)."""
    measured = {"t_log": "4.8-5.6%", "t": "5.0-6.1%"}.get(statistic)
    base = (
        f"PPML studentized randomization inference (statistic {statistic!r}, every assignment "
        "refitted)"
    )
    if measured:
        base += (
            f"; reports/size_ppml.md, one treated unit of 20: {measured} rejections at 5% with "
            "the treated unit 1x-3x as noisy as the controls"
        )
    if n_treated > 1:
        base += (
            f"; with {n_treated} treated units its size was not measured: read it with the size "
            "check (result.size_check())"
        )
    return base


def several_treated_caveat(n_treated: int) -> str:
    """What the default studentized headline with 2-5 treated units does not control (else "").

    With several treated units the default scale is ``"pre_var_model"`` (t over the s.e.
    modelled from each unit's pre-period residual variance, the treated units outside a placebo
    assignment left out of its sample; :mod:`tradeimpact.inference.studentized`). Closed-form
    Monte Carlo of issue 10 (``benchmarks/size.py``, 20 units x 60 periods, AR(1) 0.5, 5,000
    replications per cell, checked against the public function in
    ``tests/test_studentized_several_treated.py``), rejections of a true null at 5% with the
    treated units 3x / 2x / 1x / 1/3 as noisy as the controls: 2 treated 3.9 / 4.3 / 5.0 / 3.9
    (exact level 4.74), 3 treated 4.4 / 4.2 / 4.6 / 4.1, 4 treated 2.8 / 3.3 / 4.2 / 5.0,
    5 treated 2.0 / 2.6 / 4.1 / 5.2; the former ``pre_sd`` headline gave 0.0-2.0 (3x) and
    9.1-21.8 (1/3).
    """
    if n_treated <= 1:
        return ""
    return (
        f"{n_treated} treated units: t over the s.e. modelled from each unit's pre-period "
        "variance, placebos estimated without the other treated units; Monte Carlo (20 units, "
        "noise 1/3x to 3x the controls'): 3.9-5.0% rejections at 5% with 2-3 treated, 2.0-5.2% "
        "with 4-5 (conservative when the treated units are noisier); read it with the size "
        "check (result.size_check())"
    )


def did_default_headline(res: DiDResult, **options: Any) -> dict[str, HeadlineChoice]:
    """Headline of a did() called without ``inference=``: studentized RI with few treated units.

    CR1 stays in ``params`` / ``std_errors`` / ``pvalues`` / ``conf_int()``; the headline is
    ``res.headline``. With more than :data:`FEW_TREATED` treated units, or a design the placebo
    test cannot rerun (no unit/time, a staggered post, a PPML panel too large to refit every
    assignment unasked: :data:`DEFAULT_PPML_FIT_LIMIT`), the headline is CR1 and
    ``res.headline.note`` says why. ``options`` are did's ``ri=`` options.

    ``outcome="ppml"``: :func:`ppml_placebo` with the statistic :data:`PPML_STATISTIC`
    (``"t_log"``, the coefficient over the assigned units' own log-residual s.e.). Why that
    one: in the PPML size table (``reports/size_ppml.md``; 20 units x 10 periods, one treated
    unit, 5,000 replications, Monte Carlo s.e. 0.3 points) it rejects a true null at 5% in
    4.9% / 4.8% / 5.6% of replications with the treated unit 1x / 2x / 3x as noisy as the
    controls: within 5 +- 1.5 points in every row, and at 3x the nearer of the two
    studentized statistics to 5% (own sandwich ``"t"``: 5.0 / 5.1 / 6.1%; coefficient:
    4.9 / 21.5 / 39.4%; CR1 65.8-85.4%); the case studies use
    the same (``analysis/specs/main.toml``, ``ppml_statistic``). With many zeros the ``+ 1/2``
    of its log residuals dominates and ``ri={"statistic": "t"}`` is the safer choice.
    """
    rec = _did_record(res)
    options = {k: v for k, v in options.items() if k != "param"}
    est, unit, time, treat = rec.frame, rec.unit, rec.time, rec.treat
    effect = res.effect
    n_treated = int(est.filter(pl.col(treat).cast(pl.Float64) == 1)[unit].n_unique()) if unit else 0
    why = ""
    if unit is None or time is None:
        why = "no unit and time columns: no placebo assignments"
    elif n_treated > FEW_TREATED:
        why = (
            f"{n_treated} treated units (more than {FEW_TREATED}): cluster-robust inference is "
            "the headline"
        )
    if not why and rec.outcome == "ppml" and unit is not None:
        try:
            r = ppml_placebo(res, "ri_t", options, bounded=True)
        except (ModelSpecError, np.linalg.LinAlgError) as exc:
            why = f"PPML randomization inference not available here ({exc})"
        else:
            note = ppml_caveat(n_treated, r.statistic)
            return {effect: HeadlineChoice("ri_t", r, dict(r.run_options), note)}
    if not why and unit not in rec.fe:
        # without the unit among the absorbed effects every placebo column is projected (n x P):
        # too slow to run unasked on a large panel
        n_units = int(est[unit].n_unique()) if unit else 0
        if est.height * min(n_units, 1_000) > DEFAULT_PROJECTION_LIMIT:
            why = (
                f"the unit ({unit}) is not an absorbed fixed effect, so the placebo columns would "
                f"be projected one by one ({est.height} rows x {n_units} units); pass "
                "inference='ri_t' to run it"
            )
    if not why:
        try:
            ctx = placebo_context(res)
            if 2 <= n_treated < est[ctx.unit].n_unique() / 2 and "scale" not in options:
                # several treated units: t over the s.e. modelled from the pre-period variances,
                # the treated units outside each placebo left out of its sample (issue 10; it
                # needs more than 2 x n_treated units)
                options = {**options, "scale": "pre_var_model"}
            r = run_placebo_method(ctx, "ri_t", options)
        except (ModelSpecError, np.linalg.LinAlgError) as exc:
            why = f"studentized randomization inference not available here ({exc})"
        else:
            note = several_treated_caveat(n_treated)
            return {effect: HeadlineChoice("ri_t", r, dict(options), note)}
    return {effect: HeadlineChoice("cr1", None, {}, why)}


_OLS_ONLY = (
    "inference={method!r} is available for OLS outcomes (log or level) only; with "
    "outcome='ppml' use inference='ri_t' (PPML studentized randomization inference, the "
    "default with 1-5 treated units), 'ri' (its coefficient version) or 'cr1'"
)


def _did_placebo(res: DiDResult, method: str, options: Mapping[str, Any]) -> Any:
    rec = _did_record(res)
    opts = {k: v for k, v in options.items() if k != "param"}
    if rec.outcome == "ppml":
        if method not in ("ri", "ri_t"):
            raise ModelSpecError(_OLS_ONLY.format(method=method))
        return ppml_placebo(res, method, opts)
    return _checked(res, run_placebo_method(placebo_context(res), method, opts))


# -- event studies: per event time --------------------------------------------------------------
@dataclass
class PlaceboTerm:
    """Coefficient randomization p-value and placebo interval of one event-time coefficient.

    ``placebo``: the estimate of that event time when each unit in turn is given the event date
    (the actual unit included). ``pvalue = #{u : |b_u| >= |b|} / N`` (exact: every unit).
    """

    estimate: float
    placebo: FloatArray
    method: str
    term: str = ""
    exact: bool = True

    @property
    def p_numerator(self) -> int:
        tie = 1e-9 * max(abs(self.estimate), 1e-300)
        return int((np.abs(self.placebo) >= abs(self.estimate) - tie).sum())

    @property
    def p_denominator(self) -> int:
        return int(self.placebo.size)

    @property
    def pvalue(self) -> float:
        """``#{p : |b_p| >= |b|} / P`` over all assignments (the actual one included)."""
        tie = 1e-9 * max(abs(self.estimate), 1e-300)
        return float(np.mean(np.abs(self.placebo) >= abs(self.estimate) - tie))

    @property
    def p_fraction(self) -> Fraction:
        return Fraction(self.p_numerator, self.p_denominator)

    def conf_int(self, level: float = 0.95) -> tuple[float, float]:
        """``b - [q_{(1+level)/2}, q_{(1-level)/2}]`` of the placebo estimates (Conley-Taber style
        inversion under a constant additive effect)."""
        q_lo, q_hi = np.quantile(self.placebo, [(1 - level) / 2, (1 + level) / 2])
        return float(self.estimate - q_hi), float(self.estimate - q_lo)

    def tidy(self, level: float = 0.95) -> pl.DataFrame:
        """One row: term, estimate, p-value (and fraction), interval, method."""
        low, high = self.conf_int(level)
        return pl.DataFrame(
            {
                "term": [self.term or "treatment"],
                "estimate": [self.estimate],
                "p_value": [self.pvalue],
                "p_fraction": [f"{self.p_numerator}/{self.p_denominator}"],
                "conf_low": [low],
                "conf_high": [high],
                "method": [self.method],
            }
        )


@dataclass
class EventTimeInference:
    """One inference result per event-time coefficient of an event study.

    ``by_term`` maps each term (``"e::3"``) to its result; ``[term]`` gives it; ``pvalue`` (a
    :class:`pandas.Series` by term), ``p_fraction`` (dict by term), ``conf_int(level)`` (a
    :class:`pandas.DataFrame`, ``lower``/``upper`` by term), ``method`` and ``tidy()`` (one
    polars row per term) follow the single-result shape term by term. ``extra`` holds what the
    event study keeps beside it (``ri_band``: the 2.5-97.5% band of the control units' placebo
    estimates per event time; ``ri_placebo``; ``ri_t_placebo``).
    """

    by_term: dict[str, Any]
    method: str
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, term: str) -> Any:
        return self.by_term[term]

    @property
    def pvalue(self) -> pd.Series:
        return pd.Series({t: float(r.pvalue) for t, r in self.by_term.items()}, name="pvalue")

    @property
    def p_fraction(self) -> dict[str, Fraction | None]:
        return {t: getattr(r, "p_fraction", None) for t, r in self.by_term.items()}

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        rows = {t: tuple(r.conf_int(level)) for t, r in self.by_term.items()}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])

    def tidy(self, level: float = 0.95) -> pl.DataFrame:
        rows = []
        for t, r in self.by_term.items():
            low, high = r.conf_int(level)
            frac = getattr(r, "p_fraction", None)
            rows.append({"term": t, "estimate": float(r.estimate), "p_value": float(r.pvalue),
                         "p_fraction": None if frac is None else
                         f"{r.p_numerator}/{r.p_denominator}",
                         "conf_low": low, "conf_high": high, "method": str(r.method)})  # fmt: skip
        return pl.DataFrame(
            rows,
            schema={"term": pl.String, "estimate": pl.Float64, "p_value": pl.Float64,
                    "p_fraction": pl.String, "conf_low": pl.Float64, "conf_high": pl.Float64,
                    "method": pl.String},
        )  # fmt: skip


def _es_record(res: Any) -> EventStudyDesign:
    rec = getattr(res, "design_record", None)
    if not isinstance(res, EventStudyResult) or not isinstance(rec, EventStudyDesign):
        raise ModelSpecError("this method needs a result of tradeimpact.event_study()")
    return rec


def event_study_placebo(
    res: EventStudyResult, mode: Literal["ri", "ri_t"] = "ri"
) -> EventTimeInference:
    """Placebo-in-space for one treated unit: give its event date to each unit in turn.

    Every unit's block of event-time dummies (binned like the actual ones) is estimated jointly
    with the fixed effects and controls by :func:`placebo_in_space` (one projection for all
    placebos). ``mode="ri"`` (coefficient RI): per event time ``e`` the p-value is
    ``#{u : |b_ue| >= |b_e|} / N`` (the actual unit included) and the interval inverts the
    placebo distribution under a constant effect; ``extra["ri_band"]`` is the 2.5%-97.5% band
    of the placebo (control-unit) estimates. ``mode="ri_t"`` (studentized, the default headline):
    ``t_ue = b_ue / s_u`` with ``s_u`` unit ``u``'s residual s.d. in the fit on the rows before
    the event date; p per event time ``#{u : |t_ue| >= |t_e|} / N`` and the interval by exact
    inversion (``b_ue(tau) = b_ue - tau c_ue``, ``c_ue`` the coefficient of the actual unit's
    dummy ``e`` on unit ``u``'s block; see :mod:`tradeimpact.inference.studentized`).
    """
    rec = _es_record(res)
    if rec.estimator != "twfe":
        raise ModelSpecError(f"inference={mode!r} is implemented for estimator='twfe'")
    window, endpoints = rec.window, rec.endpoints
    if window is not None and endpoints != "bin":
        raise ModelSpecError("event-study randomization inference needs endpoints='bin'")
    est, unit, cohort, period = rec.frame, rec.unit, rec.cohort, rec.period
    xc, fe_obj, wv = rec.controls_x, rec.fixed_effects, rec.weights_x
    d = res.extra["design"]
    keep = d.keep
    units = est[unit].to_numpy()[keep]
    coh = cohort[keep]
    dates = np.unique(coh[np.isfinite(coh)])
    treated_units = np.unique(units[np.isfinite(coh)])
    if dates.size != 1 or treated_units.size != 1:
        raise ModelSpecError(
            "event-study randomization inference per event time ('ri', 'ri_t') is for one "
            f"treated unit with one event date (here {treated_units.size} treated unit(s), "
            f"{dates.size} date(s)); for staggered dates use inference='ri_staggered' (the "
            "cohorts' dates re-assigned across units: a test of the overall effect) or "
            "tradeimpact.inference.staggered_randomization_inference(data, y, unit, time, cohort)"
        )
    times = res.event_times
    n_k = len(times)
    rel_any = period[keep] - dates[0]
    if window is not None:
        rel_any = np.clip(rel_any, window[0], window[1])
    all_units = np.unique(units)
    y_keep = est["_y"].to_numpy().astype(np.float64)[keep]
    actual_rows = (units == treated_units[0]) & np.isfinite(coh)
    actual_cols = [(actual_rows & (rel_any == e)).astype(float) for e in times]
    y_stack = np.column_stack([y_keep, *actual_cols]) if mode == "ri_t" else y_keep
    fe_keep = fe_obj.subset(keep)
    x_keep = None if xc is None else xc[keep]
    w_keep = None if wv is None else wv[keep]
    # placebo blocks in chunks of units so that the dense (n, units x K) matrix stays bounded
    per_chunk = max(1, int(2e7 // max(1, units.size * n_k)))
    parts = []
    for start in range(0, all_units.size, per_chunk):
        chunk = all_units[start : start + per_chunk]
        cols = np.column_stack([((units == u) & (rel_any == e)).astype(float)
                                for u in chunk for e in times])  # fmt: skip
        out = placebo_in_space(y_stack, cols, x_keep, fe_keep, w_keep, n_terms=n_k)
        parts.append(np.asarray(out).reshape(chunk.size, n_k, -1))
    allc = np.concatenate(parts, axis=0)  # (N, K, R)
    coefs = allc[:, :, 0]
    actual = int(np.flatnonzero(all_units == treated_units[0])[0])
    b = np.array([float(res.params[res.event_terms[e]]) for e in times])
    if not np.allclose(coefs[actual], b, rtol=1e-6, atol=1e-9):
        raise ModelSpecError(
            "the placebo design does not reproduce the event-study estimates (check controls)"
        )
    if mode == "ri":
        method = f"randomization inference (placebo-in-space over {all_units.size} units)"
        others = np.delete(coefs, actual, axis=0)
        terms = {res.event_terms[e]: PlaceboTerm(b[k], coefs[:, k], method, res.event_terms[e])
                 for k, e in enumerate(times)}  # fmt: skip
        band = (np.quantile(others, 0.025, axis=0), np.quantile(others, 0.975, axis=0))
        return EventTimeInference(terms, method, {"ri_band": band, "ri_placebo": coefs})
    # studentized: pre-period-only fit (rows before the event date), residual s.d. per unit
    pre = (period[keep] - dates[0]) < 0
    cols = np.column_stack([y_keep[pre], *([x_keep[pre]] if x_keep is not None else [])])
    dm = demean(cols, fe_keep.subset(pre), None if w_keep is None else w_keep[pre])
    e_pre = _FWL(dm[:, 0], dm[:, 1:], None if w_keep is None else w_keep[pre]).y_tt[:, 0]
    wp = np.ones(int(pre.sum())) if w_keep is None else w_keep[pre]
    ucode = np.searchsorted(all_units, units)
    ss = np.bincount(ucode[pre], weights=wp * e_pre**2, minlength=all_units.size)
    ws = np.bincount(ucode[pre], weights=wp, minlength=all_units.size)
    if (ws <= 0).any() or (ss <= 0).any():
        bad = all_units[int(np.flatnonzero((ws <= 0) | (ss <= 0))[0])]
        raise ModelSpecError(
            f"unit {bad!r} has no pre-event row or no residual variation before the event: the "
            "studentized placebo test needs every unit's pre-period scale"
        )
    s_u = np.sqrt(ss / ws)
    method = (
        "studentized randomization inference (RI-t, pre-period residual s.d.; MacKinnon-Webb "
        f"2020), placebo-in-space over {all_units.size} units, per event time"
    )
    names = [str(u) for u in all_units]
    by_term: dict[str, Any] = {}
    for k, e in enumerate(times):
        t_stat = coefs[:, k] / s_u
        tol = 1e-9 * max(1.0, abs(t_stat[actual]))
        numer = int((np.abs(t_stat) >= abs(t_stat[actual]) - tol).sum())
        by_term[res.event_terms[e]] = StudentizedRandomizationResult(
            estimate=float(b[k]),
            statistic=float(t_stat[actual]),
            scale="pre_sd",
            placebo=pl.DataFrame(
                {
                    "assignment": names,
                    "estimate": coefs[:, k],
                    "scale": s_u,
                    "statistic": t_stat,
                    "is_actual": np.arange(all_units.size) == actual,
                }
            ),
            p_numerator=numer,
            p_denominator=int(all_units.size),
            exact=True,
            rule="p = #{units u with |b_ue / s_u| >= |b_e / s|} / #{units}, actual included",
            treated=[treated_units[0]],
            nobs=int(units.size),
            method=method,
            _cross=np.asarray(allc[:, k, 1 + k], dtype=np.float64),
            _actual=actual,
        )
    return EventTimeInference(by_term, method, {"ri_t_placebo": coefs / s_u[:, None]})


def event_study_wild(res: EventStudyResult, **options: Any) -> EventTimeInference:
    """Restricted wild cluster bootstrap of every event-time coefficient (the fit's clusters)."""
    d = res.extra["design"]
    if not d.clusters:
        raise ModelSpecError("the wild cluster bootstrap needs a clustered vcov")
    if "interactions" in res.extra:
        raise ModelSpecError("inference='wild' is implemented for estimator='twfe'")
    by_term: dict[str, Any] = {}
    for e in res.event_times:
        term = res.event_terms[e]
        by_term[term] = wild_cluster_bootstrap(
            d.x_t, d.y_t, d.clusters[0], term, names=d.names, fe=d.fe, weights=d.weights, **options
        )
    method = next(iter(by_term.values())).method if by_term else "wild cluster bootstrap"
    return EventTimeInference(by_term, method)


def event_study_default_headline(res: EventStudyResult) -> dict[str, HeadlineChoice]:
    """Studentized RI per event time as headline for one treated unit (CR1 kept in ``pvalues``).

    Two or more treated units or several event dates: the placebo assignment of an event-time
    block is not defined here, and the headline stays CR1 with that reason in ``note``.
    """
    rec = _es_record(res)
    why = ""
    keep = res.extra["design"].keep
    units = rec.frame[rec.unit].to_numpy()[keep]
    n_treated = np.unique(units[np.isfinite(rec.cohort[keep])]).size
    if rec.estimator != "twfe":
        why = f"estimator={rec.estimator!r}: the placebo test is implemented for TWFE"
    elif n_treated != 1:
        why = (
            f"{n_treated} treated units: the per-event-time placebo test is implemented for one "
            "treated unit with one event date"
        )
    n_units = np.unique(units).size
    cost = int(keep.sum()) * n_units * max(1, len(res.event_times))
    if not why and cost > DEFAULT_PLACEBO_LIMIT:
        why = (
            f"{int(keep.sum())} rows x {n_units} units x {len(res.event_times)} event times: too "
            "large to run the placebo blocks unasked; pass inference='ri_t' to run it"
        )
    if not why:
        try:
            out = event_study_placebo(res, "ri_t")
        except ModelSpecError as exc:
            why = f"studentized randomization inference not available here ({exc})"
        else:
            return {t: HeadlineChoice("ri_t", r, {}, "", out.extra) for t, r in out.by_term.items()}
    return {res.event_terms[e]: HeadlineChoice("cr1", None, {}, why) for e in res.event_times}


def _one(out: EventTimeInference, param: str | None) -> Any:
    if param is None:
        return out
    if param not in out.by_term:
        raise ModelSpecError(f"param {param!r} is not an event-time term ({list(out.by_term)})")
    return out.by_term[param]


def _unsupported(result: Any, method: str) -> ModelSpecError:
    return ModelSpecError(
        f"inference {method!r} of a fitted result needs a result of tradeimpact.did() or "
        f"tradeimpact.event_study(), not {type(result).__name__}; for another fit call it on the "
        "panel (data, y, unit, time, treated, post)"
        + ("; the wild cluster bootstrap takes any linear fit" if method != "wild" else "")
    )


# -- the registered methods ---------------------------------------------------------------------
@register_inference("ri")
def ri_of_result(result: RegressionResult, *, param: str | None = None, **options: Any) -> Any:
    """Coefficient randomization inference of a fitted did() or event_study() result.

    did(): :func:`~tradeimpact.inference.randomization.randomization_inference` on its placebo
    design (PPML: every assignment refitted, statistic ``"coef"``); event_study(): per event
    time (:func:`event_study_placebo`, an :class:`EventTimeInference`, or the term's result
    with ``param=``). ``options`` go to the method (``max_exact``, ``n_permutations``,
    ``seed``, ...). The same numbers as ``inference="ri"``.
    """
    if isinstance(result, DiDResult):
        return _did_placebo(result, "ri", options)
    if isinstance(result, EventStudyResult):
        _no_options(options, "ri")
        return _one(event_study_placebo(result, "ri"), param)
    raise _unsupported(result, "ri")


@register_inference("ri_t")
def ri_t_of_result(result: RegressionResult, *, param: str | None = None, **options: Any) -> Any:
    """Studentized randomization inference of a fitted did() or event_study() result.

    did(): :func:`~tradeimpact.inference.studentized.studentized_randomization_inference` on
    its placebo design (``scale=``; PPML: statistic ``"t_log"`` (default) or ``"t"``, every
    assignment refitted); event_study(): per event time with the pre-period residual s.d.
    The same numbers as ``inference="ri_t"``.
    """
    if isinstance(result, DiDResult):
        return _did_placebo(result, "ri_t", options)
    if isinstance(result, EventStudyResult):
        _no_options(options, "ri_t")
        return _one(event_study_placebo(result, "ri_t"), param)
    raise _unsupported(result, "ri_t")


def _no_options(options: Mapping[str, Any], method: str) -> None:
    if options:
        raise ModelSpecError(
            f"the event-study {method!r} test takes no options (given: {sorted(options)})"
        )


@register_inference("conley_taber")
def conley_taber_of_result(result: RegressionResult, **options: Any) -> Any:
    """Conley & Taber (2011) interval of a fitted did() result (OLS outcomes).

    ``options`` go to :func:`~tradeimpact.inference.conley_taber.conley_taber` (``kind``,
    ``level``, ``max_exact``, ``n_draws``, ``seed``, ``correction``, ...). The same numbers as
    ``did(..., inference="conley_taber")``.
    """
    if not isinstance(result, DiDResult):
        raise _unsupported(result, "conley_taber")
    method = "conley_taber_fp" if options.get("correction") == "ferman_pinto" else "conley_taber"
    return _did_placebo(result, method, options)


@register_inference("conley_taber_fp")
def conley_taber_fp_of_result(result: RegressionResult, **options: Any) -> Any:
    """Conley-Taber with the Ferman & Pinto (2019) correction (``group_sizes`` may name a
    column of the data). The same numbers as ``did(..., inference="conley_taber_fp")``."""
    if not isinstance(result, DiDResult):
        raise _unsupported(result, "conley_taber_fp")
    return _did_placebo(result, "conley_taber_fp", options)


@register_inference("wild")
def wild_of_result(
    result: RegressionResult, *, param: str | None = None, **options: Any
) -> WildBootstrapResult | EventTimeInference:
    """Restricted wild cluster bootstrap of a fitted linear result.

    did(): the effect, bootstrapped over the fit's first clustering (the unit when the fit is
    not clustered); event_study(): every event-time coefficient (an
    :class:`EventTimeInference`; ``param=`` one term); any other linear fit:
    :func:`~tradeimpact.inference.wild_bootstrap.wild_cluster_bootstrap` with ``param=``.
    ``options``: ``B``, ``seed``, ``weights_type``, ``null``, ``block_size``, ``cluster``.
    """
    if isinstance(result, DiDResult):
        rec = _did_record(result)
        if rec.outcome == "ppml":
            raise ModelSpecError(_OLS_ONLY.format(method="wild"))
        if rec.unit is None and not result.extra["design"].clusters and "cluster" not in options:
            raise ModelSpecError("the wild cluster bootstrap needs clusters: give unit or vcov")
        # the result form: the fit's first clustering (else its unit), or options["cluster"]
        # (a column of the fit's data or labels; before, the array form ignored it)
        return wild_cluster_bootstrap(result, param=result.effect, **options)
    if isinstance(result, EventStudyResult) and result.design_record is not None:
        return _one(event_study_wild(result, **options), param)
    return wild_cluster_bootstrap(result, param=param, **options)


@register_inference("ppml_ri")
def ppml_ri_of_result(
    result: RegressionResult, *, statistic: str = "t", **options: Any
) -> PPMLPlaceboResult:
    """PPML randomization inference of a ``did(outcome="ppml")`` result, every assignment
    refitted: ``statistic="t"`` (default, as the panel form's), ``"t_log"`` (did's default,
    ``inference="ri_t"``) or ``"coef"`` (as ``inference="ri"``). ``options`` as for
    :func:`~tradeimpact.inference.ppml_placebo.ppml_randomization_inference`."""
    if not isinstance(result, DiDResult) or _did_record(result).outcome != "ppml":
        raise ModelSpecError(
            "ppml_ri needs a result of did(..., outcome='ppml'); for an OLS DiD use 'ri' or "
            "'ri_t'; for a PPML fit without did() call ppml_randomization_inference on the panel"
        )
    method = "ri" if statistic == "coef" else "ri_t"
    return ppml_placebo(result, method, {**options, "statistic": statistic})


@register_inference("default")
def default_headline(result: RegressionResult, **options: Any) -> dict[str, HeadlineChoice]:
    """The estimators' default headline rule, per tested coefficient.

    did(): :func:`did_default_headline`; event_study(): :func:`event_study_default_headline`;
    any other fit: the analytic test, with a note on what it does not control.
    """
    if isinstance(result, DiDResult) and result.design_record is not None:
        return did_default_headline(result, **options)
    if isinstance(result, EventStudyResult) and result.design_record is not None:
        return event_study_default_headline(result)
    terms = result._headline_terms(options)
    return {t: HeadlineChoice("cr1", None, {}, result._analytic_note()) for t in terms}


__all__ = [
    "DEFAULT_PLACEBO_LIMIT",
    "DEFAULT_PPML_CI_LIMIT",
    "DEFAULT_PPML_FIT_LIMIT",
    "DEFAULT_PROJECTION_LIMIT",
    "FEW_TREATED",
    "PPML_STATISTIC",
    "EventTimeInference",
    "PlaceboContext",
    "PlaceboTerm",
    "conley_taber_fp_of_result",
    "conley_taber_of_result",
    "default_headline",
    "did_default_headline",
    "event_study_default_headline",
    "event_study_placebo",
    "event_study_wild",
    "placebo_context",
    "ppml_caveat",
    "ppml_placebo",
    "ppml_ri_of_result",
    "ri_of_result",
    "ri_t_of_result",
    "run_placebo_method",
    "several_treated_caveat",
    "wild_of_result",
]
