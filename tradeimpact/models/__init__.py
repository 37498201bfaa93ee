"""Estimators: difference-in-differences, event studies, PPML, synthetic control.

Every estimator takes a tidy panel (a polars or pandas frame) and returns a result object in the
linearmodels style (``params``, ``std_errors``, ``pvalues``, ``conf_int()``, ``summary()``,
``tidy()``).
"""

from tradeimpact.models.did import did
from tradeimpact.models.event_study import event_study
from tradeimpact.models.linear import feols
from tradeimpact.models.ppml import PPMLResult, ppml
from tradeimpact.models.results import DiDResult, EventStudyResult, RegressionResult, WaldTest
from tradeimpact.models.sunab import sunab
from tradeimpact.models.synth import SynthResult, synth
from tradeimpact.models.synthdid import SynthDIDResult, synthdid

__all__ = [
    "DiDResult",
    "EventStudyResult",
    "PPMLResult",
    "RegressionResult",
    "SynthDIDResult",
    "SynthResult",
    "WaldTest",
    "did",
    "event_study",
    "feols",
    "ppml",
    "sunab",
    "synth",
    "synthdid",
]
