"""The headline test's size on the user's own panel, and which methods are the same test.

:func:`size_check` reruns the headline test of a fitted :func:`~tradeimpact.models.did` result
where the true effect is zero by construction, and counts how often it rejects at ``level``:

* **placebo dates**: the pre-period rows only (``post = 0``), the actual treated unit(s), a
  pseudo event date at each pre-period date with at least ``min_periods`` periods before and
  after it;
* **placebo units**: all rows, the actual treated unit(s) left out, each control unit (with
  several treated units: seeded sets of that many controls) given the treatment at the actual
  date.

The rate ``k / n`` comes with a Clopper-Pearson interval (Clopper & Pearson 1934). The runs share
the panel, so they are not independent draws: the interval is the nominal binomial one and the
check is a diagnostic (a rate far above ``level`` says the headline test over-rejects on data
like these), not a test of size. With ``N`` units a randomization test over ``N - 1`` placebo
units cannot reach ``p <= 1/N``; ``SizeCheck.min_attainable_p`` reports the smallest p-value a
run could attain, so a rate of zero is read for what it is.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from tradeimpact.core.collinearity import CollinearityWarning
from tradeimpact.core.registry import register_inference
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import DiDDesign, EventStudyDesign


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for ``k`` successes in ``n`` trials (Clopper & Pearson 1934)."""
    if n <= 0:
        return (math.nan, math.nan)
    a = 1.0 - level
    low = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return (low, high)


@dataclass
class SizeCheck:
    """Rejection rate of the headline test at placebo dates and units of the user's panel.

    Attributes
    ----------
    method : str
        The headline test that was rerun.
    level : float
        Nominal level of each test.
    k, n : int
        Rejections and runs.
    runs : polars.DataFrame
        One row per run: ``kind`` ("date" or "unit"), ``placebo`` (pseudo date or unit),
        ``pvalue``, ``reject``, ``min_p`` (the smallest p-value the run could attain).
    skipped : list of str
        Runs that could not be estimated, with the reason.
    """

    method: str
    level: float
    k: int
    n: int
    runs: pl.DataFrame
    ci_level: float = 0.95
    skipped: list[str] = field(default_factory=list)
    counted: str = "placebo runs"

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def conf_int(self) -> tuple[float, float]:
        """Clopper-Pearson interval of the rejection rate at ``ci_level``."""
        return clopper_pearson(self.k, self.n, self.ci_level)

    @property
    def min_attainable_p(self) -> float:
        """Largest over runs of the smallest attainable p-value (0 when continuous)."""
        return float(self.runs["min_p"].to_numpy().max()) if self.n else math.nan

    def counts(self, kind: str) -> tuple[int, int]:
        """``(k, n)`` of the ``"date"`` or ``"unit"`` runs."""
        sub = self.runs.filter(pl.col("kind") == kind)
        return int(sub["reject"].sum()), sub.height

    def sentence(self) -> str:
        """``"in this panel the test rejected at 5% in k of n placebo runs"`` with the details."""
        low, high = self.conf_int
        kd, nd = self.counts("date")
        ku, nu = self.counts("unit")
        text = (
            f"in this panel the test rejected at {100 * self.level:g}% in {self.k} of {self.n} "
            f"{self.counted} ({kd} of {nd} at placebo dates in the pre-period, {ku} of {nu} at "
            f"placebo units; rate {100 * self.rate:.1f}%, {100 * self.ci_level:g}% Clopper-"
            f"Pearson interval {100 * low:.1f}-{100 * high:.1f}%)"
        )
        for kind, n_kind in (("date", nd), ("unit", nu)):
            mins = self.runs.filter(pl.col("kind") == kind)["min_p"].to_numpy()
            if n_kind and float(mins.min()) > self.level:
                text += (
                    f"; a placebo-{kind} run cannot reach p <= {self.level:g} (smallest "
                    f"attainable p {float(mins.min()):.3f}), so those runs cannot reject"
                )
        return text

    def tidy(self) -> pl.DataFrame:
        low, high = self.conf_int
        return pl.DataFrame(
            {
                "method": [self.method],
                "level": [self.level],
                "rejections": [self.k],
                "runs": [self.n],
                "rate": [self.rate],
                "conf_low": [low],
                "conf_high": [high],
            }
        )

    def __str__(self) -> str:
        return self.sentence()


