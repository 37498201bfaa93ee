"""Sant'Anna & Zhao (2020) 2x2 difference-in-differences estimators with covariates.

Panel data: :func:`att_2x2` (below). Repeated cross sections: :func:`att_2x2_rc` (DRDID's
``reg_did_rc``, ``std_ipw_did_rc``, ``drdid_rc``; formulas in its docstring).

Reference: Sant'Anna, P. H. C. and Zhao, J. (2020), "Doubly robust difference-in-differences
estimators", Journal of Econometrics 219(1), 101-122; R package ``DRDID`` (``reg_did_panel``,
``std_ipw_did_panel``, ``drdid_panel``), which R's ``did::att_gt`` calls for each ATT(g, t) with
panel data (``est_method = "reg"``, ``"ipw"``, ``"dr"``; did's ``compute.att_gt``). The numbers and
the influence function follow DRDID exactly (``att.inf.func``), so that ``att_gt`` can aggregate
them as it does without covariates.

Notation (one row per unit of the 2x2 sample, ``n`` units): ``dY = Y_post - Y_pre``, ``D = 1`` for
the treated group and ``0`` for the comparison group, ``X`` the covariates with an intercept column
(did's ``model.matrix(xformla)``), ``w`` the sampling weights normalised to mean 1 (DRDID).
Nuisance models: the outcome regression ``beta`` is the weighted least squares fit of ``dY`` on
``X`` among the comparison units (``D = 0``); the propensity score ``p(X) = Lambda(X'gamma)`` is the
weighted logit of ``D`` on ``X`` (R's ``glm(D ~ X - 1, family = binomial, weights = w)``, here
statsmodels' GLM Binomial with ``var_weights=w``, the same maximum-likelihood fit).

``"reg"``   outcome regression (Heckman, Ichimura & Todd 1997; Sant'Anna & Zhao eq. 2.2)::

    ATT = sum(w D dY) / sum(w D) - sum(w D X'beta) / sum(w D)

``"ipw"``   standardised (Hajek) inverse probability weighting (Abadie 2005 with normalised
            weights; DRDID's ``std_ipw_did_panel``)::

    ATT = sum(w D dY) / sum(w D) - sum(w_c dY) / sum(w_c),   w_c = w (1 - D) p / (1 - p)

``"dr"``    locally efficient doubly robust DiD (Sant'Anna & Zhao eq. 3.1; DRDID's
            ``drdid_panel``)::

    ATT = sum(w D (dY - X'beta)) / sum(w D) - sum(w_c (dY - X'beta)) / sum(w_c)

Consistent if either the outcome regression or the propensity score is correctly specified.

Influence function (DRDID's, term by term): the leading terms, e.g. for "dr"
``w D (dY - X'beta - ATT_1) / mean(w D)`` minus the comparison term
``w_c (dY - X'beta - ATT_0) / mean(w_c)``, plus the estimation effects of ``beta`` (its linear
representation ``w (1 - D) (dY - X'beta) X' (X'W_0X/n)^{-1}`` times the derivative
``mean(w_. X)``) and of ``gamma`` (``w (D - p) X' (X'diag(w p(1-p))X/n)^{-1}`` times
``mean(w_c (dY - X'beta - ATT_0) X)``). Its mean is zero; the standard error is
``se = sqrt(sum(psi^2)) / n`` (did's ``sqrt(diag(Psi'Psi / n) / n)``; equal to DRDID's
``sd(psi) sqrt(n - 1) / n`` for "ipw" and "dr"; DRDID's standalone ``reg_did_panel`` prints
``sd(psi) / sqrt(n)``, larger by ``sqrt(n / (n - 1))``: :attr:`TwoByTwo.se_drdid`).

Propensity scores, as DRDID: ``p`` is capped at ``1 - 1e-6`` (no division by zero) and comparison
units with ``p >= trim_level`` (0.995) get weight zero; as did's ``compute.att_gt``, an estimated
propensity score of 0.999 or more (unweighted logit) is an overlap failure (:class:`OverlapError`,
where did warns "overlap condition violated" and leaves the ATT(g, t) missing).

Hand-written algebra (the influence functions) because neither statsmodels nor linearmodels
implements these estimators; the nuisance fits are statsmodels' GLM (logit) and numpy's least
squares. Checked in ``tests/test_drdid.py`` against did's published mpdta + lpop figures, an
independent statsmodels computation of the formulas, and a Monte Carlo of double robustness.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from tradeimpact.errors import ModelSpecError

FloatArray = npt.NDArray[np.float64]

Method = Literal["reg", "ipw", "dr"]
METHODS: tuple[str, ...] = ("reg", "ipw", "dr")

#: DRDID caps fitted propensity scores here ("Avoid divide by zero": ``pmin(ps, 1 - 1e-6)``)
PS_CAP = 1 - 1e-6
#: DRDID's default ``trim.level``: comparison units with a propensity score at or above it get
#: weight zero
TRIM_LEVEL = 0.995
#: did's ``compute.att_gt`` check: "overlap condition violated" when a (unweighted) fitted
#: propensity score reaches this
OVERLAP_LIMIT = 0.999


class OverlapError(ModelSpecError):
    """The propensity score separates the groups (a fitted score of 1, or at least 0.999).

    did's ``att_gt`` warns "overlap condition violated for g in time period t" and reports that
    ATT(g, t) as missing; a caller that wants did's behaviour catches this error.
    """


class CollinearCovariatesError(ModelSpecError):
    """The covariates are collinear in the sample a nuisance model is fitted on.

    did's ``att_gt`` warns "Not enough control units for group g in time period t to run
    specified regression" and reports that ATT(g, t) as missing; DRDID stops with "The regression
    design matrix is singular".
    """


@dataclass(frozen=True)
class TwoByTwo:
    """A 2x2 DiD estimate with its influence function (DRDID's ``ATT`` and ``att.inf.func``).

    Attributes
    ----------
    att : float
        The ATT estimate.
    influence : numpy.ndarray (n,)
        Influence function on the ``n`` units passed (mean zero); ``se = sqrt(sum(psi^2)) / n``.
        did's ``att_gt`` puts it on all ``N`` units of the panel as ``N / n * influence`` on the
        units of the 2x2 sample and zero elsewhere (``compute.att_gt``).
    method : {"reg", "ipw", "dr"}
    n_treated, n_control : int
        Units with ``d = 1`` and ``d = 0``.
    n_trimmed : int
        Comparison units given weight zero because their propensity score reached ``trim_level``.
    coef_outcome : numpy.ndarray or None
        Outcome-regression coefficients (``"reg"``, ``"dr"``).
    coef_pscore : numpy.ndarray or None
        Logit coefficients of the propensity score (``"ipw"``, ``"dr"``).
    pscore : numpy.ndarray or None
        Fitted propensity scores, capped at ``1 - 1e-6`` as DRDID does.
    panel : bool
        ``True`` for the panel estimators (:func:`att_2x2`, one row per unit), ``False`` for the
        repeated-cross-section ones (:func:`att_2x2_rc`, one row per observation).
    """

    att: float
    influence: FloatArray = field(repr=False)
    method: str
    n_treated: int
    n_control: int
    n_trimmed: int = 0
    coef_outcome: FloatArray | None = field(default=None, repr=False)
    coef_pscore: FloatArray | None = field(default=None, repr=False)
    pscore: FloatArray | None = field(default=None, repr=False)
    panel: bool = True

    @property
    def n(self) -> int:
        """Units in the 2x2 sample."""
        return int(self.influence.shape[0])

    @property
    def se(self) -> float:
        """Analytic standard error as did computes it: ``sqrt(sum(psi^2)) / n``."""
        return float(np.sqrt(np.sum(self.influence**2)) / self.n)

    @property
    def se_drdid(self) -> float:
        """The standard error DRDID's own function prints (``boot = FALSE``).

        ``sd(psi) * sqrt(n - 1) / n`` for ``ipw_did``/``drdid_panel`` and ``drdid_rc`` (equal to
        :attr:`se`, the influence function having mean zero) and ``sd(psi) / sqrt(n)`` for
        ``reg_did_panel``, ``reg_did_rc`` and ``std_ipw_did_rc``.
        """
        n = self.n
        sd = float(np.std(self.influence, ddof=1))
        if self.method == "reg" or (not self.panel and self.method == "ipw"):
            return sd / np.sqrt(n)
        return sd * np.sqrt(n - 1) / n


def _as_vector(name: str, value: npt.ArrayLike, n: int | None = None) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise ModelSpecError(f"argument '{name}' must be one-dimensional (got shape {arr.shape})")
    if n is not None and arr.shape[0] != n:
        raise ModelSpecError(f"argument '{name}' has {arr.shape[0]} rows where dy has {n}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ModelSpecError(
            f"argument '{name}' has {bad.size} missing or non-finite value(s) "
            f"(first at row {int(bad[0])})"
        )
    return arr


def _rcond(a: FloatArray) -> float:
    """Reciprocal condition number in the 1-norm (R's ``rcond``; DRDID's singularity check)."""
    try:
        return float(1.0 / np.linalg.cond(a, 1))
    except np.linalg.LinAlgError:
        return 0.0


def _dependent_columns(x: FloatArray, w: FloatArray) -> list[int]:
    """Columns that are linear combinations of the columns before them (weighted rows)."""
    xs = x[w > 0] * np.sqrt(w[w > 0])[:, None]
    out: list[int] = []
    keep: list[int] = []
    for j in range(x.shape[1]):
        trial = [*keep, j]
        if np.linalg.matrix_rank(xs[:, trial]) < len(trial):
            out.append(j)
        else:
            keep.append(j)
    return out


def _collinear_message(what: str, x: FloatArray, w: FloatArray, names: Sequence[str]) -> str:
    dep = _dependent_columns(x, w)
    listed = ", ".join(f"'{names[j]}'" for j in dep) if dep else "none singled out"
    return (
        f"{what} is singular: the covariates are collinear (or do not vary) in that sample "
        f"(dependent column(s): {listed}); remove covariates"
    )


def _logit(d: FloatArray, x: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray, bool]:
    """Weighted logit MLE (R's ``glm(d ~ x - 1, binomial, weights = w)``) by statsmodels' IRLS.

    Returns the coefficients, the fitted probabilities and whether the fit separated the groups.
    """
    model = sm.GLM(d, x, family=sm.families.Binomial(), var_weights=w)
    with warnings.catch_warnings(record=True) as caught:
        # Recorded, not silenced: statsmodels signals perfect separation with a
        # PerfectSeparationWarning (and exp overflows in the logit link as scores reach 1); the
        # caller turns a separated fit into OverlapError (or, with overlap_check=False, goes on
        # with the capped scores exactly as DRDID does).
        warnings.simplefilter("always")
        # IRLS to a change in the coefficients below 1e-10 (absolute or relative): being Newton's
        # method for the logit, the next step is then below 1e-16, so the fit equals R's glm
        # to machine precision without asking for a precision that rounding may not allow
        fit = model.fit(tol=1e-10, rtol=1e-10, tol_criterion="params", maxiter=200)
        coef = np.asarray(fit.params, dtype=np.float64)
        ps = np.asarray(fit.fittedvalues, dtype=np.float64)
    separated = any(issubclass(c.category, PerfectSeparationWarning) for c in caught)
    converged = bool(getattr(fit, "converged", True))
    return coef, ps, separated or not converged or not np.all(np.isfinite(coef))


def att_2x2(
    method: Method | str,
    dy: npt.ArrayLike,
    d: npt.ArrayLike,
    x: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
    *,
    names: Sequence[str] | None = None,
    trim_level: float = TRIM_LEVEL,
    overlap_check: bool = True,
) -> TwoByTwo:
    """ATT of a 2x2 panel DiD with covariates and its influence function, as DRDID computes it.

    Parameters
    ----------
    method : {"reg", "ipw", "dr"}
        ``"reg"``: outcome regression (DRDID ``reg_did_panel``); ``"ipw"``: standardised (Hajek)
        inverse probability weighting (``std_ipw_did_panel``); ``"dr"``: locally efficient doubly
        robust (``drdid_panel``, did's default). Formulas in the module docstring.
    dy : array (n,)
        ``Y_post - Y_pre`` per unit.
    d : array (n,)
        1 for the treated group, 0 for the comparison group.
    x : array (n, k), optional
        Covariates including an intercept column (did's ``model.matrix(xformla)``). Default:
        an intercept only (the unconditional DiD).
    weights : array (n,), optional
        Sampling weights (non-negative); normalised to mean 1 as DRDID does.
    names : sequence of str, optional
        Column names of ``x`` for error messages.
    trim_level : float
        Comparison units whose propensity score is at least this get weight zero (DRDID's
        ``trim.level``, default 0.995).
    overlap_check : bool
        Raise :class:`OverlapError` when an unweighted logit propensity score reaches 0.999
        (did's ``compute.att_gt`` check); ``False`` reproduces DRDID called directly.

    Returns
    -------
    TwoByTwo
        ``att``, ``influence`` (DRDID's ``att.inf.func`` on these ``n`` units), ``se``.

    Raises
    ------
    ModelSpecError
        Bad input (shapes, missing values, ``d`` not 0/1, negative or all-zero weights), an empty
        treated or comparison group, no intercept in the column space of ``x``.
    CollinearCovariatesError
        Singular outcome-regression (comparison units) or propensity-score design.
    OverlapError
        Propensity scores that separate the groups.

    References
    ----------
    Sant'Anna & Zhao (2020), J. Econometrics 219(1), 101-122; Heckman, Ichimura & Todd (1997),
    Rev. Econ. Stud. 64(4); Abadie (2005), Rev. Econ. Stud. 72(1); R packages DRDID and did.
    """
    if method not in METHODS:
        raise ModelSpecError(f"est_method must be one of {METHODS} (got {method!r})")
    dy_ = np.asarray(dy, dtype=np.float64)
    n = int(dy_.shape[0]) if dy_.ndim == 1 else -1
    dy_ = _as_vector("dy", dy_)
    d_ = _as_vector("d", d, n)
    if not np.all((d_ == 0) | (d_ == 1)):
        row = int(np.flatnonzero((d_ != 0) & (d_ != 1))[0])
        raise ModelSpecError(f"argument 'd' must be 0 or 1 (row {row} is {d_[row]!r})")
    if x is None:
        X = np.ones((n, 1))
    else:
        X = np.asarray(x, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[0] != n:
            raise ModelSpecError(f"argument 'x' must be an (n, k) matrix with n = {n} rows")
        bad = np.argwhere(~np.isfinite(X))
        if bad.size:
            raise ModelSpecError(
                f"argument 'x' has {bad.shape[0]} missing or non-finite value(s) "
                f"(first at row {int(bad[0, 0])}, column {int(bad[0, 1])})"
            )
    k = X.shape[1]
    cols = list(names) if names is not None else [f"x{j}" for j in range(k)]
    if len(cols) != k:
        raise ModelSpecError(f"'names' has {len(cols)} entries for {k} columns of x")
    if weights is None:
        w = np.ones(n)
    else:
        w = _as_vector("weights", weights, n)
        if np.any(w < 0):
            row = int(np.flatnonzero(w < 0)[0])
            raise ModelSpecError(f"weights must be non-negative (row {row} is {w[row]!r})")
        if not w.sum() > 0:
            raise ModelSpecError("weights sum to zero")
    w = w / w.mean()

    treat = d_ == 1
    n1 = int(treat.sum())
    n0 = n - n1
    if n1 == 0 or not (w[treat] > 0).any():
        raise ModelSpecError("the treated group (d = 1) is empty (or has zero total weight)")
    if n0 == 0 or not (w[~treat] > 0).any():
        raise ModelSpecError("the comparison group (d = 0) is empty (or has zero total weight)")
    # the influence function has mean zero (and equals DRDID's) only with a constant in X
    resid = np.ones(n) - X @ np.linalg.lstsq(X, np.ones(n), rcond=None)[0]
    if np.max(np.abs(resid)) > 1e-8:
        raise ModelSpecError(
            "x must contain an intercept column (a constant in its column space), "
            "as did's model.matrix(xformla) does"
        )

    coef_or: FloatArray | None = None
    coef_ps: FloatArray | None = None
    ps: FloatArray | None = None
    out_delta = np.zeros(n)
    asy_ols: FloatArray | None = None
    if method in ("reg", "dr"):
        w0 = w * (1 - d_)
        XpX = (w0[:, None] * X).T @ X / n
        if _rcond(XpX) < np.finfo(float).eps:
            raise CollinearCovariatesError(
                _collinear_message(
                    f"the outcome regression on the {n0} comparison units",
                    X[~treat],
                    w[~treat],
                    cols,
                )
            )
        sw = np.sqrt(w0[~treat])
        coef_or = np.linalg.lstsq(X[~treat] * sw[:, None], dy_[~treat] * sw, rcond=None)[0]
        out_delta = X @ coef_or
        # asymptotic linear representation of the WLS coefficients
        asy_ols = (w0 * (dy_ - out_delta))[:, None] * X @ np.linalg.inv(XpX)

    n_trim = 0
    asy_ps: FloatArray | None = None
    if method in ("ipw", "dr"):
        if _rcond((w[:, None] * X).T @ X / n) < np.finfo(float).eps:
            raise CollinearCovariatesError(
                _collinear_message(f"the propensity-score design on the {n} units", X, w, cols)
            )
        coef_ps, ps_raw, separated = _logit(d_, X, w)
        if overlap_check:
            # did's check uses an unweighted logit (glm(G ~ -1 + covariates, binomial))
            ps_u, sep_u = (ps_raw, separated) if weights is None else _logit(d_, X, np.ones(n))[1:]
            if sep_u or separated or ps_u.max() >= OVERLAP_LIMIT:
                raise OverlapError(
                    f"overlap condition violated: the propensity score reaches "
                    f"{ps_u.max():.6g} (>= {OVERLAP_LIMIT}, did's limit, or the logit separates "
                    f"the groups); the covariates ({', '.join(cols)}) separate the treated from "
                    f"the comparison units"
                )
        # with overlap_check=False DRDID's behaviour: go on with the capped scores
        ps = np.minimum(ps_raw, PS_CAP)
        W = ps * (1 - ps) * w
        XtWX = (W[:, None] * X).T @ X
        if _rcond(XtWX) < np.finfo(float).eps:
            raise CollinearCovariatesError(
                _collinear_message("the propensity-score design", X, w, cols)
            )
        hess = np.linalg.inv(XtWX) * n
        asy_ps = ((w * (d_ - ps))[:, None] * X) @ hess
        keep = np.ones(n, dtype=bool)
        keep[~treat] = ps[~treat] < trim_level
        n_trim = int((~keep).sum())
        w_treat = keep * w * d_
        w_cont = keep * w * ps * (1 - d_) / (1 - ps)
        if not w_cont.sum() > 0:
            raise OverlapError(
                f"every comparison unit has a propensity score >= trim_level {trim_level}"
            )

    if method == "reg":
        assert asy_ols is not None and coef_or is not None
        w_treat = w * d_
        eta_t = np.mean(w_treat * dy_) / np.mean(w_treat)
        eta_c = np.mean(w_treat * out_delta) / np.mean(w_treat)
        att = eta_t - eta_c
        inf_treat = (w_treat * dy_ - w_treat * eta_t) / np.mean(w_treat)
        inf_c1 = w_treat * out_delta - w_treat * eta_c
        inf_c2 = asy_ols @ np.mean(w_treat[:, None] * X, axis=0)
        inf = inf_treat - (inf_c1 + inf_c2) / np.mean(w_treat)
    elif method == "ipw":
        assert asy_ps is not None
        eta_t = np.mean(w_treat * dy_) / np.mean(w_treat)
        eta_c = np.mean(w_cont * dy_) / np.mean(w_cont)
        att = eta_t - eta_c
        inf_treat = (w_treat * dy_ - w_treat * eta_t) / np.mean(w_treat)
        inf_c1 = w_cont * dy_ - w_cont * eta_c
        M2 = np.mean((w_cont * (dy_ - eta_c))[:, None] * X, axis=0)
        inf_c2 = asy_ps @ M2
        inf = inf_treat - (inf_c1 + inf_c2) / np.mean(w_cont)
    else:
        assert asy_ps is not None and asy_ols is not None
        resid_or = dy_ - out_delta
        eta_t = np.mean(w_treat * resid_or) / np.mean(w_treat)
        eta_c = np.mean(w_cont * resid_or) / np.mean(w_cont)
        att = eta_t - eta_c
        inf_t1 = w_treat * resid_or - w_treat * eta_t
        inf_t2 = asy_ols @ np.mean(w_treat[:, None] * X, axis=0)
        inf_treat = (inf_t1 - inf_t2) / np.mean(w_treat)
        inf_c1 = w_cont * resid_or - w_cont * eta_c
        M2 = np.mean((w_cont * (resid_or - eta_c))[:, None] * X, axis=0)
        inf_c2 = asy_ps @ M2
        inf_c3 = asy_ols @ np.mean(w_cont[:, None] * X, axis=0)
        inf = inf_treat - (inf_c1 + inf_c2 - inf_c3) / np.mean(w_cont)

    return TwoByTwo(
        att=float(att),
        influence=np.asarray(inf, dtype=np.float64),
        method=str(method),
        n_treated=n1,
        n_control=n0,
        n_trimmed=n_trim,
        coef_outcome=coef_or,
        coef_pscore=coef_ps,
        pscore=ps,
    )


def _wls_rep(
    X: FloatArray, y: FloatArray, wm: FloatArray, what: str, cols: Sequence[str]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weighted least squares of ``y`` on ``X`` over the rows with ``wm > 0`` (``wm`` = weight
    times the cell indicator), as DRDID's ``fastglm_fit(..., gaussian())``.

    Returns the coefficients, the fitted values on all rows and the asymptotic linear
    representation ``wm (y - X'b) X' (X' diag(wm) X / n)^{-1}`` (DRDID's ``asy.lin.rep.ols``).
    """
    n = X.shape[0]
    XpX = (wm[:, None] * X).T @ X / n
    if _rcond(XpX) < np.finfo(float).eps:
        rows = wm > 0
        raise CollinearCovariatesError(
            _collinear_message(
                f"the outcome regression on the {int(rows.sum())} rows of {what}",
                X[rows],
                wm[rows],
                cols,
            )
        )
    sw = np.sqrt(wm)
    coef = np.asarray(np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0], dtype=np.float64)
    fitted = np.asarray(X @ coef, dtype=np.float64)
    rep = (wm * (y - fitted))[:, None] * X @ np.linalg.inv(XpX)
    return coef, fitted, rep


def att_2x2_rc(
    method: Method | str,
    y: npt.ArrayLike,
    post: npt.ArrayLike,
    d: npt.ArrayLike,
    x: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
    *,
    names: Sequence[str] | None = None,
    trim_level: float = TRIM_LEVEL,
    overlap_check: bool = True,
) -> TwoByTwo:
    """ATT of a 2x2 DiD with repeated cross sections and covariates, as DRDID computes it.

    One row per observation: ``y`` its outcome, ``post = 1`` if observed in the post period and
    0 in the pre period, ``d = 1`` for the treated group, ``x`` its covariates (with an intercept
    column), ``w`` its sampling weight normalised to mean 1. ``Ybar`` below are weighted means,
    ``mu_{d,p}(X) = X'beta_{d,p}`` the weighted least-squares fits of ``y`` on ``X`` among the
    rows of group ``d`` in period ``p``, ``p(X)`` the weighted logit propensity score of ``d``
    on ``X`` (all rows), ``w_c = w p / (1 - p)`` on the comparison rows.

    ``"reg"``  (DRDID ``reg_did_rc``; Heckman, Ichimura & Todd 1997)::

        ATT = (Ybar_{1,1} - Ybar_{1,0}) - mean_{d=1}[mu_{0,1}(X) - mu_{0,0}(X)]

    ``"ipw"``  (``std_ipw_did_rc``; Abadie 2005 with normalised weights; no trimming, as DRDID)::

        ATT = (Ybar_{1,1} - Ybar_{1,0}) - (Ybar^{w_c}_{0,1} - Ybar^{w_c}_{0,0})

    ``"dr"``   the locally efficient doubly robust estimator (Sant'Anna & Zhao 2020, eq. 3.4;
    ``drdid_rc``, did's default with ``panel = FALSE`` and for unbalanced panels), with
    ``mu_0(X) = post mu_{0,1}(X) + (1 - post) mu_{0,0}(X)``::

        ATT = [mean^{w D post}(y - mu_0) - mean^{w D (1-post)}(y - mu_0)]
            - [mean^{w_c post}(y - mu_0) - mean^{w_c (1-post)}(y - mu_0)]
            + [mean^{w D}(mu_{1,1} - mu_{0,1}) - mean^{w D post}(mu_{1,1} - mu_{0,1})]
            - [mean^{w D}(mu_{1,0} - mu_{0,0}) - mean^{w D (1-post)}(mu_{1,0} - mu_{0,0})]

    where ``mean^{v}(z) = sum(v z) / sum(v)``; comparison rows with ``p >= trim_level`` get
    weight zero (DRDID's ``trim.level``).

    The influence function is DRDID's ``att.inf.func`` term by term: the leading terms of each
    weighted mean, the estimation effect of each outcome regression (its asymptotic linear
    representation times the derivative of the estimator in its coefficients) and, for "ipw" and
    "dr", of the logit coefficients. ``se = sqrt(sum(psi^2)) / n`` as did computes it
    (:attr:`TwoByTwo.se_drdid`: the one DRDID's functions print). It is the exact empirical
    influence function, ``psi_i = n w_i dATT/dw_i`` (tested by finite differences). One
    difference from DRDID: ``drdid_rc`` adds the estimation effect of the comparison group's
    pre-period regression on the treated and the comparison terms (``inf.treat.or.pre``,
    ``inf.cont.or.pre``) with the sign of the post-period one, although those terms enter the
    ATT with a minus; here they carry the minus, so DRDID's influence function exceeds this one
    by ``2 rep_00 (M1_pre - M3_pre)``, which vanishes asymptotically when the propensity score
    is correctly specified (on mpdta with lpop: 0.01% to 0.09% of the s.e.). ``reg_did_rc``
    has the signs as here.

    Parameters
    ----------
    method : {"reg", "ipw", "dr"}
    y : array (n,)
        Outcome of each row.
    post : array (n,)
        1 for rows of the post period, 0 for the pre period.
    d : array (n,)
        1 for the treated group, 0 for the comparison group.
    x : array (n, k), optional
        Covariates including an intercept column; default an intercept only (the unconditional
        DiD of the four cell means).
    weights : array (n,), optional
        Sampling weights (non-negative), normalised to mean 1.
    names, trim_level, overlap_check
        As in :func:`att_2x2`.

    Returns
    -------
    TwoByTwo
        ``att`` and the influence function on the ``n`` rows (``panel=False``).

    Raises
    ------
    ModelSpecError
        Bad input; an empty cell (a group without rows in a period).
    CollinearCovariatesError
        A singular outcome-regression design in one of the cells, or of the propensity score.
    OverlapError
        Propensity scores that separate the groups (``overlap_check``).

    References
    ----------
    Sant'Anna & Zhao (2020), J. Econometrics 219(1), 101-122, section 3.2 (eq. 3.3, 3.4) and
    appendix (influence functions); R package DRDID (``reg_did_rc``, ``std_ipw_did_rc``,
    ``drdid_rc``), called by did's ``compute.att_gt`` when ``panel = FALSE`` or with
    ``allow_unbalanced_panel = TRUE``.
    """
    if method not in METHODS:
        raise ModelSpecError(f"est_method must be one of {METHODS} (got {method!r})")
    y_ = np.asarray(y, dtype=np.float64)
    n = int(y_.shape[0]) if y_.ndim == 1 else -1
    y_ = _as_vector("y", y_)
    p_ = _as_vector("post", post, n)
    d_ = _as_vector("d", d, n)
    for name, arr in (("d", d_), ("post", p_)):
        if not np.all((arr == 0) | (arr == 1)):
            row = int(np.flatnonzero((arr != 0) & (arr != 1))[0])
            raise ModelSpecError(f"argument '{name}' must be 0 or 1 (row {row} is {arr[row]!r})")
    if x is None:
        X = np.ones((n, 1))
    else:
        X = np.asarray(x, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[0] != n:
            raise ModelSpecError(f"argument 'x' must be an (n, k) matrix with n = {n} rows")
        bad = np.argwhere(~np.isfinite(X))
        if bad.size:
            raise ModelSpecError(
                f"argument 'x' has {bad.shape[0]} missing or non-finite value(s) "
                f"(first at row {int(bad[0, 0])}, column {int(bad[0, 1])})"
            )
    k = X.shape[1]
    cols = list(names) if names is not None else [f"x{j}" for j in range(k)]
    if len(cols) != k:
        raise ModelSpecError(f"'names' has {len(cols)} entries for {k} columns of x")
    if weights is None:
        w = np.ones(n)
    else:
        w = _as_vector("weights", weights, n)
        if np.any(w < 0):
            row = int(np.flatnonzero(w < 0)[0])
            raise ModelSpecError(f"weights must be non-negative (row {row} is {w[row]!r})")
        if not w.sum() > 0:
            raise ModelSpecError("weights sum to zero")
    w = w / w.mean()
    resid = np.ones(n) - X @ np.linalg.lstsq(X, np.ones(n), rcond=None)[0]
    if np.max(np.abs(resid)) > 1e-8:
        raise ModelSpecError(
            "x must contain an intercept column (a constant in its column space), "
            "as did's model.matrix(xformla) does"
        )
    treat = d_ == 1
    cell = {
        (1, 1): d_ * p_,
        (1, 0): d_ * (1 - p_),
        (0, 1): (1 - d_) * p_,
        (0, 0): (1 - d_) * (1 - p_),
    }
    label = {(1, 1): "treated, post", (1, 0): "treated, pre", (0, 1): "comparison, post",
             (0, 0): "comparison, pre"}  # fmt: skip
    for key, m in cell.items():
        if not (w * m).sum() > 0:
            raise ModelSpecError(
                f"the {label[key]} cell has no rows (or zero total weight): the 2x2 is not defined"
            )

    def mean(a: FloatArray) -> float:
        return float(np.mean(a))

    # outcome regressions of the comparison group in each period (reg, dr) and of the treated
    # group in each period (dr)
    coef_or: FloatArray | None = None
    if method in ("reg", "dr"):
        b01, mu01, rep01 = _wls_rep(X, y_, w * cell[0, 1], "the comparison group, post", cols)
        b00, mu00, rep00 = _wls_rep(X, y_, w * cell[0, 0], "the comparison group, pre", cols)
        coef_or = np.concatenate([b00, b01])

    coef_ps: FloatArray | None = None
    ps: FloatArray | None = None
    asy_ps: FloatArray | None = None
    keep = np.ones(n)
    n_trim = 0
    if method in ("ipw", "dr"):
        if _rcond((w[:, None] * X).T @ X / n) < np.finfo(float).eps:
            raise CollinearCovariatesError(
                _collinear_message(f"the propensity-score design on the {n} rows", X, w, cols)
            )
        coef_ps, ps_raw, separated = _logit(d_, X, w)
        if overlap_check:
            ps_u, sep_u = (ps_raw, separated) if weights is None else _logit(d_, X, np.ones(n))[1:]
            if sep_u or separated or ps_u.max() >= OVERLAP_LIMIT:
                raise OverlapError(
                    f"overlap condition violated: the propensity score reaches "
                    f"{ps_u.max():.6g} (>= {OVERLAP_LIMIT}, did's limit, or the logit separates "
                    f"the groups); the covariates ({', '.join(cols)}) separate the treated from "
                    f"the comparison rows"
                )
        ps = np.minimum(ps_raw, PS_CAP)
        Wps = ps * (1 - ps) * w
        XtWX = (Wps[:, None] * X).T @ X
        if _rcond(XtWX) < np.finfo(float).eps:
            raise CollinearCovariatesError(
                _collinear_message("the propensity-score design", X, w, cols)
            )
        asy_ps = ((w * (d_ - ps))[:, None] * X) @ (np.linalg.inv(XtWX) * n)
        if method == "dr":
            keep = np.where(treat, 1.0, (ps < trim_level).astype(float))
            n_trim = int(n - keep.sum())
        odds = ps / (1 - ps)
        w_c1 = keep * w * odds * cell[0, 1]
        w_c0 = keep * w * odds * cell[0, 0]
        if not (w_c1.sum() > 0 and w_c0.sum() > 0):
            raise OverlapError(
                f"every comparison row of a period has a propensity score >= trim_level "
                f"{trim_level}"
            )

    w_t1 = keep * w * cell[1, 1]
    w_t0 = keep * w * cell[1, 0]
    if method == "reg":
        w_d = w * d_
        eta_t1 = mean(w_t1 * y_) / mean(w_t1)
        eta_t0 = mean(w_t0 * y_) / mean(w_t0)
        eta_c = mean(w_d * (mu01 - mu00)) / mean(w_d)
        att = (eta_t1 - eta_t0) - eta_c
        inf_treat = (w_t1 * (y_ - eta_t1)) / mean(w_t1) - (w_t0 * (y_ - eta_t0)) / mean(w_t0)
        M1 = np.mean(w_d[:, None] * X, axis=0)
        inf_cont = (w_d * (mu01 - mu00) - w_d * eta_c + rep01 @ M1 - rep00 @ M1) / mean(w_d)
        inf = inf_treat - inf_cont
    elif method == "ipw":
        assert asy_ps is not None
        att_t1 = mean(w_t1 * y_) / mean(w_t1)
        att_t0 = mean(w_t0 * y_) / mean(w_t0)
        att_c1 = mean(w_c1 * y_) / mean(w_c1)
        att_c0 = mean(w_c0 * y_) / mean(w_c0)
        att = (att_t1 - att_t0) - (att_c1 - att_c0)
        inf_treat = w_t1 * (y_ - att_t1) / mean(w_t1) - w_t0 * (y_ - att_t0) / mean(w_t0)
        inf_cont = w_c1 * (y_ - att_c1) / mean(w_c1) - w_c0 * (y_ - att_c0) / mean(w_c0)
        M2_1 = np.mean((w_c1 * (y_ - att_c1))[:, None] * X, axis=0) / mean(w_c1)
        M2_0 = np.mean((w_c0 * (y_ - att_c0))[:, None] * X, axis=0) / mean(w_c0)
        inf = inf_treat - (inf_cont + asy_ps @ (M2_1 - M2_0))
    else:
        assert asy_ps is not None
        _, mu11, rep11 = _wls_rep(X, y_, w * cell[1, 1], "the treated group, post", cols)
        _, mu10, rep10 = _wls_rep(X, y_, w * cell[1, 0], "the treated group, pre", cols)
        mu0 = p_ * mu01 + (1 - p_) * mu00
        r = y_ - mu0
        w_d = keep * w * d_
        a_t1 = mean(w_t1 * r) / mean(w_t1)
        a_t0 = mean(w_t0 * r) / mean(w_t0)
        a_c1 = mean(w_c1 * r) / mean(w_c1)
        a_c0 = mean(w_c0 * r) / mean(w_c0)
        g1, g0 = mu11 - mu01, mu10 - mu00
        a_d1 = mean(w_d * g1) / mean(w_d)
        a_dt1 = mean(w_t1 * g1) / mean(w_t1)
        a_d0 = mean(w_d * g0) / mean(w_d)
        a_dt0 = mean(w_t0 * g0) / mean(w_t0)
        att = (a_t1 - a_t0) - (a_c1 - a_c0) + (a_d1 - a_dt1) - (a_d0 - a_dt0)
        # treated component: leading terms and the comparison regressions' estimation effect
        inf_t1 = w_t1 * (r - a_t1) / mean(w_t1)
        inf_t0 = w_t0 * (r - a_t0) / mean(w_t0)
        M1_1 = -np.mean((w_t1 * p_)[:, None] * X, axis=0) / mean(w_t1)
        M1_0 = -np.mean((w_t0 * (1 - p_))[:, None] * X, axis=0) / mean(w_t0)
        inf_treat = inf_t1 - inf_t0 + rep01 @ M1_1 - rep00 @ M1_0
        # comparison component: leading terms, propensity score and regressions
        inf_c1 = w_c1 * (r - a_c1) / mean(w_c1)
        inf_c0 = w_c0 * (r - a_c0) / mean(w_c0)
        M2_1 = np.mean((w_c1 * (r - a_c1))[:, None] * X, axis=0) / mean(w_c1)
        M2_0 = np.mean((w_c0 * (r - a_c0))[:, None] * X, axis=0) / mean(w_c0)
        M3_1 = -np.mean((w_c1 * p_)[:, None] * X, axis=0) / mean(w_c1)
        M3_0 = -np.mean((w_c0 * (1 - p_))[:, None] * X, axis=0) / mean(w_c0)
        inf_cont = inf_c1 - inf_c0 + asy_ps @ (M2_1 - M2_0) + rep01 @ M3_1 - rep00 @ M3_0
        # the local-efficiency adjustment terms and the treated regressions' estimation effect
        inf_eff = (
            w_d * (g1 - a_d1) / mean(w_d)
            - w_t1 * (g1 - a_dt1) / mean(w_t1)
            - w_d * (g0 - a_d0) / mean(w_d)
            + w_t0 * (g0 - a_dt0) / mean(w_t0)
        )
        mom1 = np.mean((w_d / mean(w_d) - w_t1 / mean(w_t1))[:, None] * X, axis=0)
        mom0 = np.mean((w_d / mean(w_d) - w_t0 / mean(w_t0))[:, None] * X, axis=0)
        inf_or = (rep11 - rep01) @ mom1 - (rep10 - rep00) @ mom0
        inf = inf_treat - inf_cont + inf_eff + inf_or

    return TwoByTwo(
        att=float(att),
        influence=np.asarray(inf, dtype=np.float64),
        method=str(method),
        n_treated=int(treat.sum()),
        n_control=int(n - treat.sum()),
        n_trimmed=n_trim,
        coef_outcome=coef_or,
        coef_pscore=coef_ps,
        pscore=ps,
        panel=False,
    )
