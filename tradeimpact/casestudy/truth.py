"""The SYNTHETIC demo's true effects: what each design's estimator targets in its panel.

The demo (:mod:`tradeimpact.demo`) writes ``SYNTHETIC_TRUE_EFFECTS.json`` beside its files: the
monthly paths of the Japan-specific effects. :func:`true_effect` turns them into the value a
design, outcome and sample estimate (the recovery check of the report).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from tradeimpact.panel import Panel, month_start

__all__ = ["true_effect", "truth_for"]

#: design -> (quantity path, unit-value path, comparison path subtracted) in the true-effects file
_PATHS: dict[str, tuple[str, str | None, str | None]] = {
    "importer": ("importer_quantity", "importer_unit_value", None),
    "exporter": ("exporter_quantity", "exporter_unit_value", None),
    "triple": ("importer_quantity", "importer_unit_value", "comparison_quantity"),
    "diversion": ("diversion_quantity", None, "diversion_comparison_quantity"),
    "synth": ("importer_quantity", None, None),
    "sdid": ("importer_quantity", None, None),
}


def true_effect(
    truth: dict[str, Any],
    design: str,
    outcome: str,
    periods: Sequence[date],
    post: Sequence[bool],
    *,
    sum3: bool = False,
    basket: str = "core",
) -> float:
    """The value a design's estimator targets in the SYNTHETIC panel, from the monthly paths.

    For log outcomes with one treated unit and unit and period fixed effects (balanced panel) the
    DiD coefficient is ``mean_post(a) - mean_pre(a)`` of the Japan-specific log effect ``a``
    over the sample's months (both averages over the months of the sample). For PPML on levels
    the months are weighted by Japan's counterfactual expected value ``mu0``:
    ``log(sum_post mu0 e^a / sum_post mu0) - log(sum_pre mu0 e^a / sum_pre mu0)``. With 3-month
    sums, ``a`` of a bin is ``log(sum_bin mu0 e^a / sum_bin mu0)``. The mirror gap's path is
    ``importer_quantity - exporter_quantity``.
    """
    months = [date(int(m[:4]), int(m[5:7]), 1) for m in truth["months"]]
    index = {m: i for i, m in enumerate(months)}
    paths = {k: np.asarray(v, dtype=float) for k, v in truth["paths"].items()}
    w_all = np.asarray(truth["japan_counterfactual_value_usd"].get(basket, next(iter(
        truth["japan_counterfactual_value_usd"].values()))), dtype=float)  # fmt: skip
    if design == "mirror":
        a = paths["importer_quantity"] - paths["exporter_quantity"]
    else:
        qk, uk, ck = _PATHS[design]
        q = paths[qk] - (paths[ck] if ck else 0.0)
        uv = paths[uk] if uk else np.zeros_like(q)
        a = {"log_quantity": q, "log_unit_value": uv, "log_value": q + uv}.get(outcome, q + uv)
    ppml = outcome.startswith("ppml")

    def level(idx: list[int]) -> float:
        w = w_all[idx]
        return float(np.log(np.sum(w * np.exp(a[idx])) / np.sum(w)))

    vals: list[float] = []
    flags: list[bool] = []
    for per, is_post in zip(periods, post, strict=True):
        i = index[month_start(per)]
        idx = [i, i + 1, i + 2] if sum3 else [i]
        vals.append(level(idx) if (sum3 or ppml) and not outcome.endswith("unit_value")
                    else float(np.mean(a[idx])))  # fmt: skip
        flags.append(bool(is_post))
    v = np.asarray(vals)
    f = np.asarray(flags)
    if ppml and not sum3:
        ipost = [index[month_start(p)] for p, s in zip(periods, post, strict=True) if s]
        ipre = [index[month_start(p)] for p, s in zip(periods, post, strict=True) if not s]
        return level(ipost) - level(ipre)
    pre = v[~f].mean() if (~f).any() else 0.0
    return float(v[f].mean() - pre)


def truth_for(
    truth: dict[str, Any] | None,
    design: str,
    outcome: str,
    panel: Panel,
    *,
    sum3: bool = False,
    basket: str = "core",
) -> float | None:
    """The true effect of a row (None without true effects): :func:`true_effect` over the
    panel's periods and post indicator."""
    if truth is None:
        return None
    per = panel.data.select("period", "post").unique().sort("period")
    # the post indicator is by period; for the triple/diversion designs too
    return true_effect(
        truth, design, outcome, per["period"].to_list(), [bool(x) for x in per["post"]],
        sum3=sum3, basket=basket,
    )  # fmt: skip
