"""tradeimpact: measure what an export restriction did to trade, from customs data.

Data flow (see DESIGN.md): ``tradeimpact.sources`` (one reader per real format) ->
``tradeimpact.ingest`` / ``tradeimpact.store`` (validated Parquet store) -> ``tradeimpact.panel``
(analysis panels) -> ``tradeimpact.models`` / ``tradeimpact.inference`` /
``tradeimpact.sensitivity`` (estimators) -> ``tradeimpact.report`` (figures, tables, reports).

The estimators are at the top level too, formula first as in fixest and pyfixest::

    import tradeimpact as ti
    ti.feols("y ~ x1 + treat:post | unit + time", data, vcov={"CRV1": "unit"})
    ti.fepois("trade ~ rta | exp^year + imp^year + pair", data)   # = ti.ppml

They are imported on first use (module ``__getattr__``), so ``import tradeimpact`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: top-level name -> (module, attribute), imported on first access
_LAZY: dict[str, tuple[str, str]] = {
    "feols": ("tradeimpact.models.formula", "feols"),
    "ppml": ("tradeimpact.models.formula", "ppml"),
    "fepois": ("tradeimpact.models.formula", "fepois"),
    "did": ("tradeimpact.models.did", "did"),
    "event_study": ("tradeimpact.models.event_study", "event_study"),
    "att_gt": ("tradeimpact.models.callaway_santanna", "att_gt"),
    "sunab": ("tradeimpact.models.sunab", "sunab"),
    "etable": ("tradeimpact.report.tables", "etable"),
    "coefplot": ("tradeimpact.report.coefplot", "coefplot"),
    "iplot": ("tradeimpact.report.coefplot", "iplot"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module 'tradeimpact' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
