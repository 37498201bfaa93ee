"""Sandwich covariance matrices from scores: iid, HC1, one- and two-way cluster (CR1), Driscoll-Kraay.

All estimators share one interface. For a (weighted) linear model with fixed effects partialled out,
``bread_inv = (X~' W X~)^{-1}`` and the score of observation ``i`` is ``s_i = w_i x~_i e_i``
(``x~`` demeaned regressors, ``e`` residuals); for a GLM (PPML) ``bread_inv`` is the inverse of
the (demeaned) Fisher information ``(X~' diag(mu) X~)^{-1}`` and ``s_i = x~_i (y_i - mu_i)``.
The covariance is ``V = c * bread_inv @ S @ bread_inv`` with the "meat" ``S`` and the small-sample
factor ``c`` stated per function:

=====================  =========================================  ===============================
estimator              meat ``S``                                 factor ``c`` (defaults)
=====================  =========================================  ===============================
iid                    ``sigma^2 * bread`` (no sandwich)           ``sigma^2 = sum w e^2 / (n-k)``
HC1 (hetero)           ``sum_i s_i s_i'``                         ``n / (n - k)``
CR1 one-way            ``sum_g (sum_{i in g} s_i)(...)'``          ``G/(G-1) * (n-1)/(n-k)``
CR1 two-way            ``S_1 + S_2 - S_12`` (12 = intersection)    each term ``G/(G-1)*(n-1)/(n-k)``
Driscoll-Kraay         Newey-West of ``h_t = sum_{i in t} s_i``    ``1`` (or ``n/(n-k)``)
=====================  =========================================  ===============================

``k`` is the number of parameters the caller counts for the degrees-of-freedom correction: the
regressors plus the fixed-effect parameters that are *not* nested in a cluster variable (fixest's
``fixef.K = "nested"``, pyfixest's ``k_fixef = "nonnested"``; see :func:`tradeimpact.core.fixed_effects.fe_dof`).

Conventions of the references these match (tests/test_cluster.py):

* fixest / pyfixest / Stata ``vce(cluster)``: CR1 with ``(n-1)/(n-k) * G/(G-1)``
  (``small_sample="fixest"``, the default), two-way with the same ``min(G)/(min(G)-1)`` on all
  three terms (``G_df="min"``, the fixest default) and t(G-1) reference distribution.
* linearmodels ``PanelOLS(..).fit(cov_type="clustered", debiased=True, group_debias=True,
  auto_df=False, count_effects=False)``: also ``(n-1)/(n-k) * G/(G-1)`` with ``k`` the regressors
  only (pass ``k`` accordingly), but in the two-way case each term with its own ``G_j/(G_j-1)``
  (``G_df="conventional"``). linearmodels' default ``count_effects=True`` adds the ``d`` absorbed
  effects to ``k`` (and with ``debiased=False`` scales by ``n/(n-d)``).
* Driscoll-Kraay = linearmodels ``cov_type="kernel"`` (Bartlett kernel, weights
  ``1 - j/(bandwidth+1)`` for lags ``j = 0..bandwidth``; default bandwidth
  ``floor(4 (T/100)^(2/9))``, the same in both): ``small_sample="none"`` is ``debiased=False,
  count_effects=False``; ``small_sample="linearmodels"`` (``n/(n-k)``) is ``debiased=True``.
  With linearmodels' default ``count_effects=True`` its matrix is ours times ``n/(n-d)``.

References: White (1980); Liang & Zeger (1986); Cameron, Gelbach & Miller (2011), "Robust
inference with multiway clustering", JBES 29(2) (two-way); Cameron, Gelbach & Miller (2008),
"Bootstrap-based improvements for inference with clustered errors", REStat 90(3); Driscoll & Kraay
(1998), "Consistent covariance matrix estimation with spatially dependent panel data", REStat 80(4);
Newey & West (1987). Written by hand (not linearmodels' covariance classes) because those classes
need linearmodels' own model objects and do not take the scores of a fixed-effect PPML or of an
absorbed regression with weights; each function is tested against linearmodels and pyfixest.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

# one copy of the fixed-effect parameter count; re-exported (callers import it from here)
from tradeimpact.core.fixed_effects import fe_dof as fe_dof
from tradeimpact.core.fixed_effects import is_nested as is_nested
from tradeimpact.core.kernels import scatter_add
from tradeimpact.errors import ModelSpecError, TradeImpactWarning

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
SmallSample = Literal["fixest", "linearmodels", "none"]
VcovKind = Literal["iid", "hetero", "CR1", "DK"]


def _codes(labels: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Codes ``0..G-1`` of the labels in sorted label order (``np.unique``'s inverse).

    Integer labels within a range of at most ``4 n`` values are coded in O(n) (a presence
    table and its running count) instead of by a sort; the codes are the same.
    """
    arr = np.asarray(labels).ravel()
    if arr.dtype.kind in "iub" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo <= 4 * arr.size and hi < 2**62:
            shifted = arr if lo == 0 and arr.dtype == np.int64 else arr.astype(np.int64) - lo
            present = np.bincount(shifted, minlength=hi - lo + 1) > 0
            if present.all():  # labels lo..hi all present: the codes are the shifted labels
                return shifted  # (read only: no copy of labels that are already codes)
            return np.asarray((np.cumsum(present) - 1)[shifted], dtype=np.int64)
    _, inv = np.unique(arr, return_inverse=True)
    return inv.astype(np.int64).ravel()


