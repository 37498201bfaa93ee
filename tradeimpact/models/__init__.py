"""Estimators: difference-in-differences, event studies, PPML, synthetic control.

Every estimator takes a tidy panel (a polars or pandas frame) and returns a result object in the
linearmodels style (``params``, ``std_errors``, ``pvalues``, ``conf_int()``, ``summary()``,
``tidy()``). ``feols`` and ``ppml`` take a fixest formula first (``feols("y ~ x | fe", data)``,
:mod:`tradeimpact.models.formula`; ``fepois`` is ``ppml``'s pyfixest name) or the keyword API
(``feols(data, y, x, fe=...)``) unchanged.

The staggered estimators share one naming (``y, unit, time, cohort, ref, controls, weights,
cluster``), one never-treated rule (:mod:`tradeimpact.core.cohort`: 0, inf or null) and one
aggregate API: ``sunab(...).aggregate(kind)`` and ``att_gt(...).aggregate(kind)`` return an
:class:`AggregateResult` for R ``did``'s kinds ``"simple"``, ``"dynamic"``, ``"group"``,
``"calendar"`` (fixest's ``"att"``, ``"period"``, ``"cohort"`` as aliases).
"""

from tradeimpact.models.aggregate import AggregateResult
from tradeimpact.models.callaway_santanna import CallawaySantAnnaResult, att_gt
from tradeimpact.models.did import did
from tradeimpact.models.event_study import event_study
from tradeimpact.models.formula import feols, fepois
from tradeimpact.models.formula import ppml as _ppml
from tradeimpact.models.ppml import PPMLResult
from tradeimpact.models.results import DiDResult, EventStudyResult, RegressionResult, WaldTest
from tradeimpact.models.sunab import SunabResult, sunab
from tradeimpact.models.synth import SynthResult, synth
from tradeimpact.models.synthdid import SynthDIDResult, synthdid

# bound after every import: importing the submodule tradeimpact.models.ppml (above) binds the
# package attribute "ppml" to that module; the public name is the function
ppml = _ppml

__all__ = [
    "AggregateResult",
    "CallawaySantAnnaResult",
    "DiDResult",
    "EventStudyResult",
    "PPMLResult",
    "RegressionResult",
    "SunabResult",
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