def _min_p(result: Any) -> float:
    den = getattr(result, "p_denominator", None)
    if den:
        return 1.0 / float(den)
    n0 = getattr(result, "n_control", None)
    if n0:
        return 1.0 / (1.0 + float(n0))
    return 0.0


@register_inference("size_check")
def size_check(
    res: Any,
    level: float = 0.05,
    *,
    term: str | None = None,
    dates: bool = True,
    units: bool = True,
    min_periods: int = 3,
    max_runs: int = 200,
    seed: int = 0,
    ci_level: float = 0.95,
) -> SizeCheck:
    """Rerun the headline test of a did() result at placebo dates and units (see module docstring).

    Parameters
    ----------
    res : DiDResult
        A result of :func:`tradeimpact.models.did`.
    level : float
        Level at which each run rejects (``p <= level``).
    dates, units : bool
        Which placebo runs to make.
    min_periods : int
        Pre-period dates on each side of a pseudo event date.
    max_runs : int
        At most this many runs of each kind (dates evenly spaced, unit sets drawn with ``seed``).
    ci_level : float
        Level of the Clopper-Pearson interval of the rate.

    Returns
    -------
    SizeCheck
        ``k``, ``n``, ``rate``, ``conf_int``, ``runs``, ``sentence()``.
    """
    from tradeimpact.models.did import did

    rec = getattr(res, "design_record", None)
    if not isinstance(rec, DiDDesign):
        raise ModelSpecError("size_check needs a result of did() (its design record)")
    args = rec.args()
    term = term or res.effect
    head = res.headline_of(term)
    key = head.method_key
    if args["unit"] is None or args["time"] is None:
        raise ModelSpecError("size_check needs unit and time columns (placebo dates and units)")
    if args.get("ddd") is not None:
        raise ModelSpecError("size_check is implemented for difference-in-differences (no ddd)")
    est: pl.DataFrame = rec.frame
    unit, time, post, treat = args["unit"], args["time"], args["post"], args["treat"]
    options = dict(head.options)
    call = {k: v for k, v in args.items() if k not in ("post", "treat", "ddd")}
    option_kw = {"wild": "wild", "ri": "ri", "ri_t": "ri", "conley_taber": "conley_taber",
                 "conley_taber_fp": "conley_taber"}.get(key)  # fmt: skip
    inference: Any = key

    def run(frame: pl.DataFrame) -> Any:
        kw: dict[str, Any] = dict(call)
        if option_kw is not None:
            kw[option_kw] = options
        with warnings.catch_warnings():
            # A placebo fit drops the same absorbed lower-order terms as the actual fit, which
            # already warned the user once; repeating it per placebo says nothing new. Only this
            # category is silenced: any other warning of a placebo fit shows.
            warnings.simplefilter("ignore", CollinearityWarning)  # safe: see the comment above
            fit = did(frame, post="_sc_post", treat="_sc_treat", inference=inference, **kw)
        return fit.headline_of(fit.effect)

    treated: list[Hashable] = (
        est.filter(pl.col(treat).cast(pl.Float64) == 1)[unit].unique().sort().to_list()
    )

    def runner(frame: pl.DataFrame, placebo_treated: list[Hashable], post_col: str) -> Any:
        frame = frame.with_columns(
            pl.col(post_col).cast(pl.Float64).alias("_sc_post"),
            pl.col(unit).is_in(placebo_treated).cast(pl.Float64).alias("_sc_treat"),
        )
        h = run(frame)
        return h.pvalue, _min_p(h.result)

    return _size_runs(est, unit, time, post, treated, runner, head.method, level, dates, units,
                      min_periods, max_runs, seed, ci_level)  # fmt: skip


