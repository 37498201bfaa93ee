"""A pyfixest user's script runs with ``import tradeimpact as pf`` and gives pyfixest's numbers.

The script below is written for pyfixest (``pf.feols`` / ``pf.fepois`` with fixest formulas,
``i()`` event-study terms, ``^`` fixed effects, ``log()``, pyfixest's ``vcov`` forms and its
defaults: ``vcov="iid"``, singletons dropped, pyfixest's demeaning and IRLS tolerances). It is run
twice, unchanged, once after ``import pyfixest as pf`` and once after ``import tradeimpact as
pf``. Tolerance: relative 1e-6 on coefficients and standard errors, because the script leaves
pyfixest's default demeaning and IRLS tolerances in place while tradeimpact demeans to 1e-10;
for the PPML standard errors 1e-4: pyfixest's defaults move its own PPML standard errors by
1.8e-5 (relative) from its fit at ``fixef_tol=iwls_tol=1e-12``, which ours equal to 1e-8.
tests/test_formula.py compares at 1e-8 / 1e-6 with both sides at 1e-12.

The fitted models are read with the accessors each package has: pyfixest's ``coef()``,
``se()``, ``pvalue()`` and tradeimpact's linearmodels-style ``params``, ``std_errors``,
``pvalues``. The second test reads them with pyfixest's accessors on both (the whole script
unchanged).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyfixest")

SCRIPT = """
import numpy as np

fits = {}
# two-way fixed effects, clustered by the first
fits["twfe"] = pf.feols("y ~ x1 + x2 | f1 + f2", data=df, vcov={"CRV1": "f1"})
# a log outcome and a combined fixed effect, robust standard errors
fits["log_combined"] = pf.feols("log(y) ~ x1 | f1^f2", data=df, vcov="hetero")
# the event study: dummies of event time for the treated, the period before as reference
fits["event_study"] = pf.feols(
    "y ~ i(rel, treat, ref=-1) | unit + time", data=df, vcov={"CRV1": "unit"}
)
fits["event_study_i"] = pf.feols("y ~ i(rel, ref=-1) | unit + time", data=df)
# an interaction without fixed effects (default vcov: iid)
fits["interaction"] = pf.feols("y ~ x1:x2 + x1", data=df)
# two-way clustering
fits["twoway_cluster"] = pf.feols("y ~ x1 | unit + time", data=df, vcov={"CRV1": "unit + time"})
# PPML with three fixed effects, clustered
fits["ppml"] = pf.fepois("cnt ~ x1 + x2 | f1 + f2 + time", data=df, vcov={"CRV1": "f1"})
# a regression table of two of them
table = pf.etable([fits["twfe"], fits["event_study"]])
"""

ACCESSOR_SCRIPT = """
table = {
    name: (fit.coef(), fit.se(), fit.pvalue(), fit.tstat(), fit.confint())
    for name, fit in fits.items()
}
"""


#: see the module docstring: pyfixest's default tolerances move its own PPML standard errors
SE_RTOL = {"ppml": 1e-4}


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 1600
    d = pd.DataFrame({"unit": np.repeat(np.arange(80), 20), "time": np.tile(np.arange(20), 80)})
    d["f1"] = rng.integers(0, 25, n)
    d["f2"] = rng.integers(0, 6, n)
    d["treat"] = (d["unit"] < 30).astype(int)
    d["rel"] = np.where(d["treat"] == 1, d["time"] - 10, -1)
    d["x1"] = rng.normal(size=n)
    d["x2"] = rng.normal(size=n) + 0.2 * d["f1"]
    d["y"] = np.exp(0.4 * d["x1"] + 0.5 * rng.normal(size=n)) + 0.5 * (d["rel"] >= 0) * d["treat"]
    d["cnt"] = rng.poisson(np.exp(0.3 * d["x1"] + 0.05 * d["f2"]))
    return d


def _run(package: str, extra: str = "") -> dict[str, Any]:
    ns: dict[str, Any] = {"df": _panel()}
    with warnings.catch_warnings():
        # pyfixest's notes on dropped singletons and deprecations are not what is compared
        warnings.simplefilter("ignore")
        exec(f"import {package} as pf\n" + SCRIPT + extra, ns)
    return ns


def _numbers(fit: Any) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    if hasattr(fit, "std_errors"):  # tradeimpact
        return (
            list(fit.params.index),
            fit.params.to_numpy(),
            fit.std_errors.to_numpy(),
            fit.pvalues.to_numpy(),
        )
    return (
        list(fit.coef().index),
        fit.coef().to_numpy(),
        fit.se().to_numpy(),
        fit.pvalue().to_numpy(),
    )


def test_pyfixest_script_same_numbers_with_tradeimpact() -> None:
    ref_ns, ours_ns = _run("pyfixest"), _run("tradeimpact")
    ref, ours = ref_ns["fits"], ours_ns["fits"]
    # the etable line ran with both: tradeimpact's table holds both models' coefficients
    table = str(ours_ns["table"])
    assert "x1" in table and "rel::0:treat" in table
    assert set(ours) == set(ref)
    for name in ref:
        names_r, b_r, se_r, p_r = _numbers(ref[name])
        names_o, b_o, se_o, p_o = _numbers(ours[name])
        assert names_o == names_r, name
        np.testing.assert_allclose(b_o, b_r, rtol=1e-6, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(se_o, se_r, rtol=SE_RTOL.get(name, 1e-6), err_msg=name)
        # a p-value moves with its standard error: 10x the standard error's tolerance
        p_rtol = 10 * SE_RTOL.get(name, 1e-6)
        np.testing.assert_allclose(p_o, p_r, rtol=p_rtol, atol=1e-9, err_msg=name)
    # the fits are tradeimpact's own estimators
    assert type(ours["twfe"]).__module__ == "tradeimpact.models.results"
    assert type(ours["ppml"]).__name__ == "PPMLResult"


def test_pyfixest_script_with_pyfixest_accessors() -> None:
    ref = _run("pyfixest", ACCESSOR_SCRIPT)["table"]
    ours = _run("tradeimpact", ACCESSOR_SCRIPT)["table"]
    for name, parts in ref.items():
        for a, b in zip(ours[name], parts, strict=True):
            rtol = SE_RTOL.get(name, 1e-6)
            # an absolute floor scaled to the numbers compared: p-values of 1e-19 against 0.0,
            # and a PPML interval end near zero that moves with its standard error
            b_arr = np.asarray(b, dtype=float)
            atol = max(1e-12, rtol * float(np.max(np.abs(b_arr))))
            np.testing.assert_allclose(np.asarray(a), b_arr, rtol=rtol, atol=atol, err_msg=name)
