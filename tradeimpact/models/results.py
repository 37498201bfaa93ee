"""Result objects of the linear estimators (DiD, event studies, PPML), in the linearmodels style.

Conventions (issue 13, item 5; one rule for every result of :mod:`tradeimpact.models`):

* **pandas for the labelled estimates**, as in linearmodels: ``params``, ``std_errors``,
  ``tstats``, ``pvalues`` and ``cov`` are :class:`pandas.Series` / :class:`pandas.DataFrame`
  indexed by coefficient name (``res.params["treat:post"]``), ``conf_int(level)`` a
  :class:`pandas.DataFrame` with columns ``lower``/``upper``; pyfixest's accessors ``coef()``,
  ``se()``, ``tstat()``, ``pvalue()``, ``confint()`` give the same numbers under its names.
* **polars for the tables**: ``tidy()`` (one row per coefficient), ``event_table()`` (one row per
  event time), ``Headline.tidy()`` and ``EventStudyHeadline.table()`` return
  :class:`polars.DataFrame`. Every one of them takes ``backend="pandas"`` for the same table as
  a :class:`pandas.DataFrame` (same columns, default RangeIndex); the other direction is
  ``polars.from_pandas(res.params.rename_axis("term").reset_index())``, or simply ``tidy()``.
* ``summary()`` is a printable table; ``nobs``, ``fixed_effects`` (names of the absorbed
  groupings), ``dropped`` (rows dropped before estimation, by reason: ``singletons``,
  ``missing``, ``zeros_in_log``, ...) and ``inference`` (the method behind the headline p-value
  and interval) describe the estimation.

Results are immutable after fitting. The analytic covariance (CR1, two-way, Driscoll-Kraay,
HC1; see :mod:`tradeimpact.core.covariance`) always gives ``std_errors``. A further inference
method is run on a fitted result by :meth:`RegressionResult.with_inference`, which returns a
*new* result (the original is unchanged) in which that method is the headline of the
coefficient(s) it tests and *replaces* their analytic p-value and interval in ``pvalues``,
``conf_int()`` and ``tidy()``; ``inference`` then names it and ``tidy()`` carries an
``inference`` column per row. The analytic figures stay available as ``analytic_pvalues`` and
``analytic_conf_int()``. The estimators' ``inference=`` arguments are shortcuts for the same
call made while the result is built: ``did(..., inference="ri")`` equals
``did(..., inference="cr1").with_inference("ri")``. The methods themselves live in
:mod:`tradeimpact.inference` and are reached by name through
:func:`tradeimpact.core.registry.inference_method` (this module imports nothing from the
inference layer); what they need of the fit is the result's typed design record
(:class:`DiDDesign`, :class:`EventStudyDesign`).

The headline test (issue 10). ``result.headline`` (:class:`Headline`; per event time for event
studies, :class:`EventStudyHeadline`) is the test a referee should read: with few treated units
and no ``inference=`` the estimators set it to the studentized randomization test *without*
touching ``pvalues``/``conf_int()``, which stay analytic (CR1) and are shown beside it, labelled.
An explicitly requested method is both the headline and, as described above, in ``pvalues``.

Reference distribution of the analytic tests: Student t with ``df_inference`` degrees of freedom
(``G - 1`` with clustered covariances, the smallest ``G`` for two-way; ``n - K`` otherwise), as
fixest/pyfixest and Stata do; linearmodels uses the normal (``df_inference=None`` gives that).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
from scipy import stats

from tradeimpact.core.registry import inference_method
from tradeimpact.errors import ModelSpecError

FloatArray = npt.NDArray[np.float64]
Backend = Literal["polars", "pandas"]
R = TypeVar("R", bound="RegressionResult")


def _as_backend(frame: pl.DataFrame, backend: Backend) -> Any:
    """``frame`` as polars (the default) or pandas (``backend="pandas"``, same columns)."""
    if backend == "polars":
        return frame
    if backend == "pandas":
        return frame.to_pandas()
    raise ModelSpecError(f"backend must be 'polars' or 'pandas', not {backend!r}")


@dataclass(frozen=True)
class DiDDesign:
    """What a fitted :func:`~tradeimpact.models.did` keeps so that inference can rerun it.

    The design record of a :class:`DiDResult` (``result.design_record``): the inference methods
    of :mod:`tradeimpact.inference` rebuild the placebo assignments, the bootstrap and the size
    check from it (and from ``extra["design"]``, the demeaned linear design), never from the
    user's frame.

    Attributes
    ----------
    frame : polars.DataFrame
        The estimation rows (before singleton removal, which ``extra["design"].keep`` records)
        with the outcome as fitted in ``_y`` (``log(y)`` for ``outcome="log"``) and, when
        ``post`` is coded on treated rows only, its common post ``1[time >= date]`` in
        ``_post_common``.
    y, treat, post : str
        The outcome (as given, untransformed), treatment-group and post columns of the call.
    post_rerun : str
        The post column the size check reruns with (``post``, or ``"_post_common"``).
    unit, time, ddd, weights : str or None
    fe : list
        Absorbed fixed effects as fitted (an entry may be a list: an interaction).
    controls : list of str
    outcome : {"log", "level", "ppml"}
    vcov : str or dict
        The covariance argument as resolved (``"CR1"`` by unit when not given).
    small_sample : str
    """

    frame: pl.DataFrame
    y: str
    treat: str
    post: str
    post_rerun: str
    unit: str | None
    time: str | None
    ddd: str | None
    fe: list[Any]
    controls: list[str]
    weights: str | None
    outcome: str
    vcov: Any
    small_sample: str = "fixest"

    def args(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~tradeimpact.models.did` that refit this design
        (``post`` is :attr:`post_rerun`; ``data`` not included)."""
        return {
            "y": self.y, "unit": self.unit, "time": self.time, "post": self.post_rerun,
            "treat": self.treat, "ddd": self.ddd, "fe": list(self.fe),
            "controls": list(self.controls), "weights": self.weights, "outcome": self.outcome,
            "vcov": self.vcov, "small_sample": self.small_sample,
        }  # fmt: skip


