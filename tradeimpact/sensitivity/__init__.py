"""Sensitivity of event-study conclusions: HonestDiD (Rambachan & Roth 2023), pre-trend power (Roth 2022)."""

from tradeimpact.sensitivity.honestdid import (
    HonestDiDResult,
    breakdown_value,
    flci,
    relative_magnitudes_ci,
    sensitivity_relative_magnitudes,
    sensitivity_smoothness,
)
from tradeimpact.sensitivity.pretrend_power import (
    PretrendPowerResult,
    pretest_power,
    pretrend_power,
    pretrend_power_event_study,
    slope_for_power,
)

__all__ = [
    "HonestDiDResult",
    "PretrendPowerResult",
    "breakdown_value",
    "flci",
    "pretest_power",
    "pretrend_power",
    "pretrend_power_event_study",
    "relative_magnitudes_ci",
    "sensitivity_relative_magnitudes",
    "sensitivity_smoothness",
    "slope_for_power",
]
