"""Estimators: difference-in-differences, event studies, PPML, synthetic control.

Every estimator takes a tidy panel (a polars or pandas frame) and returns a result object in the
linearmodels style (``params``, ``std_errors``, ``pvalues``, ``conf_int()``, ``summary()``,
``tidy()``). ``feols`` and ``ppml`` take a fixest formula first (``feols("y ~ x | fe", data)``,
:mod:`tradeimpact.models.formula`; ``fepois`` is ``ppml``'s pyfixest name) or the keyword API
(``feols(data, y, x, fe=...)``) unchanged.
"""

from tradeimpact.models.callaway_santanna import att_gt
from tradeimpact.models.did import did
from tradeimpact.models.event_study import event_study
from tradeimpact.models.formula import feols, fepois
from tradeimpact.models.formula import ppml as _ppml
from tradeimpact.models.ppml import PPMLResult
from tradeimpact.models.results import DiDResult, EventStudyResult, RegressionResult, WaldTest
from tradeimpact.models.sunab import sunab
from tradeimpact.models.synth import SynthResult, synth
from tradeimpact.models.synthdid import SynthDIDResult, synthdid

# bound after every import: importing the submodule tradeimpact.models.ppml (above) binds the
# package attribute "ppml" to that module; the public name is the function
ppml = _ppml

__all__ = [
    "DiDResult",
    "EventStudyResult",
    "PPMLResult",
    "RegressionResult",
    "SynthDIDResult",
    "SynthResult",
    "WaldTest",
    "att_gt",
    "did",
    "event_study",
    "feols",
    "fepois",
    "ppml",
    "sunab",
    "synth",
    "synthdid",
]