def _n_codes(codes: npt.NDArray[np.int64]) -> int:
    return int(codes.max()) + 1 if codes.size else 0


def _sym(v: FloatArray) -> FloatArray:
    return (v + v.T) / 2


def _k_factor(n: int, k: int, small_sample: SmallSample) -> float:
    if small_sample == "fixest":
        return (n - 1) / (n - k)
    if small_sample == "linearmodels":
        return n / (n - k)
    if small_sample == "none":
        return 1.0
    raise ValueError(
        f"small_sample must be 'fixest', 'linearmodels' or 'none', not {small_sample!r}"
    )


def cluster_sums(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    score_weights: npt.ArrayLike | None = None,
    *,
    backend: str | None = None,
) -> FloatArray:
    """Scores summed within each cluster: array ``(G, k)`` in sorted label order.

    With ``score_weights`` (``r``, shape ``(n,)``) the scores are ``scores_i * r_i``, summed
    without forming that product as a matrix. The scatter-add runs on the compiled kernel or
    numpy (:func:`tradeimpact.core.kernels.scatter_add`; ``backend`` as there), row by row in
    both, as ``numpy.add.at``.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s.reshape(s.shape[0], -1)
    codes = _codes(labels)
    return scatter_add(s, codes, _n_codes(codes), score_weights, backend=backend)


def n_clusters(labels: npt.ArrayLike) -> int:
    """Number of distinct clusters."""
    arr = np.asarray(labels).ravel()
    if arr.dtype.kind in "iub":
        return _n_codes(_codes(arr))
    return int(np.unique(arr).size)


def check_cluster_count(counts: Sequence[int], names: Sequence[str] | None = None) -> None:
    """Raise :class:`ModelSpecError` when a cluster variable has fewer than two clusters.

    CR1's factor ``G/(G-1)`` and its t(G-1) reference distribution need ``G >= 2``; with one
    cluster the sandwich is identically zero and the factor divides by zero. ``counts`` are the
    numbers of clusters per variable, ``names`` their column names (for the message).
    """
    labels = (
        list(names)
        if names is not None
        else [f"cluster variable {i + 1}" for i in range(len(counts))]
    )
    for g, name in zip(counts, labels, strict=False):
        if g < 2:
            raise ModelSpecError(
                f"CR1 clustered by {name!r} needs at least 2 clusters, but the estimation sample "
                f"has {g} (the vcov/cluster argument): cluster by a variable with more groups, "
                "or use vcov='hetero' "
                "(with very few clusters, the wild cluster bootstrap or randomization inference)"
            )


def intersect_clusters(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Codes of the intersection clusters ``a x b`` (for two-way clustering)."""
    ca, cb = _codes(a), _codes(b)
    return ca * (int(cb.max()) + 1 if cb.size else 1) + cb


