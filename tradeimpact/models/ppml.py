"""Poisson pseudo-maximum likelihood (PPML) with high-dimensional fixed effects.

Model (Santos Silva & Tenreyro 2006, "The log of gravity", REStat 88(4))::

    E[y_it | x, fe] = exp(x_it' b + alpha_1[g1(i)] + ... + alpha_G[gG(i)] + offset_it)

estimated from the Poisson score ``sum_i w_i (y_i - mu_i) x_i = 0`` (consistent for any ``y >= 0``
whose conditional mean is exponential; ``y`` need not be a count).

Algorithm: iteratively re-weighted least squares (IRLS) in which each weighted least-squares step
partials the fixed effects out by weighted alternating projections (Guimaraes & Portugal 2010,
"A simple feasible procedure to fit models with high-dimensional fixed effects", Stata Journal
10(4); Correia, Guimaraes & Zylkin 2020, "Fast Poisson estimation with high-dimensional fixed
effects", Stata Journal 20(1), the ``ppmlhdfe`` algorithm; pyfixest ``fepois``). With working
weights ``omega = w mu`` and working outcome ``z = eta - offset + (y - mu)/mu``::

    b = (X~' Omega X~)^{-1} X~' Omega z~,   eta <- z - (z~ - X~ b) + offset,   mu = exp(eta)

where ``~`` is the within transformation on all fixed effects with weights ``omega``
(:func:`tradeimpact.core.fixed_effects.demean`). Starting values ``mu = (y + mean(y)) / 2`` (fixest,
pyfixest). Convergence when the relative change of the deviance
``|D_t - D_{t-1}| / (0.1 + |D_t|) < tol`` (fixest, pyfixest; ``tol = 1e-8``), with
``D = 2 sum_i w_i [y_i log(y_i/mu_i) - (y_i - mu_i)]``; a :class:`PPMLConvergenceWarning` when
``maxiter`` is reached first. Speed: the demeaning is warm-started across iterations: since the
within transformation annihilates every fixed-effect combination, ``M_omega(x) = M_omega(x - D a)``
for any ``a``, so each iteration projects the previous iteration's residuals (plus the change of
``z``), which are already almost orthogonal to the fixed effects (ppmlhdfe does the same); and
the projection tolerance starts loose and is tightened as the deviance converges (ppmlhdfe's
adaptive inner tolerance), the final iteration always at ``fixef_tol``.

Checks before estimation (ppmlhdfe's; Correia, Guimaraes & Zylkin 2021, "Verifying the existence
of maximum likelihood estimates for generalized linear models", arXiv:1903.01633), each reported
in ``result.dropped`` and ``result.messages``:

* ``missing``: rows with a missing outcome, regressor, fixed effect, weight, offset or cluster;
* ``singletons``: rows alone in a fixed-effect group (fixest's default; found iteratively);
* ``separated_fe``: rows in a fixed-effect group whose outcome is zero throughout (their fixed
  effect would be minus infinity); iterated with the singleton check until neither finds more;
* ``separated_regressor``: rows separated by a regressor that is zero wherever ``y > 0`` and of
  one sign where ``y = 0`` ("simple" check) and, with ``separation`` containing ``"relu"``, rows
  found by the iterated rectifier (ReLU) method of Correia, Guimaraes & Zylkin (2021): the
  weighted least-squares fit of ``u`` (``u = 1`` where ``y = 0``) on the regressors and fixed
  effects with weight ``K`` on the ``y > 0`` rows, re-run with ``u = max(u_hat, 0)`` until every
  fitted ``u_hat >= 0``; rows with ``u_hat > 0`` are separated. Each step is solved exactly
  (the ``K -> inf`` limit: least squares with ``u_hat = 0`` imposed on the ``y > 0`` rows, by
  the null space of those rows) when the design with the fixed effects as dummies is small, by
  ppmlhdfe's method of weighting solved with sparse LSMR otherwise (see
  :func:`_relu_separated`). Before iterating, a randomized certificate as cheap as one weighted
  demeaning (:func:`_relu_none_certified`) checks whether any ``y = 0`` row can be separated at
  all (whether every combination of the regressors and fixed effects that is zero on the
  ``y > 0`` rows is zero everywhere); when none can, the iteration, whose first step would
  return ``u_hat = 0``, is skipped (the common case: at 1e6 rows and three fixed effects 0.2 s
  instead of 2 s for the LSMR step).

A step whose deviance is not finite, or more than doubles (``RISE_TOL``), is halved back
towards the previous iterate (step-halving, as glm2; at most ``MAX_HALVINGS`` times; counted in
``extra["halvings"]``, 0 in ordinary fits, whose numbers it leaves unchanged); IRLS stops with
a :class:`~tradeimpact.errors.ModelSpecError` naming the iteration when the deviance stays
non-finite (a diverging linear predictor, as undetected separation gives).

Varying slopes (``fe=["id[z]", "year"]``, fixest's ``id[z]`` / ``id[[z]]``, ppmlhdfe's
``a(id##c.z)`` / ``a(id#c.z)``) are absorbed with the fixed effects
(:mod:`tradeimpact.core.slopes`). ``separation=("mu",)`` adds ppmlhdfe's ``mu`` method; every
fit carries the certificate of separation (:class:`Separation`).

Collinear regressors (with the fixed effects or with each other) are detected after the first
weighted demeaning (weights ``omega``) by the package's one rule,
:func:`tradeimpact.core.collinearity.collinear_columns` (a column is dropped when the part of it
not explained by the fixed effects and the kept columns has weighted sum of squares at most
``collin_tol`` times its own, default ``1e-9``), and listed in ``dropped_regressors``. The
sample (missing values, zero weights, singletons, separation) is
:func:`tradeimpact.core.sample.estimation_sample`, as for ``feols``: ``result.dropped`` has the
same keys (``missing``, ``nonpositive_weights``, ``singletons``, plus ``separated_fe`` and
``separated_regressor``), and ``rows in = nobs + sum(dropped)``.

Covariances (:mod:`tradeimpact.core.covariance`), with bread ``B = (X~' Omega X~)^{-1}`` and
scores ``s_i = omega_i e_i x~_i`` (``e`` the working residual; at convergence
``omega_i e_i = w_i (y_i - mu_i)``): ``"hetero"`` (HC1, ``n/(n-k)``), ``{"CR1": col}`` or
``{"CR1": [col1, col2]}`` (one- or two-way, ``G/(G-1) (n-1)/(n-k)``, two-way with
``min(G)``), ``"twoway"`` (clustered by the first two fixed effects, fixest's ``"twoway"``),
``"iid"`` (``(n-1)/(n-k) B``, the Poisson variance). ``k`` counts the regressors plus the fixed-effect
parameters not nested in a cluster variable (fixest's ``fixef.K = "nested"``, pyfixest's
``k_fixef = "nonnested"``): these are fixest's and pyfixest's small-sample corrections, so the
standard errors equal theirs (``se_convention="fixest"``, the default). ``se_convention=
"ppmlhdfe"`` gives ppmlhdfe's (Stata's ``_robust`` for ML models): ``N/(N-1)`` for hetero,
``G/(G-1)`` for CR1, none for iid, so fixest's robust SEs exceed ppmlhdfe's by
``sqrt((N-1)/(N-K))``; ``vcov_type`` names the factor and convention. Frequency weights
(``weights_type="fweights"``) make ``N`` the sum of the weights and the meat that of the
replicated rows (tested against statsmodels GLM with ``freq_weights`` and on the replicated data). Reference distribution of the p-values and intervals: the standard
normal for every covariance, as fixest (``fixest_CI_factor``: ``qnorm`` for ``feglm``/``fepois``,
its coefficient table reports z values) and pyfixest (``get_inference``: ``norm`` when ``_method``
is ``"fepois"``) do; ``df_inference`` is None and the summary prints the choice. (A t(G-1)
reference, as for the linear models, would widen a 95% interval by 7% with G = 20; neither makes
CR1 valid with one treated cluster: see :mod:`tradeimpact.inference.ppml_placebo`.)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import gammaln

from tradeimpact.core.collinearity import COLLIN_TOL, CollinearityWarning, collinear_columns
from tradeimpact.core.covariance import (
    VcovSpec,
    check_cluster_count,
    parse_vcov,
    vcov_cluster,
    vcov_hetero,
    warn_negative_variances,
)
from tradeimpact.core.fixed_effects import FixedEffects, attach_slopes, demean, fe_dof
from tradeimpact.core.frame import check_columns, numeric_column, numeric_series, to_polars
from tradeimpact.core.sample import estimation_sample
from tradeimpact.core.slopes import split_fe_specs
from tradeimpact.errors import ModelSpecError, TradeImpactWarning
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "ExactlyIdentifiedWarning",
    "PPMLConvergenceWarning",
    "PPMLResult",
    "Separation",
    "SeparationWarning",
    "ppml",
]


class PPMLConvergenceWarning(TradeImpactWarning):
    """IRLS stopped at ``maxiter`` before the deviance criterion reached ``tol``."""


class ExactlyIdentifiedWarning(TradeImpactWarning):
    """As many parameters as observations: the fit is saturated and the standard errors NaN."""


class SeparationWarning(TradeImpactWarning):
    """Observations were dropped because they are separated (their MLE does not exist)."""


class Separation(dict[str, list[int]]):
    """The rows of the input dropped as separated, by the check that found them (``"fe"``,
    ``"simple"``, ``"relu"``, ``"mu"``: ``{method: [row, ...]}``, a plain dict to read), with
    the certificate of separation.

    ``rows``: every separated row, sorted. ``certificate`` (computed on first use): ppmlhdfe's
    ``zvarname()`` variable, an array over the input rows, ``z = X gamma + D alpha`` (a linear
    combination of the regressors and the fixed-effect dummies) with ``z = 0`` where ``y > 0``,
    ``z >= 0`` everywhere and ``z > 0`` exactly on the separated rows (Correia, Guimaraes &
    Zylkin 2021, section 4: such a ``z`` proves the rows separated; regressing ``z`` on the
    regressors and fixed effects gives ``R^2 = 1``, ppmlhdfe's ``r2`` check). It is the ReLU
    check's ``u_hat`` run once on the estimation rows plus the separated rows; NaN on the rows
    outside them (missing values, zero weights, singletons).
    """

    def __init__(self, rows: Mapping[str, list[int]] | None = None, *, context: Any = None) -> None:
        super().__init__(rows or {})
        self._context = context
        self._certificate: FloatArray | None = None

    @property
    def rows(self) -> list[int]:
        """Every separated row of the input, sorted."""
        return sorted({r for rows in self.values() for r in rows})

    @property
    def certificate(self) -> FloatArray:
        """The certificate of separation ``z`` (class docstring)."""
        if self._certificate is None:
            if self._context is None:
                raise ModelSpecError("this separation record carries no data for a certificate")
            y, x, fe, rows_u, tol = self._context
            if y is None:  # nothing separated: z = 0 is the certificate of no rows
                self._certificate = np.where(rows_u, 0.0, np.nan)
            else:
                found: list[FloatArray] = []
                _relu_separated(y, x, fe, rows_u, tol=tol, certificate=found)
                self._certificate = found[0]
            self._context = None  # the inputs are no longer needed
        return self._certificate


@dataclass
class PPMLResult(RegressionResult):
    """Result of :func:`ppml`: a :class:`~tradeimpact.models.results.RegressionResult` plus IRLS facts.

    ``deviance`` (at the estimate), ``iterations`` (IRLS), ``converged``, ``messages`` (one line
    per check that dropped rows or regressors), ``fitted`` (``mu`` on the estimation rows) and
    ``sample`` (boolean mask of the estimation rows among the rows of the input).
    """

    deviance: float = float("nan")
    iterations: int = 0
    converged: bool = False
    messages: list[str] = field(default_factory=list)
    fitted: FloatArray = field(default_factory=lambda: np.zeros(0))
    sample: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: rows of the input dropped as separated, by the check that found them (``"fe"``,
    #: ``"simple"``, ``"relu"``, ``"mu"``), and the certificate of separation
    #: (:class:`Separation`: ``.rows``, ``.certificate``)
    separation: Separation = field(default_factory=Separation)
    # what fixef() needs: the fixed effects on the estimation rows, their level labels and
    # log(mu) - offset - X b (the part of the linear predictor the fixed effects carry)
    _fe: FixedEffects | None = field(default=None, repr=False)
    _fe_levels: list[list[str]] = field(default_factory=list, repr=False)
    _fe_target: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)

    def fixef(self, *, tol: float = 1e-13, maxiter: int = 100_000) -> dict[str, dict[str, float]]:
        """The estimated fixed effects: ``{fe name: {level: value}}`` (pyfixest's ``fixef()``).

        Solved from ``log(mu) - offset - X b = sum_g alpha_g[level_g(i)]`` (exact on the
        estimation rows) by alternating group means (fixest's ``fixef`` algorithm). With more
        than one fixed effect the values are identified only up to the redundancies (e.g. a
        constant moved between two of them): this returns one solution, the one the alternating
        means reach from zero, so individual values need not equal fixest's or pyfixest's
        normalisation, while ``X b + sum_g alpha_g + offset = log(mu)`` holds to ``tol``.
        """
        if self._fe is None:
            raise ModelSpecError("the model has no fixed effects (fixef() needs some)")
        if self._fe.slopes:
            raise ModelSpecError(
                "fixef() is not offered for models with varying slopes (id[z]); "
                "the fitted values are result.fitted"
            )
        fe, target = self._fe, self._fe_target
        codes = [fe.codes[:, g] for g in range(fe.n_groupings)]
        counts = [np.bincount(c, minlength=fe.sizes[g]) for g, c in enumerate(codes)]
        alpha = [np.zeros(fe.sizes[g]) for g in range(fe.n_groupings)]
        fit = np.zeros_like(target)
        scale = max(1.0, float(np.abs(target).max()) if target.size else 1.0)
        for _ in range(maxiter):
            for g, c in enumerate(codes):
                fit -= alpha[g][c]
                alpha[g] = np.bincount(c, weights=target - fit, minlength=fe.sizes[g]) / np.maximum(
                    counts[g], 1
                )
                fit += alpha[g][c]
            if np.abs(target - fit).max(initial=0.0) <= tol * scale:
                break
        else:
            warnings.warn(
                f"fixef(): the alternating means did not reach tol {tol:g} in {maxiter} sweeps",
                PPMLConvergenceWarning,
                stacklevel=2,
            )
        return {
            name: dict(zip(self._fe_levels[g], map(float, alpha[g]), strict=True))
            for g, name in enumerate(self.fixed_effects[: fe.n_groupings])
        }

    def summary(self, level: float = 0.95) -> str:
        """The table of :meth:`RegressionResult.summary` with deviance, iterations and checks."""
        head = [
            f"Deviance: {self.deviance:.6g}; IRLS iterations: {self.iterations}"
            + ("" if self.converged else " (NOT CONVERGED)"),
            "p-values and intervals: standard normal (z), as fixest and pyfixest for fepois",
            *self.messages,
        ]
        base = super().summary(level).split("\n")
        return "\n".join(base[:5] + head + base[5:])


# --------------------------------------------------------------------------------------------
# input handling


def _fe_columns(spec: str | Sequence[str]) -> tuple[str, list[str]]:
    """A fixed-effect spec: ``"a"``, ``"a^b"`` (interaction, fixest syntax) or ``("a", "b")``."""
    if isinstance(spec, str):
        cols = [c.strip() for c in spec.split("^")]
        return spec, cols
    cols = list(spec)
    return "^".join(cols), cols


def _group_codes(df: pl.DataFrame, cols: Sequence[str]) -> npt.NDArray[np.int64]:
    """Dense integer codes ``0..k-1`` of the combinations of ``cols``."""
    if len(cols) == 1:
        expr = pl.col(cols[0]).rank("dense")
    else:
        expr = pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator="\x1f").rank(
            "dense"
        )
    ranks = df.select(expr.alias("_c")).to_series()
    if ranks.null_count():  # a null label: code 0 of its own (the sample drops it as missing)
        return ranks.fill_null(0).to_numpy().astype(np.int64)
    return ranks.to_numpy().astype(np.int64) - 1


def _deviance(y: FloatArray, mu: FloatArray, w: FloatArray | None) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
    return float(2.0 * np.sum(term if w is None else w * term))


def _sq_cor(y: FloatArray, mu: FloatArray) -> float:
    """Squared correlation of ``y`` and ``mu`` (fixest's ``sq.cor``); NaN when one is constant."""
    if y.size < 2 or np.ptp(y) == 0 or np.ptp(mu) == 0:
        return float("nan")
    return float(np.corrcoef(y, mu)[0, 1] ** 2)


# --------------------------------------------------------------------------------------------
# separation checks


def _fe_separated(y: FloatArray, fe: FixedEffects, keep: BoolArray) -> BoolArray:
    """Rows (among ``keep``) in a fixed-effect group where the outcome is zero throughout."""
    out = np.zeros(y.size, dtype=bool)
    pos = (y > 0) & keep
    for g in range(fe.n_groupings):
        c = fe.codes[:, g]
        n_pos = np.bincount(c[pos], minlength=fe.sizes[g])
        n_all = np.bincount(c[keep], minlength=fe.sizes[g])
        bad = (n_pos == 0) & (n_all > 0)
        out |= keep & bad[c]
    return out


def _simple_separated(y: FloatArray, x: FloatArray, keep: BoolArray) -> BoolArray:
    """Rows separated by a regressor zero wherever ``y > 0`` and of one sign where ``y = 0``."""
    out = np.zeros(y.size, dtype=bool)
    pos = keep & (y > 0)
    zero = keep & (y == 0)
    for j in range(x.shape[1]):
        col = x[:, j]
        if np.any(col[pos] != 0):
            continue
        cz = col[zero]
        if cz.size == 0 or not np.any(cz != 0):
            continue
        if np.all(cz >= 0) or np.all(cz <= 0):
            out |= zero & (col != 0)
    return out


#: The ReLU step is solved exactly (dense, by the null space of the ``y > 0`` rows) when the
#: design with the fixed effects as dummies has at most this many columns and its SVD costs at
#: most ``rows * columns^2`` of this budget (measured: 6,000 rows x 500 columns, 2.8 s).
RELU_EXACT_MAX_COLUMNS = 1000
RELU_EXACT_MAX_WORK = 2e9


def _dummy_design(x: FloatArray, fe: FixedEffects | None) -> FloatArray:
    """``[x, D_1, ..., D_G]`` (an intercept instead of the dummies without fixed effects),
    every column scaled to unit length (the column space, all the ReLU step needs, is unchanged).
    """
    n = x.shape[0]
    blocks = [x]
    if fe is None or fe.n_groupings == 0:
        blocks.append(np.ones((n, 1)))
    if fe is not None:
        for g in range(fe.n_groupings):
            d = np.zeros((n, fe.sizes[g]))
            d[np.arange(n), fe.codes[:, g]] = 1.0
            blocks.append(d)
        blocks.extend(s.columns().toarray() for s in fe.slopes)
    a = np.column_stack(blocks)
    norms = np.sqrt(np.einsum("ij,ij->j", a, a))
    return a[:, norms > 0] / norms[norms > 0]


def _orth(a: FloatArray, scale: float) -> FloatArray:
    """An orthonormal basis of the column space of ``a``: the left singular vectors whose singular
    value exceeds ``max(a.shape) * eps * scale``. ``scale`` is that of the design ``a`` derives
    from (not ``a``'s own largest singular value: ``a`` can be zero up to rounding, and then has
    no column space at all)."""
    if a.size == 0:
        return np.zeros((a.shape[0], 0))
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    rank = int(np.sum(s > max(a.shape) * np.finfo(np.float64).eps * scale))
    return u[:, :rank]


def _relu_projector_exact(xx: FloatArray, sub: FixedEffects | None, zero: BoolArray) -> Any:
    """The exact ReLU least-squares step: ``u -> u_hat`` on the ``y = 0`` rows.

    The weighting method's limit (``K -> inf``) is least squares with equality constraints
    (Van Loan 1985; Stewart 1997): ``u_hat = A g`` minimising ``sum_{y=0} (u - A g)^2`` subject
    to ``A_P g = 0`` on the ``y > 0`` rows, ``A = [X, D]``. With ``N`` a basis of the null space
    of ``A_P`` the feasible fits on the zero rows span ``col(A_Z N)``, so ``u_hat_Z = Q Q' u_Z``
    with ``Q`` an orthonormal basis of ``col(A_Z N)`` and ``u_hat_P = 0`` exactly.
    """
    a = _dummy_design(xx, sub)
    a_p, a_z = a[~zero], a[zero]
    # the columns have unit length, so the design's scale is about 1 (its norm is at least 1)
    scale = max(1.0, float(np.linalg.norm(a, 2))) if a.size else 1.0
    tol = max(a.shape) * np.finfo(np.float64).eps * scale
    if a_p.shape[0]:
        # the full V only (U of a tall a_p would be |P| x |P|): full_matrices just when a_p is wide
        _, s, vt = np.linalg.svd(a_p, full_matrices=a_p.shape[0] < a_p.shape[1])
        null = vt[int(np.sum(s > tol)) :].T
    else:
        null = np.eye(a.shape[1])
    q = _orth(a_z @ null, scale)

    def project(u_z: FloatArray) -> FloatArray:
        return np.asarray(q @ (q.T @ u_z), dtype=np.float64)

    return project


def _relu_projector_lsmr(xx: FloatArray, sub: FixedEffects | None, zero: BoolArray) -> Any:
    """The ReLU step for large designs: the method of weighting, solved by sparse LSMR.

    ``min_g sum_i w_i (u_i - a_i g)^2`` with ``w = M = eps^(-1/2)`` on the ``y > 0`` rows (Van
    Loan 1985's rule of thumb, ppmlhdfe's ``solve_lse``) and 1 on the zero rows, ``A = [X, D]``
    sparse with unit-length columns; LSMR (Fong & Saunders 2011, scipy) to ``1e-14``. The
    constraint ``u_hat = 0`` on the ``y > 0`` rows then holds to about ``1/M = 1.5e-8``, below
    the ReLU check's tolerance.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import lsmr

    n = xx.shape[0]
    sw = np.where(zero, 1.0, np.finfo(np.float64).eps ** -0.25)  # sqrt(M)
    if sub is not None and not sub.slopes and sub.n_groupings:
        # the common case, built straight into CSR (k + G entries a row; the same matrix as the
        # block construction below, several times faster at 1e6 rows); on the zero rows the
        # row weight is 1, so the weighted design's fitted values are the u_hat asked for
        k, n_g = xx.shape[1], sub.n_groupings
        offsets = np.concatenate([[0], np.cumsum(sub.sizes)])[:-1] + k
        n_cols = k + int(sum(sub.sizes))
        width = k + n_g
        indices = np.empty((n, width), dtype=np.int64)
        indices[:, :k] = np.arange(k)
        indices[:, k:] = sub.codes + offsets
        values = np.empty((n, width))
        values[:, :k] = xx
        values[:, k:] = 1.0
        norms = np.sqrt(np.bincount(indices.ravel(), weights=(values**2).ravel(), minlength=n_cols))
        scale = 1.0 / np.where(norms > 0, norms, 1.0)
        values *= scale[indices]
        values *= sw[:, None]
        aw = sp.csr_matrix(
            (values.ravel(), indices.ravel(), np.arange(0, n * width + 1, width)),
            shape=(n, n_cols),
        )

        def project_csr(u_z: FloatArray) -> FloatArray:
            u = np.zeros(n)
            u[zero] = u_z
            g = lsmr(aw, u * sw, atol=1e-14, btol=1e-14, maxiter=max(20_000, 4 * n_cols))[0]
            return np.asarray((aw @ g)[zero], dtype=np.float64)

        return project_csr
    blocks: list[Any] = [sp.csr_matrix(xx)] if xx.shape[1] else []
    if sub is None or sub.n_groupings == 0:
        blocks.append(sp.csr_matrix(np.ones((n, 1))))
    if sub is not None:
        for g in range(sub.n_groupings):
            blocks.append(
                sp.csr_matrix(
                    (np.ones(n), (np.arange(n), sub.codes[:, g])), shape=(n, sub.sizes[g])
                )
            )
        blocks.extend(sp.csr_matrix(s.columns()) for s in sub.slopes)
    a = sp.hstack(blocks).tocsc()
    norms = np.sqrt(np.asarray(a.multiply(a).sum(axis=0)).ravel())
    used = np.flatnonzero(norms > 0)
    a = a[:, used] @ sp.diags(1.0 / norms[used])
    aw = sp.diags(sw) @ a

    def project(u_z: FloatArray) -> FloatArray:
        u = np.zeros(n)
        u[zero] = u_z
        g = lsmr(aw, u * sw, atol=1e-14, btol=1e-14, maxiter=max(20_000, 4 * a.shape[1]))[0]
        return np.asarray((a @ g)[zero], dtype=np.float64)

    return project


#: The certificate of :func:`_relu_none_certified`: demeaning tolerance, the largest residual on
#: the ``y = 0`` rows it accepts (relative to the largest value of the random fit) and the sweeps
#: it allows before giving up (then the full ReLU check runs).
RELU_CERT_FIXEF_TOL = 1e-12
RELU_CERT_TOL = 1e-8
RELU_CERT_MAXITER = 10_000
#: The seed of the certificate's random fit (fixed: the same answer on every run).
RELU_CERT_SEED = 20_261_202


def _relu_none_certified(xx: FloatArray, sub: FixedEffects, zero: BoolArray) -> bool:
    """True when no ``y = 0`` row can be separated (a randomized certificate, as cheap as one
    weighted demeaning); False when it cannot tell (then the ReLU iteration decides).

    Rows can be separated only if some ``z = A g`` (``A = [X, D]``, the regressors and the
    fixed-effect dummies) is zero on the ``y > 0`` rows ``P`` and not zero on the ``y = 0`` rows
    ``Z``: the set ``S = {A_Z g : A_P g = 0}`` holds every candidate (Correia, Guimaraes & Zylkin
    2021, section 4). ``S = {0}`` certifies that nothing is separated. The test: draw a random
    ``g`` (fixed seed, Gaussian), fit ``v = A g`` on ``A`` by least squares on the rows of ``P``
    only (weighted alternating projections with weight 1 on ``P`` and 0 on ``Z``, then the
    regressors' coefficients on ``P``), and look at the residual ``r`` on ``Z``. ``r = v - A h``
    is linear in ``g``; on ``P`` it vanishes (``v`` lies in ``col(A)``), so ``r`` is some
    ``A (g - h)`` with ``A_P (g - h) = 0``: ``r_Z`` lies in ``S``, and is zero whenever
    ``S = {0}``. Conversely for ``g = n`` with ``A_P n = 0`` nothing is fitted (``v_P = 0``:
    every group mean on ``P`` is zero) and ``r_Z = A_Z n``, so the linear map ``g -> r_Z`` is not
    zero whenever ``S`` is not, and a Gaussian ``g`` then gives ``r_Z != 0`` with probability
    one. The residual is accepted as zero when ``max |r_Z| <= RELU_CERT_TOL max |v|`` after
    demeaning to ``RELU_CERT_FIXEF_TOL`` (measured at 1e6 rows x 3 fixed effects: residual
    3e-14 relative, 0.2 s, against 2 s for the ReLU step by LSMR); a demeaning that does not
    converge in ``RELU_CERT_MAXITER`` sweeps certifies nothing. Regressors are scaled to unit
    root mean square first (the column space is unchanged). ``sub``: the fixed effects of the
    rows (a single one-level grouping for the intercept of a model without fixed effects).
    Varying slopes: not certified here.
    """
    from tradeimpact.core.fixed_effects import NotConvergedWarning

    if sub.slopes or sub.n_groupings == 0 or not zero.any():
        return False
    n = zero.size
    pos = ~zero
    rng = np.random.default_rng(RELU_CERT_SEED)
    norms = np.sqrt(np.einsum("ij,ij->j", xx, xx) / max(n, 1)) if xx.shape[1] else np.zeros(0)
    xs = xx[:, norms > 0] / norms[norms > 0]
    cols = np.empty((n, 1 + xs.shape[1]), order="F")
    v = cols[:, 0]
    v[:] = xs @ rng.standard_normal(xs.shape[1]) if xs.shape[1] else 0.0
    for g in range(sub.n_groupings):
        v += rng.standard_normal(sub.sizes[g])[sub.codes[:, g]]
    cols[:, 1:] = xs
    scale = float(np.abs(v).max())
    with warnings.catch_warnings():
        # a demeaning that does not converge certifies nothing: caught below, and the full ReLU
        # check runs instead (no row is ever dropped or kept on its account)
        warnings.simplefilter("error", NotConvergedWarning)
        try:
            demean(
                cols,
                sub,
                pos.astype(np.float64),
                tol=RELU_CERT_FIXEF_TOL,
                maxiter=RELU_CERT_MAXITER,
                in_place=True,
            )
        except NotConvergedWarning:
            return False
    r = cols[:, 0]
    if xs.shape[1]:
        xr = cols[:, 1:]
        coef = np.linalg.lstsq(xr[pos], r[pos], rcond=None)[0]
        r = r - xr @ coef
    limit = RELU_CERT_TOL * max(scale, 1.0)
    return bool(np.all(np.abs(r) <= limit))


def _relu_separated(
    y: FloatArray,
    x: FloatArray,
    fe: FixedEffects | None,
    keep: BoolArray,
    *,
    tol: float = 1e-5,
    maxiter: int = 100,
    certificate: list[FloatArray] | None = None,
) -> BoolArray:
    """The iterated rectifier (ReLU) check of Correia, Guimaraes & Zylkin (2021), section 4.

    With ``certificate`` (a list), the final ``u_hat`` is appended to it as an array over all
    rows: the certificate of separation on the rows of ``keep`` (``u_hat = [X, D] g``, zero on
    the ``y > 0`` rows, ``>= 0`` on the others and ``> 0`` exactly on the separated ones; values
    in the zero band set to 0), NaN on the other rows.

    Least squares of ``u`` on ``x`` and the fixed effects with ``u_hat = 0`` forced on the rows
    with ``y > 0``; ``u`` starts at 1 on the ``y = 0`` rows and becomes ``max(u_hat, 0)``; when
    every ``u_hat >= 0`` (to ``tol``: values in ``(-0.1 tol, tol)`` count as 0, ppmlhdfe's band),
    rows with ``u_hat > 0`` are separated.

    The step is solved exactly (:func:`_relu_projector_exact`: least squares with the equality
    constraints, by the null space of the ``y > 0`` rows) when the design with the fixed effects
    as dummies is small (``RELU_EXACT_MAX_COLUMNS`` columns, ``RELU_EXACT_MAX_WORK``).
    Larger designs use the method of weighting as ppmlhdfe does (``solve_lse``): weight
    ``M = eps^(-1/2)`` on the ``y > 0`` rows and 1 elsewhere, solved by LSMR on the sparse design
    with the fixed effects as dummies (:func:`_relu_projector_lsmr`; ppmlhdfe also switches to
    LSMR here, "because it works better for ill-conditioned matrices"). Partialling the fixed
    effects out by weighted alternating projections, as before, did not converge with such
    weights (three fixed effects on ppmlhdfe's test/hard2.do data: 10,000 sweeps, ``u_hat ~
    -1e-6`` on the separated rows, no separation found).

    First (unless ``certificate`` is asked for) :func:`_relu_none_certified` tests whether any
    row can be separated at all; when it certifies that none can, no row is returned without
    iterating (the first step would give ``u_hat = 0``).
    """
    out = np.zeros(y.size, dtype=bool)
    idx = np.flatnonzero(keep)
    yy = y[idx]
    zero = yy == 0
    if not zero.any():
        if certificate is not None:
            cert = np.full(y.size, np.nan)
            cert[idx] = 0.0
            certificate.append(cert)
        return out
    xx = x[idx]
    sub = (
        (FixedEffects(fe.codes[idx]) if not fe.slopes else fe.subset(keep))
        if fe is not None
        else None
    )
    n_cols = xx.shape[1] + (
        1
        if sub is None
        else sum(sub.sizes) + sum(s.size * (s.z.shape[1] + s.intercept) for s in sub.slopes)
    )
    # (without fixed effects the design has an intercept: one grouping of a single level)
    cert_fe = sub if sub is not None else FixedEffects(np.zeros((yy.size, 1), dtype=np.int64))
    if certificate is None and _relu_none_certified(xx, cert_fe, zero):
        # no y = 0 row can be separated (every fit zero on the y > 0 rows is zero everywhere):
        # the ReLU iteration would return u_hat = 0 after its first step
        return out
    exact = n_cols <= RELU_EXACT_MAX_COLUMNS and yy.size * n_cols**2 <= RELU_EXACT_MAX_WORK
    if exact:
        project = _relu_projector_exact(xx, sub, zero)
    else:
        project = _relu_projector_lsmr(xx, sub, zero)

    u_z = np.ones(int(zero.sum()))
    for _ in range(maxiter):
        uhat = project(u_z)
        uhat[(uhat > -0.1 * tol) & (uhat < tol)] = 0.0
        if np.all(uhat >= 0):
            out[idx[np.flatnonzero(zero)[uhat > 0]]] = True
            if certificate is not None:
                cert = np.full(y.size, np.nan)
                cert[idx] = 0.0
                cert[idx[zero]] = uhat
                certificate.append(cert)
            return out
        u_z = np.maximum(uhat, 0.0)
    warnings.warn(
        f"ReLU separation check did not converge in {maxiter} iterations; no rows dropped by it",
        SeparationWarning,
        stacklevel=3,
    )
    return out


#: At most this many step-halvings per IRLS iteration (``_irls``).
MAX_HALVINGS = 60
#: ``_irls`` halves a step that raises the deviance by more than this (relative): a blow-up,
#: not the ordinary overshoot of a Newton step far from the optimum (halving those, glm2's
#: rule, stalled IRLS in a test: each later full step rose again and was halved in turn)
RISE_TOL = 1.0

#: ppmlhdfe's ``mu_tol``: the ``mu`` method tags rows with ``y = 0`` and ``mu < MU_TOL``.
MU_TOL = 1e-6


def _mu_threshold(eta: FloatArray, pos: BoolArray, mu_tol: float) -> float:
    """``log(mu_tol)``, lowered by ``5 + min(eta | y > 0)`` when that minimum is below -5
    (ppmlhdfe's adjustment for outcomes with very small positive values)."""
    low = float(eta[pos].min()) if pos.any() else 0.0
    return float(np.log(mu_tol) + min(0.0, low + 5.0))


def _mu_separated(
    y: FloatArray,
    x: FloatArray,
    fe: FixedEffects | None,
    w: FloatArray | None,
    off: FloatArray | None,
    keep: BoolArray,
    *,
    mu_tol: float,
    tol: float,
    maxiter: int,
    fixef_tol: float,
    collin_tol: float,
) -> BoolArray:
    """ppmlhdfe's ``mu`` separation method (Correia, Guimaraes & Zylkin 2020, section 3; its
    ``mu_tol`` option): run the Poisson IRLS on the rows of ``keep`` and tag the rows with
    ``y = 0`` whose fitted mean falls below ``mu_tol`` (``eta < log(mu_tol)``, lowered by
    ``5 + min(eta | y > 0)`` when that is below -5), as soon as any appear; the caller drops
    them and runs the checks again (then the IRLS on the smaller sample). A heuristic: a
    separated row's ``mu`` goes to zero along the IRLS path, so the rows found are separated,
    but the deviance can converge before every separated ``mu`` is that small (the ReLU check
    is the one with a guarantee). IRLS here runs to ``min(tol, 1e-10)`` so that the separated
    means have time to fall.
    """
    out = np.zeros(y.size, dtype=bool)
    idx = np.flatnonzero(keep)
    yy = y[idx]
    if not np.any(yy == 0) or not np.any(yy > 0):
        return out
    sub = fe.subset(keep) if fe is not None else None
    xx = x[idx]
    n_cols = xx.shape[1] + (
        1
        if sub is None
        else sum(sub.sizes) + sum(s.size * (s.z.shape[1] + s.intercept) for s in sub.slopes)
    )
    if n_cols <= RELU_EXACT_MAX_COLUMNS and idx.size * n_cols**2 <= RELU_EXACT_MAX_WORK:
        # small design: the weighted least squares of each step solved densely with the fixed
        # effects as dummies (alternating projections stall on the extreme weights that the
        # separated rows' vanishing means give, e.g. ppmlhdfe's test/hard2.do)
        tagged_d = _mu_dense(
            yy,
            _dummy_design(xx, sub),
            None if w is None else w[idx],
            np.zeros(idx.size) if off is None else off[idx],
            mu_tol=mu_tol,
            tol=min(tol, 1e-10),
            maxiter=maxiter,
        )
        out[idx[tagged_d]] = True
        return out
    if sub is None or sub.n_groupings == 0:
        xx = np.column_stack([np.ones(idx.size), xx])
    fit = _irls(
        yy,
        xx,
        sub,
        None if w is None else w[idx],
        np.zeros(idx.size) if off is None else off[idx],
        tol=min(tol, 1e-10),
        maxiter=maxiter,
        fixef_tol=fixef_tol,
        collin_tol=collin_tol,
        mu_tol=mu_tol,
    )
    tagged = fit.get("mu_separated")
    if tagged is not None:
        out[idx[tagged]] = True
    return out


def _mu_dense(
    y: FloatArray,
    a: FloatArray,
    w: FloatArray | None,
    off: FloatArray,
    *,
    mu_tol: float,
    tol: float,
    maxiter: int,
) -> BoolArray:
    """The ``mu`` method's IRLS on a dense design ``a`` (regressors and dummies): each step
    the weighted least squares ``min_g sum omega (z - a g)^2`` by ``numpy.linalg.lstsq``, with
    step-halving on a non-finite or rising deviance; returns the rows tagged (none if the
    deviance converges first)."""
    tagged = np.zeros(y.size, dtype=bool)
    mu = (y + y.mean()) / 2.0
    eta = np.log(mu)
    last = _deviance(y, mu, w)
    for it in range(maxiter):
        omega = mu if w is None else w * mu
        z = eta - off + (y - mu) / mu
        sw = np.sqrt(omega)
        g = np.linalg.lstsq(a * sw[:, None], z * sw, rcond=None)[0]
        new = a @ g + off
        with np.errstate(over="ignore", invalid="ignore"):
            dev = _deviance(y, np.exp(new), w)
        # (the starting means are not a fit of the model: the first step is never halved)
        for _h in range(MAX_HALVINGS if it else 0):
            if np.isfinite(dev) and (dev - last) / (0.1 + abs(last)) <= tol:
                break
            new = 0.5 * (new + eta)
            with np.errstate(over="ignore", invalid="ignore"):
                dev = _deviance(y, np.exp(new), w)
        eta = new
        mu = np.exp(eta)
        tagged = (y == 0) & (eta < _mu_threshold(eta, y > 0, mu_tol))
        if tagged.any():
            return tagged
        crit = abs(dev - last) / (0.1 + abs(last))
        last = dev
        if crit < tol:
            break
    return tagged


# --------------------------------------------------------------------------------------------
# the estimator


def ppml(
    data: Any,
    y: str,
    x: Sequence[str | pl.Expr] = (),
    fe: Sequence[str | Sequence[str]] = (),
    *,
    weights: str | None = None,
    offset: str | None = None,
    vcov: str | Mapping[str, Any] | VcovSpec | None = None,
    cluster: str | Sequence[str] | None = None,
    tol: float = 1e-8,
    maxiter: int = 50,
    fixef_tol: float = 1e-10,
    collin_tol: float = COLLIN_TOL,
    drop_singletons: bool = True,
    separation: Sequence[str] = ("fe", "simple", "relu"),
    weights_type: str = "aweights",
    se_convention: str = "fixest",
    exposure: str | None = None,
    separation_tol: float = 1e-5,
    mu_tol: float = MU_TOL,
) -> PPMLResult:
    """Poisson pseudo-maximum likelihood with any number of absorbed fixed effects.

    Estimates ``E[y | x, fe] = exp(x'b + sum_g alpha_g + offset)`` by IRLS with weighted
    alternating projections (Correia, Guimaraes & Zylkin 2020, Stata Journal 20(1), ``ppmlhdfe``;
    Santos Silva & Tenreyro 2006); see the module docstring for the algorithm, the separation and
    collinearity checks and the covariance conventions (those of fixest/pyfixest).

    Parameters
    ----------
    data : polars or pandas frame (or polars LazyFrame)
    y : str
        Outcome column (``>= 0``; zeros allowed).
    x : list of str or polars expressions
        Regressors; an expression is named by its output name, e.g.
        ``pl.col("dist").log().alias("log_dist")``.
    fe : list
        Fixed effects: a column, ``"a^b"`` or ``("a", "b")`` for the interaction (exporter-year).
        Without fixed effects an intercept is estimated. Varying slopes
        (:mod:`tradeimpact.core.slopes`): ``"id[z]"`` absorbs the ``id`` fixed effect and an
        ``id``-specific slope on ``z`` (ppmlhdfe ``a(id##c.z)``, fixest ``id[z]``),
        ``"id[[z]]"`` the slope only (``a(id#c.z)``), ``"id[z1,z2]"`` several; their
        parameters count in ``K`` net of redundancies; ``fixef()`` is not offered with them.
    weights : str, optional
        Column of non-negative observation weights.
    offset : str, optional
        Column added to the linear predictor with coefficient one.
    vcov : any form of :func:`tradeimpact.core.covariance.parse_vcov` but Driscoll-Kraay:
        ``"hetero"`` (default), ``"iid"``, ``"twoway"``, ``{"CRV1": "a"}``, ``{"CRV1": "a + b"}``,
        ``{"CRV1": "a^b"}``, or ``{"CR1": col}`` /
        ``{"CR1": [col1, col2]}``.
    cluster : str or list of str, optional
        Cluster column(s) (``"a"``, ``"a + b"``, ``["a", "b"]``): the same as
        ``vcov={"CRV1": cluster}`` (one naming, ``cluster``, across the estimators).
    tol : float
        Convergence tolerance on the relative change of the deviance.
    maxiter : int
        Maximum IRLS iterations (a :class:`PPMLConvergenceWarning` when reached).
    fixef_tol : float
        Tolerance of the alternating projections.
    collin_tol : float
        Tolerance of the collinearity check.
    drop_singletons : bool
        Drop rows alone in a fixed-effect group (default, as fixest).
    weights_type : ``"aweights"`` (default) or ``"fweights"``
        pyfixest's argument of the same name. ``"aweights"``: ``weights`` scale each row's
        contribution (analytic / probability weights, as fixest and pyfixest). ``"fweights"``:
        each row stands for ``weights`` identical observations (Stata's ``[fweight=]``,
        statsmodels' ``freq_weights``; non-negative integers): ``nobs`` is the sum of the
        weights (ppmlhdfe's ``e(N)``), the small-sample factors count it, and the robust meat is
        that of the replicated data (``sum_i w_i (y_i - mu_i)^2 x~_i x~_i'``; cluster sums are
        unchanged). The coefficients are the same either way.
    se_convention : ``"fixest"`` (default) or ``"ppmlhdfe"``
        The small-sample factor of the covariance, with ``N`` the observations and ``K`` the
        regressors plus the fixed-effect levels not nested in a cluster (module docstring):
        ``"fixest"`` (fixest, pyfixest): hetero ``N/(N-K)``, CR1 ``G/(G-1) (N-1)/(N-K)``, iid
        ``(N-1)/(N-K)``; ``"ppmlhdfe"`` (ppmlhdfe, Stata's ``_robust`` for ML models): hetero
        ``N/(N-1)``, CR1 ``G/(G-1)``, iid 1. So fixest's robust SEs exceed ppmlhdfe's by
        ``sqrt((N-1)/(N-K))``. ``result.vcov_type`` names the one used.
    separation_tol : float
        Tolerance of the ReLU separation check (ppmlhdfe's ``tol`` of its ``relu`` method,
        default 1e-5): a fitted ``u_hat`` in ``(-0.1 tol, tol)`` counts as zero, above ``tol``
        as separated.
    exposure : str, optional
        Column of positive exposures: ``offset = log(exposure)`` (Stata's ``exposure()``); not
        together with ``offset``.
    separation : sequence of ``"fe"``, ``"simple"``, ``"relu"``, ``"mu"``
        Separation checks to run (see the module docstring); ``fe``, ``simple`` and ``relu`` by
        default, like ppmlhdfe's default ``separation(fe simplex relu)``; ppmlhdfe's names
        ``"simplex"`` and ``"ir"`` are accepted. ``"mu"`` is ppmlhdfe's ``mu`` method: the
        rows with ``y = 0`` whose fitted mean falls below ``mu_tol`` along the IRLS path
        (:func:`_mu_separated`). The rows each check dropped are in ``result.separation``
        (by method), with the certificate of separation ``result.separation.certificate``.
    mu_tol : float
        Threshold of the ``mu`` method (ppmlhdfe's ``mu_tol``, default 1e-6).

    Returns
    -------
    PPMLResult
    """
    df = to_polars(data)
    n_input = df.height
    x_exprs = [pl.col(v) if isinstance(v, str) else v for v in x]
    x_names = [e.meta.output_name() for e in x_exprs]
    if len(set(x_names)) != len(x_names):
        raise ModelSpecError(f"regressor names repeat: {x_names}")
    # varying slopes ("id[z]", "id[[z]]"; tradeimpact.core.slopes): plain fixed effects (with the
    # group of every id[z]) and the slope terms
    try:
        fe, slope_terms = split_fe_specs(fe)
    except ValueError as err:
        raise ModelSpecError(str(err)) from err
    fe_list = [_fe_columns(s) for s in fe]
    fe_names = [name for name, _ in fe_list]
    fe_cols = [cols for _, cols in fe_list]
    vspec = parse_vcov(vcov, cluster=cluster, fe=fe_names)
    if vspec.kind == "DK":
        raise ModelSpecError("vcov='DK' (Driscoll-Kraay) is offered for feols, not for ppml")
    kind = {"CR1": "cluster"}.get(vspec.kind, vspec.kind)
    cluster_cols = list(vspec.cluster_names)
    cluster_parts = vspec.label_columns(df.columns)
    needed = {y, *(c for cols in fe_cols for c in cols), *cluster_parts}
    needed |= {c for t in slope_terms for c in (*t.group, *t.variables)}
    if weights_type not in ("aweights", "fweights"):
        raise ModelSpecError(
            f"weights_type={weights_type!r}: use 'aweights' (the default) or 'fweights'"
        )
    if se_convention not in ("fixest", "ppmlhdfe"):
        raise ModelSpecError(f"se_convention={se_convention!r}: use 'fixest' or 'ppmlhdfe'")
    if exposure and offset:
        raise ModelSpecError(
            "give offset= or exposure= (offset = log(exposure)), not both (as Stata's glm)"
        )
    if exposure:
        needed.add(exposure)
    if weights:
        needed.add(weights)
    if offset:
        needed.add(offset)
    check_columns(df, sorted(needed))

    try:
        xframe = df.select(x_exprs) if x_exprs else pl.DataFrame()
    except pl.exceptions.PolarsError as err:
        raise ModelSpecError(f"cannot evaluate the regressors {x_names}: {err}") from err
    # numbers only: a text outcome or regressor is an error naming the column, never a cast
    y_arr = numeric_column(df, y, "outcome")
    x_arr = (
        np.column_stack([numeric_series(xframe[c], c) for c in x_names])
        if x_exprs
        else np.zeros((n_input, 0), dtype=np.float64)
    )
    w_arr = numeric_column(df, weights, "weights") if weights else None
    off_arr = numeric_column(df, offset, "offset") if offset else None
    if exposure:
        expo = numeric_column(df, exposure, "exposure")
        bad_e = np.isfinite(expo) & (expo <= 0)
        if bad_e.any():
            row = int(np.flatnonzero(bad_e)[0])
            raise ModelSpecError(
                f"exposure {exposure!r} must be positive (row {row} is {expo[row]:g})"
            )
        off_arr = np.log(expo)
    fweights = weights_type == "fweights"
    if fweights and w_arr is None:
        raise ModelSpecError("weights_type='fweights' needs weights=<column of frequencies>")
    if fweights and w_arr is not None:
        ok_w = np.isfinite(w_arr)
        frac = ok_w & (w_arr != np.round(w_arr))
        if frac.any():
            row = int(np.flatnonzero(frac)[0])
            raise ModelSpecError(
                f"frequency weights {weights!r} must be whole numbers (row {row} is "
                f"{w_arr[row]:g}); use weights_type='aweights' for analytic weights"
            )

    # -- the estimation sample (tradeimpact.core.sample): missing values, zero weights, then
    # singletons and separation iterated together until neither finds more rows ------------------
    finite = np.isfinite(y_arr)
    if np.any(finite & (y_arr < 0)):
        row = int(np.flatnonzero(finite & (y_arr < 0))[0])
        raise ModelSpecError(f"outcome {y!r} is negative (row {row}); PPML needs y >= 0")
    if w_arr is not None and np.any(np.isfinite(w_arr) & (w_arr < 0)):
        row = int(np.flatnonzero(np.isfinite(w_arr) & (w_arr < 0))[0])
        raise ModelSpecError(f"weights {weights!r} must be non-negative (row {row} is negative)")
    # ppmlhdfe's names are accepted too: "simplex" (our "simple"), "ir" (our "relu")
    aliases = {"simplex": "simple", "ir": "relu"}
    checks_asked = {aliases.get(c, c) for c in separation}
    unknown = checks_asked - {"fe", "simple", "relu", "mu"}
    if unknown:
        raise ModelSpecError(
            f"unknown separation checks {sorted(unknown)}: use fe, simple, relu, mu"
        )
    if not 0 < mu_tol < 1:
        raise ModelSpecError(f"mu_tol={mu_tol!r} must be in (0, 1)")
    fe_full = (
        FixedEffects(np.column_stack([_group_codes(df, cols) for cols in fe_cols]), fe_names)
        if fe_cols
        else None
    )
    z_all: FloatArray | None = None
    if slope_terms:
        fe_full = attach_slopes(
            fe_full,
            n_input,
            slope_terms,
            lambda t: np.column_stack(
                [numeric_column(df, v, "slope variable") for v in t.variables]
            ),
            lambda t: (
                _group_codes(df, list(t.group)),
                int(_group_codes(df, list(t.group)).max()) + 1,
            ),
        )
        assert fe_full is not None
        z_all = np.column_stack([s.z for s in fe_full.slopes])
    if not 0 < separation_tol < 1:
        raise ModelSpecError(f"separation_tol={separation_tol!r} must be in (0, 1)")
    checks: list[tuple[str, Any]] = []
    found: dict[str, list[int]] = {}

    def recorded(method: str, fn: Any) -> Any:
        # estimation_sample drops every row a check returns (then restarts the checks), so
        # each call's rows are the rows that method dropped: the separation certificate
        def run(keep: BoolArray) -> BoolArray:
            out = np.asarray(fn(keep), dtype=bool) & keep
            if out.any():
                found.setdefault(method, []).extend(int(i) for i in np.flatnonzero(out))
            return out

        return run

    if fe_full is not None and "fe" in checks_asked:
        fe_now = fe_full
        checks.append(
            ("separated_fe", recorded("fe", lambda keep: _fe_separated(y_arr, fe_now, keep)))
        )
    if "simple" in checks_asked and x_arr.shape[1]:
        checks.append(
            (
                "separated_regressor",
                recorded("simple", lambda keep: _simple_separated(y_arr, x_arr, keep)),
            )
        )
    if "relu" in checks_asked:
        checks.append(
            (
                "separated_regressor",
                recorded(
                    "relu",
                    lambda keep: _relu_separated(y_arr, x_arr, fe_full, keep, tol=separation_tol),
                ),
            )
        )
    if "mu" in checks_asked:
        checks.append(
            (
                "separated_regressor",
                recorded(
                    "mu",
                    lambda keep: _mu_separated(
                        y_arr,
                        x_arr,
                        fe_full,
                        w_arr,
                        off_arr,
                        keep,
                        mu_tol=mu_tol,
                        tol=tol,
                        maxiter=max(maxiter, 100),
                        fixef_tol=fixef_tol,
                        collin_tol=collin_tol,
                    ),
                ),
            )
        )
    label_cols = sorted(
        {c for cols in fe_cols for c in cols}
        | set(cluster_parts)
        | {c for t in slope_terms for c in t.group}
    )
    est = estimation_sample(
        n_input,
        numeric=[y_arr, x_arr, w_arr, off_arr, z_all],
        labels=[df.get_column(c) for c in label_cols],
        weights=w_arr,
        fe=fe_full,
        drop_singletons=drop_singletons,
        checks=checks,
    )
    keep = est.keep
    dropped: dict[str, int] = dict(est.dropped)
    for reason in ("singletons", "separated_fe", "separated_regressor"):
        dropped.setdefault(reason, 0)
    n_single = dropped["singletons"]
    n_sep_fe = dropped["separated_fe"]
    n_sep_x = dropped["separated_regressor"]
    messages: list[str] = []
    if dropped["missing"]:
        messages.append(f"{dropped['missing']} rows dropped for missing values")
    if n_single:
        messages.append(f"{n_single} singleton rows dropped (alone in a fixed-effect group)")
    if n_sep_fe:
        messages.append(
            f"{n_sep_fe} rows dropped: separated by the fixed effects (groups whose outcome is "
            "zero throughout)"
        )
    if n_sep_x:
        messages.append(f"{n_sep_x} rows dropped: separated by the regressors")
    if n_sep_fe or n_sep_x:
        warnings.warn("; ".join(messages), SeparationWarning, stacklevel=2)
    if not np.any(y_arr[keep] > 0):
        raise ModelSpecError(f"outcome {y!r} is zero on every estimation row")

    # -- estimation sample -------------------------------------------------------------------------
    yv = y_arr[keep]
    n = yv.size
    wv = w_arr[keep] if w_arr is not None else None
    off = off_arr[keep] if off_arr is not None else np.zeros(n)
    fes = fe_full.subset(keep) if fe_full is not None else None
    names = list(x_names)
    xv = x_arr[keep]
    if fes is None or fes.n_groupings == 0:  # no fixed effect (at most slope-only terms)
        xv = np.column_stack([np.ones(n), xv])
        names = ["(Intercept)", *names]

    fit = _irls(
        yv, xv, fes, wv, off, tol=tol, maxiter=maxiter, fixef_tol=fixef_tol, collin_tol=collin_tol
    )
    dropped_regs = [names[j] for j in fit["collinear"]]
    names = [nm for j, nm in enumerate(names) if j not in set(fit["collinear"])]
    if dropped_regs:
        messages.append(f"collinear regressors dropped: {', '.join(dropped_regs)}")
        warnings.warn(messages[-1], CollinearityWarning, stacklevel=2)
    if not fit["converged"]:
        warnings.warn(
            f"PPML did not converge: after {maxiter} IRLS iterations the relative change of the "
            f"deviance is {fit['crit']:.3g} > tol {tol:g}; the estimates are not reliable",
            PPMLConvergenceWarning,
            stacklevel=2,
        )

    # -- covariance ---------------------------------------------------------------------------------
    xd: FloatArray = fit["xd"]
    omega: FloatArray = fit["omega"]
    k = xd.shape[1]
    bread = xd.T @ (xd * omega[:, None])
    bread_inv: FloatArray = (
        np.asarray(np.linalg.inv(bread), dtype=np.float64) if k else np.zeros((0, 0))
    )
    scores = (omega * fit["resid"])[:, None] * xd
    n_clusters: dict[str, int] = {}
    # normal reference distribution whatever the covariance, as fixest and pyfixest (docstring)
    df_inference: int | None = None
    # N: rows, or with frequency weights the observations they stand for (ppmlhdfe's e(N))
    n_obs = round(float(wv.sum())) if fweights and wv is not None else n
    # the robust meat of the replicated data: with frequency weights row i's w_i copies each
    # contribute (y_i - mu_i) x~_i, so sum_i w_i (y_i - mu_i)^2 x~_i x~_i' (scores / sqrt(w))
    meat_scores = scores / np.sqrt(wv)[:, None] if fweights and wv is not None else scores
    clusters: list[npt.NDArray[np.int64]] = []
    if kind == "cluster":
        # only the cluster columns are filtered (not the whole frame): the same codes
        sub = df.select(cluster_parts).filter(pl.Series(keep))
        clusters = [
            _group_codes(sub, [c] if c in sub.columns else [p.strip() for p in c.split("^")])
            for c in cluster_cols
        ]
        for c, codes in zip(cluster_cols, clusters, strict=True):
            n_clusters[c] = int(codes.max()) + 1
        # before the dof count: one cluster would otherwise divide by zero in G/(G-1)
        check_cluster_count(list(n_clusters.values()), cluster_cols)
    k_dof = k + (fe_dof(fes, clusters) if kind == "cluster" else fe_dof(fes))
    identified = n_obs > k_dof
    fixest = se_convention == "fixest"
    cov: FloatArray = bread_inv
    if kind == "cluster":
        if k and identified:
            # HC0-type cluster sandwich with G/(G-1); fixest's (N-1)/(N-K) on top
            cov = vcov_cluster(
                bread_inv,
                scores,
                clusters,
                n=n_obs,
                k=k_dof,
                small_sample="fixest" if fixest else "none",
                names=cluster_cols,
            )
        factor = "(N-1)/(N-K) x G/(G-1)" if fixest else "G/(G-1)"
        vcov_type = (
            f"CR1 clustered by {' and '.join(cluster_cols)} "
            f"({', '.join(f'G={g}' for g in n_clusters.values())}"
        )
    elif kind == "hetero":
        if k and identified:
            hc0 = vcov_hetero(bread_inv, meat_scores, n=n_obs, k=k_dof, small_sample="none")
            cov = hc0 * (n_obs / (n_obs - k_dof) if fixest else n_obs / (n_obs - 1))
        factor = "N/(N-K)" if fixest else "N/(N-1)"
        vcov_type = "HC1 (heteroskedasticity-robust"
    else:
        # fixest's and pyfixest's small-sample factor (N-1)/(N-K) applies to iid as well
        if identified and fixest:
            cov = bread_inv * ((n_obs - 1) / (n_obs - k_dof))
        factor = "(N-1)/(N-K)" if fixest else "1"
        vcov_type = "iid (Poisson variance"
    # one parenthesis, as feols prints it: the small-sample factor, its convention, N and K
    vcov_type += f"; {factor}, {se_convention} convention, N={n_obs}, K={k_dof})"

    if not identified and k:  # (without regressors there is no standard error to report)
        # exactly identified (or saturated): the sandwich's N/(N-K) (and (N-1)/(N-K)) is undefined
        # and the residual scores are zero; ppmlhdfe reports N, ll and the deviance with missing
        # standard errors, and so do we: NaN, with a warning (issue 14 item 8)
        cov = np.full((k, k), np.nan)
        warnings.warn(
            f"PPML is exactly identified: {n_obs} observations for {k_dof} parameters "
            f"({k} regressors, {k_dof - k} fixed-effect levels net of redundancies); the fit is "
            "saturated and the standard errors are NaN (as ppmlhdfe's are missing)",
            ExactlyIdentifiedWarning,
            stacklevel=2,
        )
        vcov_type += " (not defined: exactly identified, SEs NaN)"
    warn_negative_variances(cov, names, vcov_type)
    sample = np.zeros(n_input, dtype=bool)
    sample[keep] = True
    # fit statistics as fixest reports them: log-likelihood, pseudo R2 against the constant-only
    # model on the same rows, squared correlation of y and the fitted mean
    mu_hat = fit["mu"]
    wts = np.ones(n) if wv is None else wv
    y_bar = float(np.average(yv, weights=wts))
    loglik = float(np.sum(wts * (yv * np.log(mu_hat) - mu_hat - gammaln(yv + 1))))
    loglik0 = float(np.sum(wts * (yv * np.log(y_bar) - y_bar - gammaln(yv + 1))))
    return PPMLResult(
        names=names,
        beta=fit["beta"],
        cov_matrix=cov,
        nobs=n_obs,
        vcov_type=vcov_type,
        df_inference=df_inference,
        depvar=y,
        fixed_effects=[*fe_names, *(t.name for t in slope_terms)],
        dropped=dropped,
        dropped_regressors=dropped_regs,
        n_clusters=n_clusters,
        model="PPML",
        extra={
            "deviance": fit["deviance"],
            "iterations": fit["iterations"],
            "halvings": fit["halvings"],
            "loglik": loglik,
            "pseudo_r2": 1.0 - loglik / loglik0,
            "sq_cor": _sq_cor(yv, mu_hat),
            # for score-based inference (e.g. a score bootstrap): V = B (sum s s') B
            "bread_inv": bread_inv,
            "scores": scores,
            "k_dof": k_dof,
            "n_rows": n,
            "weights_type": weights_type if wv is not None else None,
            "se_convention": se_convention,
        },
        deviance=fit["deviance"],
        iterations=fit["iterations"],
        converged=fit["converged"],
        messages=messages,
        fitted=fit["mu"],
        sample=sample,
        separation=Separation(
            {m: sorted(rows) for m, rows in found.items()},
            # the inputs are kept for the certificate only when some rows were separated
            context=(y_arr, x_arr, fe_full, _certificate_rows(keep, found), separation_tol)
            if found
            else (None, None, None, keep.copy(), None),
        ),
        _fe=fes,
        _fe_levels=_fe_level_labels(df, np.flatnonzero(keep), fe_cols, fes),
        _fe_target=_fe_part(fit, xv, off),
    )


def _certificate_rows(keep: BoolArray, found: Mapping[str, list[int]]) -> BoolArray:
    """The rows the certificate of separation is computed on: estimation and separated rows."""
    rows = keep.copy()
    for r in found.values():
        rows[np.asarray(r, dtype=np.int64)] = True
    return rows


def _fe_level_labels(
    df: pl.DataFrame,
    rows: npt.NDArray[np.int64],
    fe_cols: Sequence[Sequence[str]],
    fes: FixedEffects | None,
) -> list[list[str]]:
    """The label of every level of every fixed effect on the estimation rows ``rows`` of ``df``
    (``"a^b"`` labels joined by ``^``), in the order of the codes of ``fes``: each level's label
    is read from its first estimation row only (one label per level, not per row)."""
    if fes is None:
        return []
    out = []
    for g, cols in enumerate(fe_cols):
        codes = fes.codes[:, g]
        first = np.full(fes.sizes[g], -1)
        first[codes[::-1]] = np.arange(codes.size)[::-1]
        present = first >= 0
        lab = (
            df.select(cols)[rows[first[present]]]
            .select(pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator="^"))
            .to_series()
            .to_list()
        )
        labels = iter(lab)
        out.append([str(next(labels)) if ok else "" for ok in present])
    return out


def _fe_part(fit: Mapping[str, Any], x: FloatArray, off: FloatArray) -> FloatArray:
    """``log(mu) - offset - X b``: the linear predictor's fixed-effect part (for fixef())."""
    drop = set(fit["collinear"])
    kept = [j for j in range(x.shape[1]) if j not in drop]
    xb = x[:, kept] @ fit["beta"] if kept else np.zeros(x.shape[0])
    return np.asarray(np.log(fit["mu"]) - off - xb, dtype=np.float64)


def _irls(
    y: FloatArray,
    x: FloatArray,
    fe: FixedEffects | None,
    w: FloatArray | None,
    off: FloatArray,
    *,
    tol: float,
    maxiter: int,
    fixef_tol: float,
    collin_tol: float,
    mu_start: FloatArray | None = None,
    mu_tol: float | None = None,
) -> dict[str, Any]:
    """IRLS with warm-started weighted demeaning (see the module docstring).

    ``mu_start`` replaces the starting values ``(y + mean(y)) / 2`` (e.g. the fitted means of a
    nearby model, for the refits of placebo inference). With ``mu_tol`` (the ``mu`` separation
    method, :func:`_mu_separated`) the iteration stops as soon as some rows with ``y = 0`` have
    ``eta`` below :func:`_mu_threshold`, returning them as ``"mu_separated"``.

    The first iteration demeans at ``fixef_tol`` (the collinearity check needs exact residuals);
    later ones start at the looser ``max(fixef_tol, 1e-5)`` and tighten it tenfold whenever the
    deviance criterion falls below ten times it (ppmlhdfe's adaptive inner tolerance).
    Convergence is declared only for an iteration run at ``fixef_tol``, so the estimates,
    residuals and scores are those of the exact projections.
    """
    mu = (y + y.mean()) / 2.0 if mu_start is None else np.asarray(mu_start, dtype=np.float64)
    eta = np.log(mu)
    last = _deviance(y, mu, w)
    z = eta - off + y / mu - 1.0
    z_prev = z_res = x_res = None
    buf: FloatArray | None = None
    collinear: list[int] = []
    beta = np.zeros(x.shape[1])
    converged = False
    crit = np.inf
    it = 0
    dev = last
    omega = mu if w is None else w * mu
    resid = np.zeros_like(y)
    inner_tol = fixef_tol
    eta_last, beta_last = eta, beta
    halvings = 0
    for it in range(1, maxiter + 1):
        omega = mu if w is None else w * mu
        if fe is None:
            z_res, x_res = z, x
        else:
            # one Fortran-ordered buffer [z~, X~] demeaned in place: the warm start overwrites
            # the previous residuals (no copies of the design per iteration)
            if buf is None or z_res is None or x_res is None or z_prev is None:
                buf = np.empty((y.size, 1 + x.shape[1]), order="F")
                buf[:, 0] = z
                buf[:, 1:] = x
            else:
                buf[:, 0] += z - z_prev  # z~ + (z - z_prev), the same sum as before
            demean(buf, fe, omega, tol=inner_tol, in_place=True)
            z_res, x_res = buf[:, 0], buf[:, 1:]
        if it == 1 and x.shape[1]:
            collinear = collinear_columns(x_res, x, omega, collin_tol)
            if collinear:
                keep_cols = [j for j in range(x.shape[1]) if j not in set(collinear)]
                x = x[:, keep_cols]
                if fe is not None:
                    kept = np.empty((y.size, 1 + len(keep_cols)), order="F")
                    kept[:, 0] = z_res
                    kept[:, 1:] = x_res[:, keep_cols]
                    buf = kept
                    z_res, x_res = buf[:, 0], buf[:, 1:]
                else:
                    x_res = x_res[:, keep_cols]
        if x_res.shape[1]:
            xw = x_res * omega[:, None]
            beta = np.linalg.solve(xw.T @ x_res, xw.T @ z_res)
            resid = z_res - x_res @ beta
        else:
            beta = np.zeros(0)
            resid = z_res
        eta = z - resid + off
        with np.errstate(over="ignore", invalid="ignore"):
            mu = np.exp(eta)
        dev = _deviance(y, mu, w)
        # step-halving (glm2's safeguard): a step that makes the deviance non-finite, or raises
        # it by more than RISE_TOL (relative) after the first step, is halved back towards the
        # last iterate until it does not; such an iteration never declares convergence
        halved = 0
        # (the starting means are not a fit of the model: a first step is halved only when its
        # deviance is not finite)
        while halved < MAX_HALVINGS and (
            not np.isfinite(dev) or (it > 1 and (dev - last) / (0.1 + abs(last)) > RISE_TOL)
        ):
            halved += 1
            eta = 0.5 * (eta + eta_last)
            beta = 0.5 * (beta + beta_last) if beta.shape == beta_last.shape else beta
            with np.errstate(over="ignore", invalid="ignore"):
                mu = np.exp(eta)
            dev = _deviance(y, mu, w)
        halvings += halved
        if mu_tol is not None:
            tagged = (y == 0) & (eta < _mu_threshold(eta, y > 0, mu_tol))
            if tagged.any():
                return {"mu_separated": tagged, "iterations": it}
        if not np.isfinite(dev):
            # a NaN/inf deviance never recovers: iterating on would only burn time (issue 14)
            raise ModelSpecError(
                f"PPML IRLS: the deviance is not finite ({dev}) at iteration {it} (the linear "
                "predictor diverged); usually observations separated that the checks did not "
                "find: keep separation=('fe', 'simple', 'relu'), or drop the regressors or fixed "
                "effects that predict the zeros perfectly"
            )
        crit = abs(dev - last) / (0.1 + abs(last))
        last = dev
        z_prev = z
        eta_last, beta_last = eta, beta
        if halved:
            # the halved iterate's working residuals are not those of eta: start the next
            # demeaning afresh, and never stop here
            z_res = None
            continue_ok = False
        else:
            continue_ok = True
        if continue_ok and crit < tol and inner_tol <= fixef_tol:
            converged = True
            break
        if it == 1:
            inner_tol = max(fixef_tol, 1e-5)
        while inner_tol > fixef_tol and crit < 10 * inner_tol:
            inner_tol = max(inner_tol / 10, fixef_tol)
        z = eta - off + y / mu - 1.0
    return {
        "beta": beta,
        "mu": mu,
        "deviance": dev,
        "iterations": it,
        "converged": converged,
        "crit": crit,
        "xd": x_res,
        "omega": omega,
        "resid": resid,
        "collinear": collinear,
        "halvings": halvings,
    }
