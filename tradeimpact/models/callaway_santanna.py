"""Callaway & Sant'Anna (2021) group-time average treatment effects for staggered adoption.

Reference: Callaway, B. and Sant'Anna, P. H. C. (2021), "Difference-in-Differences with multiple
time periods", Journal of Econometrics 225(2), 200-230; R package ``did`` (``att_gt``,
``aggte``), whose conventions are followed here: outcome-regression estimator without covariates,
balanced panel, base period ``"varying"`` (default) or ``"universal"``, never-treated or
not-yet-treated comparison units, analytical influence-function standard errors (clustered by unit,
the level of the panel, or by a coarser ``cluster=`` column).

Arguments use the package's common names (``att_gt(data, y, unit, time, cohort, weights=,
cluster=)``; ``group=`` is kept as an alias of ``cohort``) and the one never-treated rule of
:mod:`tradeimpact.core.cohort` (0, inf or null; a cohort after the last period is never treated
within the sample). The outcome is used in levels unless ``outcome="log"``.

Estimator. Units are grouped by the first period of treatment ``G`` (never treated: ``G = inf``).
For a group ``g``, a period ``t`` and its base period ``b`` (``b = g - 1``, the last period before
``g``, when ``t >= g``; the period just before ``t`` when ``t < g`` and the base is "varying")

    ATT(g, t) = E_w[Y_t - Y_b | G = g] - E_w[Y_t - Y_b | C = 1],

the 2x2 DiD of group ``g`` against the comparison units ``C`` (never treated: ``G = inf``; not yet
treated: ``G = inf`` or ``G > max(t, b)``, ``G != g``). Its influence function on the ``n`` units
(zero outside the 2x2 sample of ``n_gt`` units, then scaled by ``n / n_gt`` as in ``did``) is

    psi_i = w_i D_i (dY_i - mu_g) / mean(w D) - w_i C_i (dY_i - mu_C) / mean(w C),

the outcome-regression influence function of Sant'Anna & Zhao (2020, J. Econometrics 219) with an
intercept only. ``V = Psi' Psi / n`` and ``se = sqrt(diag(V) / n)``; with ``cluster=`` the
influence functions are first summed within each cluster, ``V = S(Psi)' S(Psi) / n`` (the
clustered sandwich without small-sample factor: each ATT(g, t)'s se equals statsmodels' cluster
robust OLS of the 2x2 with ``use_correction=False``, ``tests/test_callaway_santanna.py``).

Aggregations (``did::aggte``) weigh ATT(g, t) by ``P(G = g)`` (``pg``, unit weights) and add the
influence of estimating those weights (``wif``): "simple" (all post-treatment cells), "group"
(mean over the post-treatment periods of each group, then ``pg``-weighted over groups), "dynamic"
(event time ``e = t - g``; overall = mean over ``e >= 0``), "calendar" (post-treatment cells of
each period; overall = mean over periods). They return the
:class:`~tradeimpact.models.aggregate.AggregateResult` that Sun & Abraham's ``aggregate`` returns
too (fixest's ``"att"``, ``"cohort"``, ``"period"`` accepted as aliases).

Pre-test: the Wald statistic ``W = n theta_pre' V_pre^{-1} theta_pre`` of all pre-treatment
ATT(g, t) = 0 (``t < g``), chi-square with as many degrees of freedom, using the analytical
influence-function covariance (as ``did`` does).

Small groups, as ``did``'s ``pre_process_did``: the units of each group (each first-treatment
period, and the never treated) are counted after dropping; a group with fewer than
``MIN_GROUP_SIZE`` units (``did``'s ``length(rhs.vars(xformla)) + 5``, i.e. 5 without covariates)
gets a :class:`SmallGroupWarning` ("Be aware that there are some small groups in your dataset"),
and a too-small never-treated group with ``control_group="never"`` is an error (``did``: "never
treated group is too small, try setting control_group = 'notyettreated'"). The reason: the
analytic standard error treats each group mean as an average over many units; with one treated
or one comparison unit it omits that unit's own noise (one treated unit and 20 placebo choices of
it: ATT(g,t) varies with s.d. 1.4 against a reported SE of 0.04). Both messages point to the
inference valid with one or a few treated units (``did(..., inference="ri_t")``, studentized
randomization inference; ``"conley_taber"``).

Written by hand because neither linearmodels nor statsmodels implements it; checked against the
``did`` package's published output on ``mpdta`` and the Medicaid panel in
``tests/test_callaway_santanna.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats

from tradeimpact.core.cohort import (
    NEVER_TREATED_RULE,
    check_constant_within,
    cohort_values,
    period_index,
)
from tradeimpact.core.frame import check_columns, numeric_column, to_polars
from tradeimpact.errors import ModelSpecError, TradeImpactWarning
from tradeimpact.models.aggregate import AggregateResult, AggType, aggregate_kind
from tradeimpact.models.did import Outcome, prepare_outcome
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]

ControlGroup = Literal["never", "notyet"]
BasePeriod = Literal["varying", "universal"]

_CONTROL_ALIASES = {
    "never": "never",
    "nevertreated": "never",
    "never_treated": "never",
    "notyet": "notyet",
    "notyettreated": "notyet",
    "not_yet_treated": "notyet",
}


VCOV_TYPE = "influence function (did), clustered by unit"
#: with ``cluster=``: the influence functions summed within the clusters of that column
VCOV_TYPE_CLUSTER = "influence function, clustered by"

#: Fewest units a group may have without a warning: ``did``'s ``length(rhs.vars(xformla)) + 5``
#: (no covariates here).
MIN_GROUP_SIZE = 5

#: Where to look when a group is that small (the one-treated-unit headline inference).
FEW_UNITS_ADVICE = (
    "the analytic influence-function standard errors assume many units per group and are far too "
    "small with one or a few (they omit the noise of that unit); for few treated units use "
    "tradeimpact.did(..., inference='ri_t') (studentized randomization inference) or "
    "inference='conley_taber', and report the standard errors here only as descriptive"
)


class SmallGroupWarning(TradeImpactWarning):
    """A treated cohort or the comparison group has fewer than ``MIN_GROUP_SIZE`` units."""


ESTIMATOR = "Callaway & Sant'Anna (2021)"

#: The aggregate type of both staggered estimators (:mod:`tradeimpact.models.aggregate`); the
#: former name of the Callaway-Sant'Anna aggregate.
CSAggregate = AggregateResult


def _build_aggregate(
    kind: str,
    overall: float,
    influence: FloatArray,
    keys: list[float],
    atts: FloatArray,
    component_influence: FloatArray,
    nobs: int,
    depvar: str,
    sq: Any,
    vcov_type: str = VCOV_TYPE,
) -> AggregateResult:
    """Assemble from the influence functions (``cov = S(Psi)' S(Psi) / n^2``, ``S`` the cluster
    sums or the identity)."""
    n = influence.shape[0]
    psi = sq(np.column_stack([influence, component_influence]))
    cov = psi.T @ psi / n**2
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    return AggregateResult(
        names=AggregateResult.term_names(kind, keys),
        beta=np.concatenate([[overall], np.asarray(atts, dtype=float)]),
        cov_matrix=cov,
        nobs=nobs,
        vcov_type=vcov_type,
        df_inference=None,
        depvar=depvar,
        model=f"Callaway-Sant'Anna aggregation ({kind})",
        kind=kind,
        estimator=ESTIMATOR,
        overall_att=float(overall),
        overall_se=float(se[0]),
        components=AggregateResult.component_table(keys, np.asarray(atts, dtype=float), se[1:]),
        influence=influence,
        component_influence=component_influence,
    )


@dataclass
class CallawaySantAnnaResult(RegressionResult):
    """Group-time average treatment effects ATT(g, t) with their influence functions.

    A :class:`~tradeimpact.models.results.RegressionResult` with one term ``ATT(g,t)`` per cell;
    ``cov`` is the influence-function covariance ``Psi'Psi / n^2``; normal reference distribution.

    Attributes
    ----------
    att_gt : polars.DataFrame
        One row per (group, time): ``group``, ``time``, ``base``, ``att``, ``se``, ``post``,
        ``n_treated``, ``n_control``.
    influence : numpy.ndarray (n_units, K)
        Influence function of each ATT(g, t), in ``did``'s scaling (``V = Psi'Psi / n``).
    pretest_stat, pretest_df, pretest_pvalue
        Wald test that every pre-treatment ATT(g, t) is zero (None when there is none).
    small_groups : dict
        Groups with fewer than ``MIN_GROUP_SIZE`` units (label -> units); a
        :class:`SmallGroupWarning` was issued (module docstring).
    dropped_units : polars.DataFrame
        Units dropped and why (treated in the first period; unbalanced when ``balance=True``);
        ``dropped`` counts the rows by reason.
    """

    att_gt: pl.DataFrame = field(default_factory=pl.DataFrame)
    influence: FloatArray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    unit_group: FloatArray = field(default_factory=lambda: np.empty(0), repr=False)
    unit_weights: FloatArray = field(default_factory=lambda: np.empty(0), repr=False)
    control_group: str = "never"
    base_period: str = "varying"
    n_units: int = 0
    dropped_units: pl.DataFrame = field(default_factory=pl.DataFrame)
    pretest_stat: float | None = None
    pretest_df: int | None = None
    pretest_pvalue: float | None = None
    small_groups: dict[str, int] = field(default_factory=dict)
    unit_cluster: npt.NDArray[np.int64] | None = field(default=None, repr=False)

    def cluster_sums(self, inf: FloatArray) -> FloatArray:
        """Influence functions summed within the clusters of ``cluster=`` (units otherwise):
        the covariance of any estimate with influence ``psi`` is ``S(psi)' S(psi) / n^2``."""
        arr = np.asarray(inf, dtype=np.float64)
        if self.unit_cluster is None:
            return arr
        out = np.zeros((int(self.unit_cluster.max()) + 1, *arr.shape[1:]))
        np.add.at(out, self.unit_cluster, arr)
        return out

    def summary(self, level: float = 0.95) -> str:
        """The ATT(g, t) table and the pre-test."""
        pre = (
            "no pre-treatment cells (or singular covariance)"
            if self.pretest_stat is None
            else f"W = {self.pretest_stat:.4f}, df = {self.pretest_df}, p = {self.pretest_pvalue:.5f}"
        )
        return "\n".join(
            [
                "Callaway & Sant'Anna (2021) ATT(g,t), outcome regression, no covariates",
                f"control group: {self.control_group}   base period: {self.base_period}   "
                f"units: {self.n_units}",
                *(
                    [
                        "small groups (fewer than 5 units; analytic SEs unreliable): "
                        + ", ".join(f"{k}: {v}" for k, v in self.small_groups.items())
                    ]
                    if self.small_groups
                    else []
                ),
                super().summary(level),
                f"pre-test of parallel trends (Wald, all pre-treatment ATT(g,t) = 0): {pre}",
            ]
        )

    # ------------------------------------------------------------------ aggregation
    def aggregate(self, kind: AggType = "group") -> AggregateResult:
        """Aggregate ATT(g, t) as ``did::aggte(type=kind)`` does (weights and influence).

        Parameters
        ----------
        kind : {"simple", "group", "dynamic", "calendar"}
            ``did``'s ``aggte`` types; fixest's names ``"att"``, ``"cohort"`` and ``"period"``
            are aliases of the first three (:mod:`tradeimpact.models.aggregate`).

        Returns
        -------
        AggregateResult
            Terms ``overall`` then ``group=g``, ``event_time=e`` or ``period=t``.
        """
        k = aggregate_kind(kind)
        tab = self.att_gt
        group = tab["group"].to_numpy().astype(float)
        time = tab["time"].to_numpy().astype(float)
        att = tab["att"].to_numpy().astype(float)
        psi = self.influence
        n = psi.shape[0]
        w = self.unit_weights
        G = self.unit_group
        glist = np.unique(group)
        pg_by_g = {g: float(np.mean(w * (g == G))) for g in glist}
        pg = np.array([pg_by_g[g] for g in group])
        sq = self.cluster_sums

        def se_of(inf: FloatArray) -> float:
            return float(np.sqrt(np.sum(sq(inf) ** 2)) / n)

        def wif(keep: npt.NDArray[np.int64], pgk: FloatArray, grp: FloatArray) -> FloatArray:
            # influence of estimating P(G = g) (did's ``wif``)
            ind = np.column_stack([w * (G == grp[j]) - pgk[j] for j in keep])
            s = pgk[keep].sum()
            if1 = ind / s
            if2 = ind.sum(axis=1, keepdims=True) * (pgk[keep] / s**2)[None, :]
            return np.asarray(if1 - if2)

        def agg_if(
            est: FloatArray,
            inf: FloatArray,
            keep: npt.NDArray[np.int64],
            wts: FloatArray,
            wif_mat: FloatArray | None,
        ) -> FloatArray:
            out = inf[:, keep] @ wts
            if wif_mat is not None:
                out = out + wif_mat @ est[keep]
            return np.asarray(out)

        def build(
            overall: float, inf: FloatArray, keys: list[float], atts: list[float], infs: Any
        ) -> AggregateResult:
            comp_inf = np.column_stack(infs) if len(infs) else np.empty((n, 0))
            return _build_aggregate(
                k,
                overall,
                inf,
                keys,
                np.asarray(atts),
                comp_inf,
                self.nobs,
                self.depvar,
                sq,
                self.vcov_type,
            )

        post = np.flatnonzero(group <= time)
        if k == "simple":
            wts = pg[post] / pg[post].sum()
            est = float(att[post] @ wts)
            return build(est, agg_if(att, psi, post, wts, wif(post, pg, group)), [], [], [])
        if k == "group":
            keys, atts, infs = [], [], []
            for g in glist:
                keep = np.flatnonzero((group == g) & (time >= g))
                if keep.size == 0:
                    continue
                wts = pg[keep] / pg[keep].sum()
                atts.append(float(att[keep].mean()))
                infs.append(agg_if(att, psi, keep, wts, None))
                keys.append(float(g))
            att_g = np.array(atts)
            inf_g = np.column_stack(infs)
            pgg = np.array([pg_by_g[g] for g in keys])
            allk = np.arange(len(keys))
            est = float(att_g @ (pgg / pgg.sum()))
            inf = agg_if(att_g, inf_g, allk, pgg / pgg.sum(), wif(allk, pgg, np.array(keys)))
            return build(est, inf, keys, atts, infs)
        if k == "dynamic":
            e_all = time - group
            eseq = np.unique(e_all)
            atts, infs = [], []
            for e in eseq:
                keep = np.flatnonzero(e_all == e)
                wts = pg[keep] / pg[keep].sum()
                atts.append(float(att[keep] @ wts))
                infs.append(agg_if(att, psi, keep, wts, wif(keep, pg, group)))
            att_e = np.array(atts)
            inf_e = np.column_stack(infs)
            pos = np.flatnonzero(eseq >= 0)
            est = float(att_e[pos].mean())
            inf = agg_if(att_e, inf_e, pos, np.full(pos.size, 1 / pos.size), None)
            return build(est, inf, [float(e) for e in eseq], atts, infs)
        # calendar
        periods = np.unique(time[time >= glist.min()])
        atts, infs = [], []
        for t1 in periods:
            keep = np.flatnonzero((time == t1) & (group <= time))
            wts = pg[keep] / pg[keep].sum()
            atts.append(float(att[keep] @ wts))
            infs.append(agg_if(att, psi, keep, wts, wif(keep, pg, group)))
        att_t = np.array(atts)
        inf_t = np.column_stack(infs)
        allk = np.arange(periods.size)
        est = float(att_t.mean())
        inf = agg_if(att_t, inf_t, allk, np.full(allk.size, 1 / allk.size), None)
        return build(est, inf, [float(t) for t in periods], atts, infs)

    def event_study_inputs(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Event times, dynamic ATT(e) and their covariance (for HonestDiD / plots)."""
        agg = self.aggregate("dynamic")
        inf = agg.component_influence
        n = inf.shape[0]
        s_inf = self.cluster_sums(inf)
        return (
            agg.components["key"].to_numpy().astype(float),
            agg.components["att"].to_numpy().astype(float),
            np.asarray(s_inf.T @ s_inf / n**2),
        )


def att_gt(
    data: Any,
    y: str,
    unit: str,
    time: str,
    cohort: str | None = None,
    *,
    control_group: str = "never",
    base_period: BasePeriod = "varying",
    weights: str | None = None,
    cluster: str | None = None,
    balance: bool = False,
    outcome: Outcome = "level",
    freq: str | None = None,
    group: str | None = None,
) -> CallawaySantAnnaResult:
    """Callaway & Sant'Anna (2021) ATT(g, t), outcome-regression version without covariates.

    Formula and reference: module docstring (R ``did``'s ``att_gt`` with ``est_method="reg"``
    and no ``xformla``; there is no ``controls`` argument: with covariates ``did``'s estimators
    differ, and they are not implemented here).

    Parameters
    ----------
    data : polars, pandas or pyarrow frame
        Long balanced panel, one row per unit and period.
    y, unit, time : str
        Outcome (levels unless ``outcome="log"``), unit id and time (a number such as a year,
        or a date with ``freq``) columns.
    cohort : str
        First period of treatment of the unit (constant within unit; ``did``'s ``gname``).
        Never treated: 0, inf or null/NaN, all the same (:mod:`tradeimpact.core.cohort`; as in
        ``did``, 0 is never treated even when 0 is a period). Units first treated after the last
        period are never treated within the sample; units treated in the first period have no
        pre-period and are dropped (listed in ``dropped``).
    control_group : {"never", "notyet"}
        Never-treated units, or never- and not-yet-treated units (``did``'s "nevertreated" /
        "notyettreated" are accepted too).
    base_period : {"varying", "universal"}
        ``did``'s ``base_period``: "varying" compares pre-treatment periods with the period just
        before; "universal" always with ``g - 1`` (and reports ATT(g, g-1) = 0).
    weights : str, optional
        Unit weights (constant within unit), normalised to mean one.
    cluster : str, optional
        A column constant within each unit (e.g. a state above counties): standard errors from
        the influence functions summed within its clusters (``S(psi)'S(psi) / n^2``); default:
        clustered by unit (``did``'s analytic standard errors).
    balance : bool
        Drop units not observed in every period (listed in ``dropped``) instead of raising.
    outcome : {"level", "log"}
        ``"log"``: ATT(g, t) of ``log(y)``; a zero is a missing row (counted in ``dropped``),
        so its unit is unbalanced (``balance=True`` drops it); negatives are an error.
    freq : {"M", "Q", "A"}, optional
        Period of date columns (``time`` and ``cohort``; default monthly), as in
        :func:`tradeimpact.event_study`.
    group : str, optional
        The former name of ``cohort`` (kept as an alias).

    Returns
    -------
    CallawaySantAnnaResult
    """
    if group is not None:
        if cohort is not None and cohort != group:
            raise ModelSpecError("give the cohort column once: cohort= (group= is its old name)")
        cohort = group
    if cohort is None:
        raise ModelSpecError(
            "att_gt needs the 'cohort' column (each unit's first treated period): "
            "att_gt(data, y, unit, time, cohort)"
        )
    cg = _CONTROL_ALIASES.get(control_group.replace(" ", "").lower())
    if cg is None:
        raise ModelSpecError(f"control_group must be 'never' or 'notyet', got {control_group!r}")
    if base_period not in ("varying", "universal"):
        raise ModelSpecError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if outcome not in ("level", "log"):
        raise ModelSpecError(f"att_gt supports outcome='level' or 'log', not {outcome!r}")
    cols = list(dict.fromkeys([y, unit, time, cohort, *(c for c in (weights, cluster) if c)]))
    frame = to_polars(data)
    check_columns(frame, cols)
    frame = frame.select(cols)
    numeric_column(frame, y, "outcome")
    if weights:
        numeric_column(frame, weights, "weights")
    for col in (y, unit, time, *(c for c in (weights, cluster) if c)):
        s = frame[col]
        bad = s.is_null() | (
            s.is_nan() if s.dtype.is_float() else pl.repeat(False, len(s), eager=True)
        )
        if bad.any():
            raise ModelSpecError(
                f"column '{col}' has {int(bad.sum())} missing value(s), first at row "
                f"{int(bad.arg_max() or 0)}"
            )
    g_values = cohort_values(frame, cohort, time, freq=freq)
    check_constant_within(frame, cohort, unit, values=g_values)
    frame, depvar, drops = prepare_outcome(frame, y, outcome)
    frame = frame.with_columns(
        pl.Series("__t", period_index(frame[time], freq)),
        g_values.alias("__g"),
        pl.col("_y").alias("__y"),
        (pl.col(weights).cast(pl.Float64) if weights else pl.lit(1.0)).alias("__w"),
    )
    tlist = np.unique(frame["__t"].to_numpy())
    if tlist.size < 2:
        raise ModelSpecError("at least two periods are needed")
    zeros_in_log = int(drops.get("zeros_in_log", 0))
    if zeros_in_log:
        frame = frame.filter(pl.col("__y").is_not_nan())
    dup = frame.group_by(unit, "__t").len().filter(pl.col("len") > 1)
    if dup.height:
        raise ModelSpecError(
            f"{dup.height} (unit, time) pair(s) appear more than once, e.g. unit "
            f"{dup[unit][0]!r} at time {dup['__t'][0]}: the panel must have one row per unit and period"
        )
    per_unit = frame.group_by(unit).agg(
        pl.col("__g").n_unique().alias("n_g"),
        pl.col("__w").n_unique().alias("n_w"),
        pl.len().alias("n_t"),
        pl.col("__g").first().alias("g"),
    )
    varying = per_unit.filter(pl.col("n_w") > 1)
    if varying.height:
        raise ModelSpecError(
            f"weights column {weights!r} varies within unit {varying[unit][0]!r}: att_gt takes "
            "unit weights, constant within a unit"
        )
    if cluster:
        cl_per_unit = frame.group_by(unit).agg(pl.col(cluster).n_unique().alias("n"))
        bad_cl = cl_per_unit.filter(pl.col("n") > 1)
        if bad_cl.height:
            raise ModelSpecError(
                f"cluster column {cluster!r} varies within unit {bad_cl[unit][0]!r}: the "
                "clusters must group whole units (e.g. states above counties)"
            )
    dropped: list[tuple[Any, str]] = []
    short = per_unit.filter(pl.col("n_t") < tlist.size)
    if short.height:
        if not balance:
            raise ModelSpecError(
                f"unbalanced panel: {short.height} unit(s) are not observed in all {tlist.size} "
                f"periods, e.g. {short[unit][0]!r}; pass balance=True to drop them"
                + (
                    f" ({zeros_in_log} row(s) with {y} = 0 have no log and are missing)"
                    if zeros_in_log
                    else ""
                )
            )
        dropped += [(u, "not observed in every period (balance=True)") for u in short[unit]]
    early = per_unit.filter(pl.col("g") <= float(tlist[0]))
    dropped += [(u, "treated in the first period (no pre-period)") for u in early[unit]]
    drop_ids = [u for u, _ in dropped]
    if drop_ids:
        frame = frame.filter(~pl.col(unit).is_in(drop_ids))
    wide = (
        frame.sort(unit, "__t")
        .pivot(on="__t", index=unit, values="__y", aggregate_function=None)
        .sort(unit)
    )
    meta = (
        frame.group_by(unit)
        .agg(
            pl.col("__g").first(),
            pl.col("__w").first(),
            *([pl.col(cluster).first().alias("__cl")] if cluster else []),
        )
        .sort(unit)
    )
    Y = wide.select([str(t) for t in tlist]).to_numpy().astype(float)
    G = meta["__g"].to_numpy().astype(float)
    w = meta["__w"].to_numpy().astype(float)
    n = G.size
    if n == 0:
        raise ModelSpecError("no units left after dropping")
    w = w / w.mean()
    unit_cluster: npt.NDArray[np.int64] | None = None
    if cluster:
        _, codes = np.unique(meta["__cl"].to_numpy(), return_inverse=True)
        unit_cluster = np.asarray(codes, dtype=np.int64).ravel()
    n_cl = n if unit_cluster is None else int(unit_cluster.max()) + 1

    def sq(arr: FloatArray) -> FloatArray:
        # influence functions summed by cluster (identity when clustered by unit)
        if unit_cluster is None:
            return arr
        out = np.zeros((n_cl, *arr.shape[1:]))
        np.add.at(out, unit_cluster, arr)
        return out

    glist = np.unique(G[np.isfinite(G)])
    if glist.size == 0:
        raise ModelSpecError(
            f"no treated units: column '{cohort}' marks every unit as never treated "
            f"({NEVER_TREATED_RULE})"
        )
    if cg == "never" and not np.isinf(G).any():
        raise ModelSpecError("no never-treated units to compare with; use control_group='notyet'")
    small_groups = _small_groups(G)
    if small_groups:
        listed = ", ".join(f"{k} ({v} unit{'s' if v > 1 else ''})" for k, v in small_groups.items())
        if "never treated" in small_groups and cg == "never":
            raise ModelSpecError(
                f"never treated group is too small ({small_groups['never treated']} unit(s), "
                f"fewer than {MIN_GROUP_SIZE}): try setting control_group='notyet' (did's rule); "
                + FEW_UNITS_ADVICE
            )
        warnings.warn(
            f"Be aware that there are some small groups in your dataset (fewer than "
            f"{MIN_GROUP_SIZE} units, as did warns). Check groups: {listed}. " + FEW_UNITS_ADVICE,
            SmallGroupWarning,
            stacklevel=2,
        )

    rows: list[dict[str, Any]] = []
    infs: list[FloatArray] = []
    nT = tlist.size
    for g in glist:
        pre_idx = np.flatnonzero(tlist < g)
        if pre_idx.size == 0:
            continue  # cannot happen after dropping first-period groups
        gbase = int(pre_idx[-1])
        t_range = range(1, nT) if base_period == "varying" else range(nT)
        for ti in t_range:
            t = tlist[ti]
            post = g <= t
            bi = gbase if (post or base_period == "universal") else ti - 1
            if base_period == "universal" and bi == ti:
                rows.append(
                    dict(
                        group=g,
                        time=t,
                        base=tlist[bi],
                        att=0.0,
                        se=0.0,
                        post=False,
                        n_treated=int((G == g).sum()),
                        n_control=0,
                    )
                )
                infs.append(np.zeros(n))
                continue
            treat = G == g
            if cg == "never":
                ctrl = np.isinf(G)
            else:
                ctrl = np.isinf(G) | ((G > tlist[max(ti, bi)]) & (G != g))
            if not ctrl.any():
                raise ModelSpecError(
                    f"no comparison units for group {g:g} at time {t:g} "
                    f"(control_group={control_group!r})"
                )
            sub = treat | ctrl
            n_sub = int(sub.sum())
            dy = Y[:, ti] - Y[:, bi]
            wt = w * treat
            wc = w * ctrl
            mu_t = float((wt @ dy) / wt.sum())
            mu_c = float((wc @ dy) / wc.sum())
            att = mu_t - mu_c
            # influence function on the 2x2 sample (means over its n_sub units), did's n/n1 scaling
            inf = wt * (dy - mu_t) / (wt.sum() / n_sub) - wc * (dy - mu_c) / (wc.sum() / n_sub)
            inf = np.where(sub, inf, 0.0) * (n / n_sub)
            rows.append(
                dict(
                    group=g,
                    time=t,
                    base=tlist[bi],
                    att=att,
                    se=float(np.sqrt(np.sum(sq(inf) ** 2)) / n),
                    post=bool(post),
                    n_treated=int(treat.sum()),
                    n_control=int(ctrl.sum()),
                )
            )
            infs.append(inf)
    table = pl.DataFrame(rows).with_columns(
        pl.col("group").cast(pl.Float64),
        pl.col("time").cast(pl.Float64),
        pl.col("base").cast(pl.Float64),
    )
    psi = np.column_stack(infs)
    s_psi = sq(psi)
    rows_of = dict(zip(per_unit[unit].to_list(), per_unit["n_t"].to_list(), strict=True))
    dropped_rows: dict[str, int] = {}
    for u, why in dropped:
        key = "unbalanced_units" if why.startswith("not observed") else "treated_in_first_period"
        dropped_rows[key] = dropped_rows.get(key, 0) + int(rows_of[u])
    if zeros_in_log:
        dropped_rows["zeros_in_log"] = zeros_in_log
    labels = [
        f"ATT({_fmt(gv)},{_fmt(tv)})"
        for gv, tv in zip(table["group"].to_list(), table["time"].to_list(), strict=True)
    ]
    res = CallawaySantAnnaResult(
        names=labels,
        beta=table["att"].to_numpy().astype(float),
        cov_matrix=s_psi.T @ s_psi / n**2,
        nobs=n * nT,
        vcov_type=VCOV_TYPE if cluster is None else f"{VCOV_TYPE_CLUSTER} {cluster} (G={n_cl})",
        df_inference=None,
        depvar=depvar,
        fixed_effects=[],
        dropped=dropped_rows,
        n_clusters={unit: n} if cluster is None else {cluster: n_cl},
        model="Callaway-Sant'Anna ATT(g,t) (outcome regression)",
        att_gt=table,
        influence=psi,
        unit_group=G,
        unit_weights=w,
        control_group=cg,
        base_period=base_period,
        n_units=n,
        small_groups=small_groups,
        unit_cluster=unit_cluster,
        dropped_units=pl.DataFrame(
            {"unit": [str(u) for u, _ in dropped], "reason": [r for _, r in dropped]},
            schema={"unit": pl.String, "reason": pl.String},
        ),
    )
    pre = np.flatnonzero(table["group"].to_numpy() > table["time"].to_numpy())
    if base_period == "universal":
        pre = pre[table["se"].to_numpy()[pre] > 0]
    if pre.size:
        V = s_psi[:, pre].T @ s_psi[:, pre] / n
        if np.linalg.cond(V) < 1 / np.finfo(float).eps:
            th = table["att"].to_numpy()[pre]
            W = float(n * th @ np.linalg.solve(V, th))
            res.pretest_stat = W
            res.pretest_df = int(pre.size)
            res.pretest_pvalue = float(stats.chi2.sf(W, pre.size))
    return res


def _small_groups(G: FloatArray) -> dict[str, int]:
    """Groups (first-treatment period, or "never treated") with fewer than ``MIN_GROUP_SIZE`` units."""
    values, counts = np.unique(G, return_counts=True)
    return {
        ("never treated" if np.isinf(v) else _fmt(v)): int(c)
        for v, c in zip(values, counts, strict=True)
        if c < MIN_GROUP_SIZE
    }


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


#: Alias: the name economists look for.
callaway_santanna = att_gt

__all__ = [
    "CSAggregate",
    "CallawaySantAnnaResult",
    "SmallGroupWarning",
    "att_gt",
    "callaway_santanna",
]
