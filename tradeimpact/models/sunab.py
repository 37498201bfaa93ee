"""Sun & Abraham (2021) interaction-weighted event-study estimator (fixest's ``sunab``).

Reference: Sun, L. and Abraham, S. (2021), "Estimating dynamic treatment effects in event studies
with heterogeneous treatment effects", Journal of Econometrics 225(2), 175-199.

With staggered adoption, the TWFE event-study coefficients mix effects of other relative periods
and cohorts (Sun & Abraham 2021, Prop. 3). The interaction-weighted (IW) estimator instead
saturates relative time by cohort::

    y_it = sum_{c not ref} sum_{r != ref} delta_{c,r} 1[C_i = c] 1[t - C_i = r]
           + X_it' gamma + alpha_i + lambda_t + e_it

(``C_i`` the first treated period of unit ``i``; never-treated units - coded 0, inf or null, or
a cohort after the last period, :mod:`tradeimpact.core.cohort` - are the reference cohort and get
no interaction), then averages the cohort-specific effects with the cohort shares in each
relative period::

    beta_r = sum_c w_{c,r} delta_{c,r},     w_{c,r} = n_{c,r} / sum_{c'} n_{c',r}

(``n_{c,r}`` the number of estimation rows of cohort ``c`` at relative period ``r``, or the sum
of their regression weights in a weighted fit: fixest's ``aggregate(use_weights = TRUE)``).

Aggregates (``SunabResult.aggregate(kind)``, the kinds of R ``did``'s ``aggte`` with fixest's
names as aliases; :mod:`tradeimpact.models.aggregate`), each a fixed linear combination
``W delta`` with covariance ``W V W'`` (``V`` the covariance of ``delta``, e.g. CR1 by unit),
the weights being treated as fixed, as fixest does:

* ``"simple"`` (``"att"``): every ``delta_{c,r}`` with ``r >= 0`` weighted by
  ``n_{c,r} / sum_{c', r' >= 0} n_{c',r'}`` (fixest ``summary(agg = "att")``);
* ``"dynamic"`` (``"period"``): the ``beta_r`` above (fixest's default ``summary``); overall:
  their mean over ``r >= 0`` (as ``aggte(type = "dynamic")``);
* ``"group"`` (``"cohort"``): per cohort, ``sum_{r >= 0} n_{c,r} delta_{c,r} / sum_{r >= 0}
  n_{c,r}`` (fixest ``aggregate(res, "cohort")``); overall: the cohorts weighted by their
  number of units (``did``'s ``P(G = g)``; sums of the units' mean weights in a weighted fit);
* ``"calendar"``: per period ``t``, the post-treatment cells with ``c + r = t`` weighted by
  ``n_{c,r}``; overall: their mean over periods (as ``aggte(type = "calendar")``).

Checked against fixest's published ``base_stagg`` numbers and, for the aggregates fixest does not
print, against pyfixest's saturated regression (``tests/test_sunab.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.core.collinearity import CollinearityWarning
from tradeimpact.core.covariance import VcovSpec, parse_vcov
from tradeimpact.core.fixed_effects import FixedEffects
from tradeimpact.core.frame import check_columns, numeric_column, to_polars
from tradeimpact.errors import ModelSpecError, TradeImpactWarning
from tradeimpact.models.aggregate import AggregateResult, AggType, aggregate_kind
from tradeimpact.models.did import Outcome, prepare_outcome
from tradeimpact.models.event_time import (
    check_event_units,
    relative_time,
    row_cohorts,
    to_period,
)
from tradeimpact.models.linear import VcovArg, build_fe, fit_feols
from tradeimpact.models.results import EventStudyDesign, EventStudyResult, RegressionResult

FloatArray = npt.NDArray[np.float64]

ESTIMATOR = "Sun & Abraham (2021)"


def _label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@dataclass
class SunabResult(EventStudyResult):
    """Result of :func:`sunab`: the event-time coefficients ``e::r`` and the controls.

    An :class:`~tradeimpact.models.results.EventStudyResult` (``event_study_inputs()``,
    ``pretrend``, ``event_table()``, ``plot()``) whose coefficients are the aggregated relative
    periods ``beta_r``. ``aggregate(kind)`` gives the other aggregates (module docstring);
    ``aggregates = {"ATT": ..., "ATT_se": ...}`` keeps the overall ATT as before.

    Attributes
    ----------
    interactions : RegressionResult
        The saturated cohort x relative-period regression (terms ``rel::r:cohort::c``, fixest's
        names); also ``extra["interactions"]``.
    cells : polars.DataFrame
        One row per estimated interaction: ``term``, ``cohort``, ``rel``, ``n`` (estimation rows,
        or their weight sum) and ``units`` (units of the cohort, or their mean-weight sum).
    """

    interactions: RegressionResult | None = field(default=None, repr=False)
    cells: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)

    def aggregate(self, kind: AggType = "group") -> AggregateResult:
        """Aggregate the cohort x period effects (``"simple"``/``"att"``, ``"dynamic"``/
        ``"period"``, ``"group"``/``"cohort"``, ``"calendar"``; module docstring).

        Returns
        -------
        AggregateResult
            Terms ``overall`` then ``event_time=r``, ``group=c`` or ``period=t``; covariance
            ``W V W'``; the t reference distribution of the fit (fixest's).
        """
        k = aggregate_kind(kind)
        raw = self.interactions
        if raw is None or self.cells.is_empty():
            raise ModelSpecError("this Sun & Abraham result holds no cohort x period cells")
        pos = {nm: j for j, nm in enumerate(raw.names)}
        cells = self.cells
        coh = cells["cohort"].to_numpy()
        rel = cells["rel"].to_numpy()
        n = cells["n"].to_numpy()
        cols = np.array([pos[t] for t in cells["term"]], dtype=np.int64)
        post = rel >= 0
        if not post.any():
            raise ModelSpecError("no post-treatment cohort x period cell (relative period >= 0)")

        def row(mask: npt.NDArray[np.bool_]) -> FloatArray:
            r = np.zeros(len(raw.names))
            r[cols[mask]] = n[mask] / n[mask].sum()
            return r

        keys: list[float] = []
        comp: list[FloatArray] = []
        if k == "simple":
            overall = row(post)
        elif k == "dynamic":
            keys = sorted(set(rel.tolist()))
            comp = [row(rel == r) for r in keys]
            post_rows = [c for c, r in zip(comp, keys, strict=True) if r >= 0]
            overall = np.mean(post_rows, axis=0)
        elif k == "group":
            keys = sorted(set(coh[post].tolist()))
            comp = [row(post & (coh == c)) for c in keys]
            units = {c: float(u) for c, u in zip(coh, cells["units"].to_numpy(), strict=True)}
            if any(not np.isfinite(units[c]) for c in keys):
                raise ModelSpecError(
                    "the 'group' overall weighs cohorts by their units: fit with sunab() (or "
                    "pass units= to sunab_fit)"
                )
            share = np.array([units[c] for c in keys])
            overall = (share / share.sum()) @ np.vstack(comp)
        else:  # calendar
            cal = coh + rel
            keys = sorted(set(cal[post].tolist()))
            comp = [row(post & (cal == t)) for t in keys]
            overall = np.mean(comp, axis=0)
        w = np.vstack([overall, *comp])
        beta = w @ raw.beta
        cov = w @ raw.cov_matrix @ w.T
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        return AggregateResult(
            names=AggregateResult.term_names(k, keys),
            beta=beta,
            cov_matrix=cov,
            nobs=raw.nobs,
            vcov_type=raw.vcov_type,
            df_inference=raw.df_inference,
            depvar=raw.depvar,
            fixed_effects=raw.fixed_effects,
            dropped=raw.dropped,
            n_clusters=raw.n_clusters,
            model=f"{ESTIMATOR} aggregation ({k})",
            kind=k,
            estimator=ESTIMATOR,
            overall_att=float(beta[0]),
            overall_se=float(se[0]),
            components=AggregateResult.component_table(keys, beta[1:], se[1:]),
            weights=w,
        )


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
    units: npt.NDArray[Any] | None = None,
) -> SunabResult:
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
    units : array (n,), optional
        Unit of each row: the weights of the ``"group"`` overall (cohort sizes).

    Returns
    -------
    SunabResult
        Names ``e::r`` for the aggregated relative periods, then the controls;
        ``aggregates = {"ATT": ..., "ATT_se": ...}``; ``interactions`` is the raw fit.
    """
    n = y.size
    cohort = np.where(np.isnan(cohort), np.inf, cohort)
    treated = np.isfinite(cohort)
    if not treated.any():
        raise ModelSpecError("no treated cohort: every unit is never-treated")
    if treated.all():
        raise ModelSpecError(
            "no never-treated units: the Sun & Abraham estimator needs a never-treated reference "
            "cohort (or use estimator='cs' with not-yet-treated controls)"
        )
    refs = set(map(float, ref_p))
    cells = sorted(
        {(float(c), float(r)) for c, r in zip(cohort[treated], rel[treated], strict=True)}
    )
    cells = [cr for cr in cells if cr[1] not in refs]
    names = [f"rel::{_label(r)}:cohort::{_label(c)}" for c, r in cells]
    cols = np.zeros((n, len(cells)))
    index = {cr: j for j, cr in enumerate(cells)}
    for i in np.flatnonzero(treated):
        j = index.get((float(cohort[i]), float(rel[i])))
        if j is not None:
            cols[i, j] = 1.0
    x = cols if controls is None else np.column_stack([cols, controls])
    all_names = [*names, *control_names]
    with warnings.catch_warnings():
        # Interactions collinear with the fixed effects (a cohort's relative periods can span
        # its unit effects) are dropped as fixest drops them and stay listed in
        # interactions.dropped_regressors, so silencing loses nothing; a dropped *control* is
        # still warned about just below. Only this category is silenced.
        warnings.simplefilter("ignore", CollinearityWarning)  # safe: see the comment above
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
    keep = raw.extra["design"].keep
    kept = set(raw.names)
    wrow = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    # estimation-row counts (weight sums) per (cohort, rel) cell: fixest's use_weights = TRUE
    counts: dict[tuple[float, float], float] = {}
    for c, r, wi in zip(cohort[keep & treated], rel[keep & treated], wrow[keep & treated],
                        strict=True):  # fmt: skip
        counts[(float(c), float(r))] = counts.get((float(c), float(r)), 0.0) + float(wi)
    # cohort sizes (units; sums of each unit's mean weight when weighted): the "group" overall
    sizes: dict[float, float] = {}
    if units is not None:
        sel = keep & treated
        per = (
            pl.DataFrame({"u": np.asarray(units)[sel], "c": cohort[sel], "w": wrow[sel]})
            .group_by("c", "u")
            .agg(pl.col("w").mean())
            .group_by("c")
            .agg(pl.col("w").sum())
        )
        sizes = dict(zip(per["c"].to_list(), per["w"].to_list(), strict=True))
    kept_cells = [(cr, nm) for cr, nm in zip(cells, names, strict=True) if nm in kept]
    cell_frame = pl.DataFrame(
        {
            "term": [nm for _, nm in kept_cells],
            "cohort": [cr[0] for cr, _ in kept_cells],
            "rel": [cr[1] for cr, _ in kept_cells],
            "n": [counts.get(cr, 0.0) for cr, _ in kept_cells],
            "units": [sizes.get(cr[0], np.nan) for cr, _ in kept_cells],
        },
        schema={
            "term": pl.String,
            "cohort": pl.Float64,
            "rel": pl.Float64,
            "n": pl.Float64,
            "units": pl.Float64,
        },
    )
    rels = sorted({cr[1] for cr, _ in kept_cells})
    pos = {nm: j for j, nm in enumerate(raw.names)}
    w_rows: list[FloatArray] = []
    out_names: list[str] = []
    event_terms: dict[int, str] = {}
    for r in rels:
        row = np.zeros(len(raw.names))
        cs = [cr for cr, _ in kept_cells if cr[1] == r]
        tot = sum(counts.get(cr, 0.0) for cr in cs)
        for cr in cs:
            row[pos[names[index[cr]]]] = counts.get(cr, 0.0) / tot
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
    post_cells = [(cr, nm) for cr, nm in kept_cells if cr[1] >= 0]
    tot = sum(counts.get(cr, 0.0) for cr, _ in post_cells)
    for cr, nm in post_cells:
        att_w[pos[nm]] = counts.get(cr, 0.0) / tot
    att = float(att_w @ raw.beta) if post_cells else float("nan")
    att_se = float(np.sqrt(att_w @ raw.cov_matrix @ att_w)) if post_cells else float("nan")
    res = SunabResult(
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
        model=f"{ESTIMATOR} IW, {raw.model}",
        extra={
            **{k: v for k, v in raw.extra.items() if k != "design"},
            "interactions": raw,
            "weights": w,
            "att_weights": att_w,
            "design": raw.extra["design"],
        },
        event_terms=event_terms,
        ref=int(next(iter(ref_p))),
        freq=freq,
        aggregates={"ATT": att, "ATT_se": att_se},
        interactions=raw,
        cells=cell_frame,
    )
    pre = [event_terms[e] for e in sorted(event_terms) if e < 0]
    res.pretrend = res.wald_test(pre) if pre else None
    return res