def vcov_iid(
    bread_inv: npt.ArrayLike,
    resid: npt.ArrayLike,
    *,
    n: int,
    k: int,
    weights: npt.ArrayLike | None = None,
) -> FloatArray:
    """Classical covariance ``sigma^2 (X'WX)^{-1}`` with ``sigma^2 = sum_i w_i e_i^2 / (n - k)``."""
    e = np.asarray(resid, dtype=np.float64).ravel()
    w = np.ones_like(e) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    sigma2 = float(np.sum(w * e * e)) / (n - k)
    return _sym(sigma2 * np.asarray(bread_inv, dtype=np.float64))


def vcov_hetero(
    bread_inv: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    n: int,
    k: int,
    small_sample: SmallSample = "fixest",
    score_weights: npt.ArrayLike | None = None,
) -> FloatArray:
    """HC1 (White) covariance ``n/(n-k) * B (sum_i s_i s_i') B``.

    The HC1 factor is ``n/(n-k)`` under both the fixest (``(n-1)/(n-k) * n/(n-1)``, i.e. every
    observation its own cluster) and the linearmodels/Stata conventions; ``small_sample="none"``
    gives HC0. With ``score_weights`` ``r`` the scores are ``scores_i * r_i`` (formed a block of
    rows at a time, never as a whole ``n x k`` matrix).
    """
    b = np.asarray(bread_inv, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64).reshape(-1, b.shape[0])
    c = 1.0 if small_sample == "none" else n / (n - k)
    if score_weights is None:
        meat = s.T @ s
    else:
        r = np.asarray(score_weights, dtype=np.float64).ravel()
        meat = np.zeros((b.shape[0], b.shape[0]))
        step = _row_block(b.shape[0])
        for i0 in range(0, s.shape[0], step):
            blk = s[i0 : i0 + step] * r[i0 : i0 + step, None]
            meat += blk.T @ blk
    return _sym(c * b @ meat @ b)


