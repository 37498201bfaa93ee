"""The estimation sample: which rows a fit uses, and how many it dropped for which reason.

One step for every estimator (:func:`tradeimpact.models.linear.fit_feols` / ``feols`` and
:func:`tradeimpact.models.ppml.ppml`), so that ``result.dropped`` means the same everywhere and::

    rows handed in = rows used + sum(result.dropped.values())

(:meth:`EstimationSample.check`). The reasons, applied in this order, as fixest and pyfixest do:

``missing``
    A non-finite value (NaN, inf) in the outcome, a regressor, the weights or the offset, or a
    null label in a fixed effect, cluster or time column (``na.omit`` in fixest; pyfixest's
    ``_na_index``).
``nonpositive`` reasons given by the caller (``positive={"zeros_in_log": y}``)
    Rows where that column is ``<= 0`` (a zero flow has no log).
``nonpositive_weights``
    A weight ``<= 0`` (fixest requires positive weights; a zero weight carries no information).
``singletons``
    Rows alone in a group of some fixed effect, found iteratively (fixest's ``fixef.rm =
    "singleton"``, pyfixest's ``fixef_rm="singleton"``; Correia 2015).
further checks (``checks=``)
    Estimator-specific drops iterated with the singletons until none finds more rows, e.g. PPML's
    separation (``separated_fe``, ``separated_regressor``; Correia, Guimaraes & Zylkin 2021).
    After any check drops rows the singleton test and the checks run again from the start.

Rows dropped upstream (before the arrays reached the estimator, e.g. a log of zero computed by the
caller) are passed as ``dropped=`` and kept in the counts, so the identity holds for the caller's
rows as well. Tested against pyfixest's ``_N`` and its dropped singletons in
``tests/test_core_sample.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeimpact.core.fixed_effects import FixedEffects
from tradeimpact.errors import ModelSpecError

__all__ = ["EstimationSample", "estimation_sample", "missing_labels"]

BoolArray = npt.NDArray[np.bool_]

#: A further check: ``(reason, function)``; the function gets the current mask of rows kept and
#: returns the mask of rows (among them) to drop for ``reason``.
Check = tuple[str, Callable[[BoolArray], BoolArray]]


@dataclass(frozen=True)
class EstimationSample:
    """The rows an estimator uses among the ``n_input`` rows it was given.

    ``keep`` is the boolean mask of the rows used; ``dropped`` the number of rows dropped by
    reason (upstream reasons first, then this step's, in the order applied; every reason the step
    checks is present, with 0 when nothing was dropped for it); ``upstream`` the rows dropped
    before the arrays were handed in (part of ``dropped``).
    """

    keep: BoolArray
    dropped: dict[str, int] = field(default_factory=dict)
    upstream: int = 0

    @property
    def n_used(self) -> int:
        """Rows used."""
        return int(self.keep.sum())

    @property
    def n_input(self) -> int:
        """Rows of the caller: the rows handed in plus those dropped upstream."""
        return int(self.keep.size) + self.upstream

    def check(self) -> None:
        """Assert the accounting identity ``n_input = n_used + sum(dropped)``."""
        total = sum(self.dropped.values())
        if self.n_input != self.n_used + total:  # pragma: no cover - a bug if reached
            raise AssertionError(
                f"sample accounting: {self.n_input} rows in, {self.n_used} used, "
                f"{total} dropped ({self.dropped})"
            )


def missing_labels(labels: Any) -> BoolArray:
    """Rows whose label is missing: null (polars/pandas/None) or NaN (float labels)."""
    try:
        import polars as pl

        if isinstance(labels, pl.Series):
            out = labels.is_null().to_numpy()
            if labels.dtype.is_float():
                out = out | labels.is_nan().fill_null(True).to_numpy()
            return np.asarray(out, dtype=bool)
    except ImportError:  # pragma: no cover - polars is a dependency
        pass
    arr = np.asarray(labels)
    if arr.dtype.kind == "f":
        return np.asarray(np.isnan(arr), dtype=bool)
    if arr.dtype.kind == "O":
        return np.fromiter(
            (v is None or (isinstance(v, float) and np.isnan(v)) for v in arr),
            dtype=bool,
            count=arr.size,
        )
    return np.zeros(arr.shape[0], dtype=bool)


def _not_finite(a: npt.ArrayLike) -> BoolArray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "fc":
        return np.zeros(arr.shape[0], dtype=bool)
    bad = ~np.isfinite(arr)
    return bad if bad.ndim == 1 else bad.reshape(bad.shape[0], -1).any(axis=1)


def estimation_sample(
    n: int,
    *,
    numeric: Sequence[npt.ArrayLike | None] = (),
    labels: Sequence[Any] = (),
    positive: Mapping[str, npt.ArrayLike] | None = None,
    weights: npt.ArrayLike | None = None,
    fe: FixedEffects | None = None,
    drop_singletons: bool = True,
    checks: Sequence[Check] = (),
    dropped: Mapping[str, int] | None = None,
) -> EstimationSample:
    """The estimation sample of ``n`` rows (see the module docstring for the reasons and order).

    Parameters
    ----------
    n : int
        Rows handed in.
    numeric : list of arrays (n,) or (n, k)
        Outcome, regressors, weights, offset: a row with a non-finite entry is ``missing``.
        ``None`` entries are skipped.
    labels : list of label arrays or polars Series (n,)
        Fixed-effect, cluster and time columns: a null (or NaN) label is ``missing``.
    positive : mapping reason -> array (n,), optional
        Rows where the array is ``<= 0`` are dropped under that reason (``{"zeros_in_log": y}``).
    weights : array (n,), optional
        Rows with a weight ``<= 0`` are ``nonpositive_weights``.
    fe : FixedEffects, optional
        The fixed effects over the ``n`` rows (codes of rows with a missing label are ignored).
    drop_singletons : bool
        Drop singletons (default, as fixest and pyfixest); needs ``fe``.
    checks : list of (reason, function)
        Further drops iterated with the singletons (PPML's separation).
    dropped : mapping, optional
        Rows dropped upstream, by reason (carried into the counts).

    Returns
    -------
    EstimationSample

    Raises
    ------
    ModelSpecError
        No row is left.
    """
    counts: dict[str, int] = {}
    for reason, c in (dropped or {}).items():
        counts[str(reason)] = counts.get(str(reason), 0) + int(c)
    upstream = sum(counts.values())

    def add(reason: str, rows: BoolArray) -> None:
        counts[reason] = counts.get(reason, 0) + int(rows.sum())

    bad = np.zeros(n, dtype=bool)
    for a in numeric:
        if a is not None:
            bad |= _not_finite(a)
    for lab in labels:
        bad |= missing_labels(lab)
    add("missing", bad)
    keep = ~bad
    for reason, a in (positive or {}).items():
        nonpos = keep & ~(np.asarray(a, dtype=np.float64) > 0)
        add(reason, nonpos)
        keep &= ~nonpos
    if weights is not None:
        nonpos = keep & ~(np.asarray(weights, dtype=np.float64) > 0)
        add("nonpositive_weights", nonpos)
        keep &= ~nonpos

    use_singletons = drop_singletons and fe is not None
    if use_singletons:
        counts.setdefault("singletons", 0)
    for reason, _ in checks:
        counts.setdefault(reason, 0)
    while keep.any():
        if use_singletons and fe is not None:
            single = np.zeros(n, dtype=bool)
            single[keep] = fe.subset(keep).singleton_mask()
            add("singletons", single)
            keep &= ~single
        changed = False
        for reason, fn in checks:
            out = np.asarray(fn(keep.copy()), dtype=bool) & keep
            if out.any():
                add(reason, out)
                keep &= ~out
                changed = True
                break  # singletons and the checks again from the start
        if not changed:
            break
    if not keep.any():
        raise ModelSpecError(
            f"no observations left: of {n} rows, dropped "
            + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        )
    sample = EstimationSample(keep, counts, upstream)
    sample.check()
    return sample
