"""Callaway & Sant'Anna (2021) group-time average treatment effects for staggered adoption.

Reference: Callaway, B. and Sant'Anna, P. H. C. (2021), "Difference-in-Differences with multiple
time periods", Journal of Econometrics 225(2), 200-230; R package ``did`` (``att_gt``,
``aggte``, ``mboot``), whose conventions are followed here: balanced panel, base period
``"varying"`` (default) or ``"universal"``, ``anticipation``, never-treated or not-yet-treated
comparison units (without never-treated units, did's rule: the periods from the last cohort's
treatment on are dropped and that cohort is the comparison), analytical influence-function
standard errors (clustered by unit, the level of the panel, or by a coarser ``cluster=``
column), did's multiplier bootstrap with uniform bands (``bootstrap=True, cband=True``), and
covariates (``controls=``, did's ``xformla``) through Sant'Anna & Zhao's 2x2 estimators
(``est_method`` "dr", "reg", "ipw"; :mod:`tradeimpact.models.drdid`; on panels and, with their
repeated-cross-section versions, on repeated cross sections and unbalanced panels).

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
ATT(g, t) = 0 (``t < g - anticipation``: the anticipation window is not a pre-period),
chi-square with as many degrees of freedom, using the analytical influence-function covariance
(as ``did`` does).

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
from collections.abc import Sequence
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
    missing_cohorts,
    period_index,
)
from tradeimpact.core.frame import check_columns, numeric_column, to_polars
from tradeimpact.errors import ModelSpecError, TradeImpactWarning
from tradeimpact.models.aggregate import AggregateResult, AggType, aggregate_kind
from tradeimpact.models.did import Outcome, prepare_outcome
from tradeimpact.models.drdid import METHODS as DRDID_METHODS
from tradeimpact.models.drdid import att_2x2, att_2x2_rc
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]

ControlGroup = Literal["never", "notyet"]
BasePeriod = Literal["varying", "universal"]
BootWeights = Literal["rademacher", "mammen"]

#: did's est_method names, as printed
METHOD_LABEL = {"reg": "outcome regression", "ipw": "inverse probability weighting",
                "dr": "doubly robust"}  # fmt: skip

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


class MissingCohortWarning(TradeImpactWarning):
    """Units whose cohort is missing (null beside another never-treated code) were dropped."""


class NoNeverTreatedWarning(TradeImpactWarning):
    """No never-treated unit: the last cohort became the comparison group (``did``'s rule)."""


@dataclass(frozen=True)
class BootstrapBand:
    """``did``'s multiplier bootstrap (``mboot``) of a set of estimates.

    Attributes
    ----------
    se : numpy.ndarray
        ``IQR(b_k) / (z_.75 - z_.25)`` of each estimate's draws ``b_k`` (NaN where degenerate,
        e.g. the universal base period's reference cell).
    crit_val : float
        The uniform band's critical value (``1 - alpha`` quantile of ``max_k |b_k| / se_k``)
        with ``cband=True``; the normal ``z_{1 - alpha/2}`` otherwise.
    draws : numpy.ndarray (biters, K)
        The draws ``b = sum_i v_i psi_i / n`` (``v`` one multiplier per unit or cluster).
    cband : bool
    alpha : float
    weights : {"rademacher", "mammen"}
    """

    se: FloatArray
    crit_val: float
    draws: FloatArray = field(repr=False)
    cband: bool
    alpha: float
    weights: str


def _boot_settings(
    bootstrap: bool, cband: bool, biters: int, alpha: float, boot_weights: str, seed: int | None
) -> dict[str, Any] | None:
    """Checked bootstrap options (None without ``bootstrap``)."""
    if cband and not bootstrap:
        raise ModelSpecError(
            "cband=True (a uniform confidence band) needs the multiplier bootstrap: pass "
            "bootstrap=True, as did's cband needs bstrap=TRUE"
        )
    if not bootstrap:
        return None
    if boot_weights not in ("rademacher", "mammen"):
        raise ModelSpecError(f"boot_weights must be 'rademacher' or 'mammen', not {boot_weights!r}")
    if int(biters) < 2:
        raise ModelSpecError(f"biters must be at least 2, got {biters!r}")
    if not 0 < float(alpha) < 1:
        raise ModelSpecError(f"alpha must be in (0, 1), got {alpha!r}")
    return dict(
        biters=int(biters), alpha=float(alpha), cband=bool(cband), weights=boot_weights, seed=seed
    )


def multiplier_bootstrap(
    s_psi: FloatArray,
    n: int,
    *,
    biters: int = 1000,
    alpha: float = 0.05,
    cband: bool = False,
    weights: str = "rademacher",
    seed: int | None = None,
) -> BootstrapBand:
    """``did``'s multiplier bootstrap (``mboot``) of estimates with influence functions.

    Each draw ``b = v' S(Psi) / n``, ``v`` i.i.d. multipliers with mean 0 and variance 1, one per
    row of ``S(Psi)`` (the influence functions, ``did``'s scaling ``V = Psi'Psi / n``, summed
    within clusters when there are clusters; ``did`` averages within clusters instead, the same
    with clusters of equal size): Rademacher (+-1, ``did``'s current default) or Mammen's
    two-point weights ``(1 -+ sqrt 5) / 2`` (``did``'s earlier R code). Conditional on the data
    ``Var(b) = S'S / n^2``, the analytic covariance. Standard error ``IQR(b) / (z_.75 - z_.25)``
    (type-1 quantiles, as ``did``); estimates whose draws are degenerate (``n sum b^2 <=
    10 sqrt(eps)``) get NaN. With ``cband`` the critical value is the ``1 - alpha`` quantile of
    ``max_k |b_k| / se_k`` (the sup-t uniform band); else ``z_{1 - alpha / 2}``.

    Reference: Callaway & Sant'Anna (2021), Section 4 and Algorithm 1; R ``did``'s ``mboot.R``.
    """
    S = np.asarray(s_psi, dtype=np.float64)
    if S.ndim == 1:
        S = S[:, None]
    m, k = S.shape
    rng = np.random.default_rng(seed)
    draws = np.empty((biters, k))
    chunk = max(1, min(biters, 4_000_000 // max(m, 1)))
    for lo in range(0, biters, chunk):
        hi = min(biters, lo + chunk)
        if weights == "mammen":
            k1, k2 = 0.5 * (1 - np.sqrt(5)), 0.5 * (1 + np.sqrt(5))
            p1 = 0.5 * (1 + np.sqrt(5)) / np.sqrt(5)
            v = np.where(rng.random((hi - lo, m)) < p1, k1, k2)
        else:
            v = rng.integers(0, 2, size=(hi - lo, m)) * 2.0 - 1.0
        draws[lo:hi] = v @ S / n
    tiny = np.sqrt(np.finfo(float).eps) * 10
    ok = n * np.sum(draws**2, axis=0) > tiny
    q = stats.norm.ppf(0.75) - stats.norm.ppf(0.25)
    se = np.full(k, np.nan)
    if ok.any():
        iqr = np.quantile(draws[:, ok], 0.75, axis=0, method="inverted_cdf") - np.quantile(
            draws[:, ok], 0.25, axis=0, method="inverted_cdf"
        )
        s_ok = iqr / q
        s_ok[s_ok * np.sqrt(n) <= tiny] = np.nan
        se[ok] = s_ok
    crit = float(stats.norm.ppf(1 - alpha / 2))
    usable = np.isfinite(se)
    if cband and usable.any():
        tmax = np.max(np.abs(draws[:, usable] / se[usable]), axis=1)
        tmax = tmax[np.isfinite(tmax)]
        c = float(np.quantile(tmax, 1 - alpha, method="inverted_cdf")) if tmax.size else np.nan
        if np.isfinite(c):
            crit = c
    return BootstrapBand(
        se=se, crit_val=crit, draws=draws, cband=bool(cband and usable.any()), alpha=alpha,
        weights=weights,
    )  # fmt: skip


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
    boot: dict[str, Any] | None = None,
) -> AggregateResult:
    """Assemble from the influence functions (``cov = S(Psi)' S(Psi) / n^2``, ``S`` the cluster
    sums or the identity); with ``boot`` the multiplier bootstrap of the overall and (jointly,
    for a uniform band) of the components, as ``did::aggte``."""
    n = influence.shape[0]
    psi = sq(np.column_stack([influence, component_influence]))
    cov = psi.T @ psi / n**2
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    atts = np.asarray(atts, dtype=float)
    components = AggregateResult.component_table(keys, atts, se[1:])
    band: BootstrapBand | None = None
    overall_se_boot = float("nan")
    if boot is not None:
        ov = multiplier_bootstrap(psi[:, :1], n, **{**boot, "cband": False})
        overall_se_boot = float(ov.se[0])
        if component_influence.shape[1]:
            band = multiplier_bootstrap(psi[:, 1:], n, **boot)
            components = components.with_columns(
                pl.Series("se_boot", band.se),
                pl.Series("lower", atts - band.crit_val * band.se),
                pl.Series("upper", atts + band.crit_val * band.se),
            )
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
        components=components,
        influence=influence,
        component_influence=component_influence,
        bootstrap=band,
        overall_se_boot=overall_se_boot,
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
        Units dropped and why (cohort missing; treated in the first period; unbalanced when
        ``balance=True``); ``dropped`` counts the rows by reason (also
        ``periods_after_last_cohort`` without never-treated units).
    anticipation, est_method, controls
        As passed to :func:`att_gt` (``est_method`` "reg" without controls: the unconditional
        DiD, which all three methods reduce to).
    bootstrap : BootstrapBand or None
        The multiplier bootstrap (``bootstrap=True``): ``se`` (also ``att_gt["se_boot"]``),
        ``crit_val`` (uniform with ``cband=True``; ``att_gt["lower"]``/``["upper"]``) and the
        draws. ``std_errors``/``cov`` stay the analytic influence-function ones.
    """

    att_gt: pl.DataFrame = field(default_factory=pl.DataFrame)
    influence: FloatArray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    unit_group: FloatArray = field(default_factory=lambda: np.empty(0), repr=False)
    unit_weights: FloatArray = field(default_factory=lambda: np.empty(0), repr=False)
    control_group: str = "never"
    base_period: str = "varying"
    anticipation: int = 0
    est_method: str = "reg"
    controls: list[str] = field(default_factory=list)
    n_units: int = 0
    dropped_units: pl.DataFrame = field(default_factory=pl.DataFrame)
    pretest_stat: float | None = None
    pretest_df: int | None = None
    pretest_pvalue: float | None = None
    small_groups: dict[str, int] = field(default_factory=dict)
    unit_cluster: npt.NDArray[np.int64] | None = field(default=None, repr=False)
    bootstrap: BootstrapBand | None = field(default=None, repr=False)
    boot_options: dict[str, Any] | None = field(default=None, repr=False)
    time_periods: FloatArray = field(default_factory=lambda: np.empty(0), repr=False)

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
                "Callaway & Sant'Anna (2021) ATT(g,t), "
                + (
                    f"{METHOD_LABEL[self.est_method]}, controls: {', '.join(self.controls)}"
                    if self.controls
                    else "no covariates"
                ),
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
    def aggregate(
        self,
        kind: AggType = "group",
        *,
        min_e: float = -np.inf,
        max_e: float = np.inf,
        balance_e: int | None = None,
        na_rm: bool = False,
        bootstrap: bool | None = None,
        cband: bool | None = None,
        biters: int | None = None,
        alpha: float | None = None,
        boot_weights: BootWeights | None = None,
        seed: int | None = None,
    ) -> AggregateResult:
        """Aggregate ATT(g, t) as ``did::aggte(type=kind)`` does (weights and influence).

        Parameters
        ----------
        kind : {"simple", "group", "dynamic", "calendar"}
            ``did``'s ``aggte`` types; fixest's names ``"att"``, ``"cohort"`` and ``"period"``
            are aliases of the first three (:mod:`tradeimpact.models.aggregate`).
        min_e, max_e : float
            ``did``'s event-time limits: "dynamic" keeps event times ``min_e <= e <= max_e``
            (the overall is the mean over the kept ``e >= 0``); "simple" and "group" keep the
            post-treatment cells with ``min_e <= t - g <= max_e`` (as did's current ``aggte``;
            a negative ``min_e`` changes nothing there). A window that leaves no cell is an
            error, and so is one that empties a group in "group" unless ``na_rm``.
        balance_e : int, optional
            "dynamic" only (``did``'s ``balance_e``): keep the cohorts observed for at least
            ``balance_e`` periods after treatment (``max(t) - g >= balance_e``) and the event
            times ``balance_e - (max(t) - min(t)) <= e <= balance_e``, so that every event time
            averages the same cohorts.
        na_rm : bool
            "group": drop the groups whose ``min_e``/``max_e`` window holds no cell (did's
            ``na.rm = TRUE``) instead of raising.
        bootstrap, cband, biters, alpha, boot_weights, seed
            The multiplier bootstrap of :func:`att_gt` (default: as the ATT(g, t) were fitted):
            the overall's ``overall_se_boot``, the components' ``se_boot`` and (uniform over the
            components with ``cband``) ``lower``/``upper`` columns.

        Returns
        -------
        AggregateResult
            Terms ``overall`` then ``group=g``, ``event_time=e`` or ``period=t``.
        """
        k = aggregate_kind(kind)
        if balance_e is not None and k != "dynamic":
            raise ModelSpecError("balance_e applies to the 'dynamic' aggregation only (did)")
        if k == "calendar" and (np.isfinite(min_e) or np.isfinite(max_e)):
            raise ModelSpecError("min_e/max_e apply to 'dynamic', 'simple' and 'group' (did)")
        if min_e > max_e:
            raise ModelSpecError(f"min_e ({min_e}) is larger than max_e ({max_e})")
        base_opts = dict(self.boot_options or {})
        if bootstrap is None:
            bootstrap = bool(base_opts) or bool(cband)
        boot = (
            _boot_settings(
                True,
                bool(base_opts.get("cband", False) if cband is None else cband),
                int(base_opts.get("biters", 1000) if biters is None else biters),
                float(base_opts.get("alpha", 0.05) if alpha is None else alpha),
                str(
                    base_opts.get("weights", "rademacher") if boot_weights is None else boot_weights
                ),
                base_opts.get("seed") if seed is None else seed,
            )
            if bootstrap
            else _boot_settings(False, bool(cband), 1000, 0.05, "rademacher", None)
        )
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
                boot,
            )

        e_cell = time - group
        window = f"min_e={_fmt(min_e) if np.isfinite(min_e) else min_e}, " + (
            f"max_e={_fmt(max_e) if np.isfinite(max_e) else max_e}"
        )
        post = np.flatnonzero((group <= time) & (e_cell <= max_e) & (e_cell >= min_e))
        if post.size == 0 and k in ("simple", "group"):
            raise ModelSpecError(
                "No group-time average treatment effects fall within the requested window "
                f"({window}): no post-treatment ATT(g,t) to aggregate"
            )
        if k == "simple":
            wts = pg[post] / pg[post].sum()
            est = float(att[post] @ wts)
            return build(est, agg_if(att, psi, post, wts, wif(post, pg, group)), [], [], [])
        if k == "group":
            keys, atts, infs = [], [], []
            emptied: list[float] = []
            for g in glist:
                keep = np.flatnonzero(
                    (group == g) & (time >= g) & (time - g <= max_e) & (time - g >= min_e)
                )
                if keep.size == 0:
                    if ((group == g) & (time >= g)).any():
                        emptied.append(float(g))
                    continue
                wts = pg[keep] / pg[keep].sum()
                atts.append(float(att[keep].mean()))
                infs.append(agg_if(att, psi, keep, wts, None))
                keys.append(float(g))
            if emptied and not na_rm:
                raise ModelSpecError(
                    "No group-time average treatment effects fall within the requested window "
                    f"({window}) for group(s) {', '.join(_fmt(g) for g in emptied)}: pass "
                    "na_rm=True to drop them (did's na.rm)"
                )
            att_g = np.array(atts)
            inf_g = np.column_stack(infs)
            pgg = np.array([pg_by_g[g] for g in keys])
            allk = np.arange(len(keys))
            est = float(att_g @ (pgg / pgg.sum()))
            inf = agg_if(att_g, inf_g, allk, pgg / pgg.sum(), wif(allk, pgg, np.array(keys)))
            return build(est, inf, keys, atts, infs)
        if k == "dynamic":
            e_all = time - group
            include = np.ones(e_all.size, dtype=bool)
            eseq = np.unique(e_all)
            if balance_e is not None:
                t_max = float(time.max())
                t_min = float(self.time_periods[0]) if self.time_periods.size else float(time.min())
                include = (t_max - group) >= balance_e
                eseq = np.unique(e_all[include])
                eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - t_max + t_min)]
            eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
            if eseq.size == 0 or not (eseq >= 0).any():
                raise ModelSpecError(
                    "no event time e >= 0 left to aggregate (check min_e, max_e, balance_e)"
                )
            atts, infs = [], []
            for e in eseq:
                keep = np.flatnonzero((e_all == e) & include)
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
    anticipation: int = 0,
    weights: str | None = None,
    cluster: str | None = None,
    balance: bool = False,
    allow_unbalanced_panel: bool = False,
    panel: bool = True,
    bootstrap: bool = False,
    cband: bool = False,
    biters: int = 1000,
    alpha: float = 0.05,
    boot_weights: BootWeights = "rademacher",
    seed: int | None = None,
    controls: Sequence[str] | None = None,
    est_method: str | None = None,
    outcome: Outcome = "level",
    freq: str | None = None,
    group: str | None = None,
) -> CallawaySantAnnaResult:
    """Callaway & Sant'Anna (2021) ATT(g, t), R ``did``'s ``att_gt``.

    Formula and reference: module docstring (without ``controls``: ``did``'s ``att_gt`` with
    ``xformla = ~1``, where the three ``est_method`` coincide; with ``controls``: each cell's
    2x2 is :func:`tradeimpact.models.drdid.att_2x2`, its influence function scaled as above).

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
        pre-period and are dropped (listed in ``dropped``). When the column also codes
        never-treated units as 0 or inf (or a period after the sample), a null cohort is a
        missing value: those units are dropped with a :class:`MissingCohortWarning`, as ``did``
        drops rows with missing data (``dropped["missing_cohort"]`` counts their rows).
    control_group : {"never", "notyet"}
        Never-treated units, or never- and not-yet-treated units (``did``'s "nevertreated" /
        "notyettreated" are accepted too). Without never-treated units (``did``'s rule): the
        periods from the last cohort's treatment on (``t >= max(g) - anticipation``) are
        dropped and that cohort is only a comparison; with ``"never"`` it is coded as never
        treated, with a :class:`NoNeverTreatedWarning`.
    base_period : {"varying", "universal"}
        ``did``'s ``base_period``: "varying" compares pre-treatment periods with the period just
        before; "universal" always with the last period before ``g - anticipation`` (and
        reports that cell as 0).
    anticipation : int
        ``did``'s ``anticipation``: periods before ``g`` in which units may already react. The
        base period of a post-treatment cell, and of a cell in the anticipation window
        (``g - anticipation <= t < g``, under either base period, as did's current code), is
        the last ``t`` with ``t + anticipation < g``; the pre-test uses the cells before the
        window (``t < g - anticipation``);
        not-yet-treated comparisons need ``G > max(t, base) + anticipation``; cohorts with
        ``g <= first period + anticipation`` get no ATT(g, t).
    weights : str, optional
        Sampling weights (finite, non-negative, not all zero), normalised to mean one. In a
        panel they are unit weights, constant within each unit (did's panel path reads one row's
        weight per unit; weights that vary within a unit are refused, naming the unit). With
        ``panel=False`` each row has its own weight; with ``allow_unbalanced_panel=True`` they
        may vary within a unit: each row is then weighted by its own period's weight in the
        repeated-cross-section estimators (even on a balanced panel), as did's
        ``compute.att_gt`` weighs the rows of its repeated-cross-section path, and a unit's
        weight in the aggregations (``P(G = g)``) is its weight in its first observed period.
    cluster : str, optional
        A column constant within each unit (e.g. a state above counties): standard errors from
        the influence functions summed within its clusters (``S(psi)'S(psi) / n^2``); default:
        clustered by unit (``did``'s analytic standard errors).
    balance : bool
        Drop units not observed in every period (listed in ``dropped``) instead of raising.
    allow_unbalanced_panel : bool
        ``did``'s ``allow_unbalanced_panel``: keep units with missing periods. As ``did``, each
        ATT(g, t) is then the repeated-cross-section 2x2 (DRDID's ``reg_did_rc`` without
        covariates: ``(Ybar_g,t - Ybar_g,b) - (Ybar_C,t - Ybar_C,b)`` over the rows observed in
        ``t`` and ``b``; with ``controls`` :func:`tradeimpact.models.drdid.att_2x2_rc`, DRDID's
        ``drdid_rc`` / ``reg_did_rc`` / ``std_ipw_did_rc``, each row with its own period's
        covariates), its influence function (``n / n_rows`` scaled) summed within each unit;
        on a balanced panel the same numbers as the panel estimator (``did`` then switches to it).
    panel : bool
        ``False``: repeated cross sections (``did``'s ``panel = FALSE``): every row is its own
        observation (``unit`` is not used), the same 2x2 estimators as above (with ``controls``
        the repeated-cross-section DR, outcome-regression or IPW estimator of
        :func:`~tradeimpact.models.drdid.att_2x2_rc`), influence per row.
    bootstrap : bool
        Also run ``did``'s multiplier bootstrap (``bstrap=TRUE``): ``biters`` draws of
        ``sum_i v_i psi_i / n`` with Rademacher or Mammen multipliers ``v`` (one per cluster),
        the standard error ``IQR / (z_.75 - z_.25)``; they go into ``att_gt["se_boot"]``
        (``std_errors`` stay the analytic ones).
    cband : bool
        Uniform (simultaneous) confidence band over all ATT(g, t) (``did``'s ``cband``): the
        critical value is the ``1 - alpha`` quantile of ``max_k |b_k| / se_k`` over the draws
        (needs ``bootstrap=True``); ``att_gt["lower"]``, ``["upper"]`` and ``crit_val``.
    biters, alpha, boot_weights, seed
        Number of bootstrap draws, band level (``did``'s ``alp``), ``"rademacher"`` or
        ``"mammen"``, and the seed of the draws (``numpy.random.default_rng(seed)``).
    controls : list of str, optional
        Covariates (``did``'s ``xformla = ~ x1 + x2``; numeric columns, no missing values).
        Each ATT(g, t) is then Sant'Anna & Zhao's 2x2 estimator on the cell's units with the
        covariates of the earlier of its two periods (:func:`tradeimpact.models.drdid.att_2x2`,
        as ``did``'s ``compute.att_gt`` calls DRDID); with repeated cross sections or an
        unbalanced panel the repeated-cross-section estimators on the cell's rows
        (:func:`tradeimpact.models.drdid.att_2x2_rc`).
    est_method : {"dr", "reg", "ipw"}, optional
        ``did``'s ``est_method``: doubly robust (the default with ``controls``, as ``did``),
        outcome regression or inverse probability weighting. Without ``controls`` all three are
        the unconditional 2x2 DiD (the default computation; an explicit ``est_method`` runs the
        DRDID code with an intercept only, the same numbers).
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
    if isinstance(anticipation, bool) or not float(anticipation).is_integer() or anticipation < 0:
        raise ModelSpecError(
            f"anticipation must be a whole number of periods >= 0 (did's), got {anticipation!r}"
        )
    boot = _boot_settings(bootstrap, cband, biters, alpha, boot_weights, seed)
    if balance and (allow_unbalanced_panel or not panel):
        raise ModelSpecError(
            "balance=True drops unbalanced units; it cannot be combined with "
            "allow_unbalanced_panel=True or panel=False"
        )
    control_cols = [controls] if isinstance(controls, str) else list(controls or [])
    if est_method is not None and est_method not in DRDID_METHODS:
        raise ModelSpecError(
            f"est_method must be one of {DRDID_METHODS} (did's), got {est_method!r}"
        )
    method: str | None = est_method if est_method is not None else ("dr" if control_cols else None)
    cols = list(
        dict.fromkeys([y, unit, time, cohort, *(c for c in (weights, cluster) if c), *control_cols])
    )
    frame = to_polars(data)
    check_columns(frame, cols)
    frame = frame.select(cols)
    numeric_column(frame, y, "outcome")
    x_rows = [numeric_column(frame, c, "control") for c in control_cols]
    if weights:
        numeric_column(frame, weights, "weights")
    for col in (y, unit, time, *(c for c in (weights, cluster) if c), *control_cols):
        s = frame[col]
        bad = s.is_null() | (
            s.is_nan() if s.dtype.is_float() else pl.repeat(False, len(s), eager=True)
        )
        if bad.any():
            raise ModelSpecError(
                f"column '{col}' has {int(bad.sum())} missing value(s), first at row "
                f"{int(bad.arg_max() or 0)}"
            )
    w_rows = _checked_weights(frame, weights)
    g_values = cohort_values(frame, cohort, time, freq=freq)
    check_constant_within(frame, cohort, unit, values=g_values)
    missing_g = missing_cohorts(frame, cohort, time)
    y_frame, depvar, drops = prepare_outcome(frame.select(y), y, outcome)
    # the working frame holds only its own columns: no user column can collide with them
    d = pl.DataFrame(
        {
            "u": frame[unit] if panel else pl.Series(np.arange(frame.height)),
            "t": period_index(frame[time], freq),
            "g": g_values,
            "y": y_frame["_y"],
            "w": w_rows,
            "cl": frame[cluster] if cluster else pl.repeat(0, frame.height, eager=True),
            "miss_g": missing_g,
            **{f"x{j}": xr for j, xr in enumerate(x_rows)},
        }
    )
    zeros_in_log = int(drops.get("zeros_in_log", 0))
    if zeros_in_log:
        d = d.filter(pl.col("y").is_not_nan())
    dup = d.group_by("u", "t").len().filter(pl.col("len") > 1)
    if dup.height:
        raise ModelSpecError(
            f"{dup.height} (unit, time) pair(s) appear more than once, e.g. unit "
            f"{dup['u'][0]!r} at time {dup['t'][0]}: the panel must have one row per unit and period"
        )
    per_unit = d.group_by("u").agg(
        pl.col("w").n_unique().alias("n_w"),
        pl.col("cl").n_unique().alias("n_cl"),
        pl.len().alias("n_t"),
        pl.col("g").first().alias("g"),
        pl.col("miss_g").any().alias("miss_g"),
    )
    varying = per_unit.filter(pl.col("n_w") > 1)
    row_weights = bool(varying.height) and panel and allow_unbalanced_panel
    if varying.height and panel and not allow_unbalanced_panel:
        raise ModelSpecError(
            f"weights column {weights!r} varies within unit {varying['u'][0]!r} "
            f"({varying.height} unit(s) in all): the panel estimator takes one weight per unit "
            "(did's panel path reads a single row's weight per unit and ignores the others); "
            "make the weights constant within each unit, or pass allow_unbalanced_panel=True "
            "(or panel=False) to weight each row by its own period's weight, as did's "
            "repeated-cross-section estimators do"
        )
    bad_cl = per_unit.filter(pl.col("n_cl") > 1)
    if bad_cl.height:
        raise ModelSpecError(
            f"cluster column {cluster!r} varies within unit {bad_cl['u'][0]!r}: the "
            "clusters must group whole units (e.g. states above counties)"
        )
    if cluster and d["cl"].n_unique() < 2:
        # one cluster: the clustered sum of the influence functions is identically zero
        raise ModelSpecError(
            f"cluster={cluster!r} has a single cluster in the data: the clustered standard "
            "errors need at least 2 (cluster by a variable with more groups, or leave cluster= "
            "out to cluster by unit, did's default)"
        )
    rows_of = dict(zip(per_unit["u"].to_list(), per_unit["n_t"].to_list(), strict=True))
    dropped: list[tuple[Any, str]] = []
    dropped_rows: dict[str, int] = {}

    def drop(ids: list[Any], why: str, key: str) -> None:
        nonlocal d
        if not ids:
            return
        dropped.extend((u, why) for u in ids)
        dropped_rows[key] = dropped_rows.get(key, 0) + int(sum(rows_of[u] for u in ids))
        d = d.filter(~pl.col("u").is_in(ids))

    miss_ids = per_unit.filter(pl.col("miss_g"))["u"].to_list()
    if miss_ids:
        warnings.warn(
            f"dropped {len(miss_ids)} unit(s) ({sum(rows_of[u] for u in miss_ids)} rows) whose "
            f"cohort {cohort!r} is missing, e.g. {miss_ids[0]!r} (the column codes never-treated "
            "units otherwise, so null is a missing value; did drops such rows)",
            MissingCohortWarning,
            stacklevel=2,
        )
        drop(miss_ids, "cohort missing", "missing_cohort")
    # no never-treated unit (did's rule): drop the periods from the last cohort's treatment on
    g_units = d.group_by("u").agg(pl.col("g").first())["g"].to_numpy()
    t_first = float(np.min(d["t"].to_numpy())) if d.height else np.nan
    latest_g: float | None = None
    if d.height and not np.isinf(g_units).any():
        treated_g = g_units[g_units > t_first]
        if treated_g.size:
            latest_g = float(treated_g.max())
            cutoff = latest_g - anticipation
            periods_dropped = int((d["t"] >= cutoff).sum())
            d = d.filter(pl.col("t") < cutoff)
            dropped_rows["periods_after_last_cohort"] = periods_dropped
            if cg == "never":
                warnings.warn(
                    f"no never-treated units: the last cohort ({_fmt(latest_g)}) is the "
                    f"comparison group, coded as never treated, and the periods from "
                    f"{_fmt(cutoff)} on are dropped ({periods_dropped} rows), as did does",
                    NoNeverTreatedWarning,
                    stacklevel=2,
                )
                d = d.with_columns(
                    pl.when(pl.col("g") == latest_g).then(np.inf).otherwise(pl.col("g")).alias("g")
                )
                latest_g = None
    tlist = np.unique(d["t"].to_numpy())
    if tlist.size < 2:
        raise ModelSpecError(
            "at least two periods are needed"
            + (
                " (without never-treated units the periods from the last cohort's treatment on "
                "are dropped, as did does)"
                if "periods_after_last_cohort" in dropped_rows
                else ""
            )
        )
    per_unit = d.group_by("u").agg(pl.len().alias("n_t"), pl.col("g").first())
    short = per_unit.filter(pl.col("n_t") < tlist.size)
    rc = not panel  # the repeated-cross-section 2x2 (did's path for unbalanced panels too)
    if (short.height or row_weights) and panel and allow_unbalanced_panel:
        # unbalanced, or weights that vary within a unit: each row is weighted by its own
        # period's weight in the repeated-cross-section estimators
        rc = True
    elif short.height and panel:
        if not balance:
            raise ModelSpecError(
                f"unbalanced panel: {short.height} unit(s) are not observed in all {tlist.size} "
                f"periods, e.g. {short['u'][0]!r}; pass balance=True to drop them "
                "(or allow_unbalanced_panel=True to keep them, as did)"
                + (
                    f" ({zeros_in_log} row(s) with {y} = 0 have no log and are missing)"
                    if zeros_in_log
                    else ""
                )
            )
        drop(short["u"].to_list(), "not observed in every period (balance=True)",
             "unbalanced_units")  # fmt: skip
    early = per_unit.filter(pl.col("g") <= float(tlist[0]))["u"].to_list()
    drop(early, "treated in the first period (no pre-period)", "treated_in_first_period")
    if zeros_in_log:
        dropped_rows["zeros_in_log"] = zeros_in_log
    wide = d.sort("u", "t").pivot(on="t", index="u", values="y", aggregate_function=None).sort("u")
    # a unit's aggregation weight: its weight in the first period it is observed in
    meta = (
        d.sort("u", "t")
        .group_by("u", maintain_order=True)
        .agg(pl.col("g").first(), pl.col("w").first(), pl.col("cl").first())
    )
    meta = meta.sort("u")
    if wide.height == 0:
        raise ModelSpecError("no units left after dropping")
    Y = wide.select([str(t) for t in tlist]).to_numpy().astype(float)
    X_ctrl = [
        d.sort("u", "t")
        .pivot(on="t", index="u", values=f"x{j}", aggregate_function=None)
        .sort("u")
        .select([str(t) for t in tlist])
        .to_numpy()
        .astype(float)
        for j in range(len(control_cols))
    ]
    G = meta["g"].to_numpy().astype(float)
    w = meta["w"].to_numpy().astype(float)
    n = G.size
    # each row's own weight (units x periods; NaN where not observed), for the
    # repeated-cross-section estimators when weights vary within a unit
    W_rows = (
        d.sort("u", "t")
        .pivot(on="t", index="u", values="w", aggregate_function=None)
        .sort("u")
        .select([str(t) for t in tlist])
        .to_numpy()
        .astype(float)
        if row_weights
        else None
    )
    if not w.sum() > 0:
        raise ModelSpecError(
            f"weights column {weights!r} sums to zero over the units left: at least one unit "
            "needs a positive weight"
        )
    w = w / w.mean()
    unit_cluster: npt.NDArray[np.int64] | None = None
    if cluster:
        _, codes = np.unique(meta["cl"].to_numpy(), return_inverse=True)
        unit_cluster = np.asarray(codes, dtype=np.int64).ravel()
    n_cl = n if unit_cluster is None else int(unit_cluster.max()) + 1

    def sq(arr: FloatArray) -> FloatArray:
        # influence functions summed by cluster (identity when clustered by unit)
        if unit_cluster is None:
            return arr
        out = np.zeros((n_cl, *arr.shape[1:]))
        np.add.at(out, unit_cluster, arr)
        return out

    glist = np.unique(G[np.isfinite(G) & (G > tlist[0] + anticipation)])
    if latest_g is not None:
        glist = glist[glist < latest_g]  # the last cohort is only a comparison (did)
    if glist.size == 0:
        raise ModelSpecError(
            f"no treated units: column '{cohort}' marks every unit as never treated "
            f"({NEVER_TREATED_RULE})"
            if not np.isfinite(G).any()
            else f"no cohort in '{cohort}' is first treated after period "
            f"{_fmt(tlist[0] + anticipation)} (the first period plus anticipation): no ATT(g,t) "
            "can be estimated"
        )
    min_size = MIN_GROUP_SIZE + len(control_cols)  # did: length(rhs.vars(xformla)) + 5
    small_groups = _small_groups(G, min_size)
    if small_groups:
        listed = ", ".join(f"{k} ({v} unit{'s' if v > 1 else ''})" for k, v in small_groups.items())
        if "never treated" in small_groups and cg == "never":
            raise ModelSpecError(
                f"never treated group is too small ({small_groups['never treated']} unit(s), "
                f"fewer than {min_size}): try setting control_group='notyet' (did's rule); "
                + FEW_UNITS_ADVICE
            )
        warnings.warn(
            f"Be aware that there are some small groups in your dataset (fewer than "
            f"{min_size} units, as did warns). Check groups: {listed}. " + FEW_UNITS_ADVICE,
            SmallGroupWarning,
            stacklevel=2,
        )

    rows: list[dict[str, Any]] = []
    infs: list[FloatArray] = []
    nT = tlist.size
    tfac = 1 if base_period == "varying" else 0
    for g in glist:
        pre_idx = np.flatnonzero(tlist + anticipation < g)
        for ti in range(nT - tfac):
            cur = ti + tfac
            t = tlist[cur]
            post = bool(g <= t)
            bi = ti if base_period == "varying" else int(pre_idx[-1])
            if t + anticipation >= g:
                # post-treatment and anticipation cells (g - anticipation <= t): the base period
                # is g - anticipation - 1 under either base period (did's current rule; a varying
                # base would difference two anticipation periods)
                bi = int(pre_idx[-1])
            treat = G == g
            if base_period == "universal" and bi == cur:
                rows.append(
                    dict(group=g, time=t, base=tlist[bi], att=0.0, se=0.0, post=False,
                         n_treated=int(treat.sum()), n_control=0)
                )  # fmt: skip
                infs.append(np.zeros(n))
                continue
            if cg == "never":
                ctrl = np.isinf(G)
            else:
                ctrl = np.isinf(G) | ((G > tlist[max(cur, bi)] + anticipation) & (G != g))
            if not ctrl.any():
                raise ModelSpecError(
                    f"no comparison units for group {g:g} at time {t:g} "
                    f"(control_group={control_group!r})"
                )
            wt = w * treat
            wc = w * ctrl
            if not (wt.sum() > 0 and wc.sum() > 0):
                who = f"group {_fmt(g)}" if not wt.sum() > 0 else "the comparison units"
                raise ModelSpecError(
                    f"the weights ({weights!r}) of {who} sum to zero at time {_fmt(t)}: "
                    "ATT(g,t) is not defined"
                )
            sub = treat | ctrl
            n_sub = int(sub.sum())
            dy = Y[:, cur] - Y[:, bi]
            if rc and method is None:
                att, inf, n_rows = _rc_2x2(
                    Y[:, cur], Y[:, bi], treat, ctrl,
                    w if W_rows is None else W_rows[:, cur], g, t,
                    w_pre=None if W_rows is None else W_rows[:, bi],
                )  # fmt: skip
                inf = inf * (n / n_rows)
            elif rc and method is not None:
                # did's compute.att_gt with panel = FALSE (or an unbalanced panel): DRDID's
                # repeated-cross-section 2x2 on the cell's rows observed in t and in the base
                # period, each with its own covariates (and weight); the influence function
                # scaled by n / n_rows and summed within each unit
                att, inf = _rc_cell(
                    method, Y, X_ctrl, w, W_rows, treat, ctrl, cur, bi, control_cols, g, t, n
                )
            elif method is None:
                mu_t = float((wt @ dy) / wt.sum())
                mu_c = float((wc @ dy) / wc.sum())
                att = mu_t - mu_c
                # influence function on the 2x2 sample (means over its n_sub units), did's n/n1
                # scaling
                inf = wt * (dy - mu_t) / (wt.sum() / n_sub) - wc * (dy - mu_c) / (wc.sum() / n_sub)
                inf = np.where(sub, inf, 0.0) * (n / n_sub)
            else:
                # did's compute.att_gt: DRDID's 2x2 on the cell's units with the covariates of
                # the base period; its influence function put on all n units (n / n_sub on the
                # cell, zero elsewhere)
                # (the covariates of the earlier of the two periods: did's panel2cs2 keeps
                # that row)
                xb = np.column_stack([np.ones(n_sub), *(xc[sub, min(cur, bi)] for xc in X_ctrl)])
                try:
                    two = att_2x2(
                        method, dy[sub], treat[sub].astype(float), xb, w[sub],
                        names=["(Intercept)", *control_cols],
                    )  # fmt: skip
                except ModelSpecError as err:
                    raise type(err)(f"ATT({_fmt(g)},{_fmt(t)}): {err}") from err
                att = two.att
                inf = np.zeros(n)
                inf[sub] = two.influence * (n / n_sub)
            rows.append(
                dict(
                    group=g,
                    time=t,
                    base=tlist[bi],
                    att=att,
                    se=float(np.sqrt(np.sum(sq(inf) ** 2)) / n),
                    post=post,
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
    boot_out: BootstrapBand | None = None
    if boot is not None:
        boot_out = multiplier_bootstrap(s_psi, n, **boot)
        table = table.with_columns(
            pl.Series("se_boot", boot_out.se),
            pl.Series("lower", table["att"].to_numpy() - boot_out.crit_val * boot_out.se),
            pl.Series("upper", table["att"].to_numpy() + boot_out.crit_val * boot_out.se),
        )
    labels = [
        f"ATT({_fmt(gv)},{_fmt(tv)})"
        for gv, tv in zip(table["group"].to_list(), table["time"].to_list(), strict=True)
    ]
    res = CallawaySantAnnaResult(
        names=labels,
        beta=table["att"].to_numpy().astype(float),
        cov_matrix=s_psi.T @ s_psi / n**2,
        nobs=d.height,
        vcov_type=VCOV_TYPE if cluster is None else f"{VCOV_TYPE_CLUSTER} {cluster} (G={n_cl})",
        df_inference=None,
        depvar=depvar,
        fixed_effects=[],
        dropped=dropped_rows,
        n_clusters={unit: n} if cluster is None else {cluster: n_cl},
        model="Callaway-Sant'Anna ATT(g,t) ("
        + (
            "outcome regression"
            if method is None
            else f"{METHOD_LABEL[method]}, controls: {', '.join(control_cols) or 'none'}"
        )
        + ")",
        att_gt=table,
        influence=psi,
        unit_group=G,
        unit_weights=w,
        control_group=cg,
        base_period=base_period,
        anticipation=int(anticipation),
        est_method=method or "reg",
        controls=control_cols,
        n_units=n,
        small_groups=small_groups,
        unit_cluster=unit_cluster,
        bootstrap=boot_out,
        boot_options=boot,
        time_periods=tlist.astype(float),
        dropped_units=pl.DataFrame(
            {"unit": [str(u) for u, _ in dropped], "reason": [r for _, r in dropped]},
            schema={"unit": pl.String, "reason": pl.String},
        ),
    )
    # the pre-test: cells before the anticipation window (t < g - anticipation), as did
    pre = np.flatnonzero(table["group"].to_numpy() - anticipation > table["time"].to_numpy())
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


def _rc_cell(
    method: str,
    Y: FloatArray,
    X_ctrl: list[FloatArray],
    w: FloatArray,
    W_rows: FloatArray | None,
    treat: npt.NDArray[np.bool_],
    ctrl: npt.NDArray[np.bool_],
    cur: int,
    bi: int,
    names: list[str],
    g: float,
    t: float,
    n: int,
) -> tuple[float, FloatArray]:
    """One ATT(g, t) by :func:`~tradeimpact.models.drdid.att_2x2_rc` (did's repeated cross
    section path with covariates) and its influence function on the ``n`` units."""
    sub = treat | ctrl
    m1 = sub & np.isfinite(Y[:, cur])
    m0 = sub & np.isfinite(Y[:, bi])
    idx = np.concatenate([np.flatnonzero(m1), np.flatnonzero(m0)])
    n1, n0 = int(m1.sum()), int(m0.sum())
    yy = np.concatenate([Y[m1, cur], Y[m0, bi]])
    post = np.concatenate([np.ones(n1), np.zeros(n0)])
    xx = np.column_stack(
        [np.ones(n1 + n0), *(np.concatenate([xc[m1, cur], xc[m0, bi]]) for xc in X_ctrl)]
    )
    ww = w[idx] if W_rows is None else np.concatenate([W_rows[m1, cur], W_rows[m0, bi]])
    try:
        two = att_2x2_rc(
            method, yy, post, treat[idx].astype(float), xx, ww,
            names=["(Intercept)", *names],
        )  # fmt: skip
    except ModelSpecError as err:
        raise type(err)(f"ATT({_fmt(g)},{_fmt(t)}): {err}") from err
    inf = np.zeros(n)
    np.add.at(inf, idx, two.influence * (n / idx.size))
    return two.att, inf


def _rc_2x2(
    y_post: FloatArray,
    y_pre: FloatArray,
    treat: npt.NDArray[np.bool_],
    ctrl: npt.NDArray[np.bool_],
    w: FloatArray,
    g: float,
    t: float,
    *,
    w_pre: FloatArray | None = None,
) -> tuple[float, FloatArray, int]:
    """Repeated-cross-section 2x2 DiD without covariates (DRDID's ``reg_did_rc`` with an
    intercept): the difference of the four weighted cell means over the observed rows.

    Returns the ATT, each unit's influence function summed over its (one or two) rows, and the
    number of rows ``n1``; the influence of a row in cell ``c`` is ``+- w (y - Ybar_c) /
    mean(w 1_c)`` (means over the ``n1`` rows), as DRDID's ``inf.treat.post - inf.treat.pre -
    inf.control`` reduces to with an intercept only. ``w`` weighs the rows of period ``t``,
    ``w_pre`` (default ``w``) those of the base period.
    """
    wp = w if w_pre is None else w_pre
    obs1, obs0 = np.isfinite(y_post), np.isfinite(y_pre)
    cells = {
        "treated, t": treat & obs1,
        "treated, base": treat & obs0,
        "comparison, t": ctrl & obs1,
        "comparison, base": ctrl & obs0,
    }
    n1 = int(sum(int(m.sum()) for m in cells.values()))
    wcell = {"treated, t": w, "treated, base": wp, "comparison, t": w, "comparison, base": wp}
    for name, m in cells.items():
        if not (wcell[name][m].sum() > 0):
            raise ModelSpecError(
                f"ATT({_fmt(g)},{_fmt(t)}): no observed rows (with positive weight) for the "
                f"{name} period: the 2x2 is not defined"
            )
    inf = np.zeros(y_post.size)
    att = 0.0
    for (m, yv, wv), sign in zip(
        ((cells["treated, t"], y_post, w), (cells["treated, base"], y_pre, wp),
         (cells["comparison, t"], y_post, w), (cells["comparison, base"], y_pre, wp)),
        (1.0, -1.0, -1.0, 1.0),
        strict=True,
    ):  # fmt: skip
        mean = float(wv[m] @ yv[m] / wv[m].sum())
        att += sign * mean
        inf[m] += sign * wv[m] * (yv[m] - mean) / (wv[m].sum() / n1)
    return att, inf, n1


def _checked_weights(frame: pl.DataFrame, weights: str | None) -> FloatArray:
    """Each row's weight (1 without ``weights``); refuses what ``did``/``DRDID`` refuse.

    Non-finite and negative weights raise :class:`ModelSpecError` naming the column and the
    first such row; weights that are all zero too (``did`` normalises by their mean).
    """
    if not weights:
        return np.ones(frame.height)
    w = numeric_column(frame, weights, "weights")
    bad = ~np.isfinite(w)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ModelSpecError(
            f"weights column {weights!r} has {int(bad.sum())} non-finite value(s), first at row "
            f"{row} ({w[row]}): weights must be finite"
        )
    neg = w < 0
    if neg.any():
        row = int(np.flatnonzero(neg)[0])
        raise ModelSpecError(
            f"weights column {weights!r} has {int(neg.sum())} negative value(s), first at row "
            f"{row} ({w[row]:g}): weights must be non-negative (as in did/DRDID)"
        )
    if not (w > 0).any():
        raise ModelSpecError(
            f"weights column {weights!r} is zero in every row (first at row 0): at least one "
            "unit needs a positive weight"
        )
    return np.asarray(w, dtype=np.float64)


def _small_groups(G: FloatArray, min_size: int = MIN_GROUP_SIZE) -> dict[str, int]:
    """Groups (first-treatment period, or "never treated") with fewer than ``min_size`` units."""
    values, counts = np.unique(G, return_counts=True)
    return {
        ("never treated" if np.isinf(v) else _fmt(v)): int(c)
        for v, c in zip(values, counts, strict=True)
        if c < min_size
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
