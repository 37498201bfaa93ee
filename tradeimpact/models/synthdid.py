"""Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021).

Reference: Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021),
"Synthetic Difference-in-Differences", American Economic Review 111(12), 4088-4118; R package
``synthdid`` (``synthdid_estimate``, ``sc_estimate``, ``did_estimate``, ``vcov(method =
"placebo")``), whose algorithm and defaults are followed exactly.

Setting: a balanced panel ``Y`` (``N`` units by ``T`` periods) with ``N_co`` control units and
``N_tr`` units treated from period ``T_pre + 1`` on (block design). With unit weights ``omega``
(on the controls) and time weights ``lambda`` (on the pre-periods)::

    tau = (1/N_tr sum_tr - sum_co omega_i) (1/T_post sum_post - sum_pre lambda_t) Y_it

i.e. ``tau = [-omega, 1/N_tr]' Y [-lambda, 1/T_post]`` (Algorithm 1 of the paper).

Weights (section 4.1 of the paper; R ``sc.weight.fw``). Unit weights solve, over the simplex,
``min_{omega0, omega} sum_{t<=T_pre} (omega0 + sum_co omega_i Y_it - mean_tr Y_t)^2
+ zeta^2 T_pre ||omega||^2`` with ``zeta = (N_tr T_post)^(1/4) sigma``, ``sigma`` the standard
deviation of the first differences of the control units' pre-period outcomes; time weights solve
the analogous problem (post-period mean of each control on its pre-periods, with intercept) with
``zeta_lambda = 1e-6 sigma``. Both are solved by Frank-Wolfe with exact line search, stopping when
the objective falls by less than ``(1e-5 sigma)^2``; as in R ``synthdid``, the solver first runs
100 iterations, sparsifies the weights (``v[v <= max(v)/4] = 0``, renormalised) and restarts from
them for up to 10,000 iterations.

Special cases (R ``sc_estimate`` and ``did_estimate``):

* ``method="sc"``: ``lambda = 0``, no intercept in the unit weights, ``zeta = 1e-6 sigma``: the
  synthetic control of Abadie, Diamond & Hainmueller (2010), with a negligible ridge;
* ``method="did"``: ``omega = 1/N_co``, ``lambda = 1/T_pre``: the two-way fixed-effects DiD;
* ``method="difp"`` (R ``difp_estimate``): unit weights with intercept and ``zeta = 1e-6 sigma``,
  ``lambda = 1/T_pre`` (Doudchenko & Imbens 2016).

Variance: ``vcov="placebo"`` (Algorithm 4 of the paper; R ``placebo_se``): ``replications``
times, permute the control units, call the last ``N_tr`` of them treated, re-estimate with the
same options (weights started at the original ones, restricted and renormalised), and take
``sqrt((B-1)/B) * sd`` of the placebo estimates. It needs more controls than treated units; with
fewer, a :class:`~tradeimpact.errors.ModelSpecError` is raised instead of a number (R stops with
the same condition). With one treated unit the paper and the R vignette warn that the placebo
variance assumes homoskedasticity across units; ``vcov=None`` skips it.

Written by hand because neither linearmodels nor statsmodels implements SDID; checked against the
R ``synthdid`` estimates for California's Proposition 99 in ``tests/test_synthdid.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.core.frame import check_columns, numeric_column, to_polars
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]
Method = Literal["sdid", "sc", "did", "difp"]

__all__ = ["SynthDIDResult", "synthdid"]


# --------------------------------------------------------------------------------------------
# solver (R synthdid: fw.step, sc.weight.fw, sparsify_function)


def _fw_step(a: FloatArray, x: FloatArray, b: FloatArray, eta: float) -> FloatArray:
    """One Frank-Wolfe step with exact line search for ``||A x - b||^2 + eta ||x||^2`` on the simplex.

    R ``fw.step``, written directly; :func:`_sc_weight_fw` runs the same step on the Gram matrix.
    """
    ax = a @ x
    half_grad = (ax - b) @ a + eta * x
    i = int(np.argmin(half_grad))
    d_x = -x.copy()
    d_x[i] = 1.0 - x[i]
    if np.all(d_x == 0):
        return x
    d_err = a[:, i] - ax
    step = -float(half_grad @ d_x) / (float(d_err @ d_err) + eta * float(d_x @ d_x))
    return x + min(1.0, max(0.0, step)) * d_x


def _sc_weight_fw(
    y: FloatArray,
    zeta: float,
    *,
    intercept: bool,
    start: FloatArray,
    min_decrease: float,
    max_iter: int,
) -> FloatArray:
    """R ``sc.weight.fw`` for a batch of problems: ``y`` is ``(B, n, K+1)``, ``start`` ``(B, K)``.

    For each problem, simplex weights ``x`` on the first ``K`` columns of ``y`` fitting its last
    column (after centring the columns when ``intercept``), by Frank-Wolfe steps (:func:`_fw_step`)
    until the objective ``zeta^2 ||x||^2 + ||A x - b||^2 / n`` falls by less than
    ``min_decrease^2`` or ``max_iter`` steps are done. For speed the steps run on the Gram matrix
    ``G = A'A`` with ``Gx``, ``x'Gx`` updated along each step (``x <- (1-s) x + s e_i``, recomputed
    exactly every 100 steps), and all problems of the batch (the placebo replications) advance
    together, each stopping on its own criterion; the iterates are those of :func:`_fw_step`
    (tested against it).
    """
    nb, n, k1 = y.shape
    k = k1 - 1
    x = np.array(start, dtype=np.float64, copy=True).reshape(nb, k)
    if intercept:
        y = y - y.mean(axis=1, keepdims=True)
    a, b = y[:, :, :k], y[:, :, k]
    eta = n * zeta**2
    z2 = zeta**2
    gram = np.einsum("bnk,bnl->bkl", a, a)
    diag = np.diagonal(gram, axis1=1, axis2=2).copy()
    c = np.einsum("bnk,bn->bk", a, b)
    bb = np.einsum("bn,bn->b", b, b)
    rows = np.arange(nb)
    active = np.ones(nb, dtype=bool)
    prev = np.full(nb, np.inf)
    curr = np.full(nb, np.inf)
    gx = xgx = xx = np.zeros(0)
    threshold = min_decrease**2
    t = 0
    while t < max_iter and active.any():
        if t % 100 == 0:
            gx = np.einsum("bkl,bl->bk", gram, x)
            xgx = np.einsum("bk,bk->b", x, gx)
            xx = np.einsum("bk,bk->b", x, x)
        t += 1
        hg = gx - c + eta * x
        i = np.argmin(hg, axis=1)
        xi = x[rows, i]
        gxi = gx[rows, i]
        di = diag[rows, i]
        num = hg[rows, i] - np.einsum("bk,bk->b", hg, x)
        den = di - 2.0 * gxi + xgx + eta * (1.0 - 2.0 * xi + xx)
        step = np.divide(-num, den, out=np.zeros(nb), where=(den > 0) & (xi != 1.0))
        step = np.where(active, np.clip(step, 0.0, 1.0), 0.0)
        keep = 1.0 - step
        xgx = keep**2 * xgx + 2 * step * keep * gxi + step**2 * di
        xx = keep**2 * xx + 2 * step * keep * xi + step**2
        gx = keep[:, None] * gx + step[:, None] * gram[rows, :, i]
        x = keep[:, None] * x
        x[rows, i] += step
        val = z2 * xx + (xgx - 2.0 * np.einsum("bk,bk->b", c, x) + bb) / n
        prev = np.where(active, curr, prev)
        curr = np.where(active, val, curr)
        if t >= 2:
            active &= prev - curr > threshold
    return x


def _sparsify(v: FloatArray) -> FloatArray:
    """R ``sparsify_function``, row-wise: ``v[v <= max(v)/4] = 0``, renormalised."""
    out = v.copy()
    out[out <= out.max(axis=1, keepdims=True) / 4] = 0.0
    return out / out.sum(axis=1, keepdims=True)


def _collapsed(y: FloatArray, n0: int, t0: int) -> FloatArray:
    """``(B, N0+1, T0+1)``: controls' pre-periods and post means; treated means; overall mean."""
    top = np.concatenate([y[:, :n0, :t0], y[:, :n0, t0:].mean(axis=2)[:, :, None]], axis=2)
    bottom = np.concatenate(
        [y[:, n0:, :t0].mean(axis=1), y[:, n0:, t0:].mean(axis=(1, 2))[:, None]], axis=1
    )
    return np.concatenate([top, bottom[:, None, :]], axis=1)