def _size_runs(
    est: pl.DataFrame,
    unit: str,
    time: str,
    post: str,
    treated: list[Hashable],
    runner: Any,
    method: str,
    level: float,
    dates: bool,
    units: bool,
    min_periods: int,
    max_runs: int,
    seed: int,
    ci_level: float,
) -> SizeCheck:
    """The placebo-date and placebo-unit runs; ``runner(frame, treated, post_col) -> (p, min_p)``."""
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    if dates:
        pre = est.filter(pl.col(post).cast(pl.Float64) == 0)
        times = pre.filter(pl.col(unit).is_in(treated))[time].unique().sort().to_list()
        cands = times[min_periods : len(times) - min_periods + 1]
        if len(cands) > max_runs:
            idx = np.unique(np.linspace(0, len(cands) - 1, max_runs).round().astype(int))
            cands = [cands[i] for i in idx]
        for c in cands:
            frame = pre.with_columns((pl.col(time) >= c).cast(pl.Float64).alias("_sc_date_post"))
            try:
                p, mp = runner(frame, treated, "_sc_date_post")
            except ModelSpecError as exc:
                skipped.append(f"date {c}: {exc}")
                continue
            rows.append({"kind": "date", "placebo": str(c), "pvalue": p, "min_p": mp})
    if units:
        rest = est.filter(~pl.col(unit).is_in(treated))
        controls = rest[unit].unique().sort().to_list()
        k_tr = len(treated)
        if math.comb(len(controls), k_tr) <= max_runs:
            sets = [list(s) for s in itertools.combinations(controls, k_tr)]
        else:
            rng = np.random.default_rng(seed)
            sets = [
                sorted(rng.choice(np.asarray(controls, dtype=object), k_tr, replace=False).tolist())
                for _ in range(max_runs)
            ]
        for s in sets:
            try:
                p, mp = runner(rest, s, post)
            except ModelSpecError as exc:
                skipped.append(f"unit(s) {s}: {exc}")
                continue
            rows.append({"kind": "unit", "placebo": "+".join(map(str, s)), "pvalue": p,
                         "min_p": mp})  # fmt: skip
    runs = pl.DataFrame(
        rows,
        schema={"kind": pl.String, "placebo": pl.String, "pvalue": pl.Float64, "min_p": pl.Float64},
    ).with_columns((pl.col("pvalue") <= level + 1e-12).alias("reject"))
    return SizeCheck(
        method=method,
        level=level,
        k=int(runs["reject"].sum()),
        n=runs.height,
        runs=runs,
        ci_level=ci_level,
        skipped=skipped,
    )


