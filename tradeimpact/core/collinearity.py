"""The one collinearity rule: which regressors to drop before a (weighted) least-squares step.

Rule (used by :func:`tradeimpact.models.linear.fit_feols` and inside the IRLS of
:func:`tradeimpact.models.ppml.ppml`): the columns of the demeaned design ``X~ = M_D X`` are tested
left to right by an incremental Cholesky factorisation of the weighted Gram matrix
``G = X~' W X~``. With ``K`` the columns kept so far, column ``j``'s squared residual on them is::

    d_j = G_jj - G_jK G_KK^{-1} G_Kj          (= R_jj^2 of the Cholesky factor)

and ``j`` is dropped when ``d_j <= tol * sum_i w_i x_ij^2`` (its raw, un-demeaned weighted sum of
squares), i.e. when the fixed effects and the kept columns explain more than ``1 - tol`` of it
(``R^2 > 1 - tol``). ``tol`` is :data:`COLLIN_TOL` ``= 1e-9`` unless the caller passes another.

Why this rule. fixest (``cpp_cholesky``, ``collin.tol = 1e-10``) and pyfixest
(``_drop_multicollinear_variables`` -> ``find_collinear_variables``, ``collin_tol = 1e-9``) run
the same left-to-right Cholesky on ``X~'X~`` but compare ``R_jj^2`` (fixest) with an *absolute*
tolerance, so the verdict depends on the units of the regressor: a share (values near 1e-5) can be
declared collinear although it is not, and a value in dollars nearly absorbed by the fixed effects
is kept. Dividing by the column's raw sum of squares makes the test unit-free, and still catches a
column swept out by the fixed effects (its demeaned sum of squares is zero up to the demeaning
tolerance, ``~1e-20`` of the raw one at ``fixef_tol = 1e-10``). The tolerance is pyfixest's
default value, ``1e-9``: looser than the ``1e-20`` that demeaning error leaves (so absorbed
columns are always caught) and tight enough that a regressor with one part in a billion of its own
variation left is still estimated. The package had two copies (1e-9 in ``linear``, 1e-10 in
``ppml``); this is the one left (issue 13).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tradeimpact.errors import TradeImpactWarning

__all__ = ["COLLIN_TOL", "CollinearityWarning", "collinear_columns"]

FloatArray = npt.NDArray[np.float64]

#: A regressor is collinear when its weighted residual sum of squares on the fixed effects and the
#: kept earlier regressors is at most this fraction of its raw weighted sum of squares.
COLLIN_TOL = 1e-9


class CollinearityWarning(TradeImpactWarning):
    """Regressors were dropped because they are collinear with the fixed effects or each other."""


def collinear_columns(
    x_demeaned: npt.ArrayLike,
    x_raw: npt.ArrayLike | None,
    weights: npt.ArrayLike | None = None,
    tol: float = COLLIN_TOL,
    *,
    raw_scale: npt.ArrayLike | None = None,
    gram: npt.ArrayLike | None = None,
) -> list[int]:
    """Indices (ascending) of the columns to drop as collinear; see the module docstring.

    Parameters
    ----------
    x_demeaned : array (n, k)
        ``M_D X``: the regressors with the fixed effects partialled out (``X`` itself without
        fixed effects).
    x_raw : array (n, k)
        ``X`` before demeaning (the scale of each column).
    weights : array (n,), optional
        Observation weights ``w`` (IRLS working weights for PPML); ones when None.
    tol : float
        The relative tolerance (default :data:`COLLIN_TOL`).
    raw_scale : array (k,), optional
        ``sum_i w_i x_ij^2`` computed by the caller (then ``x_raw`` may be None: a caller that
        demeans ``X`` in place has no raw copy left).
    gram : array (k, k), optional
        ``X~' W X~`` computed by the caller (a least-squares fit needs it anyway: one pass over
        the design instead of two); by default computed here.
    """
    xd = np.asarray(x_demeaned, dtype=np.float64)
    n, k = xd.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    # one pass over the data (no n x k weighted copy when unweighted); the rest is k x k algebra
    if gram is not None:
        gram = np.asarray(gram, dtype=np.float64).reshape(k, k)
    else:
        gram = xd.T @ xd if weights is None else (xd * w[:, None]).T @ xd
    if raw_scale is not None:
        scale = np.asarray(raw_scale, dtype=np.float64).ravel()
    elif x_raw is None:
        raise ValueError("collinear_columns needs x_raw or raw_scale")
    else:
        xr = np.asarray(x_raw, dtype=np.float64)
        scale = np.einsum("ij,ij,i->j", xr, xr, w)
    chol = np.zeros((k, k))  # lower-triangular factor of the kept block, rows/cols by index
    kept: list[int] = []
    drop: list[int] = []
    for j in range(k):
        if kept:
            lk = chol[np.ix_(kept, kept)]
            v = np.linalg.solve(lk, gram[kept, j])
            d = float(gram[j, j] - v @ v)
        else:
            v = np.zeros(0)
            d = float(gram[j, j])
        if scale[j] <= 0.0 or d <= tol * scale[j]:
            drop.append(j)
            continue
        chol[j, kept] = v
        chol[j, j] = np.sqrt(d)
        kept.append(j)
    return drop
