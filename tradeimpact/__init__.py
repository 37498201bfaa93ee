"""tradeimpact: measure what an export restriction did to trade, from customs data.

Data flow (see DESIGN.md): ``tradeimpact.sources`` (one reader per real format) ->
``tradeimpact.ingest`` / ``tradeimpact.store`` (validated Parquet store) -> ``tradeimpact.panel``
(analysis panels) -> ``tradeimpact.models`` / ``tradeimpact.inference`` /
``tradeimpact.sensitivity`` (estimators) -> ``tradeimpact.report`` (figures, tables, reports).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