def size_check_panel(
    data: Any,
    y: str,
    unit: str,
    time: str,
    treated: Hashable | list[Hashable],
    post: str,
    fe: list[str] | None = None,
    *,
    method: str = "ri_t",
    options: dict[str, Any] | None = None,
    level: float = 0.05,
    dates: bool = True,
    units: bool = True,
    min_periods: int = 3,
    max_runs: int = 200,
    seed: int = 0,
    ci_level: float = 0.95,
) -> SizeCheck:
    """:func:`size_check` on a panel, for a test called on a frame (as the case studies do).

    ``data, y, unit, time, treated, post, fe`` as in
    :func:`~tradeimpact.inference.randomization.randomization_inference`; ``method`` one of
    ``"ri_t"`` (studentized RI, the default headline), ``"ri"``, ``"conley_taber"``,
    ``"conley_taber_fp"``, ``"ppml_ri"`` (PPML refits,
    :func:`~tradeimpact.inference.ppml_placebo.ppml_randomization_inference`, ``y`` in
    levels); ``options`` go to that function (e.g. ``{"max_exact": 10_000}``,
    ``{"controls": [...]}``).
    """
    from tradeimpact.inference.conley_taber import conley_taber_panel
    from tradeimpact.inference.ppml_placebo import ppml_randomization_inference
    from tradeimpact.inference.randomization import _to_polars, randomization_inference
    from tradeimpact.inference.studentized import studentized_randomization_inference

    opts = dict(options or {})
    fns = {
        "ri_t": studentized_randomization_inference,
        "ri": randomization_inference,
        "conley_taber": conley_taber_panel,
        "conley_taber_fp": conley_taber_panel,
        "ppml_ri": ppml_randomization_inference,
    }
    if method not in fns:
        raise ModelSpecError(f"method must be one of {sorted(fns)}, not {method!r}")
    if method == "conley_taber_fp":
        opts.setdefault("correction", "ferman_pinto")
    fn: Any = fns[method]
    tl = list(treated) if isinstance(treated, list | tuple) else [treated]
    frame = data if isinstance(data, pl.DataFrame) else _to_polars(data, list(data.columns))
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    label: list[str] = []

    def runner(fr: pl.DataFrame, placebo_treated: list[Hashable], post_col: str) -> Any:
        r = fn(fr, y, unit, time, list(placebo_treated), post_col, fe, **opts)
        if not label:
            label.append(str(r.method))
        return float(r.pvalue), _min_p(r)

    out = _size_runs(frame, unit, time, post, tl, runner, method, level, dates, units,
                     min_periods, max_runs, seed, ci_level)  # fmt: skip
    if label:
        out.method = label[0]
    return out


