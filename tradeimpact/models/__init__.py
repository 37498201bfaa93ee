"""Estimators: difference-in-differences, event studies, PPML, synthetic control.

Every estimator takes a tidy panel (a polars or pandas frame) and returns a result object in the
linearmodels style (``params``, ``std_errors``, ``pvalues``, ``conf_int()``, ``summary()``,
``tidy()``).
"""

from tradeimpact.models.ppml import PPMLResult, ppml

__all__ = ["PPMLResult", "ppml"]