@dataclass(frozen=True)
class EventStudyDesign:
    """What a fitted :func:`~tradeimpact.models.event_study` keeps so that inference can rerun it.

    The design record of an :class:`EventStudyResult` (``result.design_record``).

    Attributes
    ----------
    frame : polars.DataFrame
        The estimation rows (before singleton removal: ``extra["design"].keep``), outcome as
        fitted in ``_y``.
    y, unit, time : str
        Columns of the call (``y`` untransformed).
    cohort, period, rel : array (n,)
        Per estimation row: the event period (``inf`` for never-treated units), the period index
        of ``time``, the event time as used (binned into the window with ``endpoints="bin"``).
    window, ref, endpoints, fe, controls, weights, freq, vcov, outcome, estimator
        The arguments of the call (``fe`` as given: None for ``[unit, time]``).
    fixed_effects : FixedEffects or None
        The absorbed fixed effects on :attr:`frame`'s rows.
    controls_x, weights_x : array or None
        The control columns and the weights on :attr:`frame`'s rows.
    """

    frame: pl.DataFrame
    y: str
    unit: str
    time: str
    cohort: FloatArray
    period: FloatArray
    rel: FloatArray
    window: tuple[int, int] | None
    ref: int
    endpoints: str
    fe: Any
    controls: list[str]
    weights: str | None
    freq: Any
    vcov: Any
    outcome: str
    estimator: str
    fixed_effects: Any = None
    controls_x: FloatArray | None = None
    weights_x: FloatArray | None = None

    def args(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~tradeimpact.models.event_study` that refit this
        design (the treatment assignment not included)."""
        return {
            "y": self.y, "unit": self.unit, "time": self.time, "window": self.window,
            "ref": self.ref, "endpoints": self.endpoints, "fe": self.fe,
            "controls": list(self.controls), "weights": self.weights, "freq": self.freq,
            "vcov": self.vcov, "outcome": self.outcome,
        }  # fmt: skip


@dataclass(frozen=True)
class HeadlineChoice:
    """What the default-headline rule of the inference layer chose for one coefficient.

    ``method_key`` (``"cr1"`` for the analytic test, else a registered method name), ``result``
    (the inference result, None for the analytic test), ``options`` (as run, so that the size
    check reruns the same test), ``note`` (why this method) and ``extra`` (entries for the
    result's ``extra``, e.g. a placebo band).
    """

    method_key: str
    result: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class HeadlineInference(Protocol):
    """What an attached inference method must offer for one coefficient.

    ``pvalue`` (float) and ``conf_int(level) -> (low, high)``; ``method`` names it (a short label
    such as ``"wild cluster bootstrap (restricted, Webb, B=9999)"``).
    """

    @property
    def pvalue(self) -> float: ...

    def conf_int(self, level: float = 0.95) -> Any: ...


def _interval(obj: Any, level: float) -> tuple[float, float]:
    """``(low, high)`` of an inference object's ``conf_int(level)`` (tuple, array or frame).

    An object whose ``conf_int`` returns None (the PPML randomization test,
    :class:`~tradeimpact.inference.ppml_placebo.PPMLPlaceboResult`, says why in ``ci_note``)
    gives ``(-inf, inf)`` when no effect size can be rejected at ``level`` (``A`` assignments
    with ``1 / A > 1 - level``: every value is in the interval) and ``(nan, nan)`` when the
    interval was not computed (refit budget exceeded).
    """
    ci = obj.conf_int(level)
    if ci is None:
        den = getattr(obj, "p_denominator", None)
        if den and 1.0 / float(den) > 1.0 - level + 1e-12:
            return (-np.inf, np.inf)
        return (np.nan, np.nan)
    if isinstance(ci, pl.DataFrame):
        row = ci.row(0, named=True)
        low = row["conf_low"] if "conf_low" in row else row["lower"]
        high = row["conf_high"] if "conf_high" in row else row["upper"]
        return float(low), float(high)
    if isinstance(ci, pd.DataFrame):
        return float(ci.iloc[0, 0]), float(ci.iloc[0, 1])
    low, high = np.asarray(ci, dtype=float).ravel()[:2]
    return float(low), float(high)


def _select_names(
    names: list[str],
    keep: str | Sequence[str] | None,
    drop: str | Sequence[str] | None,
    exact_match: bool,
) -> list[str]:
    """The coefficient names that ``keep`` selects and ``drop`` removes (pyfixest's rule).

    Patterns are regular expressions (``re.search``) unless ``exact_match``; the result is in
    the order of the ``keep`` patterns, then of the model. No match raises a ModelSpecError.
    """
    import re

    def as_list(x: str | Sequence[str] | None) -> list[str]:
        return [x] if isinstance(x, str) else list(x or [])

    def hit(pattern: str, name: str) -> bool:
        return name == pattern if exact_match else re.search(pattern, name) is not None

    keeps, drops = as_list(keep), as_list(drop)
    chosen = names if not keeps else [n for k in keeps for n in names if hit(k, n)]
    chosen = list(dict.fromkeys(n for n in chosen if not any(hit(d, n) for d in drops)))
    if not chosen:
        raise ModelSpecError(
            f"no coefficient matches keep={keeps} / drop={drops}; the coefficients are {names}"
        )
    return chosen


#: Draws and seed of the simulated sup-t critical value (:func:`sup_t_critical_value`): fixed,
#: so that a joint band is the same on every run. With 100,000 draws the Monte Carlo standard
#: error of the critical value is about 0.005 for 10 coefficients (``sqrt(p (1 - p) / B) / f(c)``
#: with ``f`` the density of ``max |Z|`` at the 95% quantile ``c``).
SUPT_DRAWS = 100_000
SUPT_SEED = 20190
_SUPT_CHUNK = 20_000


def sup_t_critical_value(
    cov: npt.ArrayLike,
    level: float = 0.95,
    *,
    df: int | None = None,
    draws: int = SUPT_DRAWS,
    seed: int = SUPT_SEED,
) -> float:
    """Critical value of the sup-t simultaneous confidence band of ``k`` coefficients.

    The ``level`` quantile of ``max_k |Z_k|`` with ``Z ~ N(0, R)`` and ``R = corr(cov)``
    (Montiel Olea & Plagborg-Moller 2019, eq. 4, the plug-in band), so that the band
    ``b_k -/+ c * se_k`` covers all ``k`` coefficients at once with probability ``level``
    asymptotically. With ``df`` (the t reference of the pointwise intervals, e.g. ``G - 1``
    clusters) ``Z`` is multivariate t: ``Z = N(0, R) / sqrt(chi2(df) / df)`` with one common
    denominator, so that for one coefficient the band is the pointwise t interval.

    For ``k = 1`` the value is exact (the normal or t quantile); otherwise simulated with
    ``draws`` draws from :func:`numpy.random.default_rng` seeded with ``seed`` (fixed defaults:
    the same band on every run). A correlation matrix that is not positive semi-definite (a
    two-way clustered covariance can be indefinite) is simulated from its eigen-decomposition
    with the negative eigenvalues set to zero.

    Parameters
    ----------
    cov : array (k, k)
        Covariance matrix of the estimates (only their correlation matters).
    level : float
        Simultaneous coverage, in (0, 1).
    df : int or None
        Degrees of freedom of the t reference; None for the normal.
    draws, seed : int
        Simulation draws and seed (defaults :data:`SUPT_DRAWS`, :data:`SUPT_SEED`).

    Returns
    -------
    float
        The critical value ``c`` (``>=`` the pointwise one; ``<=`` Bonferroni's).

    Raises
    ------
    ModelSpecError
        ``level`` outside (0, 1), an empty or non-square ``cov``, a variance that is not
        positive and finite, ``draws < 100``.

    References
    ----------
    Montiel Olea, J. L. and Plagborg-Moller, M. (2019), "Simultaneous confidence bands:
    Theory, implementation, and an application to SVARs", *Journal of Applied Econometrics*
    34(1), 1-17.
    """
    if not 0.0 < level < 1.0:
        raise ModelSpecError(f"level must be in (0, 1), not {level!r}")
    v = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    k = v.shape[0]
    if k == 0 or v.shape != (k, k):
        raise ModelSpecError(f"cov must be a non-empty square matrix, not of shape {v.shape}")
    var = np.diag(v)
    bad = np.flatnonzero(~(np.isfinite(var) & (var > 0)))
    if bad.size:
        raise ModelSpecError(
            f"the joint band needs a positive, finite variance of every coefficient; positions "
            f"{bad.tolist()} have variance {var[bad].tolist()}"
        )
    q = 0.5 + level / 2
    if k == 1:
        return float(stats.norm.ppf(q) if df is None else stats.t.ppf(q, df))
    if draws < 100:
        raise ModelSpecError(f"draws must be at least 100, not {draws!r}")
    sd = np.sqrt(var)
    corr = v / np.outer(sd, sd)
    w, vec = np.linalg.eigh((corr + corr.T) / 2)
    root = vec * np.sqrt(np.clip(w, 0.0, None))  # corr = root @ root.T
    rng = np.random.default_rng(seed)
    maxima = np.empty(draws)
    for start in range(0, draws, _SUPT_CHUNK):
        m = min(_SUPT_CHUNK, draws - start)
        z = rng.standard_normal((m, k)) @ root.T
        if df is not None:
            z /= np.sqrt(rng.chisquare(df, m) / df)[:, None]
        maxima[start : start + m] = np.abs(z).max(axis=1)
    return float(np.quantile(maxima, level))


@dataclass
class AttachedInference:
    """An inference method attached to one coefficient (see :meth:`RegressionResult.with_inference`)."""

    term: str
    method: str
    result: Any

    @property
    def pvalue(self) -> float:
        p = self.result.pvalue
        return float(p() if callable(p) else p)

    def conf_int(self, level: float = 0.95) -> tuple[float, float]:
        return _interval(self.result, level)


@dataclass
class Headline:
    """The headline test of one coefficient: the p-value and interval a referee should read.

    ``pvalue``, ``p_fraction`` (a :class:`~fractions.Fraction` where the p-value is exact, else
    None), ``conf_int(level)``, ``method`` (what produced them), ``note`` (why this method, e.g.
    "more than 5 treated units"), ``same_test_as`` (set when the method is, in this design, the
    same test as another one the report may show, e.g. Conley-Taber = coefficient RI with one
    treated unit in a balanced panel). The analytic CR1 figures are kept beside it
    (``cr1_pvalue``, ``cr1_conf_int``, ``cr1_method``), as in ``params``/``pvalues``.
    ``size_check()`` reruns the headline test at placebo dates and placebo units of the panel.
    """

    term: str
    estimate: float
    method: str
    method_key: str
    result: Any = None
    note: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    _owner: Any = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        res: RegressionResult,
        term: str,
        result: Any,
        *,
        method_key: str,
        options: Mapping[str, Any] | None = None,
        note: str = "",
    ) -> Headline:
        """Headline from an inference object (``pvalue``, ``conf_int(level)``, ``method``)."""
        method = str(getattr(result, "method", method_key))
        return cls(term, res._coef_value(term), method, method_key, result, note,
                   dict(options or {}), res)  # fmt: skip

    @classmethod
    def of_summary(
        cls,
        res: RegressionResult,
        label: str,
        result: Any,
        *,
        method_key: str,
        options: Mapping[str, Any] | None = None,
    ) -> Headline:
        """Headline of a summary of the fit that is not a coefficient (``label``, e.g.
        ``"ATT"``): its estimate is the inference result's ``estimate``."""
        method = str(getattr(result, "method", method_key))
        estimate = float(getattr(result, "estimate", np.nan))
        note = f"a test of the {label} of the fit, not of a coefficient"
        return cls(label, estimate, method, method_key, result, note, dict(options or {}), res)

    @classmethod
    def analytic(cls, res: RegressionResult, term: str, *, note: str = "") -> Headline:
        """The analytic (CR1 or other ``vcov``) test as headline."""
        dist = "normal" if res.df_inference is None else f"t({res.df_inference})"
        return cls(term, res._coef_value(term), f"analytic {res.vcov_type}, {dist}", "cr1",
                   None, note, {}, res)  # fmt: skip

    @property
    def pvalue(self) -> float:
        if self.result is None:
            return float(self._owner.analytic_pvalues[self.term])
        p = self.result.pvalue
        return float(p() if callable(p) else p)

    @property
    def p_fraction(self) -> Fraction | None:
        """The p-value as a fraction when it is exact (all assignments enumerated), else None."""
        if self.result is None or not getattr(self.result, "exact", False):
            return None
        frac = getattr(self.result, "p_fraction", None)
        if frac is None and hasattr(self.result, "p_numerator"):
            frac = Fraction(self.result.p_numerator, self.result.p_denominator)
        return frac if isinstance(frac, Fraction) else None

    def conf_int(self, level: float = 0.95) -> tuple[float, float]:
        if self.result is None:
            row = self._owner.analytic_conf_int(level).loc[self.term]
            return float(row["lower"]), float(row["upper"])
        return _interval(self.result, level)

    def ci_note(self, level: float = 0.95) -> str:
        """Why :meth:`conf_int` is ``(-inf, inf)`` or ``(nan, nan)`` at ``level`` (else "")."""
        if self.result is None:
            return ""
        low, high = self.conf_int(level)
        if np.isfinite(low) and np.isfinite(high):
            return ""
        den = getattr(self.result, "p_denominator", None)
        if den and 1.0 / float(den) > 1.0 - level + 1e-12:
            # the reason at this level (the result's ci_note is that of its last call)
            return (
                f"no interval at {level:.0%}: with {den} assignments the smallest p-value is "
                f"1/{den} > {1.0 - level:g}, so no effect size is rejected"
            )
        return str(getattr(self.result, "ci_note", "") or "")

    @property
    def p_fraction_text(self) -> str | None:
        """``"k/P"`` as counted (unreduced: ``2/20``, not ``1/10``) when the p-value is exact."""
        if self.p_fraction is None:
            return None
        if hasattr(self.result, "p_numerator"):
            return f"{self.result.p_numerator}/{self.result.p_denominator}"
        return f"{self.p_fraction.numerator}/{self.p_fraction.denominator}"

    @property
    def same_test_as(self) -> str | None:
        """Where this test is the same test as another method, which and why (else None)."""
        note = getattr(self.result, "same_test_as", None)
        return str(note) if note else None

    @property
    def reduces_to(self) -> str | None:
        note = getattr(self.result, "reduces_to", None)
        return str(note) if note else None

    def _summary_se(self) -> float | None:
        """The analytic s.e. of a summary headline (the fit's ``aggregates[term + "_se"]``);
        None for a coefficient; NaN when the fit has none."""
        if self.term in self._owner.names:
            return None
        agg = getattr(self._owner, "aggregates", None) or {}
        return float(agg.get(f"{self.term}_se", np.nan))

    @property
    def cr1_method(self) -> str:
        dist = "normal" if self._owner.df_inference is None else f"t({self._owner.df_inference})"
        se = self._summary_se()
        if se is not None and not np.isfinite(se):
            return f"no analytic test of {self.term} in this result"
        return f"analytic {self._owner.vcov_type}, {dist}"

    @property
    def cr1_pvalue(self) -> float:
        se = self._summary_se()
        if se is None:
            return float(self._owner.analytic_pvalues[self.term])
        t = abs(self.estimate) / se if se > 0 else np.nan
        df = self._owner.df_inference
        return float(2 * (stats.norm.sf(t) if df is None else stats.t.sf(t, df)))

    def cr1_conf_int(self, level: float = 0.95) -> tuple[float, float]:
        se = self._summary_se()
        if se is None:
            row = self._owner.analytic_conf_int(level).loc[self.term]
            return float(row["lower"]), float(row["upper"])
        c = self._owner._crit(level)
        return self.estimate - c * se, self.estimate + c * se

    def tidy(self, level: float = 0.95, *, backend: Backend = "polars") -> Any:
        """One row: the headline test and, beside it, the analytic (CR1) one, labelled.

        A :class:`polars.DataFrame` (``backend="pandas"``: the same as pandas).
        """
        low, high = self.conf_int(level)
        c_low, c_high = self.cr1_conf_int(level)
        frac = self.p_fraction_text
        out = pl.DataFrame(
            {
                "term": [self.term],
                "estimate": [self.estimate],
                "p_value": [self.pvalue],
                "p_fraction": [frac],
                "conf_low": [low],
                "conf_high": [high],
                "method": [self.method],
                "cr1_p_value": [self.cr1_pvalue],
                "cr1_conf_low": [c_low],
                "cr1_conf_high": [c_high],
                "cr1_method": [self.cr1_method],
                "same_test_as": [self.same_test_as],
                "note": [self.note or None],
            },
            schema={
                "term": pl.String,
                "estimate": pl.Float64,
                "p_value": pl.Float64,
                "p_fraction": pl.String,
                "conf_low": pl.Float64,
                "conf_high": pl.Float64,
                "method": pl.String,
                "cr1_p_value": pl.Float64,
                "cr1_conf_low": pl.Float64,
                "cr1_conf_high": pl.Float64,
                "cr1_method": pl.String,
                "same_test_as": pl.String,
                "note": pl.String,
            },
        )
        return _as_backend(out, backend)

    def describe(self, level: float = 0.95) -> str:
        """One paragraph: headline p (fraction), interval and method; CR1 beside it, labelled."""
        low, high = self.conf_int(level)
        frac = self.p_fraction_text
        p = f"{self.pvalue:.3f}" + (f" ({frac})" if frac else "")
        c_low, c_high = self.cr1_conf_int(level)
        text = (
            f"{self.term} = {self.estimate:.4g}; headline ({self.method}): p = {p}, "
            f"{100 * level:g}% interval [{low:.4g}, {high:.4g}]; beside it, {self.cr1_method}: "
            f"p = {self.cr1_pvalue:.3f}, [{c_low:.4g}, {c_high:.4g}]"
        )
        if self.ci_note(level):
            text += f"; headline interval: {self.ci_note(level)}"
        if self.same_test_as:
            text += f"; the same test as {self.same_test_as}"
        if self.note:
            text += f" ({self.note})"
        return text

    def size_check(self, level: float = 0.05, **kwargs: Any) -> Any:
        """Rerun this headline test at placebo dates and units of the panel.

        The registered method ``"size_check"``: :func:`tradeimpact.inference.headline.size_check`
        (keyword arguments go there).
        """
        return inference_method("size_check")(self._owner, level=level, term=self.term, **kwargs)


@dataclass
class RegressionResult:
    """A fitted linear (or Poisson) model with fixed effects.

    Conventions (module docstring): ``params``, ``std_errors``, ``tstats``, ``pvalues``, ``cov``
    and ``conf_int(level)`` are pandas, labelled by coefficient (linearmodels); ``tidy()`` is a
    polars frame (``tidy(backend="pandas")`` the same as pandas). Immutable after fitting:
    :meth:`with_inference` and :meth:`with_headline` return new results.

    Parameters
    ----------
    names : list of str
        Coefficient names (the kept regressors, in order).
    beta : array (k,)
        Estimates (``coef()`` gives them labelled, as in pyfixest).
    cov_matrix : array (k, k)
        Covariance matrix of the estimates (from ``vcov_type``; labelled: ``cov``).
    nobs : int
        Observations used (after dropping singletons, missing values, zeros in logs).
    vcov_type : str
        The covariance estimator, e.g. ``"CR1 clustered by unit (G=50)"``.
    df_inference : int or None
        Degrees of freedom of the t reference distribution; None for the normal.
    depvar : str
        Name of the dependent variable (as transformed: ``log(value)``).
    fixed_effects : list of str
        Names of the absorbed fixed-effect groupings.
    dropped : dict
        Rows dropped before estimation, by reason.
    dropped_regressors : list of str
        Regressors dropped because collinear with the fixed effects or with other regressors.
    n_clusters : dict
        Number of clusters per clustering variable.
    model : str
        ``"OLS"``, ``"WLS"`` or ``"PPML"``.
    extra : dict
        Estimator-specific values (r2, within r2, residuals, ...).
    """

    names: list[str]
    beta: FloatArray
    cov_matrix: FloatArray
    nobs: int
    vcov_type: str
    df_inference: int | None
    depvar: str = "y"
    fixed_effects: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_regressors: list[str] = field(default_factory=list)
    n_clusters: dict[str, int] = field(default_factory=dict)
    model: str = "OLS"
    extra: dict[str, Any] = field(default_factory=dict)
    attached: dict[str, AttachedInference] = field(default_factory=dict)
    headlines: dict[str, Headline] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.beta = np.asarray(self.beta, dtype=np.float64).ravel()
        self.cov_matrix = np.asarray(self.cov_matrix, dtype=np.float64).reshape(
            self.beta.size, self.beta.size
        )
        self.names = list(self.names)
        if len(self.names) != self.beta.size:
            raise ValueError("names and coefficients differ in length")

    # -- labelled estimates -------------------------------------------------------------------
    @property
    def params(self) -> pd.Series:
        """Estimated coefficients, labelled."""
        return pd.Series(self.beta, index=self.names, name="parameter")

    def _coef_value(self, term: str) -> float:
        """The coefficient of ``term`` (``float(params[term])`` without building the Series:
        headlines read one per tested term, on every fit)."""
        try:
            return float(self.beta[self.names.index(term)])
        except ValueError:
            raise KeyError(term) from None  # as params[term]

    @property
    def cov(self) -> pd.DataFrame:
        """Full covariance matrix of the estimates (labelled), from ``vcov_type``."""
        return pd.DataFrame(self.cov_matrix, index=self.names, columns=self.names)

    @property
    def std_errors(self) -> pd.Series:
        """Analytic standard errors (square roots of the diagonal of ``cov``)."""
        return pd.Series(
            # a negative variance (non-PSD two-way CR1) has no standard error: NaN, as pyfixest
            np.sqrt(np.where(np.diag(self.cov_matrix) >= 0, np.diag(self.cov_matrix), np.nan)),
            index=self.names,
            name="std_error",
        )

    @property
    def tstats(self) -> pd.Series:
        """``params / std_errors``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.Series(self.beta / self.std_errors.to_numpy(), index=self.names, name="tstat")

    def _crit(self, level: float) -> float:
        q = 0.5 + level / 2
        if self.df_inference is None:
            return float(stats.norm.ppf(q))
        return float(stats.t.ppf(q, self.df_inference))

    @property
    def analytic_pvalues(self) -> pd.Series:
        """Two-sided p-values from ``tstats`` (t with ``df_inference`` df, or normal)."""
        t = np.abs(self.tstats.to_numpy())
        if self.df_inference is None:
            p = 2 * stats.norm.sf(t)
        else:
            p = 2 * stats.t.sf(t, self.df_inference)
        return pd.Series(p, index=self.names, name="pvalue")

    def analytic_conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """``params -/+ crit * std_errors`` (columns ``lower``, ``upper``)."""
        c = self._crit(level)
        se = self.std_errors.to_numpy()
        return pd.DataFrame(
            {"lower": self.beta - c * se, "upper": self.beta + c * se}, index=self.names
        )

    @property
    def pvalues(self) -> pd.Series:
        """Headline p-values: the attached inference where there is one, analytic otherwise."""
        p = self.analytic_pvalues.copy()
        for term, inf in self.attached.items():
            if term in p.index:  # a summary test (e.g. "ATT") is no coefficient's p-value
                p[term] = inf.pvalue
        return p

    def conf_int(
        self,
        level: float = 0.95,
        joint: bool = False,
        *,
        terms: Sequence[str] | None = None,
        draws: int = SUPT_DRAWS,
        seed: int = SUPT_SEED,
    ) -> pd.DataFrame:
        """Confidence intervals (``lower``, ``upper``) at ``level``: pointwise or joint (sup-t).

        ``joint=False`` (default): the headline interval of each coefficient. Coefficients with
        an attached inference method get its interval (e.g. wild bootstrap or randomization
        inference by test inversion); the others the analytic one.

        ``joint=True``: the sup-t simultaneous band ``b_k -/+ c * se_k`` over ``terms`` (default
        :meth:`_joint_family`: every coefficient; for an event study its event-time
        coefficients), which covers all of them at once with probability ``level``; ``c`` is
        :func:`sup_t_critical_value` of their analytic covariance ``cov`` (``vcov_type``) with
        the same reference distribution as the pointwise analytic intervals (t with
        ``df_inference`` df, or normal), exact for one coefficient and otherwise simulated
        with ``draws`` draws seeded with ``seed``. The band is always analytic: an attached
        method's pointwise interval does not enter it. The frame then holds the rows of
        ``terms`` only, with ``attrs["critical_value"]`` (``c``) and ``attrs["method"]``.

        Parameters
        ----------
        level : float
            Coverage (pointwise, or simultaneous with ``joint=True``), in (0, 1).
        joint : bool
            Sup-t simultaneous band instead of pointwise intervals.
        terms : sequence of str, optional
            The coefficients (rows; the family of the joint band).
        draws, seed : int
            Simulation of the joint critical value (defaults :data:`SUPT_DRAWS`,
            :data:`SUPT_SEED`).

        Returns
        -------
        pandas.DataFrame
            Columns ``lower``, ``upper``, indexed by coefficient.

        Raises
        ------
        ModelSpecError
            A term that is not a coefficient; ``level`` outside (0, 1); a joint band over a
            coefficient without a positive variance.

        References
        ----------
        Montiel Olea, J. L. and Plagborg-Moller, M. (2019), "Simultaneous confidence bands:
        Theory, implementation, and an application to SVARs", *Journal of Applied
        Econometrics* 34(1), 1-17.
        """
        if not 0.0 < level < 1.0:
            raise ModelSpecError(f"level must be in (0, 1), not {level!r}")
        family = self._joint_family() if terms is None else [str(t) for t in terms]
        unknown = [t for t in family if t not in self.names]
        if unknown:
            raise ModelSpecError(
                f"terms {unknown} are not coefficients of this model ({self.names})"
            )
        if joint:
            idx = [self.names.index(t) for t in family]
            c = sup_t_critical_value(self.cov_matrix[np.ix_(idx, idx)], level,
                                     df=self.df_inference, draws=draws, seed=seed)  # fmt: skip
            se = self.std_errors.to_numpy()[idx]
            ci = pd.DataFrame(
                {"lower": self.beta[idx] - c * se, "upper": self.beta[idx] + c * se},
                index=family,
            )
            dist = "normal" if self.df_inference is None else f"t({self.df_inference})"
            how = "exact" if len(idx) == 1 else f"{draws} draws, seed {seed}"
            ci.attrs["critical_value"] = c
            ci.attrs["method"] = (
                f"sup-t joint band over {len(idx)} coefficients (Montiel Olea & Plagborg-Moller "
                f"2019), analytic {self.vcov_type}, {dist}, critical value {c:.4f} ({how})"
            )
            return ci
        ci = self.analytic_conf_int(level)
        for term, inf in self.attached.items():
            if term in ci.index:  # a summary test (e.g. "ATT") is no coefficient's interval
                ci.loc[term, ["lower", "upper"]] = inf.conf_int(level)
        return ci if terms is None else ci.loc[family]

    def _joint_family(self) -> list[str]:
        """The coefficients of a joint band or a multiple-testing adjustment by default: all."""
        return list(self.names)

    def adjusted_pvalues(
        self, method: str = "holm", *, terms: Sequence[str] | None = None, alpha: float = 0.05
    ) -> pd.Series:
        """The p-values of ``pvalues`` over ``terms`` adjusted for multiple testing.

        :func:`statsmodels.stats.multitest.multipletests` on ``pvalues[terms]`` (the headline
        p-values: an attached inference method's where there is one, analytic otherwise);
        ``terms`` defaults to :meth:`_joint_family` (every coefficient; for an event study its
        event-time coefficients). ``method`` is any of multipletests' methods: ``"bonferroni"``
        (``min(1, k p)``), ``"holm"`` (step-down, family-wise error; default), ``"sidak"``,
        ``"holm-sidak"``, ``"fdr_bh"`` (Benjamini-Hochberg false discovery rate), ...

        Parameters
        ----------
        method : str
            The adjustment (statsmodels' name).
        terms : sequence of str, optional
            The family of tests.
        alpha : float
            Passed to multipletests (it changes the adjusted p-values of none of the methods
            above; only the rejection decisions, which are not returned).

        Returns
        -------
        pandas.Series
            Adjusted p-values, indexed by term, named ``pvalue_<method>``.

        Raises
        ------
        ModelSpecError
            A term that is not a coefficient, a missing (NaN) p-value, an unknown method.

        References
        ----------
        Holm, S. (1979), "A simple sequentially rejective multiple test procedure",
        *Scandinavian Journal of Statistics* 6(2), 65-70. Benjamini, Y. and Hochberg, Y.
        (1995), "Controlling the false discovery rate", *JRSS B* 57(1), 289-300.
        """
        from statsmodels.stats.multitest import multipletests

        family = self._joint_family() if terms is None else [str(t) for t in terms]
        unknown = [t for t in family if t not in self.names]
        if unknown:
            raise ModelSpecError(
                f"terms {unknown} are not coefficients of this model ({self.names})"
            )
        p = self.pvalues.loc[family]
        missing = p.index[p.isna()].tolist()
        if missing:
            raise ModelSpecError(f"no p-value to adjust for {missing} (NaN)")
        try:
            adj = multipletests(p.to_numpy(dtype=float), alpha=alpha, method=method)[1]
        except ValueError as exc:  # statsmodels: "method not recognized"
            raise ModelSpecError(f"multiple-testing method {method!r}: {exc}") from exc
        return pd.Series(adj, index=family, name=f"pvalue_{method}")

    # -- pyfixest's accessors -------------------------------------------------------------------
    # The same numbers as ``params``/``std_errors``/``tstats``/``pvalues``/``conf_int`` under
    # pyfixest's names, so a pyfixest script runs unchanged (tests/test_pyfixest_script.py).
    def coef(self) -> pd.Series:
        """The estimates, labelled (pyfixest's ``coef()``; the same as ``params``)."""
        return self.params.rename("Estimate")

    def se(self) -> pd.Series:
        """Standard errors (pyfixest's ``se()``; the same as ``std_errors``)."""
        return self.std_errors.rename("Std. Error")

    def tstat(self) -> pd.Series:
        """t statistics (pyfixest's ``tstat()``; the same as ``tstats``)."""
        return self.tstats.rename("t value")

    def pvalue(self) -> pd.Series:
        """p-values (pyfixest's ``pvalue()``; the same as ``pvalues``)."""
        return self.pvalues.rename("Pr(>|t|)")

    def confint(
        self,
        alpha: float = 0.05,
        keep: str | Sequence[str] | None = None,
        drop: str | Sequence[str] | None = None,
        exact_match: bool = False,
    ) -> pd.DataFrame:
        """Confidence intervals at level ``1 - alpha`` (pyfixest's ``confint()``).

        Columns ``"2.5%"`` and ``"97.5%"`` (named after ``alpha``), the same numbers as
        ``conf_int(1 - alpha)``. ``keep`` / ``drop`` select coefficients by regular expression
        (or by name with ``exact_match=True``), as in pyfixest.
        """
        if not 0.0 < alpha < 1.0:
            raise ModelSpecError(f"alpha must be in (0, 1), not {alpha!r}")
        ci = self.conf_int(1.0 - alpha)
        names = _select_names(list(ci.index), keep, drop, exact_match)
        lo, hi = f"{100 * alpha / 2:g}%", f"{100 * (1 - alpha / 2):g}%"
        out = ci.loc[names].rename(columns={"lower": lo, "upper": hi})
        return out[[lo, hi]]

    # -- inference on the fitted result ----------------------------------------------------------
    def with_inference(self: R, method: str | None = None, **options: Any) -> R:
        """A new result whose headline (and ``pvalues``/``conf_int()``) is ``method``'s test.

        The original result is not changed. ``method`` is a name registered by the inference
        layer (:func:`tradeimpact.core.registry.available_methods`): ``"ri"`` (coefficient
        randomization inference), ``"ri_t"`` (studentized), ``"conley_taber"``,
        ``"conley_taber_fp"`` (Ferman-Pinto), ``"wild"`` (restricted wild cluster bootstrap),
        ``"ppml_ri"`` (PPML placebo refits), ``"ri_staggered"`` (the cohorts' dates re-assigned
        across units: a test of the overall ATT of a Sun-Abraham or Callaway-Sant'Anna fit, kept
        as ``attached["ATT"]`` / ``headline_of("ATT")``, the event-time coefficients untouched;
        see :meth:`_summary_label`); ``"cr1"`` makes the analytic test the headline and
        ``None`` applies the estimators' default rule (studentized RI with 1-5 treated units).
        ``options`` go to the method (e.g. ``B=9999, seed=1``; ``scale="pre_var_model"``;
        ``param="x1"`` for a result without a designated effect). The same numbers as the
        estimator's ``inference=`` argument: ``did(..., inference="wild", wild={"B": 999})``
        equals ``did(...).with_inference("wild", B=999)``.
        """
        new = self._copy()
        new._set_inference(method, dict(options))
        return new

    def with_headline(
        self: R,
        term: str,
        result: Any,
        *,
        method_key: str,
        options: Mapping[str, Any] | None = None,
        note: str = "",
    ) -> R:
        """A new result whose headline of ``term`` is an inference result computed elsewhere.

        ``result`` offers ``pvalue``, ``conf_int(level)`` and ``method``; ``method_key`` names
        the registered method that produced it (so that ``size_check()`` can rerun it). Unlike
        :meth:`with_inference`, ``pvalues``/``conf_int()`` stay analytic. The original result is
        not changed.
        """
        if term not in self.names:
            raise ModelSpecError(f"{term!r} is not a coefficient of this model ({self.names})")
        new = self._copy()
        new.headlines[term] = Headline.of(new, term, result, method_key=method_key,
                                          options=options, note=note)  # fmt: skip
        return new

    def _copy(self: R) -> R:
        """A shallow copy with its own ``extra``, ``attached`` and ``headlines`` (rebound)."""
        new = dataclasses.replace(
            self, extra=dict(self.extra), attached=dict(self.attached), headlines={}
        )
        new.headlines = {t: dataclasses.replace(h, _owner=new) for t, h in self.headlines.items()}
        return new

    def _headline_terms(self, options: Mapping[str, Any]) -> list[str]:
        """The coefficients a method tests: the designated effect(s), else ``param=``."""
        param = options.get("param")
        if param is not None:
            if param not in self.names:
                raise ModelSpecError(
                    f"param {param!r} is not a coefficient of this model ({self.names})"
                )
            return [str(param)]
        if len(self.names) == 1:
            return [self.names[0]]
        raise ModelSpecError(
            f"this result has {len(self.names)} coefficients and no designated effect: give "
            f"param=, one of {self.names}"
        )

    def _set_inference(self, method: str | None, options: dict[str, Any]) -> None:
        """Make ``method`` the headline of the tested coefficients (constructor-time path).

        Mutates ``self``: only called while a result is being built (by the estimators'
        ``inference=`` argument) or on the fresh copy of :meth:`with_inference`.
        """
        terms = self._headline_terms(options)
        if method is None or method == "default":
            rule = inference_method("default")
            choices: Mapping[str, HeadlineChoice] = rule(self, **options)
            for term in terms:
                self.attached.pop(term, None)
            for term, ch in choices.items():
                self.extra.update(ch.extra)
                if ch.result is None:
                    self.headlines[term] = Headline.analytic(self, term, note=ch.note)
                else:
                    self.headlines[term] = Headline.of(self, term, ch.result,
                                                       method_key=ch.method_key,
                                                       options=ch.options, note=ch.note)  # fmt: skip
            return
        if method in ("cr1", "analytic"):
            for term in terms:
                self.attached.pop(term, None)
                self.headlines[term] = Headline.analytic(
                    self, term, note=f"requested (inference={method!r})"
                )
            return
        out = inference_method(method)(self, **options)
        self.extra.update(getattr(out, "extra", None) or {})
        run_options = dict(getattr(out, "run_options", None) or options)
        run_options.pop("param", None)
        label = self._summary_label(out, terms, options)
        if label is not None:
            # a test of a summary of the fit (e.g. the staggered placebo test of the overall
            # ATT), not of one coefficient: kept under what it tests; pvalues/conf_int()/tidy()
            # of the coefficients stay as they were
            self.attached[label] = AttachedInference(label, str(getattr(out, "method", method)),
                                                     out)  # fmt: skip
            self.headlines[label] = Headline.of_summary(self, label, out, method_key=method,
                                                        options=run_options)  # fmt: skip
            return
        by_term: Mapping[str, Any] = getattr(out, "by_term", None) or {terms[0]: out}
        for term, r in by_term.items():
            self._attach_inference(term, str(getattr(r, "method", method)), r)
            self.headlines[term] = Headline.of(self, term, r, method_key=method,
                                               options=run_options)  # fmt: skip

    def _summary_label(
        self, out: Any, terms: Sequence[str], options: Mapping[str, Any]
    ) -> str | None:
        """What ``out`` tests when it is not one of the coefficients, else None.

        An inference result names the quantity it tests in ``tests`` when that is not a
        coefficient of the fit (``"ATT"``: the overall ATT of a staggered fit). Without it, one
        result (no ``by_term``) for several tested coefficients and no ``param=`` is a test of a
        summary of them: the fit's ``"ATT"`` when its estimate is that aggregate of the fit,
        else ``"aggregate"`` (its ``method`` says which); it is never attached to the first
        coefficient.
        """
        named = getattr(out, "tests", None)
        if isinstance(named, str) and named:
            return None if named in self.names else named
        if getattr(out, "by_term", None) or options.get("param") is not None or len(terms) <= 1:
            return None
        agg = getattr(self, "aggregates", None) or {}
        est = getattr(out, "estimate", None)
        if (
            "ATT" in agg
            and isinstance(est, int | float)
            and np.isclose(float(est), float(agg["ATT"]), rtol=1e-8, atol=1e-10)
        ):
            return "ATT"
        return "aggregate"

    def _attach_inference(self, term: str, method: str, result: Any) -> None:
        """Make ``result`` the inference of ``term`` in ``pvalues``/``conf_int()`` (private:
        results are immutable after fitting; see :meth:`with_inference`)."""
        if term not in self.names:
            raise KeyError(f"{term!r} is not a coefficient of this model ({self.names})")
        self.attached[term] = AttachedInference(term, method, result)

    def headline_of(self, term: str) -> Headline:
        """The headline test of ``term``: the default/requested one, else the attached or
        analytic test."""
        if term in self.headlines:
            return self.headlines[term]
        if term in self.attached:
            inf = self.attached[term]
            return Headline.of(self, term, inf.result, method_key=inf.method)
        if term not in self.names:
            raise KeyError(f"{term!r} is not a coefficient of this model ({self.names})")
        return Headline.analytic(self, term, note=self._analytic_note())

    def _analytic_note(self) -> str:
        """What the analytic headline of a plain fit (``feols`` / ``fepois``) does not control."""
        ri = (
            "tradeimpact.inference.ppml_placebo.ppml_randomization_inference"
            if self.model == "PPML"
            else "tradeimpact.inference.studentized.studentized_randomization_inference"
        )
        return (
            "analytic test of the fitted model: with one (or few) treated units it over-rejects "
            "(CR1 rejects 60-90% of true nulls at 5% in reports/size.md and "
            "reports/size_ppml.md); for a treatment effect use tradeimpact.did() (its headline "
            f"is the randomization test with 1-5 treated units) or {ri}"
        )

    @property
    def headline(self) -> Headline:
        """The headline test of the result's one coefficient (see :class:`Headline`).

        A result with a designated effect (``did()``: the treatment term; ``event_study()``:
        per event time) returns that; a result with exactly one coefficient (e.g. ``feols("y ~
        d | unit + time")``) returns :meth:`headline_of` that term: the analytic test of the
        fit (its ``vcov``), labelled as such, unless an inference method was attached. With
        several coefficients there is no single headline: :class:`ModelSpecError` names them;
        use ``result.headline_of(term)``. ``params`` / ``std_errors`` / ``pvalues`` are not
        affected.
        """
        if len(self.headlines) == 1:
            return next(iter(self.headlines.values()))
        if len(self.names) == 1:
            return self.headline_of(self.names[0])
        shown = ", ".join(repr(t) for t in self.names[:10])
        more = f" and {len(self.names) - 10} more" if len(self.names) > 10 else ""
        raise ModelSpecError(
            f"this result has {len(self.names)} coefficients ({shown}{more}) and no designated "
            "effect, so no single headline: use result.headline_of(term)"
        )

    def inference_of(self, term: str) -> str:
        """The method behind the headline p-value and interval of ``term``."""
        if term in self.attached:
            return self.attached[term].method
        dist = "normal" if self.df_inference is None else f"t({self.df_inference})"
        return f"analytic {self.vcov_type}, {dist}"

    @property
    def inference(self) -> str:
        """Which inference produced the headline intervals (per coefficient when they differ)."""
        methods = {self.inference_of(t) for t in self.names}
        if len(methods) == 1:
            return methods.pop()
        return "; ".join(f"{t}: {self.inference_of(t)}" for t in self.names)

    # -- tables -----------------------------------------------------------------------------------
    def tidy(self, level: float = 0.95, *, backend: Backend = "polars") -> Any:
        """One row per coefficient, as a :class:`polars.DataFrame` (``backend="pandas"``: pandas).

        Columns: ``term``, ``estimate``, ``std_error``, ``statistic``, ``p_value``, ``conf_low``,
        ``conf_high`` (headline), ``inference`` (the method behind p-value and interval).
        """
        ci = self.conf_int(level)
        out = pl.DataFrame(
            {
                "term": self.names,
                "estimate": self.beta,
                "std_error": self.std_errors.to_numpy(),
                "statistic": self.tstats.to_numpy(),
                "p_value": self.pvalues.to_numpy(),
                "conf_low": ci["lower"].to_numpy(),
                "conf_high": ci["upper"].to_numpy(),
                "inference": [self.inference_of(t) for t in self.names],
            },
            schema={
                "term": pl.String,
                "estimate": pl.Float64,
                "std_error": pl.Float64,
                "statistic": pl.Float64,
                "p_value": pl.Float64,
                "conf_low": pl.Float64,
                "conf_high": pl.Float64,
                "inference": pl.String,
            },
        )
        return _as_backend(out, backend)

    def wald_test(self, terms: Sequence[str], values: Sequence[float] | None = None) -> WaldTest:
        """Joint Wald test that ``params[terms] == values`` (zeros by default), with ``cov``.

        ``W = (b - r)' V^{-1} (b - r)`` over the chosen terms; reported as chi-square with
        ``q = len(terms)`` df and, when ``df_inference`` is set, as ``F = W / q`` with
        ``(q, df_inference)`` df (the fixest ``wald()`` convention). The p-value is that of F when
        available, else of the chi-square.
        """
        idx = [self.names.index(t) for t in terms]
        b = self.beta[idx] - (np.zeros(len(idx)) if values is None else np.asarray(values, float))
        v = self.cov_matrix[np.ix_(idx, idx)]
        stat = float(b @ np.linalg.pinv(v) @ b)
        q = len(idx)
        if self.df_inference is None:
            return WaldTest(stat, q, None, float(stats.chi2.sf(stat, q)), list(terms))
        f = stat / q
        return WaldTest(
            f, q, self.df_inference, float(stats.f.sf(f, q, self.df_inference)), list(terms)
        )

    def summary(self, level: float = 0.95) -> str:
        """A printable table: header (model, nobs, fixed effects, dropped rows, vcov) and coefficients."""
        lines = [
            f"{self.model} estimation, dep. var.: {self.depvar}",
            f"Observations: {self.nobs}",
            f"Fixed effects: {', '.join(self.fixed_effects) if self.fixed_effects else 'none'}",
            f"Standard errors: {self.vcov_type}",
            f"Inference in the table: {self.inference}",
        ]
        for term, hl in self.headlines.items():
            low, high = hl.conf_int(level)
            frac = hl.p_fraction_text
            lines.append(
                f"Headline test of {term}: {hl.method}: p = {hl.pvalue:.4f}"
                + (f" ({frac})" if frac else "")
                + f", {100 * level:g}% interval [{low:.5g}, {high:.5g}]"
                + (f" ({hl.ci_note(level)})" if hl.ci_note(level) else "")
                + (f"; the same test as {hl.same_test_as}" if hl.same_test_as else "")
                + (f" ({hl.note})" if hl.note else "")
            )
        dropped = {k: v for k, v in self.dropped.items() if v}
        if dropped:
            lines.append("Dropped rows: " + ", ".join(f"{k} {v}" for k, v in dropped.items()))
        if self.dropped_regressors:
            lines.append("Dropped (collinear) regressors: " + ", ".join(self.dropped_regressors))
        for key in ("r2", "r2_within"):
            if key in self.extra:
                lines.append(f"{key}: {self.extra[key]:.4f}")
        tab = self.tidy(level)
        width = max([len("term"), *(len(t) for t in self.names)])
        pct = f"{100 * level:g}%"
        head = f"{'term':<{width}} {'estimate':>11} {'std.err':>10} {'t':>8} {'p':>8}  [{pct} interval]"
        lines += ["", head, "-" * len(head)]
        for r in tab.iter_rows(named=True):
            lines.append(
                f"{r['term']:<{width}} {r['estimate']:>11.5g} {r['std_error']:>10.4g} "
                f"{r['statistic']:>8.3f} {r['p_value']:>8.4f}  [{r['conf_low']:.5g}, {r['conf_high']:.5g}]"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot(
        self, terms: Sequence[str] | None = None, *, level: float = 0.95, ax: Any = None
    ) -> Any:
        """Coefficient plot (dots with headline intervals); event studies override it.

        Returns the matplotlib ``Axes``.
        """
        import matplotlib.pyplot as plt

        terms = list(terms) if terms is not None else self.names
        ci = self.conf_int(level).loc[terms]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.4 * len(terms) + 1.5))
        pos = np.arange(len(terms))
        est = self.params.loc[terms].to_numpy()
        ax.errorbar(
            est,
            pos,
            xerr=[est - ci["lower"].to_numpy(), ci["upper"].to_numpy() - est],
            fmt="o",
            color="black",
            capsize=3,
        )
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(pos, terms)
        ax.set_xlabel(f"estimate ({100 * level:g}% interval: {self.inference})")
        return ax


@dataclass
class WaldTest:
    """A joint Wald test: ``statistic`` (F when ``df_denom`` is set, else chi-square), its df, p-value."""

    statistic: float
    df: int
    df_denom: int | None
    pvalue: float
    terms: list[str]

    def __str__(self) -> str:
        dist = f"F({self.df}, {self.df_denom})" if self.df_denom is not None else f"chi2({self.df})"
        return f"Wald test of {self.df} restrictions: {dist} = {self.statistic:.4f}, p = {self.pvalue:.4f}"


@dataclass
class DiDResult(RegressionResult):
    """Result of :func:`tradeimpact.models.did`: ``effect`` names the DiD (or DDD) coefficient.

    ``att``, ``att_se``, ``att_pvalue`` and ``att_conf_int(level)`` give the headline effect
    (floats; ``params`` & co. are pandas, ``tidy()`` polars, as on every result).
    ``design_record`` (:class:`DiDDesign`) is what the inference methods rerun;
    ``with_inference(m)`` returns a new result with ``m`` as the headline of the effect.
    """

    effect: str = ""
    design_record: DiDDesign | None = field(default=None, repr=False)

    def _headline_terms(self, options: Mapping[str, Any]) -> list[str]:
        param = options.get("param")
        if param is not None and param != self.effect:
            raise ModelSpecError(
                f"the inference methods of a did() result test its effect {self.effect!r}, not "
                f"param={param!r}"
            )
        return [self.effect]

    @property
    def att(self) -> float:
        """The difference-in-differences (or triple-difference) estimate."""
        return float(self.params[self.effect])

    @property
    def att_se(self) -> float:
        return float(self.std_errors[self.effect])

    @property
    def att_pvalue(self) -> float:
        return float(self.pvalues[self.effect])

    @property
    def headline(self) -> Headline:
        """The headline test of the effect (see :class:`Headline`; CR1 stays in ``pvalues``)."""
        return self.headline_of(self.effect)

    def size_check(self, level: float = 0.05, **kwargs: Any) -> Any:
        """The headline test's rejection rate at placebo dates and units of this panel.

        Shorthand for ``self.headline.size_check(level, ...)``; see
        :func:`tradeimpact.inference.headline.size_check` (registered as ``"size_check"``).
        """
        return self.headline.size_check(level, **kwargs)

    def att_conf_int(self, level: float = 0.95) -> tuple[float, float]:
        row = self.conf_int(level).loc[self.effect]
        return float(row["lower"]), float(row["upper"])


@dataclass
class EventStudyResult(RegressionResult):
    """Result of :func:`tradeimpact.models.event_study`.

    ``event_terms`` maps each estimated event time (relative period, reference excluded) to its
    coefficient name; ``ref`` is the reference period (normalised to zero; ``None`` when there is
    none, as Callaway & Sant'Anna's varying base period, where every event time is estimated
    against its own base period and ``e = -1`` is a coefficient too); ``pretrend`` the joint
    Wald test that all pre-period coefficients (event time < ``ref`` and any ``< 0`` other than the
    reference) are zero. ``event_study_inputs()`` returns ``(event_times, betahat, sigma)`` for
    HonestDiD, with ``pre_index``/``post_index`` the positions of pre- and post-periods in them.
    ``event_table()`` is polars (``backend="pandas"``: pandas), ``params`` & co. pandas;
    ``design_record`` (:class:`EventStudyDesign`) is what the inference methods rerun, and
    ``with_inference(m)`` returns a new result with ``m`` per event time.
    """

    event_terms: dict[int, str] = field(default_factory=dict)
    ref: int | None = -1
    pretrend: WaldTest | None = None
    freq: str = ""
    event_date: Any = None
    aggregates: Mapping[str, float] | None = None
    design_record: EventStudyDesign | None = field(default=None, repr=False)

    def _headline_terms(self, options: Mapping[str, Any]) -> list[str]:
        terms = [self.event_terms[e] for e in self.event_times]
        param = options.get("param")
        if param is not None:
            if param not in terms:
                raise ModelSpecError(f"param {param!r} is not an event-time term ({terms})")
            return [str(param)]
        return terms

    @property
    def event_times(self) -> list[int]:
        return sorted(self.event_terms)

    def _joint_family(self) -> list[str]:
        """The event-time coefficients (reference excluded): the family of ``conf_int(joint=True)``
        and ``adjusted_pvalues()``."""
        return [self.event_terms[e] for e in self.event_times]

    @property
    def headline(self) -> EventStudyHeadline:  # type: ignore[override]
        # an event study has one headline per event time (EventStudyHeadline), not one Headline
        """Per event time, the headline test (see :class:`EventStudyHeadline`)."""
        return EventStudyHeadline(
            {e: self.headline_of(self.event_terms[e]) for e in self.event_times}, self
        )

    def size_check(self, level: float = 0.05, **kwargs: Any) -> Any:
        """The per-event-time headline test rerun at placebo dates and units of this panel.

        The registered method ``"event_study_size_check"``:
        :func:`tradeimpact.inference.headline.event_study_size_check`.
        """
        return inference_method("event_study_size_check")(self, level=level, **kwargs)

    def event_study_inputs(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(event_times, betahat, sigma)`` of the event-time coefficients (reference excluded)."""
        times = self.event_times
        idx = [self.names.index(self.event_terms[e]) for e in times]
        return (
            np.asarray(times, dtype=float),
            self.beta[idx].copy(),
            self.cov_matrix[np.ix_(idx, idx)].copy(),
        )

    @property
    def pre_index(self) -> npt.NDArray[np.int64]:
        """Positions in ``event_study_inputs()`` of the pre-event coefficients (event time < 0)."""
        return np.flatnonzero(np.asarray(self.event_times) < 0).astype(np.int64)

    @property
    def post_index(self) -> npt.NDArray[np.int64]:
        """Positions in ``event_study_inputs()`` of the coefficients at event time >= 0."""
        return np.flatnonzero(np.asarray(self.event_times) >= 0).astype(np.int64)

    def event_table(
        self,
        level: float = 0.95,
        *,
        backend: Backend = "polars",
        joint: bool = False,
        adjust: str | None = None,
    ) -> Any:
        """Tidy table of the event-time coefficients with an ``event_time`` column (reference
        row = 0): a :class:`polars.DataFrame` (``backend="pandas"``: the same as pandas).

        ``joint=True`` adds ``joint_low``/``joint_high``, the sup-t band of
        ``conf_int(level, joint=True)``; ``adjust="holm"`` (any method of
        :meth:`adjusted_pvalues`) adds ``p_value_<adjust>``, the p-values adjusted over the
        event-time coefficients. The reference row has a 0 band and no p-value.
        """
        out = self._event_table(level)
        if joint:
            band = self.conf_int(level, joint=True)
            out = out.with_columns(
                pl.col("term").replace_strict(band["lower"].to_dict(), default=0.0,
                                              return_dtype=pl.Float64).alias("joint_low"),
                pl.col("term").replace_strict(band["upper"].to_dict(), default=0.0,
                                              return_dtype=pl.Float64).alias("joint_high"),
            )  # fmt: skip
        if adjust is not None:
            padj = self.adjusted_pvalues(adjust)
            out = out.with_columns(
                pl.col("term").replace_strict(padj.to_dict(), default=None,
                                              return_dtype=pl.Float64).alias(f"p_value_{adjust}")
            )  # fmt: skip
        return _as_backend(out, backend)

    def _event_table(self, level: float) -> pl.DataFrame:
        """:meth:`event_table`'s polars frame without the optional columns."""
        tab = self.tidy(level)
        rows = pl.DataFrame(
            {
                "term": [self.event_terms[e] for e in self.event_times],
                "event_time": self.event_times,
            },
            schema={"term": pl.String, "event_time": pl.Int64},
        )
        out = rows.join(tab, on="term", how="left")
        if self.ref is None:  # no reference period (CS varying base): no normalised row
            return out.sort("event_time")
        ref = pl.DataFrame(
            {
                "term": [f"ref({self.ref})"],
                "event_time": [self.ref],
                "estimate": [0.0],
                "std_error": [0.0],
                "statistic": [None],
                "p_value": [None],
                "conf_low": [0.0],
                "conf_high": [0.0],
                "inference": ["reference period (normalised to 0)"],
            },
            schema=out.schema,
        )
        return pl.concat([out, ref]).sort("event_time")

    def plot(  # type: ignore[override]
        self,
        *,
        level: float = 0.95,
        ax: Any = None,
        band: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
        band_label: str = "randomization band",
        title: str | None = None,
        synthetic: bool = False,
        joint: bool = False,
    ) -> Any:
        """Event-study plot: dots with pointwise intervals, reference period marked, event date line.

        ``joint=True`` adds the sup-t joint band (``conf_int(level, joint=True)``) beside the
        pointwise intervals, as thin capped bars; for several models on one axis see
        :func:`tradeimpact.report.coefplot.iplot`.

        Parameters
        ----------
        level : float
            Level of the pointwise intervals.
        ax : matplotlib Axes, optional
            Where to draw.
        band : (lower, upper), optional
            A band to shade (e.g. the randomization-inference placebo band), one value per event
            time in ``event_times``.
        synthetic : bool
            Label the figure SYNTHETIC (for generated data).
        """
        import matplotlib.pyplot as plt

        tab = self.event_table(level)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        e = tab["event_time"].to_numpy()
        est = tab["estimate"].to_numpy()
        lo, hi = tab["conf_low"].to_numpy(), tab["conf_high"].to_numpy()
        if band is not None:
            times = np.asarray(self.event_times)
            ax.fill_between(
                times,
                np.asarray(band[0], float),
                np.asarray(band[1], float),
                color="tab:blue",
                alpha=0.15,
                label=band_label,
                step=None,
            )
        is_ref = (e == self.ref) if self.ref is not None else np.zeros(e.size, dtype=bool)
        ax.errorbar(
            e[~is_ref],
            est[~is_ref],
            yerr=[est[~is_ref] - lo[~is_ref], hi[~is_ref] - est[~is_ref]],
            fmt="o",
            color="black",
            ecolor="grey",
            capsize=2,
            label=f"estimate, {100 * level:g}% pointwise interval",
        )
        if joint:
            jb = self.conf_int(level, joint=True)
            times = np.asarray(self.event_times, dtype=float)
            b = self.params.loc[jb.index].to_numpy()
            ax.errorbar(
                times,
                b,
                yerr=[b - jb["lower"].to_numpy(), jb["upper"].to_numpy() - b],
                fmt="none",
                ecolor="black",
                elinewidth=0.6,
                capsize=4,
                label=f"{100 * level:g}% joint band (sup-t)",
            )
        if self.ref is not None:
            ax.plot(
                [self.ref],
                [0.0],
                marker="o",
                mfc="white",
                mec="black",
                ls="none",
                label=f"reference period ({self.ref})",
            )
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(-0.5, color="tab:red", lw=1, ls="--", label="event date")
        unit = {"M": "months", "Q": "quarters", "A": "years", "Y": "years"}.get(
            self.freq, "periods"
        )
        ax.set_xlabel(f"{unit} relative to the event")
        ax.set_ylabel(f"effect on {self.depvar}")
        if self.pretrend is not None:
            ax.text(
                0.01,
                0.98,
                f"pre-trend Wald p = {self.pretrend.pvalue:.3f}",
                transform=ax.transAxes,
                va="top",
                fontsize=8,
            )
        if synthetic:
            ax.text(
                0.99,
                0.02,
                "SYNTHETIC DATA",
                transform=ax.transAxes,
                ha="right",
                color="tab:red",
                fontsize=9,
            )
        if title:
            ax.set_title(title)
        ax.legend(fontsize=8, loc="lower left")
        return ax


@dataclass
class EventStudyHeadline:
    """The headline test of every event-time coefficient (a :class:`Headline` per event time).

    ``method`` (one label when all coefficients share it), ``pvalue`` (labelled by term),
    ``p_fraction`` (per term), ``conf_int(level)`` (``lower``/``upper`` by term), ``table()``,
    and ``[e]`` for the :class:`Headline` of event time ``e``.
    """

    by_event_time: dict[int, Headline]
    _owner: Any = field(default=None, repr=False)

    def size_check(self, level: float = 0.05, **kwargs: Any) -> Any:
        """See :meth:`EventStudyResult.size_check`."""
        return self._owner.size_check(level, **kwargs)

    def __getitem__(self, e: int) -> Headline:
        return self.by_event_time[e]

    @property
    def method(self) -> str:
        methods = {h.method for h in self.by_event_time.values()}
        return methods.pop() if len(methods) == 1 else "; ".join(sorted(methods))

    @property
    def pvalue(self) -> pd.Series:
        return pd.Series({h.term: h.pvalue for h in self.by_event_time.values()}, name="pvalue")

    @property
    def p_fraction(self) -> dict[str, Fraction | None]:
        return {h.term: h.p_fraction for h in self.by_event_time.values()}

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        rows = {h.term: h.conf_int(level) for h in self.by_event_time.values()}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])

    def table(self, level: float = 0.95, *, backend: Backend = "polars") -> Any:
        """One row per event time: headline and CR1 beside it (``Headline.tidy`` columns); a
        :class:`polars.DataFrame` (``backend="pandas"``: the same as pandas)."""
        parts = [
            h.tidy(level).with_columns(pl.lit(e, dtype=pl.Int64).alias("event_time"))
            for e, h in sorted(self.by_event_time.items())
        ]
        return _as_backend(pl.concat(parts) if parts else pl.DataFrame(), backend)