def _row_block(k: int) -> int:
    """Rows per block of a blocked score product (about 8 MiB of float64 per block)."""
    return max(1024, (1 << 20) // max(k, 1))


def vcov_cluster(
    bread_inv: npt.ArrayLike,
    scores: npt.ArrayLike,
    clusters: Sequence[npt.ArrayLike],
    *,
    n: int,
    k: int,
    small_sample: SmallSample = "fixest",
    G_adj: bool = True,
    G_df: Literal["min", "conventional"] = "min",
    names: Sequence[str] | None = None,
    score_weights: npt.ArrayLike | None = None,
) -> FloatArray:
    """One- or two-way cluster-robust covariance (CR1).

    One-way (Liang & Zeger 1986)::

        V = G/(G-1) * q * B (sum_g u_g u_g') B,   u_g = sum_{i in g} s_i

    Two-way (Cameron, Gelbach & Miller 2011)::

        V = c_1 V_1 + c_2 V_2 - c_12 V_12

    with ``V_j`` the uncorrected sandwich clustered by dimension ``j`` and ``12`` the intersection
    clusters; ``c_j = q * G_j/(G_j-1)`` (``G_df="conventional"``) or ``q * G_min/(G_min-1)`` for
    every term (``G_df="min"``, fixest's default). ``q = (n-1)/(n-k)`` (``small_sample="fixest"``,
    fixest/pyfixest/Stata), ``n/(n-k)`` (``"linearmodels"``) or ``1`` (``"none"``). The two-way
    matrix is returned as is (it can fail to be positive semi-definite in small samples; fixest's
    eigenvalue fix is not applied).

    Parameters
    ----------
    bread_inv : array (k, k)
        Inverse Hessian, ``(X'WX)^{-1}`` for (W)LS.
    scores : array (n, k)
        Per-observation scores ``w_i x_i e_i``.
    clusters : list of one or two arrays (n,)
        Cluster labels.
    n, k : int
        Observations and parameters counted in the small-sample factor ``q``.
    small_sample, G_adj, G_df
        The corrections, see above.
    names : list of str, optional
        Names of the cluster variables, used in the error raised when one has fewer than two
        clusters (:func:`check_cluster_count`).
    score_weights : array (n,), optional
        Row factors ``r``: the scores are ``scores_i * r_i`` (e.g. ``scores = X~`` and
        ``r = w e``), scatter-added into the cluster sums without forming the product.

    Returns
    -------
    numpy.ndarray (k, k)

    Raises
    ------
    ModelSpecError
        A cluster variable has fewer than two clusters (``G/(G-1)`` is undefined).
    """
    b = np.asarray(bread_inv, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64).reshape(-1, b.shape[0])
    q = _k_factor(n, k, small_sample)
    cl = list(clusters)
    if len(cl) == 1:
        dims = [(cl[0], 1.0)]
    elif len(cl) == 2:
        dims = [(cl[0], 1.0), (cl[1], 1.0), (intersect_clusters(cl[0], cl[1]), -1.0)]
    else:
        raise ValueError(f"one- or two-way clustering only, got {len(cl)} cluster variables")
    coded = [_codes(c) for c, _ in dims]  # coded once: counted and summed on the same codes
    gs = [_n_codes(c) for c in coded]
    check_cluster_count(gs[: len(cl)], names)
    g_min = min(gs[:2]) if len(cl) == 2 else gs[0]
    v = np.zeros_like(b)
    for (_, sign), codes, g in zip(dims, coded, gs, strict=True):
        u = scatter_add(s, codes, g, score_weights)
        gg = g_min if G_df == "min" else g
        c = gg / (gg - 1) if G_adj else 1.0
        v += sign * c * (b @ (u.T @ u) @ b)
    return _sym(q * v)


def bartlett_weights(bandwidth: float) -> FloatArray:
    """Bartlett (Newey-West) kernel weights ``1 - j/(bw+1)``, ``j = 0..floor(bw)``."""
    bw = int(np.floor(bandwidth))
    return 1.0 - np.arange(bw + 1) / (bw + 1)


def default_bandwidth(n_periods: int) -> float:
    """linearmodels' default Driscoll-Kraay bandwidth ``floor(4 (T/100)^(2/9))``."""
    return float(np.floor(4 * (n_periods / 100) ** (2 / 9)))


def vcov_driscoll_kraay(
    bread_inv: npt.ArrayLike,
    scores: npt.ArrayLike,
    time: npt.ArrayLike,
    *,
    n: int,
    k: int,
    bandwidth: float | None = None,
    small_sample: SmallSample = "none",
    score_weights: npt.ArrayLike | None = None,
) -> FloatArray:
    """Driscoll-Kraay (1998) covariance: Newey-West on the cross-sectional sums of the scores.

    With ``h_t = sum_{i: t_i = t} s_i`` (periods in sorted order, ``T`` of them) and
    ``Gamma_j = sum_{t>j} h_t h_{t-j}'``::

        S = Gamma_0 + sum_{j=1}^{L} (1 - j/(L+1)) (Gamma_j + Gamma_j'),   V = q * B S B

    with Bartlett bandwidth ``L`` (default ``floor(4 (T/100)^(2/9))``, as linearmodels; must be
    below ``T``), and ``q = 1`` (``small_sample="none"``: linearmodels' ``cov_type="kernel"``
    with ``debiased=False``) or ``n/(n-k)`` (``"linearmodels"``: ``debiased=True``) or
    ``(n-1)/(n-k)`` (``"fixest"``). Periods missing from the panel are not filled: lag ``j`` is
    taken in the order of the periods present, as linearmodels does. ``score_weights`` as in
    :func:`vcov_cluster`.
    """
    b = np.asarray(bread_inv, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64).reshape(-1, b.shape[0])
    h = cluster_sums(s, time, score_weights)
    t = h.shape[0]
    bw = default_bandwidth(t) if bandwidth is None else float(bandwidth)
    if bw < 0 or bw >= t:
        raise ValueError(f"Driscoll-Kraay bandwidth {bw:g} must be in [0, T) with T = {t} periods")
    w = bartlett_weights(bw)
    meat = h.T @ h
    for j in range(1, w.size):
        gamma = h[j:].T @ h[:-j]
        meat += w[j] * (gamma + gamma.T)
    return _sym(_k_factor(n, k, small_sample) * b @ meat @ b)


class NegativeVarianceWarning(TradeImpactWarning):
    """A variance estimate on the diagonal of a covariance matrix is negative (its SE is NaN)."""


def warn_negative_variances(
    cov: npt.ArrayLike, names: Sequence[str] | None = None, what: str = "covariance"
) -> list[int]:
    """Warn (:class:`NegativeVarianceWarning`) about negative diagonal entries of ``cov``.

    A two-way cluster-robust matrix ``V_1 + V_2 - V_12`` (Cameron, Gelbach & Miller 2011) need
    not be positive semi-definite, so a variance can come out negative. Its standard error is
    then undefined: pyfixest reports NaN (``sqrt`` of the negative diagonal) and so does
    ``RegressionResult.std_errors`` (not the 0 a clip would give, which reads as an infinitely
    precise estimate); this function says so, naming the coefficients. The matrix is left as
    computed (pyfixest's ``vcov`` keeps the negative entry too); fixest's default eigenvalue fix
    (``vcov_fix``) is not applied: it changes every standard error, not just the undefined ones.

    Returns the positions of the negative variances.
    """
    v = np.asarray(cov, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] == 0:
        return []
    d = np.diagonal(v)
    bad = [int(j) for j in np.flatnonzero(d < 0)]
    if bad:
        labels = [str(names[j]) for j in bad] if names is not None else [f"#{j}" for j in bad]
        warnings.warn(
            f"the {what} gives a negative variance for {', '.join(labels)} "
            f"({', '.join(f'{d[j]:.3g}' for j in bad)}): its standard error is NaN, as in "
            "pyfixest (a two-way cluster matrix V1 + V2 - V12 need not be positive "
            "semi-definite); cluster by one variable, or use the wild cluster bootstrap",
            NegativeVarianceWarning,
            stacklevel=3,
        )
    return bad


# ---------------------------------------------------------------------------------------------
# the one covariance-argument parser
# ---------------------------------------------------------------------------------------------
@dataclass
class VcovSpec:
    """A covariance request: what :func:`parse_vcov` makes of a ``vcov=`` / ``cluster=`` argument.

    ``kind`` is ``"iid"``, ``"hetero"`` (HC1), ``"CR1"`` (one- or two-way cluster) or ``"DK"``
    (Driscoll-Kraay). ``cluster_names`` are the cluster terms (a column, or ``"a^b"`` for the
    combinations of two columns) and ``time_name`` the period column of DK; :meth:`bind` reads
    them from a frame into ``clusters`` (one or two label arrays) and ``time``, aligned with the
    rows handed to the estimator (:meth:`subset` keeps the estimation rows). ``bandwidth`` is the
    DK Bartlett bandwidth (None: linearmodels' default), ``small_sample`` and ``G_df`` the
    corrections of :func:`vcov_cluster`.
    """

    kind: VcovKind
    clusters: list[npt.NDArray[Any]] = field(default_factory=list)
    cluster_names: list[str] = field(default_factory=list)
    time: npt.NDArray[Any] | None = None
    bandwidth: float | None = None
    small_sample: SmallSample = "fixest"
    G_df: Literal["min", "conventional"] = "min"
    time_name: str | None = None

    def subset(self, keep: BoolArray) -> VcovSpec:
        """The request on the rows where ``keep`` is true."""
        return dataclasses.replace(
            self,
            clusters=[c[keep] for c in self.clusters],
            cluster_names=list(self.cluster_names),
            time=None if self.time is None else self.time[keep],
        )

    def label_columns(self, columns: Sequence[str] = ()) -> list[str]:
        """The frame columns the request reads: each cluster term (or, for ``"a^b"`` when it is
        not one of ``columns``, its parts ``a`` and ``b``) and the DK time column."""
        cols = [
            c.strip() for t in self.cluster_names for c in ([t] if t in columns else t.split("^"))
        ]
        if self.kind == "DK" and self.time_name is not None:
            cols.append(self.time_name)
        return list(dict.fromkeys(cols))

    def bind(self, frame: Any) -> VcovSpec:
        """The request with its label arrays read from ``frame`` (a polars DataFrame).

        A cluster term ``"a^b"`` that is not itself a column is the combination of the columns
        ``a`` and ``b``. Raises :class:`ModelSpecError` naming a column that is absent.
        """
        import polars as pl

        from tradeimpact.core.frame import check_columns

        check_columns(frame, self.label_columns(frame.columns))
        clusters = []
        for t in self.cluster_names:
            if t in frame.columns:
                clusters.append(frame[t].to_numpy())
            else:
                parts = [c.strip() for c in t.split("^")]
                clusters.append(frame.select(pl.struct(parts).rank("dense"))[:, 0].to_numpy())
        time = None
        if self.kind == "DK":
            if self.time_name is None:
                raise ModelSpecError(
                    "vcov='DK' (Driscoll-Kraay) needs the time column: pass time=<column>"
                )
            time = frame[self.time_name].to_numpy()
        return dataclasses.replace(self, clusters=clusters, time=time)


#: The accepted ``vcov`` forms, for error messages.
VCOV_FORMS = (
    "'iid', 'hetero' (or 'HC1'), {'CRV1': 'col'} (or 'CR1' with cluster='col'), "
    "{'CRV1': 'col1 + col2'} (two-way), 'twoway', 'DK' or {'DK': bandwidth}"
)
_CLUSTER_KEYS = ("CR1", "CRV1", "CLUSTER")


def _cluster_terms(arg: Any, what: str) -> list[str]:
    """``"unit"``, ``"unit + time"``, ``"a^b"`` or a list -> one or two cluster terms."""
    if isinstance(arg, str):
        terms = [t.strip() for t in arg.split("+")]
    elif isinstance(arg, Sequence):
        terms = [str(t).strip() for t in arg]
    else:
        raise ModelSpecError(f"{what} {arg!r}: give a column name, 'a + b' or a list of columns")
    if not 1 <= len(terms) <= 2 or not all(terms):
        raise ModelSpecError(f"{what} clusters by one or two variables, got {arg!r}")
    return terms


def parse_vcov(
    vcov: Any = None,
    *,
    cluster: str | Sequence[str] | None = None,
    unit: str | None = None,
    time: str | None = None,
    fe: Sequence[str] = (),
    default: Literal["iid", "hetero"] = "hetero",
    small_sample: SmallSample = "fixest",
    G_df: Literal["min", "conventional"] = "min",
) -> VcovSpec:
    """The one parser of covariance arguments (``feols``, ``ppml``, the formula front end, did).

    Accepted ``vcov`` forms (pyfixest's and fixest's, and the keyword API's):

    * ``None``: ``default`` (``"hetero"`` for the keyword estimators, ``"iid"`` for the
      formula front end, as pyfixest), or CR1 by ``cluster`` when ``cluster`` is given;
    * ``"iid"``; ``"hetero"``, ``"HC1"``, ``"robust"`` (HC1);
    * ``{"CRV1": "a"}``, ``{"CR1": "a"}``, ``{"CRV1": "a + b"}``, ``{"CR1": ["a", "b"]}`` (one-
      or two-way CR1), ``{"CRV1": "a^b"}`` (clusters of the combinations of a and b);
    * ``"CR1"`` / ``"CRV1"`` with ``cluster=`` (or, for the panel estimators, ``unit``);
    * ``"twoway"``: CR1 by ``unit`` and ``time`` when both are given, else by the first two
      fixed effects ``fe`` (fixest's meaning);
    * ``"DK"`` / ``{"DK": bandwidth}``: Driscoll-Kraay over ``time``;
    * a :class:`VcovSpec` (returned as is).

    ``cluster`` (a column, ``"a + b"`` or a list) is ``vcov={"CRV1": cluster}``; given together
    with a ``vcov`` that is not a CR1 request by the same columns it is an error.

    Returns
    -------
    VcovSpec
        Names only; :meth:`VcovSpec.bind` reads the columns.
    """
    if isinstance(vcov, VcovSpec):
        if cluster is not None:
            raise ModelSpecError("give the clusters either in vcov or in cluster=, not both")
        return vcov
    cl_terms = None if cluster is None else _cluster_terms(cluster, "cluster")

    def cr1(terms: list[str]) -> VcovSpec:
        if cl_terms is not None and cl_terms != terms:
            raise ModelSpecError(
                f"vcov={vcov!r} and cluster={cluster!r} disagree: give the clusters once "
                f"(vcov={{'CRV1': {' + '.join(cl_terms)!r}}} is cluster={cluster!r})"
            )
        return VcovSpec("CR1", [], terms, None, None, small_sample, G_df)

    if vcov is None:
        if cl_terms is not None:
            return cr1(cl_terms)
        vcov = default
    if isinstance(vcov, Mapping):
        if len(vcov) != 1:
            raise ModelSpecError(f"vcov mapping must have one key, got {dict(vcov)}: {VCOV_FORMS}")
        ((key, arg),) = vcov.items()
        k = str(key).upper()
        if k in _CLUSTER_KEYS:
            return cr1(_cluster_terms(arg, f"vcov {{{key!r}: ...}}"))
        if k == "DK":
            if cl_terms is not None:
                raise ModelSpecError("cluster= cannot be combined with vcov='DK'")
            bw = None if arg is None else float(arg)
            return VcovSpec("DK", [], [], None, bw, "none", G_df, time_name=time)
        raise ModelSpecError(
            f"vcov {{{key!r}: ...}} is not offered (CRV3 and others are not implemented): "
            f"use {VCOV_FORMS}"
        )
    if not isinstance(vcov, str):
        raise ModelSpecError(f"vcov {vcov!r} unknown: use {VCOV_FORMS}")
    up = vcov.upper()
    if up in _CLUSTER_KEYS:
        if cl_terms is not None:
            return cr1(cl_terms)
        if unit is None:
            raise ModelSpecError(
                f"vcov={vcov!r} needs the cluster column: cluster='col' or {{'CRV1': 'col'}}"
            )
        return cr1([unit])
    if cl_terms is not None and up != "TWOWAY":
        raise ModelSpecError(
            f"vcov={vcov!r} and cluster={cluster!r} disagree: a cluster is a CR1 request; "
            "drop one of them"
        )
    if up == "TWOWAY":
        if unit is not None and time is not None:
            return cr1([unit, time])
        plain = [f for f in fe if "^" not in f]
        if len(fe) >= 2 and len(plain) >= 2 and plain[:2] == list(fe[:2]):
            return cr1([fe[0], fe[1]])
        raise ModelSpecError(
            "vcov='twoway' clusters by unit and time (or the first two fixed effects, which must "
            "be plain columns): give them, or {'CRV1': 'a + b'}"
        )
    if up == "DK":
        return VcovSpec("DK", [], [], None, None, "none", G_df, time_name=time)
    if up in ("HETERO", "HC1", "ROBUST"):
        return VcovSpec("hetero", small_sample=small_sample, G_df=G_df)
    if up == "IID":
        return VcovSpec("iid", small_sample=small_sample, G_df=G_df)
    raise ModelSpecError(f"vcov {vcov!r} is not offered: use {VCOV_FORMS}")