@register_inference("event_study_size_check")
def event_study_size_check(
    res: Any,
    level: float = 0.05,
    *,
    post_only: bool = True,
    min_periods: int = 3,
    max_runs: int = 200,
    ci_level: float = 0.95,
) -> SizeCheck:
    """Size check of an event study's per-event-time headline (one treated unit, one date).

    Reruns :func:`~tradeimpact.models.event_study` with the same specification and the same
    headline method (the studentized placebo test by default) at placebo dates (rows before the
    event only, the treated unit given each pre-period date with ``min_periods`` periods on
    both sides) and at placebo units (the treated unit left out, each control given the actual
    date). Every event-time coefficient at ``e >= 0`` (all of them with ``post_only=False``)
    of every run is one test: ``k`` of ``n`` such tests rejected at ``level``.
    """
    from tradeimpact.models.event_study import event_study

    rec = getattr(res, "design_record", None)
    if not isinstance(rec, EventStudyDesign):
        raise ModelSpecError("event_study_size_check needs a result of event_study()")
    args = rec.args()
    head = res.headline
    keys = {h.method_key for h in head.by_event_time.values()}
    key = keys.pop() if len(keys) == 1 else "cr1"
    inference: Any = {"ri_t": "ri_t", "ri": "ri", "cr1": "cr1"}.get(key, key)
    est: pl.DataFrame = rec.frame
    unit, time = args["unit"], args["time"]
    cohort = rec.cohort
    units_arr = est[unit].to_numpy()
    treated = np.unique(units_arr[np.isfinite(cohort)])
    dates = np.unique(cohort[np.isfinite(cohort)])
    if treated.size != 1 or dates.size != 1:
        raise ModelSpecError("event_study_size_check is for one treated unit with one event date")
    period = rec.period
    call = {k: v for k, v in args.items() if k not in ("unit", "time", "y")}

    def run(frame: pl.DataFrame, tr_unit: Any, date_value: Any) -> list[tuple[int, float, float]]:
        frame = frame.with_columns((pl.col(unit) == tr_unit).cast(pl.Int8).alias("_sc_treated"))
        with warnings.catch_warnings():
            # A placebo fit drops the same absorbed event times as the actual fit, which already
            # warned the user once; the dates it skips are recorded in SizeCheck.skipped. Only
            # this category is silenced: any other warning of a placebo fit shows.
            warnings.simplefilter("ignore", CollinearityWarning)  # safe: see the comment above
            fit = event_study(frame, args["y"], unit, time, treated="_sc_treated",
                              event_date=date_value, inference=inference, **call)  # fmt: skip
        out = []
        for e, h in fit.headline.by_event_time.items():
            if e >= 0 or not post_only:
                out.append((e, h.pvalue, _min_p(h.result)))
        return out

    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    date_value = est.filter(pl.Series(period == dates[0]))[time][0]
    pre = est.filter(pl.Series(period < dates[0]))
    pre_period = period[period < dates[0]]
    tr_rows = pre[unit].to_numpy() == treated[0]
    cand_p = np.unique(pre_period[tr_rows])[min_periods : -min_periods or None]
    if cand_p.size > max_runs:
        cand_p = cand_p[np.unique(np.linspace(0, cand_p.size - 1, max_runs).round().astype(int))]
    for cp in cand_p:
        value = pre.filter(pl.Series(pre_period == cp))[time][0]
        try:
            res_run = run(pre, treated[0], value)
        except ModelSpecError as exc:
            skipped.append(f"date {value}: {exc}")
            continue
        rows += [{"kind": "date", "placebo": f"{value} e={e}", "pvalue": p, "min_p": mp}
                 for e, p, mp in res_run]  # fmt: skip
    rest = est.filter(pl.col(unit) != treated[0])
    controls = np.unique(rest[unit].to_numpy())[:max_runs]
    for c in controls:
        try:
            res_run = run(rest, c, date_value)
        except ModelSpecError as exc:
            skipped.append(f"unit {c}: {exc}")
            continue
        rows += [{"kind": "unit", "placebo": f"{c} e={e}", "pvalue": p, "min_p": mp}
                 for e, p, mp in res_run]  # fmt: skip
    runs = pl.DataFrame(
        rows,
        schema={"kind": pl.String, "placebo": pl.String, "pvalue": pl.Float64, "min_p": pl.Float64},
    ).with_columns((pl.col("pvalue") <= level + 1e-12).alias("reject"))
    return SizeCheck(
        method=head.method,
        counted="placebo tests (runs x "
        + ("post-event" if post_only else "event-time")
        + " coefficients)",
        level=level,
        k=int(runs["reject"].sum()),
        n=runs.height,
        runs=runs,
        ci_level=ci_level,
        skipped=skipped,
    )


def same_test(a: Any, b: Any, *, level: float = 0.95, rtol: float = 1e-9) -> str | None:
    """Why two inference results are the same test, or None.

    Either result's ``same_test_as`` note (set where a design makes two methods one test, e.g.
    coefficient RI and Conley-Taber with one treated unit in a balanced panel) when the other
    has the same p-value; otherwise "identical p-value and interval" when both agree to ``rtol``.
    Tables use it to print one row ("coefficient RI = Conley-Taber here") instead of two.
    """

    def pv(x: Any) -> float:
        p = x.pvalue
        return float(p() if callable(p) else p)

    def ci(x: Any) -> tuple[float, float]:
        lo, hi = x.conf_int(level)
        return float(lo), float(hi)

    same_p = math.isclose(pv(a), pv(b), rel_tol=rtol, abs_tol=1e-12)
    if not same_p:
        return None
    for x in (a, b):
        note = getattr(x, "same_test_as", None)
        if note:
            return str(note)
    (la, ha), (lb, hb) = ci(a), ci(b)
    if all(
        (math.isinf(u) and u == v) or math.isclose(u, v, rel_tol=rtol, abs_tol=1e-12)
        for u, v in ((la, lb), (ha, hb))
    ):
        return "identical p-value and interval on this panel"
    return None


__all__ = [
    "SizeCheck",
    "clopper_pearson",
    "event_study_size_check",
    "same_test",
    "size_check",
    "size_check_panel",
]
