"""Moved to :mod:`tradeimpact.core.fixed_effects` (issue 13); re-exported here for old imports.

The lead removes this module once no caller imports it.
"""

from __future__ import annotations

from tradeimpact.core.fixed_effects import ACCELERATE_AFTER as ACCELERATE_AFTER
from tradeimpact.core.fixed_effects import FixedEffects as FixedEffects
from tradeimpact.core.fixed_effects import NotConvergedWarning as NotConvergedWarning
from tradeimpact.core.fixed_effects import demean as demean
from tradeimpact.core.fixed_effects import factorize as factorize
from tradeimpact.core.fixed_effects import fe_dof as fe_dof
from tradeimpact.core.fixed_effects import is_nested as is_nested

__all__ = [
    "ACCELERATE_AFTER",
    "FixedEffects",
    "NotConvergedWarning",
    "demean",
    "factorize",
    "fe_dof",
    "is_nested",
]
