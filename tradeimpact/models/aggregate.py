"""One aggregate API for the staggered estimators (Sun & Abraham, Callaway & Sant'Anna).

Both results offer ``result.aggregate(kind)`` with R ``did``'s ``aggte`` types, and fixest's
names for the Sun & Abraham ones as aliases:

=============  ====================  =====================================================
kind           alias (fixest)        components
=============  ====================  =====================================================
``simple``     ``att``               none: one overall ATT over all post-treatment cells
``dynamic``    ``period``, ``event`` one per event time ``e = t - g``
``group``      ``cohort``            one per cohort (first treated period)
``calendar``                         one per calendar period
=============  ====================  =====================================================

and return the same type, :class:`AggregateResult` (a
:class:`~tradeimpact.models.results.RegressionResult`: ``params``, ``std_errors``,
``conf_int()``, ``tidy()``), whose first term is ``overall`` and the others ``group=2004``,
``event_time=-1`` or ``period=2006``. The weights of each estimator are documented with it
(:mod:`tradeimpact.models.sunab`, :mod:`tradeimpact.models.callaway_santanna`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import RegressionResult

FloatArray = npt.NDArray[np.float64]

AggType = Literal["simple", "group", "dynamic", "calendar", "att", "cohort", "period", "event"]

#: every accepted name -> the canonical kind
KINDS: dict[str, str] = {
    "simple": "simple",
    "att": "simple",
    "dynamic": "dynamic",
    "period": "dynamic",
    "event": "dynamic",
    "group": "group",
    "cohort": "group",
    "calendar": "calendar",
}

#: term prefix of the components of each kind
COMPONENT_LABEL = {"group": "group", "dynamic": "event_time", "calendar": "period"}

__all__ = ["KINDS", "AggType", "AggregateResult", "aggregate_kind"]


def aggregate_kind(kind: str) -> str:
    """The canonical kind of ``kind`` (case-insensitive; aliases of :data:`KINDS`)."""
    k = KINDS.get(str(kind).strip().lower())
    if k is None:
        raise ModelSpecError(
            f"unknown aggregation {kind!r}: use 'simple' (or 'att'), 'dynamic' (or 'period'), "
            "'group' (or 'cohort') or 'calendar'"
        )
    return k


def _label(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


@dataclass
class AggregateResult(RegressionResult):
    """An aggregation of cohort-specific effects: the overall effect and its components.

    Attributes
    ----------
    kind : {"simple", "group", "dynamic", "calendar"}
    estimator : str
        ``"Sun & Abraham (2021)"`` or ``"Callaway & Sant'Anna (2021)"``.
    overall_att, overall_se : float
        The overall summary parameter and its standard error (= ``params["overall"]``,
        ``std_errors["overall"]``).
    components : polars.DataFrame
        ``key`` (group, event time or period), ``att``, ``se`` (empty for "simple").
    weights : numpy.ndarray
        Sun & Abraham: rows of ``W`` with ``params = W @ delta`` (``delta`` the cohort x period
        coefficients of ``extra["interactions"]``); empty for Callaway & Sant'Anna.
    influence, component_influence : numpy.ndarray
        Callaway & Sant'Anna: influence functions (units in rows) of the overall parameter and
        of the components; empty for Sun & Abraham.
    bootstrap : BootstrapBand or None
        Callaway & Sant'Anna with the multiplier bootstrap: the components' draws, bootstrap
        standard errors and band critical value (uniform over the components with ``cband``);
        ``components`` then has ``se_boot``, ``lower`` and ``upper`` columns.
    overall_se_boot : float
        The overall parameter's bootstrap standard error (NaN without the bootstrap).
    """

    kind: str = "group"
    estimator: str = ""
    overall_att: float = math.nan
    overall_se: float = math.nan
    components: pl.DataFrame = field(default_factory=pl.DataFrame)
    weights: FloatArray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    influence: FloatArray = field(default_factory=lambda: np.empty(0), repr=False)
    component_influence: FloatArray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    bootstrap: Any = field(default=None, repr=False)
    overall_se_boot: float = math.nan

    @staticmethod
    def term_names(kind: str, keys: list[float]) -> list[str]:
        """``["overall", "group=2004", ...]`` for ``kind`` and the component keys."""
        label = COMPONENT_LABEL.get(kind, "key")
        return ["overall", *[f"{label}={_label(k)}" for k in keys]]

    @staticmethod
    def component_table(keys: list[float], att: FloatArray, se: FloatArray) -> pl.DataFrame:
        """The ``key``/``att``/``se`` frame of the components (Float64 columns)."""
        return pl.DataFrame(
            {"key": np.asarray(keys, dtype=float), "att": att, "se": se},
            schema={"key": pl.Float64, "att": pl.Float64, "se": pl.Float64},
        )

    def summary(self, level: float = 0.95) -> str:
        """The table, headed by the estimator and the aggregation."""
        return "\n".join([f"{self.estimator} aggregation '{self.kind}'", super().summary(level)])