@dataclass
class _Opts:
    zeta_omega: float
    zeta_lambda: float
    omega_intercept: bool
    lambda_intercept: bool
    update_omega: bool
    update_lambda: bool
    min_decrease: float
    max_iter: int = 10_000
    max_iter_pre_sparsify: int = 100
    sparsify: bool = True


def _fit(
    y: FloatArray,
    n0: int,
    t0: int,
    opts: _Opts,
    omega: FloatArray,
    lam: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(tau, omega, lambda)`` for a batch ``y`` ``(B, N, T)`` as R ``synthdid_estimate``.

    ``omega`` ``(B, N0)`` and ``lam`` ``(B, T0)`` are the starting weights (used as they are when
    the options do not update them). No covariates.
    """
    n1 = y.shape[1] - n0
    t1 = y.shape[2] - t0
    yc = _collapsed(y, n0, t0)
    if opts.update_lambda:
        lam = _solve(yc[:, :n0, :], opts.zeta_lambda, opts.lambda_intercept, lam, opts)
    if opts.update_omega:
        omega = _solve(
            np.transpose(yc[:, :, :t0], (0, 2, 1)),
            opts.zeta_omega,
            opts.omega_intercept,
            omega,
            opts,
        )
    row = np.concatenate([-omega, np.full((y.shape[0], n1), 1.0 / n1)], axis=1)
    col = np.concatenate([-lam, np.full((y.shape[0], t1), 1.0 / t1)], axis=1)
    tau = np.einsum("bn,bnt,bt->b", row, y, col)
    return tau, omega, lam


def _solve(
    y: FloatArray, zeta: float, intercept: bool, start: FloatArray, opts: _Opts
) -> FloatArray:
    """The pre-sparsification run (100 steps), sparsify, then the full run (R synthdid)."""
    w = _sc_weight_fw(
        y,
        zeta,
        intercept=intercept,
        start=start,
        min_decrease=opts.min_decrease,
        max_iter=opts.max_iter_pre_sparsify,
    )
    if opts.sparsify:
        w = _sc_weight_fw(
            y,
            zeta,
            intercept=intercept,
            start=_sparsify(w),
            min_decrease=opts.min_decrease,
            max_iter=opts.max_iter,
        )
    return w


# --------------------------------------------------------------------------------------------
# result


@dataclass
class SynthDIDResult(RegressionResult):
    """Result of :func:`synthdid`: the ATT as the single coefficient ``"att"``.

    ``att``; ``omega`` (polars frame ``unit, weight`` over the controls); ``lambda_`` (``time,
    weight`` over the pre-periods); ``method``; ``se_method``; ``placebo_estimates`` (the
    ``replications`` placebo ATTs behind the standard error); ``Y`` with ``units``/``times``
    (controls first), ``n_control``, ``n_pre``; ``plot()`` draws the treated and synthetic
    trajectories.
    """

    method: str = "sdid"
    omega: pl.DataFrame = field(default_factory=pl.DataFrame)
    lambda_: pl.DataFrame = field(default_factory=pl.DataFrame)
    placebo_estimates: FloatArray = field(default_factory=lambda: np.zeros(0))
    Y: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    units: list[Any] = field(default_factory=list)
    times: list[Any] = field(default_factory=list)
    n_control: int = 0
    n_pre: int = 0

    @property
    def att(self) -> float:
        return float(self.beta[0])

    def trajectories(self) -> pl.DataFrame:
        """Per period: treated mean, synthetic control (``omega``-weighted controls) and the gap."""
        n0 = self.n_control
        w = self.omega["weight"].to_numpy()
        treated = self.Y[n0:].mean(axis=0)
        synthetic = w @ self.Y[:n0]
        return pl.DataFrame(
            {
                "time": self.times,
                "treated": treated,
                "synthetic": synthetic,
                "gap": treated - synthetic,
            }
        )

    def plot(self, ax: Any = None, **_: Any) -> Any:  # type: ignore[override]
        """Treated mean and its synthetic control over time; the treatment period marked.

        Returns the matplotlib ``Axes``. With ``method="sdid"`` the synthetic line is shifted by
        the intercept (pre-period lambda-weighted difference), as in R's ``synthdid_plot``.
        """
        import matplotlib.pyplot as plt

        tr = self.trajectories()
        if ax is None:
            _fig, ax = plt.subplots(figsize=(7, 4))
        synth = tr["synthetic"].to_numpy()
        if self.method == "sdid":
            lam = self.lambda_["weight"].to_numpy()
            shift = float(lam @ (tr["treated"].to_numpy() - synth)[: self.n_pre])
            synth = synth + shift
        ax.plot(tr["time"].to_list(), tr["treated"].to_numpy(), color="black", label="treated")
        ax.plot(
            tr["time"].to_list(), synth, color="tab:blue", ls="--", label=f"{self.method} control"
        )
        ax.axvline(self.times[self.n_pre], color="grey", lw=0.8)
        ax.set_title(f"{self.method.upper()} estimate {self.att:.3f}")
        ax.legend()
        return ax


# --------------------------------------------------------------------------------------------
# public function


def _panel(
    data: Any, y: str, unit: str, time: str, treated: str
) -> tuple[FloatArray, list[Any], list[Any], int, int]:
    """Balanced ``Y`` (controls first, then treated; periods in order), units, times, N0, T0."""
    df = to_polars(data)
    check_columns(df, [y, unit, time, treated])
    # numbers only: a text outcome or treatment is an error naming the column, never a cast
    df = df.select(unit, time).with_columns(
        pl.Series(y, numeric_column(df, y, "outcome")).fill_nan(None),
        pl.Series(treated, numeric_column(df, treated, "treatment")).fill_nan(None),
    )
    if df.null_count().sum_horizontal().item() > 0:
        raise ModelSpecError("synthdid needs a complete panel: missing values found")
    if df.select(pl.struct(unit, time).is_duplicated().any()).item():
        raise ModelSpecError(f"more than one row per ({unit}, {time})")
    times = df.get_column(time).unique().sort().to_list()
    units_all = df.get_column(unit).unique().sort().to_list()
    if df.height != len(times) * len(units_all):
        raise ModelSpecError(
            f"synthdid needs a balanced panel: {df.height} rows for {len(units_all)} units x "
            f"{len(times)} periods"
        )
    tr_units = df.filter(pl.col(treated) > 0).get_column(unit).unique().sort().to_list()
    if not tr_units:
        raise ModelSpecError(f"no treated unit: {treated!r} is zero everywhere")
    first = df.filter(pl.col(treated) > 0).get_column(time).min()
    t0 = times.index(first)
    wide = df.sort(time).pivot(on=time, index=unit, values=y).sort(unit)
    dwide = df.sort(time).pivot(on=time, index=unit, values=treated).sort(unit)
    is_tr = dwide.get_column(unit).is_in(tr_units).to_numpy()
    d = dwide.drop(unit).to_numpy()
    expected = np.zeros_like(d)
    expected[is_tr, t0:] = 1.0
    if not np.array_equal(d > 0, expected > 0):
        raise ModelSpecError(
            "synthdid needs a block design: every treated unit treated from the same period on "
            "and untreated before (staggered adoption is not supported)"
        )
    if t0 < 2:
        raise ModelSpecError("synthdid needs at least two pre-treatment periods")
    ymat = wide.drop(unit).to_numpy().astype(np.float64)
    labels = wide.get_column(unit).to_list()
    order = np.concatenate([np.flatnonzero(~is_tr), np.flatnonzero(is_tr)])
    return ymat[order], [labels[i] for i in order], times, int((~is_tr).sum()), t0


def synthdid(
    data: Any,
    y: str,
    unit: str,
    time: str,
    treated: str,
    *,
    method: Method = "sdid",
    eta_omega: float | None = None,
    omega_intercept: bool | None = None,
    uniform_unit_weights: bool = False,
    uniform_time_weights: bool = False,
    vcov: Literal["placebo"] | None = "placebo",
    replications: int = 200,
    seed: int = 0,
) -> SynthDIDResult:
    """Synthetic difference-in-differences, synthetic control or DiD on a block-design panel.

    ``tau = [-omega, 1/N_tr]' Y [-lambda, 1/T_post]`` with the unit and time weights of
    Arkhangelsky et al. (2021, AER), section 4.1 (see the module docstring for the weights, the
    regularisation ``zeta = (N_tr T_post)^(1/4) sigma`` and the special cases).

    Parameters
    ----------
    data : polars or pandas frame
        Long balanced panel, one row per unit and period.
    y, unit, time : str
        Outcome, unit and period columns.
    treated : str
        Treatment indicator (1 for treated units in treated periods, 0 otherwise).
    method : ``"sdid"`` (default), ``"sc"``, ``"did"`` or ``"difp"``
        The estimator (R ``synthdid_estimate``, ``sc_estimate``, ``did_estimate``,
        ``difp_estimate``: Doudchenko & Imbens's unit weights with intercept, uniform time
        weights).
    eta_omega : float, optional
        Override the unit-weight regularisation ``zeta_omega = eta_omega * sigma`` (defaults:
        ``(N_tr T_post)^(1/4)`` for sdid, ``1e-6`` for sc and difp, as R).
    omega_intercept : bool, optional
        Override the intercept of the unit weights (default: True except for sc).
    uniform_unit_weights, uniform_time_weights : bool
        Fix ``omega = 1/N_co`` or ``lambda = 1/T_pre`` instead of estimating them (e.g. the
        time-weighted DiD: ``uniform_unit_weights=True``).
    vcov : ``"placebo"`` or None
        Placebo variance (Algorithm 4 of the paper); needs more controls than treated units,
        else :class:`~tradeimpact.errors.ModelSpecError`.
    replications : int
        Placebo replications (200, as R).
    seed : int
        Seed of the placebo permutations.

    Returns
    -------
    SynthDIDResult
    """
    if method not in ("sdid", "sc", "did", "difp"):
        raise ModelSpecError(f"method must be 'sdid', 'sc', 'did' or 'difp', not {method!r}")
    ymat, units, times, n0, t0 = _panel(data, y, unit, time, treated)
    n1 = ymat.shape[0] - n0
    t1 = ymat.shape[1] - t0
    if n0 < 1:
        raise ModelSpecError("synthdid needs at least one control unit")
    noise = float(np.std(np.diff(ymat[:n0, :t0], axis=1), ddof=1))
    omega0 = np.full(n0, 1.0 / n0)  # R's starting values (uniform), used as is when fixed
    lam0 = np.full(t0, 1.0 / t0)
    # R: synthdid_estimate / sc_estimate / did_estimate / difp_estimate defaults
    default_eta = {"sdid": (n1 * t1) ** 0.25, "sc": 1e-6, "did": (n1 * t1) ** 0.25, "difp": 1e-6}
    eta = default_eta[method] if eta_omega is None else float(eta_omega)
    update_omega = method != "did" and not uniform_unit_weights
    update_lambda = method == "sdid" and not uniform_time_weights
    if method == "sc":
        lam0 = np.zeros(t0)  # R sc_estimate: lambda = 0, not updated
    opts = _Opts(
        zeta_omega=eta * noise,
        zeta_lambda=1e-6 * noise,
        omega_intercept=(method != "sc") if omega_intercept is None else omega_intercept,
        lambda_intercept=True,
        update_omega=update_omega,
        update_lambda=update_lambda,
        min_decrease=1e-5 * noise,
    )
    taus, omegas, lams = _fit(ymat[None], n0, t0, opts, omega0[None], lam0[None])
    tau, omega, lam = float(taus[0]), omegas[0], lams[0]

    placebo = np.zeros(0)
    se = float("nan")
    se_label = "none (vcov=None)"
    if vcov == "placebo":
        if n0 <= n1:
            raise ModelSpecError(
                f"placebo variance needs more control units than treated units (controls "
                f"{n0}, treated {n1}); no standard error can be computed this way: pass "
                "vcov=None for the point estimate alone"
            )
        rng = np.random.default_rng(seed)
        pn0 = n0 - n1
        perms = np.array([rng.permutation(n0) for _ in range(replications)])
        w = omega[perms[:, :pn0]]
        sums = w.sum(axis=1, keepdims=True)
        w = np.where(sums != 0, w / np.where(sums != 0, sums, 1.0), 1.0 / pn0)
        lam_b = np.broadcast_to(lam, (replications, t0)).copy()
        placebo, _, _ = _fit(ymat[perms], pn0, t0, opts, w, lam_b)
        se = float(np.sqrt((replications - 1) / replications) * np.std(placebo, ddof=1))
        se_label = f"placebo (Arkhangelsky et al. 2021 Alg. 4, B={replications}, seed={seed})"
    elif vcov is not None:
        raise ModelSpecError(f"vcov must be 'placebo' or None, not {vcov!r}")

    return SynthDIDResult(
        names=["att"],
        beta=np.array([tau]),
        cov_matrix=np.array([[se**2]]),
        nobs=int(ymat.size),
        vcov_type=se_label,
        df_inference=None,
        depvar=y,
        fixed_effects=[unit, time],
        model={"sdid": "SDID", "sc": "SC", "did": "DID", "difp": "DIFP"}[method],
        extra={"n_treated": n1, "n_post": t1, "noise_level": noise, "zeta_omega": opts.zeta_omega},
        method=method,
        omega=pl.DataFrame({"unit": units[:n0], "weight": omega}),
        lambda_=pl.DataFrame({"time": times[:t0], "weight": lam}),
        placebo_estimates=placebo,
        Y=ymat,
        units=units,
        times=times,
        n_control=n0,
        n_pre=t0,
    )