class AlwaysTreatedWarning(TradeImpactWarning):
    """Always-treated units (no pre-treatment row) were dropped, as fixest drops them."""


def _always_treated(
    cohort: FloatArray, rel: FloatArray, sample: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Rows of the cohorts whose every sample row is at or after treatment (``rel >= 0``):
    fixest's always treated (``cpp_find_never_always_treated``)."""
    out = np.zeros(cohort.size, dtype=bool)
    treated = sample & np.isfinite(cohort)
    for c in np.unique(cohort[treated]):
        rows = treated & (cohort == c)
        if np.min(rel[rows]) >= 0:
            out |= rows
    return out


BinRel = Mapping[int, Sequence[int] | int] | Sequence[int] | str


def _bin_relative(rel: FloatArray, bin_rel: BinRel | None, refs: Sequence[int]) -> FloatArray:
    """Relative periods pooled as fixest's ``bin.rel``: ``{new: [old, ...]}`` (its named list),
    ``[old, ...]`` (its vector: one bin named after its first, i.e. smallest, period) or
    ``"bin::k"`` (``floor(r / k) * k``, bins of ``k`` consecutive relative periods)."""
    if bin_rel is None or (not isinstance(bin_rel, str) and len(bin_rel) == 0):
        return rel
    forms = (
        "bin_rel must be a dict {new relative period: [relative periods pooled into it]} "
        "(fixest's bin.rel = list('new' = old_values)), a list of relative periods pooled into "
        "one (fixest's bin.rel = c(...), named after its smallest period), or 'bin::k' (bins "
        "of k relative periods, floor(r / k) * k as fixest)"
    )
    finite = np.isfinite(rel)
    if isinstance(bin_rel, str):
        spec = bin_rel.strip()
        if not spec.startswith("bin::") or not spec[5:].isdigit() or int(spec[5:]) < 1:
            raise ModelSpecError(f"{forms}; got {bin_rel!r}")
        k = int(spec[5:])
        out = rel.copy()
        out[finite] = np.floor(rel[finite] / k) * k
        present = set(np.unique(out[finite]).tolist())
        lost = [r for r in refs if float(r) not in present]
        if lost:
            r0 = lost[0]
            b0 = int(np.floor(r0 / k) * k)
            members = sorted(int(v) for v in np.unique(rel[finite & (out == b0)]))
            raise ModelSpecError(
                f"bin_rel={bin_rel!r}: the reference period {r0} falls in bin {b0} (relative "
                f"periods {members}), as fixest's floor(r / {k}) * {k}; the reference applies "
                f"to the binned periods, as fixest's ref.p: pass ref={b0} to take that bin as "
                "the reference"
            )
        return out
    groups: list[tuple[float, Any]]
    if isinstance(bin_rel, Mapping):
        groups = [(float(k), v) for k, v in bin_rel.items()]
    elif isinstance(bin_rel, Sequence) and all(
        isinstance(v, int | float | np.integer) for v in bin_rel
    ):
        pooled = [float(v) for v in bin_rel]
        groups = [(min(pooled), pooled)]
    else:
        raise ModelSpecError(f"{forms}; got {bin_rel!r}")
    seen: dict[float, float] = {}
    for new, olds in groups:
        vals = [olds] if isinstance(olds, int | float | np.integer) else list(olds)
        for v in vals:
            fv = float(v)
            if fv in seen:
                raise ModelSpecError(
                    f"bin_rel: relative period {_label(fv)} is in two bins ({_label(seen[fv])} "
                    f"and {_label(float(new))})"
                )
            if int(fv) in refs or float(new) in map(float, refs):
                raise ModelSpecError(
                    f"bin_rel: the reference period(s) {list(refs)} cannot be binned "
                    f"(bin {_label(float(new))} holds {_label(fv)} or is named like one)"
                )
            seen[fv] = float(new)
    out = rel.copy()
    for old, target in seen.items():
        out[rel == old] = target
    return out


def _numeric_or_date(s: pl.Series) -> bool:
    return s.dtype.is_numeric() or s.dtype == pl.Date or isinstance(s.dtype, pl.Datetime)


def _constant_within(frame: pl.DataFrame, value: str, group: str) -> bool:
    """True when ``value`` takes one value in each ``group`` (nulls/NaN/inf/0 as one code)."""
    s = frame[value]
    if s.dtype.is_numeric():
        f = s.cast(pl.Float64)
        code = pl.when(f.is_null() | f.is_nan() | f.is_infinite() | (f == 0))
        expr = code.then(pl.lit(float("inf"))).otherwise(pl.col(value).cast(pl.Float64))
    else:
        expr = pl.col(value)
    n = frame.select(pl.col(group), expr.alias("_v")).group_by(group).agg(pl.col("_v").n_unique())
    return bool((n["_v"] <= 1).all())


def _legacy_order(frame: pl.DataFrame, unit: str, cohort: str) -> bool:
    """Whether ``sunab(data, y, unit, time, cohort)`` was called in the old positional order
    ``sunab(data, y, cohort, period, unit)``: the column passed as ``cohort`` is no cohort of the
    column passed as ``unit`` (it varies within it or is not a period), while the reverse holds.
    """
    if unit == cohort:
        return False
    new_ok = _numeric_or_date(frame[cohort]) and _constant_within(frame, cohort, unit)
    if new_ok:
        return False
    return _numeric_or_date(frame[unit]) and _constant_within(frame, unit, cohort)


def sunab(
    data: Any,
    y: str,
    unit: str | None = None,
    time: str | None = None,
    cohort: str | None = None,
    *,
    ref: int | Sequence[int] | None = None,
    controls: Sequence[str] = (),
    weights: str | None = None,
    cluster: str | Sequence[str] | None = None,
    fe: Sequence[str | Sequence[str]] | None = None,
    vcov: VcovArg | None = None,
    outcome: Outcome = "level",
    freq: str | None = None,
    period: str | None = None,
    ref_p: int | Sequence[int] | None = None,
    bin_rel: BinRel | None = None,
) -> SunabResult:
    """Sun & Abraham (2021) event study, fixest's ``y ~ x + sunab(cohort, time) | unit + time``.

    Formula, aggregates and reference: module docstring. Every relative period observed is
    estimated except ``ref`` (no window or binning; use :func:`tradeimpact.event_study` with
    ``estimator="sunab"`` for those).

    Parameters
    ----------
    data : polars, pandas or pyarrow frame
    y : str
        Outcome column, in levels unless ``outcome="log"``.
    unit, time : str
        Unit and time columns (time: an integer period such as a year, or a date with ``freq``).
    cohort : str
        First treated period of each unit, in the units of ``time`` (constant within a unit).
        Never-treated units: 0, inf or null (or any period after the sample, e.g. 10000 as in
        fixest's ``base_stagg``), all the same (:mod:`tradeimpact.core.cohort`).
    ref : int or list of int
        Reference relative period(s) left out (default -1; fixest's ``ref.p``).
    controls : list of str
        Covariates (fixest's ``x`` in ``y ~ x + sunab(...)``).
    weights : str, optional
        Regression weights (also weighting the aggregation, fixest's ``use_weights = TRUE``).
    cluster : str or list of str, optional
        Cluster-robust (CR1) covariance by these columns (``"a + b"`` or a list: two-way);
        default: by ``unit`` (fixest's default for ``| unit + time``). Same as
        ``vcov={"CRV1": cluster}`` (:func:`tradeimpact.core.covariance.parse_vcov`).
    fe : list, optional
        Fixed effects (default ``[unit, time]``).
    vcov : str or dict, optional
        Any covariance :func:`tradeimpact.feols` accepts (with ``cluster``: only a CR1 request
        by the same columns).
    outcome : {"level", "log"}
        ``"log"`` fits ``log(y)`` (zeros dropped and counted, negatives an error).
    freq : {"M", "Q", "A"}, optional
        Period of date columns (default monthly).
    bin_rel : dict, list or str, optional
        fixest's ``bin.rel``, in its three forms. A dict ``{new: [old, ...]}`` (fixest's
        ``list("new" = old_values)``) pools the relative periods ``old`` of every cohort into
        one relative period ``new`` (e.g. ``{-6: range(-9, -5)}`` estimates one coefficient
        ``e::-6`` for ``-9..-6``). A list ``[old, ...]`` (fixest's vector ``c(...)``) pools
        them into one bin named after its smallest period (fixest: the first value matched).
        ``"bin::k"`` bins relative time into groups of ``k`` periods, ``r -> floor(r / k) * k``
        as fixest's ``bin("bin::k")`` (``"bin::2"``: ``{-4, -3} -> -4``, ``{-2, -1} -> -2``,
        ``{0, 1} -> 0``); the reference ``ref`` then names a binned period, as fixest's
        ``ref.p`` (with ``"bin::2"`` pass ``ref=-2``: the bin ``{-2, -1}``; a reference no bin
        is named is an error). In the dict and list forms a relative period may be in one bin
        only, and the reference period in none. Applied to the estimation (one cohort x bin
        dummy) and so to every aggregate. (fixest's ``bin``, ``bin.c`` and ``bin.p``, which
        bin the cohorts or calendar periods, are not offered.)
    period, ref_p : optional
        The former names of ``time`` and ``ref`` (fixest's ``ref.p``), kept as aliases. The
        former positional order ``sunab(data, y, cohort, period, unit)`` is recognised from the
        data (the column given as ``cohort`` then varies within the one given as ``unit``,
        while the reverse is constant) and read in that order.

    Returns
    -------
    SunabResult
        Event-time coefficients ``e::r``, ``aggregate(kind)``, ``aggregates["ATT"]``.
    """
    if period is not None:
        if time is not None and time != period:
            raise ModelSpecError("give the time column once: time= (period= is its old name)")
        time = period
    if ref_p is not None:
        if ref is not None and ref != ref_p:
            raise ModelSpecError("give the reference period once: ref= (ref_p= is its old name)")
        ref = ref_p
    for arg, val in (("unit", unit), ("time", time), ("cohort", cohort)):
        if val is None:
            raise ModelSpecError(
                f"sunab needs the {arg!r} column: sunab(data, y, unit, time, cohort)"
            )
    assert unit is not None and time is not None and cohort is not None
    refs = [-1] if ref is None else ([int(ref)] if isinstance(ref, int | np.integer) else
                                     [int(r) for r in ref])  # fmt: skip
    if not refs:
        raise ModelSpecError("ref must name at least one reference relative period")
    if outcome not in ("level", "log"):
        raise ModelSpecError(f"sunab supports outcome='level' or 'log', not {outcome!r}")
    frame = to_polars(data)
    fe_list: list[str | Sequence[str]] = [unit, time] if fe is None else list(fe)
    fe_cols = [c for spec in fe_list for c in ([spec] if isinstance(spec, str) else spec)]
    check_columns(frame, [y, unit, time, cohort, weights, *controls, *fe_cols])
    if _legacy_order(frame, unit, cohort):
        unit, cohort = cohort, unit
        if fe is None:
            fe_list = [unit, time]
            fe_cols = [unit, time]
    # the one covariance parser: cluster=c is vcov={"CRV1": c}; default CR1 by unit (fixest)
    vspec = parse_vcov(
        "CR1" if vcov is None and cluster is None else vcov,
        cluster=cluster,
        unit=unit,
        time=time,
        fe=[f if isinstance(f, str) else "^".join(f) for f in fe_list],
    )
    cl_cols = vspec.label_columns(frame.columns)
    check_columns(frame, cl_cols)
    numeric_column(frame, y, "outcome")
    frame, depvar, drops = prepare_outcome(frame, y, outcome)
    period_ix = to_period(frame[time], freq)
    coh = row_cohorts(frame, unit, time, cohort, freq)
    rel = relative_time(period_ix, coh)
    sample = np.isfinite(frame["_y"].to_numpy().astype(float)) & np.isfinite(period_ix)
    for c in dict.fromkeys([unit, weights, *fe_cols, *controls, *cl_cols]):
        if c is not None:
            sample &= ~frame[c].is_null().to_numpy()
    drops["missing"] = int((~sample).sum()) - drops.get("zeros_in_log", 0)
    # always-treated cohorts (no row before treatment in the sample): dropped, as fixest does
    # ("the always treated are removed from the estimation"), with a note
    always = _always_treated(coh, rel, sample)
    if always.any():
        cohorts = sorted({float(c) for c in coh[always]})
        n_units = int(np.unique(frame[unit].to_numpy()[always]).size)
        warnings.warn(
            f"dropped {n_units} always-treated unit(s) ({int(always.sum())} rows) of cohort(s) "
            f"{', '.join(_label(c) for c in cohorts)}: no period before treatment in the sample "
            "(fixest removes the always treated)",
            AlwaysTreatedWarning,
            stacklevel=2,
        )
        drops["always_treated"] = int(always.sum())
        sample &= ~always
    rel = _bin_relative(rel, bin_rel, refs)
    check_event_units(frame[unit].to_numpy(), coh, rel, sample)
    est = frame.filter(pl.Series(sample))
    yv = est["_y"].to_numpy().astype(np.float64)
    wv = None if weights is None else numeric_column(est, weights, "weights")
    xc = (
        np.column_stack([numeric_column(est, c, "control") for c in controls]) if controls else None
    )
    spec = vspec.bind(est)
    fe_obj = build_fe(est, fe_list)
    if fe_obj is None:
        raise ModelSpecError(
            "the Sun & Abraham regression needs fixed effects (default unit, time)"
        )
    f_label = (freq or ("M" if frame[time].dtype == pl.Date else "")).upper()
    res = sunab_fit(
        yv,
        coh[sample],
        rel[sample],
        controls=xc,
        control_names=list(controls),
        fe=fe_obj,
        weights=wv,
        vcov=spec,
        ref_p=tuple(refs),
        depvar=depvar,
        dropped=drops,
        freq=f_label,
        units=est[unit].to_numpy(),
    )
    # the design record: what the inference layer reruns (e.g. "ri_staggered"); the covariance
    # as one vcov argument (cluster= folded in)
    design_vcov = vcov if vcov is not None else {"CRV1": " + ".join(vspec.cluster_names)}
    res.design_record = EventStudyDesign(
        frame=est, y=y, unit=unit, time=time, cohort=coh[sample], period=period_ix[sample],
        rel=rel[sample], window=None, ref=refs[0], endpoints="bin", fe=fe,
        controls=list(controls), weights=weights, freq=freq, vcov=design_vcov, outcome=outcome,
        estimator="sunab", fixed_effects=fe_obj, controls_x=xc, weights_x=wv,
    )  # fmt: skip
    res.extra["frame"] = est
    res.extra["rel"] = rel[sample]
    res.extra["cohort"] = coh[sample]
    res.extra["period"] = period_ix[sample]
    return res


__all__ = [
    "AggregateResult",
    "AlwaysTreatedWarning",
    "RegressionResult",
    "SunabResult",
    "sunab",
    "sunab_fit",
]
